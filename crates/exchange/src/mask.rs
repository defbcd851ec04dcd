//! From a stored record to what a requester may see: the full contract record (pseudonyms only,
//! never identifiers, never immigration status), then minimised to the released field paths.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use vawg_proto::pb;
use vawg_store::{aggregates::event_from_detail, exchange::SharedRecord};

fn timestamp(t: &DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn date(d: &NaiveDate) -> pb::Date {
    pb::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

/// A contract enum value from a stored canonical name (`FEMALE` with prefix `SEX_`).
fn enum_value<E: Into<i32>>(
    canonical: Option<&str>,
    prefix: &str,
    parse: fn(&str) -> Option<E>,
) -> i32 {
    canonical
        .and_then(|c| parse(&format!("{prefix}{c}")))
        .map(Into::into)
        .unwrap_or(0)
}

/// The event, rebuilt from the stored detail (sealed payloads stay ciphertext).
fn event(r: &SharedRecord) -> Option<pb::vawg_record::Event> {
    use pb::vawg_record::Event;
    let d = &r.detail;
    let s = |f: &str| {
        d.get(f)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    match event_from_detail(&r.event_kind, d)? {
        Event::EncompassNotification(_) => {
            Some(Event::EncompassNotification(pb::EncompassNotification {
                school_urn: s("school_urn"),
                sealed_pupil_details: d
                    .get("sealed_pupil_details")
                    .and_then(vawg_store::exchange::sealed_from_detail),
                police_contact: s("police_contact"),
            }))
        }
        Event::ProtectiveOrder(mut o) => {
            o.expires_on = d
                .get("expires_on")
                .and_then(|v| v.as_str())
                .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
                .map(|v| date(&v));
            Some(Event::ProtectiveOrder(o))
        }
        e => Some(e),
    }
}

/// The whole record as the hub may ever return it: persons carry pseudonyms only (never
/// identifiers) and immigration status is never set.
pub(crate) fn full_record(r: &SharedRecord) -> pb::VawgRecord {
    let person = |pseudonym: &Option<String>, demographics: Option<pb::Demographics>| {
        pseudonym.as_ref().map(|p| pb::PersonReference {
            identifiers: None,
            pseudonym: p.clone(),
            demographics,
        })
    };
    let victim_demographics = pb::Demographics {
        sex: enum_value(r.victim_sex.as_deref(), "SEX_", pb::Sex::from_str_name),
        age_at_event: r.victim_age,
        ethnic_group: enum_value(
            r.victim_ethnic_group.as_deref(),
            "ETHNIC_GROUP_",
            pb::EthnicGroup::from_str_name,
        ),
        disability: enum_value(
            r.victim_disability.as_deref(),
            "DISABILITY_",
            pb::Disability::from_str_name,
        ),
        sexual_orientation: enum_value(
            r.victim_sexual_orientation.as_deref(),
            "SEXUAL_ORIENTATION_",
            pb::SexualOrientation::from_str_name,
        ),
        gender_identity: enum_value(
            r.victim_gender_identity.as_deref(),
            "GENDER_IDENTITY_",
            pb::GenderIdentity::from_str_name,
        ),
        immigration_status: pb::ImmigrationStatus::Unspecified as i32,
    };
    let refs = [
        &r.police_ref_pseudonym,
        &r.cps_urn_pseudonym,
        &r.court_case_pseudonym,
    ];
    let case_references = refs
        .iter()
        .any(|p| p.is_some())
        .then(|| pb::CaseReferences {
            police_crime_reference_pseudonym: r.police_ref_pseudonym.clone().unwrap_or_default(),
            cps_urn_pseudonym: r.cps_urn_pseudonym.clone().unwrap_or_default(),
            court_case_number_pseudonym: r.court_case_pseudonym.clone().unwrap_or_default(),
            ..Default::default()
        });
    pb::VawgRecord {
        source_record_id: r.source_record_id.clone(),
        revision: r.revision,
        source_agency_id: r.agency_id.clone(),
        event_time: Some(timestamp(&r.event_time)),
        recorded_time: Some(timestamp(&r.recorded_time)),
        reference_period: Some(pb::ReferencePeriod {
            start: Some(date(&r.period_start)),
            end: Some(date(&r.period_end)),
        }),
        counting_unit: enum_value(
            Some(&r.counting_unit),
            "COUNTING_UNIT_",
            pb::CountingUnit::from_str_name,
        ),
        area: Some(pb::Area {
            gss_code: r.area_code.clone(),
            level: enum_value(
                Some(&r.area_level),
                "AREA_LEVEL_",
                pb::AreaLevel::from_str_name,
            ),
        }),
        classification: Some(pb::LocalClassification {
            scheme: r.local_scheme.clone(),
            code: r.local_code.clone(),
        }),
        victim: person(&r.victim_pseudonym, Some(victim_demographics)),
        suspect: person(&r.suspect_pseudonym, None),
        case_references,
        category: r.category.clone(),
        definition_version: r.definition_version.clone(),
        suspect_is_police_personnel: police_personnel(r),
        event: event(r),
    }
}

/// Whether a stored record is labelled as having a police-personnel suspect.
pub(crate) fn police_personnel(r: &SharedRecord) -> bool {
    r.detail
        .get(vawg_domain::policy::POLICE_PERSONNEL_KEY)
        .and_then(|v| v.as_bool())
        == Some(true)
}

/// The released field paths (`victim.pseudonym`, `event`, …): a path releases itself and
/// everything under it.
struct Mask<'a>(&'a [String]);

impl Mask<'_> {
    /// Whether `path` is released.
    fn covers(&self, path: &str) -> bool {
        self.0.iter().any(|r| {
            r == "*"
                || r == path
                || (path.starts_with(r.as_str()) && path.as_bytes().get(r.len()) == Some(&b'.'))
        })
    }

    /// Whether `path` or anything under it is released.
    fn touches(&self, path: &str) -> bool {
        self.covers(path)
            || self
                .0
                .iter()
                .any(|r| r.starts_with(path) && r.as_bytes().get(path.len()) == Some(&b'.'))
    }

    fn keep<T: Default>(&self, path: &str, v: T) -> T {
        if self.covers(path) { v } else { T::default() }
    }

    fn person(&self, path: &str, p: Option<pb::PersonReference>) -> Option<pb::PersonReference> {
        let p = p.filter(|_| self.touches(path))?;
        let at = |child: &str| format!("{path}.{child}");
        let demographics = p
            .demographics
            .filter(|_| self.touches(&at("demographics")))
            .map(|d| {
                let at = |child: &str| format!("{path}.demographics.{child}");
                pb::Demographics {
                    sex: self.keep(&at("sex"), d.sex),
                    age_at_event: self.keep(&at("age_at_event"), d.age_at_event),
                    ethnic_group: self.keep(&at("ethnic_group"), d.ethnic_group),
                    disability: self.keep(&at("disability"), d.disability),
                    sexual_orientation: self.keep(&at("sexual_orientation"), d.sexual_orientation),
                    gender_identity: self.keep(&at("gender_identity"), d.gender_identity),
                    // Hard rule: never at record level, whatever the mask says.
                    immigration_status: pb::ImmigrationStatus::Unspecified as i32,
                }
            });
        Some(pb::PersonReference {
            // Never returned: the hub does not hold them.
            identifiers: None,
            pseudonym: self.keep(&at("pseudonym"), p.pseudonym),
            demographics,
        })
    }
}

/// Keeps only the fields `released` names. Immigration status is cleared whatever it says.
pub(crate) fn minimise(full: pb::VawgRecord, released: &[String]) -> pb::VawgRecord {
    let m = Mask(released);
    let case_references = full
        .case_references
        .filter(|_| m.touches("case_references"))
        .map(|c| pb::CaseReferences {
            police_crime_reference: String::new(),
            cps_urn: String::new(),
            court_case_number: String::new(),
            police_crime_reference_pseudonym: m.keep(
                "case_references.police_crime_reference_pseudonym",
                c.police_crime_reference_pseudonym,
            ),
            cps_urn_pseudonym: m.keep("case_references.cps_urn_pseudonym", c.cps_urn_pseudonym),
            court_case_number_pseudonym: m.keep(
                "case_references.court_case_number_pseudonym",
                c.court_case_number_pseudonym,
            ),
            // Incidents are for counting only: their pseudonyms never leave the hub.
            incident_reference: String::new(),
            incident_reference_pseudonym: String::new(),
        });
    pb::VawgRecord {
        source_record_id: m.keep("source_record_id", full.source_record_id),
        revision: m.keep("revision", full.revision),
        source_agency_id: m.keep("source_agency_id", full.source_agency_id),
        event_time: m.keep("event_time", full.event_time),
        recorded_time: m.keep("recorded_time", full.recorded_time),
        reference_period: m.keep("reference_period", full.reference_period),
        counting_unit: m.keep("counting_unit", full.counting_unit),
        area: m.keep("area", full.area),
        classification: m.keep("classification", full.classification),
        victim: m.person("victim", full.victim),
        suspect: m.person("suspect", full.suspect),
        case_references,
        category: m.keep("category", full.category),
        definition_version: m.keep("definition_version", full.definition_version),
        suspect_is_police_personnel: m.keep(
            "suspect_is_police_personnel",
            full.suspect_is_police_personnel,
        ),
        event: m.keep("event", full.event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> pb::VawgRecord {
        pb::VawgRecord {
            source_record_id: "r1".into(),
            revision: 2,
            source_agency_id: "police-x".into(),
            category: "rape".into(),
            victim: Some(pb::PersonReference {
                identifiers: Some(pb::PersonIdentifiers {
                    given_name: "Testgiven".into(),
                    ..Default::default()
                }),
                pseudonym: "abc".into(),
                demographics: Some(pb::Demographics {
                    sex: pb::Sex::Female as i32,
                    immigration_status: pb::ImmigrationStatus::Insecure as i32,
                    ..Default::default()
                }),
            }),
            suspect: Some(pb::PersonReference {
                pseudonym: "def".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_released_paths_survive() {
        let out = minimise(record(), &["category".into(), "victim.pseudonym".into()]);
        assert_eq!(out.category, "rape");
        assert_eq!(out.source_record_id, "");
        assert_eq!(out.revision, 0);
        let v = out.victim.unwrap();
        assert_eq!(v.pseudonym, "abc");
        assert!(v.identifiers.is_none());
        assert!(v.demographics.is_none());
        assert!(out.suspect.is_none());
    }

    #[test]
    fn immigration_status_and_identifiers_never_survive_even_everything() {
        let out = minimise(
            record(),
            &["*".into(), "victim.demographics.immigration_status".into()],
        );
        let v = out.victim.unwrap();
        assert!(v.identifiers.is_none());
        let d = v.demographics.unwrap();
        assert_eq!(d.sex, pb::Sex::Female as i32);
        assert_eq!(d.immigration_status, 0);
        assert_eq!(out.suspect.unwrap().pseudonym, "def");
    }

    #[test]
    fn a_prefix_is_not_a_parent() {
        let m = Mask(&["victim.pseudonym".to_string()]);
        assert!(!m.covers("victim"));
        assert!(m.touches("victim"));
        assert!(!m.covers("victim.pseudonymous"));
        let m = Mask(&["event".to_string()]);
        assert!(!m.covers("event_time"));
    }
}
