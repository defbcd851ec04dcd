//! The central aggregator over gRPC: hand-computed fixtures under each victim scope × counting
//! rule, linked justice metrics across agencies, disclosure control, supersession and
//! retraction, and who may read what.

use std::collections::BTreeMap;

use tonic::Code;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb;

const MET: &str = "E23000001";
const CITY: &str = "E23000002";

fn ts(date: &str) -> prost_types::Timestamp {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    prost_types::Timestamp {
        seconds: d.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp(),
        nanos: 0,
    }
}

fn pdate(date: &str) -> pb::Date {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    use chrono::Datelike;
    pb::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

/// A synthetic person: obviously fake names, a fixed date of birth. Digits in `tag` become
/// letters, since names are normalised to letters only.
fn person(tag: &str, sex: pb::Sex, age: u32) -> pb::PersonReference {
    let tag: String = tag
        .chars()
        .map(|c| c.to_digit(10).map_or(c, |d| (b'a' + d as u8) as char))
        .collect();
    pb::PersonReference {
        identifiers: Some(pb::PersonIdentifiers {
            given_name: format!("Testgiven{tag}"),
            family_name: format!("Testfamily{tag}"),
            date_of_birth: Some(pb::Date {
                year: 2025 - age as i32,
                month: 1,
                day: 1,
            }),
            ..Default::default()
        }),
        pseudonym: String::new(),
        demographics: Some(pb::Demographics {
            sex: sex as i32,
            age_at_event: Some(age),
            ethnic_group: pb::EthnicGroup::NotStated as i32,
            disability: pb::Disability::NotStated as i32,
            sexual_orientation: pb::SexualOrientation::NotStated as i32,
            gender_identity: pb::GenderIdentity::NotStated as i32,
            immigration_status: pb::ImmigrationStatus::NotKnown as i32,
        }),
    }
}

struct Rec {
    id: String,
    agency: String,
    area: &'static str,
    date: &'static str,
    scheme: &'static str,
    code: &'static str,
    victim: pb::PersonReference,
    suspect: Option<pb::PersonReference>,
    crime_ref: Option<String>,
    unit: pb::CountingUnit,
    event: pb::vawg_record::Event,
}

impl Rec {
    fn build(self) -> pb::VawgRecord {
        pb::VawgRecord {
            source_record_id: self.id,
            revision: 1,
            source_agency_id: self.agency,
            event_time: Some(ts(self.date)),
            recorded_time: Some(ts(self.date)),
            reference_period: Some(pb::ReferencePeriod {
                start: Some(pdate(self.date)),
                end: Some(pdate(self.date)),
            }),
            counting_unit: self.unit as i32,
            area: Some(pb::Area {
                gss_code: self.area.into(),
                level: pb::AreaLevel::PoliceForceArea as i32,
            }),
            classification: Some(pb::LocalClassification {
                scheme: self.scheme.into(),
                code: self.code.into(),
            }),
            victim: Some(self.victim),
            suspect: self.suspect,
            case_references: self.crime_ref.map(|r| pb::CaseReferences {
                police_crime_reference: r,
                ..Default::default()
            }),
            category: String::new(),
            definition_version: String::new(),
            suspect_is_police_personnel: false,
            event: Some(self.event),
        }
    }
}

fn crime(
    agency: &str,
    id: &str,
    area: &'static str,
    date: &'static str,
    code: &'static str,
    victim: &pb::PersonReference,
    suspect: &pb::PersonReference,
) -> pb::VawgRecord {
    Rec {
        id: id.into(),
        agency: agency.into(),
        area,
        date,
        scheme: "HO_OFFENCE",
        code,
        victim: victim.clone(),
        suspect: Some(suspect.clone()),
        crime_ref: Some(format!("CR-{id}")),
        unit: pb::CountingUnit::Crime,
        event: pb::vawg_record::Event::CrimeRecorded(pb::CrimeRecorded {
            domestic_abuse_flag: true,
            relationship: pb::Relationship::Partner as i32,
            online_flag: false,
        }),
    }
    .build()
}

/// `record`, reported in incident `incident` (the agency's occurrence reference).
fn in_incident(mut record: pb::VawgRecord, incident: &str) -> pb::VawgRecord {
    record
        .case_references
        .get_or_insert_with(Default::default)
        .incident_reference = incident.into();
    record
}

async fn submit(agency: &Agency, records: Vec<pb::VawgRecord>) {
    let response = agency
        .ingest()
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .unwrap()
        .into_inner();
    for r in &response.results {
        assert!(
            matches!(
                pb::RecordStatus::try_from(r.status),
                Ok(pb::RecordStatus::Accepted | pb::RecordStatus::Superseded)
            ),
            "record {} not accepted: {:?}",
            r.source_record_id,
            r.violations
        );
    }
}

fn query(metric: &str, scope: pb::VictimScope, rule: pb::CountingRule) -> pb::MetricQuery {
    pb::MetricQuery {
        metric_id: metric.into(),
        victim_scope: scope as i32,
        counting_rule: rule as i32,
        period: Some(pb::ReferencePeriod {
            start: Some(pdate("2025-01-01")),
            end: Some(pdate("2025-06-30")),
        }),
        grain: pb::TimeGrain::WholePeriod as i32,
        area_level: pb::AreaLevel::PoliceForceArea as i32,
        ..Default::default()
    }
}

fn total(table: &pb::MetricTable) -> (f64, pb::DisclosureStatus) {
    let cell = table
        .totals
        .first()
        .and_then(|r| r.cell)
        .expect("a total row");
    (
        cell.value,
        pb::DisclosureStatus::try_from(cell.status).unwrap(),
    )
}

/// Six women aged 30, each raped, stalked and harassed by her own partner in the Met's area,
/// reported as one incident; six men aged 40, each assaulted once; five girls aged 14, each
/// sexually assaulted once.
async fn load_crimes(police: &Agency) {
    let mut records = Vec::new();
    for i in 0..6 {
        let v = person(&format!("W{i}"), pb::Sex::Female, 30);
        let s = person(&format!("SW{i}"), pb::Sex::Male, 35);
        records.push(in_incident(
            crime(
                &police.id,
                &format!("w{i}-rape"),
                MET,
                "2025-02-01",
                "19C",
                &v,
                &s,
            ),
            &format!("INC-W{i}"),
        ));
        records.push(in_incident(
            crime(
                &police.id,
                &format!("w{i}-stalk"),
                MET,
                "2025-02-03",
                "8Q",
                &v,
                &s,
            ),
            &format!("INC-W{i}"),
        ));
        records.push(in_incident(
            crime(
                &police.id,
                &format!("w{i}-harass"),
                MET,
                "2025-02-05",
                "8L",
                &v,
                &s,
            ),
            &format!("INC-W{i}"),
        ));
    }
    for i in 0..6 {
        let v = person(&format!("M{i}"), pb::Sex::Male, 40);
        let s = person(&format!("SM{i}"), pb::Sex::Female, 38);
        records.push(crime(
            &police.id,
            &format!("m{i}-assault"),
            MET,
            "2025-03-01",
            "8N",
            &v,
            &s,
        ));
    }
    for i in 0..5 {
        let v = person(&format!("G{i}"), pb::Sex::Female, 14);
        let s = person(&format!("SG{i}"), pb::Sex::Male, 19);
        records.push(crime(
            &police.id,
            &format!("g{i}-sexual"),
            MET,
            "2025-04-01",
            "20A",
            &v,
            &s,
        ));
    }
    submit(police, records).await;
}

async fn scopes_and_counting_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let central = app
        .agency("central-analysis", AgencyKind::CentralAnalyst, &[])
        .await;
    load_crimes(&police).await;

    // Hand-computed: (scope, rule) -> recorded crimes.
    // ALL_VICTIMS: 18 + 6 + 5 = 29 offences; principal (one per woman's incident: the rape)
    // 6 + 6 + 5 = 17; with course of conduct each woman's incident adds its most serious
    // course-of-conduct offence, stalking: 17 + 6 = 23; one per relationship: 17.
    // WOMEN_AND_GIRLS: 18 + 5 = 23; 6 + 5 = 11; 11 + 6 = 17; 11.
    // AGED_16_PLUS: 18 + 6 = 24; 6 + 6 = 12; 12 + 6 = 18; 12.
    use pb::{CountingRule as R, VictimScope as S};
    let expected = [
        (S::AllVictims, R::AllOffences, 29.0),
        (S::AllVictims, R::PrincipalCrime, 17.0),
        (S::AllVictims, R::PrincipalPlusCourseOfConduct, 23.0),
        (S::AllVictims, R::OnePerRelationship, 17.0),
        (S::WomenAndGirls, R::AllOffences, 23.0),
        (S::WomenAndGirls, R::PrincipalCrime, 11.0),
        (S::WomenAndGirls, R::PrincipalPlusCourseOfConduct, 17.0),
        (S::WomenAndGirls, R::OnePerRelationship, 11.0),
        (S::Aged16Plus, R::AllOffences, 24.0),
        (S::Aged16Plus, R::PrincipalCrime, 12.0),
        (S::Aged16Plus, R::PrincipalPlusCourseOfConduct, 18.0),
        (S::Aged16Plus, R::OnePerRelationship, 12.0),
    ];
    let mut metrics = central.metrics();
    for (scope, rule, want) in expected {
        let table = metrics
            .query_metric(pb::QueryMetricRequest {
                query: Some(query("recorded_crimes", scope, rule)),
            })
            .await
            .unwrap()
            .into_inner()
            .table
            .unwrap();
        assert_eq!(
            total(&table),
            (want, pb::DisclosureStatus::ExactNotForRelease),
            "{scope:?} {rule:?}"
        );
    }

    // CompareDefinitions gives the same twelve figures side by side.
    let compared = metrics
        .compare_definitions(pb::CompareDefinitionsRequest {
            query: Some(query("recorded_crimes", S::AllVictims, R::AllOffences)),
            variants: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(compared.tables.len(), 12);
    for (t, (scope, rule, want)) in compared.tables.iter().zip(expected) {
        let v = t.variant.unwrap();
        assert_eq!(
            (v.victim_scope, v.counting_rule),
            (scope as i32, rule as i32)
        );
        assert_eq!(t.total.unwrap().value, want);
    }
    assert!((compared.tables[1].difference_from_first - (17.0 - 29.0) / 29.0).abs() < 1e-9);

    // Retraction and supersession are reflected: retract one man's assault; revise one
    // woman's harassment into a second rape (the principal stays one per incident).
    let mut ingest = police.ingest();
    ingest
        .retract_record(pb::RetractRecordRequest {
            source_record_id: "m0-assault".into(),
            reason: "recorded in error".into(),
        })
        .await
        .unwrap();
    let v = person("W0", pb::Sex::Female, 30);
    let s = person("SW0", pb::Sex::Male, 35);
    let mut revised = in_incident(
        crime(&police.id, "w0-harass", MET, "2025-02-05", "19C", &v, &s),
        "INC-W0",
    );
    revised.revision = 2;
    submit(&police, vec![revised]).await;
    let by_category = |rule: R| {
        let mut q = query("recorded_crimes", S::AllVictims, rule);
        q.breakdowns = vec![pb::Breakdown::Category as i32];
        pb::QueryMetricRequest { query: Some(q) }
    };
    let table = metrics
        .query_metric(by_category(R::AllOffences))
        .await
        .unwrap()
        .into_inner()
        .table
        .unwrap();
    assert_eq!(
        total(&table),
        (28.0, pb::DisclosureStatus::ExactNotForRelease)
    );
    let cells: BTreeMap<String, (f64, i32)> = table
        .rows
        .iter()
        .map(|r| {
            (
                r.dimensions[1].value.clone(),
                (r.cell.unwrap().value, r.cell.unwrap().status),
            )
        })
        .collect();
    assert_eq!(
        cells["rape"],
        (7.0, pb::DisclosureStatus::ExactNotForRelease as i32)
    );
    assert_eq!(
        cells["domestic_abuse"],
        (5.0, pb::DisclosureStatus::ExactNotForRelease as i32)
    );
    let table = metrics
        .query_metric(by_category(R::PrincipalCrime))
        .await
        .unwrap()
        .into_inner()
        .table
        .unwrap();
    assert_eq!(total(&table).0, 16.0);

    // The aggregates maintained at ingest equal a full recomputation from the raw records.
    let stored = app.store().all_aggregates().await.unwrap();
    let recomputed = vawg_store::aggregates::recompute_all(app.store())
        .await
        .unwrap();
    assert_eq!(stored, recomputed);
    app.stop().await;
}

#[tokio::test]
async fn scopes_and_counting_rules_sqlite() {
    scopes_and_counting_rules(Backend::Sqlite).await;
}

#[tokio::test]
async fn scopes_and_counting_rules_postgres() {
    scopes_and_counting_rules(Backend::Postgres).await;
}

fn justice(
    agency: &Agency,
    id: &str,
    date: &'static str,
    crime_ref: &str,
    victim: &pb::PersonReference,
    event: pb::vawg_record::Event,
) -> pb::VawgRecord {
    Rec {
        id: id.into(),
        agency: agency.id.clone(),
        area: MET,
        date,
        scheme: "HO_OFFENCE",
        code: "19C",
        victim: victim.clone(),
        suspect: None,
        crime_ref: Some(crime_ref.into()),
        unit: pb::CountingUnit::Defendant,
        event,
    }
    .build()
}

async fn linked_justice_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let cps = app.agency("cps-london", AgencyKind::Cps, &[MET]).await;
    let central = app
        .agency("central-analysis", AgencyKind::CentralAnalyst, &[])
        .await;

    // Ten rape cases: the police record and refer each on 1 January; the CPS charges five of
    // them after 10, 20, 30, 40 and 50 days. Mean 30, median 30, p90 46 (h = 4 x 0.9 = 3.6:
    // 40 + 0.6 x (50 - 40)); charge rate 0.5.
    let mut police_records = Vec::new();
    let mut cps_records = Vec::new();
    let charge_dates = [
        "2025-01-11",
        "2025-01-21",
        "2025-01-31",
        "2025-02-10",
        "2025-02-20",
    ];
    for i in 0..10 {
        let v = person(&format!("J{i}"), pb::Sex::Female, 25);
        let s = person(&format!("SJ{i}"), pb::Sex::Male, 30);
        let crime_ref = format!("CR-j{i}");
        let mut c = crime(
            &police.id,
            &format!("j{i}"),
            MET,
            "2025-01-01",
            "19C",
            &v,
            &s,
        );
        c.case_references = Some(pb::CaseReferences {
            police_crime_reference: crime_ref.clone(),
            ..Default::default()
        });
        police_records.push(c);
        police_records.push(justice(
            &police,
            &format!("j{i}-ref"),
            "2025-01-01",
            &crime_ref,
            &v,
            pb::vawg_record::Event::CpsReferral(pb::CpsReferral {
                referral_type: pb::ReferralType::ChargingDecision as i32,
            }),
        ));
        if let Some(date) = charge_dates.get(i) {
            cps_records.push(justice(
                &cps,
                &format!("j{i}-charge"),
                date,
                &crime_ref,
                &v,
                pb::vawg_record::Event::ChargingDecision(pb::ChargingDecision {
                    decision_maker: pb::DecisionMaker::Cps as i32,
                    decision: pb::ChargeDecision::Charge as i32,
                }),
            ));
        }
    }
    submit(&police, police_records).await;
    submit(&cps, cps_records).await;

    let mut metrics = central.metrics();
    let run = |metric: &str, statistic: &str| {
        let mut q = query(
            metric,
            pb::VictimScope::AllVictims,
            pb::CountingRule::AllOffences,
        );
        q.statistic = statistic.into();
        pb::QueryMetricRequest { query: Some(q) }
    };
    for (statistic, want) in [("mean", 30.0), ("median", 30.0), ("p90", 46.0)] {
        let t = metrics
            .query_metric(run("referral_to_charge_days", statistic))
            .await
            .unwrap()
            .into_inner()
            .table
            .unwrap();
        assert_eq!(
            total(&t),
            (want, pb::DisclosureStatus::ExactNotForRelease),
            "{statistic}"
        );
    }
    let t = metrics
        .query_metric(run("charge_rate", ""))
        .await
        .unwrap()
        .into_inner()
        .table
        .unwrap();
    assert_eq!(total(&t), (0.5, pb::DisclosureStatus::ExactNotForRelease));

    // The funnel: 10 recorded, 10 referred, 5 charged, none prosecuted yet.
    let mut q = query(
        "attrition_funnel",
        pb::VictimScope::AllVictims,
        pb::CountingRule::AllOffences,
    );
    q.breakdowns = vec![pb::Breakdown::Subtype as i32];
    let t = metrics
        .query_metric(pb::QueryMetricRequest { query: Some(q) })
        .await
        .unwrap()
        .into_inner()
        .table
        .unwrap();
    let stages: BTreeMap<String, f64> = t
        .rows
        .iter()
        .map(|r| (r.dimensions[1].value.clone(), r.cell.unwrap().value))
        .collect();
    assert_eq!(stages.get("1_recorded"), Some(&10.0));
    assert_eq!(stages.get("2_referred"), Some(&10.0));
    assert_eq!(stages.get("3_charged"), Some(&5.0));
    assert_eq!(stages.get("4_prosecuted"), None);

    // The same rates asked by the police force come from perturbed inputs only (no exact base
    // beside a protected numerator: docs/disclosure.md §2.6): the charge rate is a perturbed
    // count of charges over a perturbed count of referrals (true 5 / 10), withheld when the
    // perturbed base is under 10.
    let mut agency = police.metrics();
    let t = agency
        .query_metric(run("charge_rate", ""))
        .await
        .unwrap()
        .into_inner()
        .table
        .unwrap();
    let cell = t.totals[0].cell.unwrap();
    match cell.status() {
        pb::DisclosureStatus::SuppressedSmallBase => assert_eq!((cell.value, cell.base), (0.0, 0)),
        pb::DisclosureStatus::Perturbed => {
            assert!((10..=15).contains(&cell.base), "{cell:?}");
            let charged = (cell.value * cell.base as f64).round();
            assert!(
                (cell.value * cell.base as f64 - charged).abs() < 1e-6,
                "the numerator is a whole perturbed count: {cell:?}"
            );
            assert!(
                charged == 0.0 || (5.0..=10.0).contains(&charged),
                "{cell:?}"
            );
        }
        s => panic!("charge rate released as {s:?}"),
    }
    // Days from referral to charge rest on five charges; the base is the perturbed count, and
    // the statistics are withheld unless it is at least 10.
    for statistic in ["mean", "median", "p90"] {
        let t = agency
            .query_metric(run("referral_to_charge_days", statistic))
            .await
            .unwrap()
            .into_inner()
            .table
            .unwrap();
        let cell = t.totals[0].cell.unwrap();
        assert!(
            cell.status() == pb::DisclosureStatus::SuppressedSmallBase
                || (cell.status() == pb::DisclosureStatus::Perturbed && cell.base >= 10),
            "{statistic}: {cell:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn linked_justice_metrics_sqlite() {
    linked_justice_metrics(Backend::Sqlite).await;
}

#[tokio::test]
async fn linked_justice_metrics_postgres() {
    linked_justice_metrics(Backend::Postgres).await;
}

#[tokio::test]
async fn small_counts_are_suppressed_and_agencies_read_only_their_own_areas() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let met = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let city = app
        .agency("police-e23000002", AgencyKind::Police, &[CITY])
        .await;
    let central = app
        .agency("central-analysis", AgencyKind::CentralAnalyst, &[])
        .await;
    // Met: 20 crimes; City: 3 crimes (a small count).
    let mut records = Vec::new();
    for i in 0..20 {
        let v = person(&format!("A{i}"), pb::Sex::Female, 30);
        let s = person(&format!("SA{i}"), pb::Sex::Male, 30);
        records.push(crime(
            &met.id,
            &format!("a{i}"),
            MET,
            "2025-02-01",
            "8N",
            &v,
            &s,
        ));
    }
    submit(&met, records).await;
    let mut records = Vec::new();
    for i in 0..3 {
        let v = person(&format!("B{i}"), pb::Sex::Female, 30);
        let s = person(&format!("SB{i}"), pb::Sex::Male, 30);
        records.push(crime(
            &city.id,
            &format!("b{i}"),
            CITY,
            "2025-02-01",
            "8N",
            &v,
            &s,
        ));
    }
    submit(&city, records).await;

    let mut q = query(
        "recorded_crimes",
        pb::VictimScope::AllVictims,
        pb::CountingRule::AllOffences,
    );
    q.breakdowns = vec![pb::Breakdown::Area as i32];
    let t = central
        .metrics()
        .query_metric(pb::QueryMetricRequest {
            query: Some(q.clone()),
        })
        .await
        .unwrap()
        .into_inner()
        .table
        .unwrap();
    // The central team's flexible queries are exact, and every cell and the table say they are
    // not for release.
    let cells: BTreeMap<String, pb::Cell> = t
        .rows
        .iter()
        .map(|r| (r.dimensions[1].value.clone(), r.cell.unwrap()))
        .collect();
    assert_eq!(t.protection(), pb::Protection::ExactNotForRelease);
    assert_eq!(
        (cells[CITY].value, cells[CITY].status()),
        (3.0, pb::DisclosureStatus::ExactNotForRelease)
    );
    assert_eq!(cells[MET].value, 20.0);
    assert_eq!(total(&t), (23.0, pb::DisclosureStatus::ExactNotForRelease));
    assert!(t.notes.iter().any(|n| n.contains("NOT FOR RELEASE")));

    // A rounding base is ignored on the flexible path, and the table says so.
    let mut rounded = q.clone();
    rounded.breakdowns.clear();
    rounded.rounding_base = 5;
    let t = central
        .metrics()
        .query_metric(pb::QueryMetricRequest {
            query: Some(rounded),
        })
        .await
        .unwrap()
        .into_inner()
        .table
        .unwrap();
    assert_eq!(total(&t), (23.0, pb::DisclosureStatus::ExactNotForRelease));
    assert_eq!(t.rounding_base, 0);
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("rounding_base was ignored"))
    );

    // Suppression is for the fixed publication tables only: asking for it on the flexible path
    // is refused, naming the field and the way to the tables.
    let mut suppressed = q.clone();
    suppressed.protection = pb::Protection::Suppression as i32;
    let e = central
        .metrics()
        .query_metric(pb::QueryMetricRequest {
            query: Some(suppressed),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("protection:") && e.message().contains("GetPublicationTable"),
        "{}",
        e.message()
    );

    // The publication table by force and category for 2024-25: the City's 3 is withheld, and
    // the Met's 20 with it, or the published national total (23) less 20 would give 3. Both
    // carry the GSS symbol [c] and no value; the national total is spared.
    let publication = |fy: &str| pb::GetPublicationTableRequest {
        table_id: "recorded_crimes_by_force_and_category".into(),
        financial_year: fy.into(),
    };
    let p = central
        .metrics()
        .get_publication_table(publication("2024-25"))
        .await
        .unwrap()
        .into_inner();
    let t = p.table.unwrap();
    assert_eq!(t.protection(), pb::Protection::Suppression);
    assert_eq!(t.suppression_threshold, 5);
    let cell = |area: &str, category: &str| -> pb::Cell {
        t.rows
            .iter()
            .find(|r| {
                r.dimensions[0].value == "2024-25"
                    && r.dimensions[1].value == area
                    && r.dimensions[2].value == category
            })
            .and_then(|r| r.cell)
            .unwrap_or_else(|| panic!("no row {area} {category}"))
    };
    let city_cell = cell(CITY, "domestic_abuse");
    assert_eq!(
        (
            city_cell.value,
            city_cell.base,
            city_cell.status(),
            city_cell.symbol()
        ),
        (
            0.0,
            0,
            pb::DisclosureStatus::SuppressedPrimary,
            pb::GssSymbol::Confidential
        )
    );
    let met_cell = cell(MET, "domestic_abuse");
    assert_eq!(
        (met_cell.value, met_cell.status(), met_cell.symbol()),
        (
            0.0,
            pb::DisclosureStatus::SuppressedSecondary,
            pb::GssSymbol::Confidential
        )
    );
    assert_eq!(
        cell("*", "domestic_abuse").value,
        23.0,
        "the national figure for the category is a headline and is released"
    );
    assert_eq!(total(&t), (23.0, pb::DisclosureStatus::Released));

    // Agencies read figures through QueryMetric (the refusal is audited as such); unknown
    // tables and malformed years are named.
    let e = met
        .metrics()
        .get_publication_table(publication("2024-25"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let refused = app
        .wait_for_audit(|e| {
            e.agency_id == met.id && e.rpc.ends_with("/GetPublicationTable") && !e.allowed
        })
        .await;
    assert!(
        refused.reason.contains("central team"),
        "{}",
        refused.reason
    );
    let e = central
        .metrics()
        .get_publication_table(publication("2024/25"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("financial_year:"),
        "{}",
        e.message()
    );
    let e = central
        .metrics()
        .get_publication_table(pb::GetPublicationTableRequest {
            table_id: "no_such_table".into(),
            financial_year: "2024-25".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let listed = met
        .metrics()
        .list_publication_tables(pb::ListPublicationTablesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed
            .tables
            .iter()
            .any(|t| t.id == "recorded_crimes_by_force_and_category")
    );

    // The Met may read its own area and national figures, not the City's breakdown.
    let mut own = q.clone();
    own.area_codes = vec![MET.into()];
    met.metrics()
        .query_metric(pb::QueryMetricRequest { query: Some(own) })
        .await
        .unwrap();
    let mut national = q.clone();
    national.breakdowns.clear();
    met.metrics()
        .query_metric(pb::QueryMetricRequest {
            query: Some(national),
        })
        .await
        .unwrap();
    let mut other = q.clone();
    other.area_codes = vec![CITY.into()];
    let denied = met
        .metrics()
        .query_metric(pb::QueryMetricRequest { query: Some(other) })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = met
        .metrics()
        .query_metric(pb::QueryMetricRequest { query: Some(q) })
        .await
        .unwrap_err();
    assert_eq!(
        denied.code(),
        Code::PermissionDenied,
        "an all-areas breakdown needs the central team"
    );

    // Malformed queries name the field.
    let mut bad = query(
        "recorded_crimes",
        pb::VictimScope::Unspecified,
        pb::CountingRule::AllOffences,
    );
    let e = central
        .metrics()
        .query_metric(pb::QueryMetricRequest {
            query: Some(bad.clone()),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("victim_scope:"), "{}", e.message());
    bad.metric_id = "no_such_metric".into();
    let e = central
        .metrics()
        .query_metric(pb::QueryMetricRequest { query: Some(bad) })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Retracting every City crime withdraws all it contributed: its area reads as no data
    // (not a released 0) and the aggregates still equal a full recomputation.
    for i in 0..3 {
        city.ingest()
            .retract_record(pb::RetractRecordRequest {
                source_record_id: format!("b{i}"),
                reason: "test".into(),
            })
            .await
            .unwrap();
    }
    let mut by_area = query(
        "recorded_crimes",
        pb::VictimScope::AllVictims,
        pb::CountingRule::AllOffences,
    );
    by_area.breakdowns = vec![pb::Breakdown::Area as i32];
    let t = central
        .metrics()
        .query_metric(pb::QueryMetricRequest {
            query: Some(by_area),
        })
        .await
        .unwrap()
        .into_inner()
        .table
        .unwrap();
    assert!(
        t.rows.iter().all(|r| r.dimensions[1].value != CITY),
        "a withdrawn area must not read as a released zero"
    );
    assert_eq!(total(&t), (20.0, pb::DisclosureStatus::ExactNotForRelease));
    assert_eq!(
        app.store().all_aggregates().await.unwrap(),
        vawg_store::aggregates::recompute_all(app.store())
            .await
            .unwrap()
    );

    let catalogue = central
        .metrics()
        .list_metrics(pb::ListMetricsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        catalogue
            .metrics
            .iter()
            .any(|m| m.id == "referral_to_charge_days" && m.statistics.len() == 3)
    );
    app.stop().await;
}
