//! Unit tests of the validator's tables.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use serde_json::Value;
use vawg_domain::{
    definition::DefinitionSet,
    identity::{AgencyKind, CallerIdentity},
    pseudonym::{Keyring, PseudonymKey},
};
use vawg_proto::pb::{self, PoliceOutcomeGroup as G, vawg_record::Event};

use super::{
    Validator, Violation, check_gss,
    event::{self, outcome::home_office_group},
    problems::Problems,
};

#[test]
fn gss_codes_must_match_their_level() {
    use pb::AreaLevel as L;
    assert!(check_gss("E23000001", L::PoliceForceArea).is_ok());
    assert!(check_gss("W15000003", L::PoliceForceArea).is_ok());
    assert!(check_gss("E08000025", L::LocalAuthority).is_ok());
    assert!(check_gss("E54000018", L::IntegratedCareBoard).is_ok());
    assert!(check_gss("K04000001", L::EnglandAndWales).is_ok());
    assert!(check_gss("E09000001", L::PoliceForceArea).is_err());
    assert!(check_gss("K04000002", L::EnglandAndWales).is_err());
    assert!(check_gss("E2300001", L::PoliceForceArea).is_err());
    assert!(check_gss("e23000001", L::PoliceForceArea).is_err());
}

/// Every (outcome type, group) pairing the validator accepted before the hub derived the Home
/// Office groups, written out by hand (not computed): no v1 client that sent one may break.
const ACCEPTED_BEFORE: [(u32, G); 20] = [
    (1, G::ChargedOrSummonsed),
    (2, G::OutOfCourt),
    (3, G::OutOfCourt),
    (6, G::OutOfCourt),
    (7, G::OutOfCourt),
    (8, G::OutOfCourt),
    (9, G::ProsecutionPrevented),
    (10, G::ProsecutionPrevented),
    (11, G::ProsecutionPrevented),
    (12, G::ProsecutionPrevented),
    (13, G::ProsecutionPrevented),
    (14, G::ProsecutionPrevented),
    (15, G::EvidentialDifficultiesVictimSupports),
    (16, G::VictimDoesNotSupport),
    (17, G::Other),
    (18, G::NoSuspectIdentified),
    (19, G::Other),
    (20, G::Other),
    (21, G::ProsecutionPrevented),
    (22, G::Other),
];

/// The Home Office group of each outcome type 1-22, in order, as stored (see `event/outcome.rs`
/// for the sources).
const HOME_OFFICE: [&str; 22] = [
    "CHARGED_OR_SUMMONSED",                         // 1 charge/summons
    "OUT_OF_COURT_FORMAL",                          // 2 caution, youth
    "OUT_OF_COURT_FORMAL",                          // 3 caution, adult
    "TAKEN_INTO_CONSIDERATION",                     // 4
    "PROSECUTION_PREVENTED",                        // 5 offender died
    "OUT_OF_COURT_FORMAL",                          // 6 penalty notice for disorder
    "OUT_OF_COURT_FORMAL",                          // 7 cannabis/khat warning
    "OUT_OF_COURT_INFORMAL",                        // 8 community resolution
    "PROSECUTION_PREVENTED",                        // 9 not in the public interest (CPS)
    "PROSECUTION_PREVENTED",                        // 10 not in the public interest (police)
    "PROSECUTION_PREVENTED",                        // 11 suspect under age
    "PROSECUTION_PREVENTED",                        // 12 suspect too ill
    "PROSECUTION_PREVENTED",                        // 13 victim or key witness dead or too ill
    "VICTIM_DOES_NOT_SUPPORT",                      // 14 suspect not identified
    "EVIDENTIAL_DIFFICULTIES_VICTIM_SUPPORTS",      // 15
    "VICTIM_DOES_NOT_SUPPORT",                      // 16 suspect identified
    "PROSECUTION_PREVENTED",                        // 17 prosecution time limit expired
    "NO_SUSPECT_IDENTIFIED",                        // 18
    "OTHER",                                        // 19 no published Home Office group
    "TRANSFERRED_TO_ANOTHER_BODY",                  // 20
    "FURTHER_INVESTIGATION_NOT_IN_PUBLIC_INTEREST", // 21
    "DIVERSIONARY_ACTIVITY",                        // 22
];

/// Reads a police outcome event: the group stored, the detail, and the violations.
fn read_outcome(outcome_type: u32, group: i32) -> (Option<String>, Value, Vec<Violation>) {
    let mut p = Problems::default();
    let ev = Event::PoliceOutcome(pb::PoliceOutcome {
        home_office_outcome_type: outcome_type,
        group,
    });
    let (fields, detail) = event::read(&ev, None, &mut p);
    (fields.decision, detail, p.0)
}

/// Every value of the group enum but UNSPECIFIED.
fn every_group() -> Vec<G> {
    (1..100).filter_map(|n| G::try_from(n).ok()).collect()
}

#[test]
fn every_outcome_type_without_a_group_stores_its_home_office_group() {
    for t in 1..=22u32 {
        let (decision, detail, violations) = read_outcome(t, G::Unspecified as i32);
        assert!(violations.is_empty(), "type {t}: {violations:?}");
        let expected = HOME_OFFICE[t as usize - 1];
        assert_eq!(decision.as_deref(), Some(expected), "type {t}");
        assert_eq!(detail["group"], expected, "type {t}");
        assert_eq!(detail["home_office_outcome_type"], t);
        assert!(detail.get("submitted_group").is_none(), "type {t}");
        assert_eq!(
            home_office_group(t).map(|g| g.as_str_name()),
            Some(format!("POLICE_OUTCOME_GROUP_{expected}").as_str())
        );
    }
}

#[test]
fn taken_into_consideration_and_offender_died_are_accepted() {
    let (decision, _, violations) = read_outcome(4, G::Unspecified as i32);
    assert!(violations.is_empty());
    assert_eq!(decision.as_deref(), Some("TAKEN_INTO_CONSIDERATION"));
    let (decision, _, violations) = read_outcome(5, G::ProsecutionPrevented as i32);
    assert!(violations.is_empty());
    assert_eq!(decision.as_deref(), Some("PROSECUTION_PREVENTED"));
}

#[test]
fn every_pairing_accepted_before_is_accepted_and_stored_under_the_home_office_group() {
    for (t, g) in ACCEPTED_BEFORE {
        let (decision, detail, violations) = read_outcome(t, g as i32);
        assert!(violations.is_empty(), "({t}, {g:?}): {violations:?}");
        let expected = HOME_OFFICE[t as usize - 1];
        assert_eq!(decision.as_deref(), Some(expected), "({t}, {g:?})");
        // What the client sent is kept beside the group stored, when they differ.
        let sent = g.as_str_name().trim_start_matches("POLICE_OUTCOME_GROUP_");
        if sent == expected {
            assert!(detail.get("submitted_group").is_none());
        } else {
            assert_eq!(detail["submitted_group"], sent, "({t}, {g:?})");
        }
    }
    // Outcome 14 was accepted only as PROSECUTION_PREVENTED; now its Home Office group passes.
    let (decision, _, violations) = read_outcome(14, G::VictimDoesNotSupport as i32);
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(decision.as_deref(), Some("VICTIM_DOES_NOT_SUPPORT"));
}

#[test]
fn any_other_group_is_refused_naming_the_field_and_the_expected_group() {
    let before: BTreeSet<(u32, i32)> = ACCEPTED_BEFORE
        .iter()
        .map(|(t, g)| (*t, *g as i32))
        .collect();
    let mut refused = 0;
    for t in 1..=22u32 {
        let expected = HOME_OFFICE[t as usize - 1];
        for g in every_group() {
            let canonical = g.as_str_name().trim_start_matches("POLICE_OUTCOME_GROUP_");
            let ok = canonical == expected || before.contains(&(t, g as i32));
            let (_, _, violations) = read_outcome(t, g as i32);
            if ok {
                assert!(violations.is_empty(), "({t}, {g:?}): {violations:?}");
                continue;
            }
            refused += 1;
            assert_eq!(violations.len(), 1, "({t}, {g:?}): {violations:?}");
            let v = &violations[0];
            assert_eq!(v.field, "event.police_outcome.group");
            assert!(
                v.reason.contains(&format!("group {expected}:")),
                "({t}, {g:?}): {}",
                v.reason
            );
            assert!(v.reason.contains("UNSPECIFIED"), "{}", v.reason);
        }
    }
    assert!(refused > 200, "only {refused} pairings refused");
    let (_, _, violations) = read_outcome(14, G::Other as i32);
    assert_eq!(
        violations[0].reason,
        "outcome type 14 belongs to Home Office group VICTIM_DOES_NOT_SUPPORT: send that (or \
         PROSECUTION_PREVENTED, as v1 clients paired it), or leave the group UNSPECIFIED for the \
         hub to derive it; got OTHER"
    );
}

#[test]
fn outcome_types_outside_1_to_22_are_refused_with_the_range() {
    for t in [0, 23, 99, u32::MAX] {
        for g in [G::Unspecified, G::Other, G::ChargedOrSummonsed] {
            let (decision, _, violations) = read_outcome(t, g as i32);
            assert_eq!(violations.len(), 1, "({t}, {g:?}): {violations:?}");
            assert_eq!(
                violations[0].field,
                "event.police_outcome.home_office_outcome_type"
            );
            assert!(
                violations[0].reason.contains("1-22"),
                "{}",
                violations[0].reason
            );
            assert_eq!(decision, None);
        }
    }
}

#[test]
fn an_unknown_group_number_is_refused() {
    let (_, _, violations) = read_outcome(1, 99);
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "event.police_outcome.group");
    assert_eq!(violations[0].reason, "unknown enum value 99");
    // Both wrong: each named, in field order.
    let (_, _, violations) = read_outcome(0, 99);
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "event.police_outcome.home_office_outcome_type",
            "event.police_outcome.group"
        ]
    );
}

/// A police outcome from the Met, through the whole validator.
fn police_outcome_record(outcome_type: u32, group: G) -> pb::VawgRecord {
    let t = Utc.with_ymd_and_hms(2025, 3, 2, 9, 0, 0).unwrap();
    let ts = prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    let date = |day| pb::Date {
        year: 2025,
        month: 3,
        day,
    };
    pb::VawgRecord {
        source_record_id: "po-1".into(),
        revision: 1,
        source_agency_id: "police-e23000001".into(),
        event_time: Some(ts),
        recorded_time: Some(ts),
        reference_period: Some(pb::ReferencePeriod {
            start: Some(date(1)),
            end: Some(date(31)),
        }),
        counting_unit: pb::CountingUnit::Crime as i32,
        area: Some(pb::Area {
            gss_code: "E23000001".into(),
            level: pb::AreaLevel::PoliceForceArea as i32,
        }),
        classification: Some(pb::LocalClassification {
            scheme: "HO_OFFENCE".into(),
            code: "8Q".into(),
        }),
        victim: Some(pb::PersonReference {
            identifiers: Some(pb::PersonIdentifiers {
                given_name: "Testina".into(),
                family_name: "Mockford".into(),
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
                ..Default::default()
            }),
        }),
        case_references: Some(pb::CaseReferences {
            police_crime_reference: "CR/po-1".into(),
            ..Default::default()
        }),
        event: Some(Event::PoliceOutcome(pb::PoliceOutcome {
            home_office_outcome_type: outcome_type,
            group: group as i32,
        })),
        ..Default::default()
    }
}

#[test]
fn the_validator_stores_the_derived_group() {
    let defs = DefinitionSet::embedded();
    let ring = Keyring::new(vec![PseudonymKey::new("k", vec![1; 32]).unwrap()]).unwrap();
    let caller = CallerIdentity {
        agency_id: "police-e23000001".into(),
        agency_kind: AgencyKind::Police,
        scopes: BTreeSet::new(),
        areas: vec!["E23000001".to_string()],
    };
    let v = Validator {
        caller: &caller,
        definition: defs.current(),
        keyring: &ring,
        now: Utc::now(),
    };
    for (t, g, stored) in [
        (14, G::Unspecified, "VICTIM_DOES_NOT_SUPPORT"),
        (14, G::ProsecutionPrevented, "VICTIM_DOES_NOT_SUPPORT"),
        (8, G::OutOfCourt, "OUT_OF_COURT_INFORMAL"),
        (22, G::DiversionaryActivity, "DIVERSIONARY_ACTIVITY"),
    ] {
        let valid = v
            .validate(police_outcome_record(t, g))
            .unwrap_or_else(|e| panic!("({t}, {g:?}): {e:?}"));
        assert_eq!(valid.row.fields.decision.as_deref(), Some(stored));
        assert_eq!(valid.row.detail["group"], stored);
    }
    let refused = v
        .validate(police_outcome_record(16, G::ChargedOrSummonsed))
        .unwrap_err();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].field, "event.police_outcome.group");

    // The police-personnel label is kept in the detail, and only when set.
    let plain = v
        .validate(police_outcome_record(14, G::Unspecified))
        .unwrap();
    assert!(
        plain
            .row
            .detail
            .get("suspect_is_police_personnel")
            .is_none()
    );
    let mut labelled = police_outcome_record(14, G::Unspecified);
    labelled.suspect_is_police_personnel = true;
    let labelled = v.validate(labelled).unwrap();
    assert_eq!(labelled.row.detail["suspect_is_police_personnel"], true);
}
