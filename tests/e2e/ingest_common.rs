//! Shared helpers of the ingest tests: record builders and a way to run each test on both
//! backends.

use chrono::{Duration, TimeZone, Utc};
use vawg_proto::pb::{self, vawg_record::Event};

/// Declares one `#[tokio::test]` per backend calling `$body(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$body(vawg_e2e::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$body(vawg_e2e::Backend::Postgres).await
            }
        }
    };
}

/// The Metropolitan Police force area.
pub const MET: &str = "E23000001";
/// The Met's registry id.
pub const MET_ID: &str = "police-e23000001";

/// A timestamp `days` after 1 March 2025.
pub fn at(days: i64) -> prost_types::Timestamp {
    let t = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap() + Duration::days(days);
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

/// A person with synthetic identifiers.
pub fn person(given: &str, family: &str) -> pb::PersonReference {
    pb::PersonReference {
        identifiers: Some(pb::PersonIdentifiers {
            given_name: given.into(),
            family_name: family.into(),
            date_of_birth: Some(pb::Date {
                year: 1991,
                month: 7,
                day: 14,
            }),
            ..Default::default()
        }),
        pseudonym: String::new(),
        demographics: Some(pb::Demographics {
            sex: pb::Sex::Female as i32,
            age_at_event: Some(33),
            ethnic_group: pb::EthnicGroup::White as i32,
            ..Default::default()
        }),
    }
}

/// A valid crime recorded by the Met (stalking, HO code 8Q).
pub fn crime(id: &str, revision: u32) -> pb::VawgRecord {
    pb::VawgRecord {
        source_record_id: id.into(),
        revision,
        source_agency_id: MET_ID.into(),
        event_time: Some(at(0)),
        recorded_time: Some(at(1)),
        reference_period: Some(pb::ReferencePeriod {
            start: Some(pb::Date {
                year: 2025,
                month: 3,
                day: 1,
            }),
            end: Some(pb::Date {
                year: 2025,
                month: 3,
                day: 31,
            }),
        }),
        counting_unit: pb::CountingUnit::Crime as i32,
        area: Some(pb::Area {
            gss_code: MET.into(),
            level: pb::AreaLevel::PoliceForceArea as i32,
        }),
        classification: Some(pb::LocalClassification {
            scheme: "HO_OFFENCE".into(),
            code: "8Q".into(),
        }),
        victim: Some(person("Testina", "Mockford")),
        suspect: Some(person("Testo", "Fakeston")),
        case_references: Some(pb::CaseReferences {
            police_crime_reference: format!("CR/{id}"),
            ..Default::default()
        }),
        category: String::new(),
        definition_version: String::new(),
        suspect_is_police_personnel: false,
        event: Some(Event::CrimeRecorded(pb::CrimeRecorded {
            domestic_abuse_flag: true,
            relationship: pb::Relationship::ExPartner as i32,
            online_flag: false,
        })),
    }
}

/// Statuses of a set of results, in order.
pub fn statuses(results: &[pb::RecordResult]) -> Vec<pb::RecordStatus> {
    results.iter().map(|r| r.status()).collect()
}
