//! Same seed, same output; every record valid; the journey's shape.

use std::{collections::BTreeSet, sync::Arc};

use chrono::Utc;
use vawg_domain::{
    definition::DefinitionSet,
    identity::CallerIdentity,
    pseudonym::{Keyring, PseudonymKey},
};
use vawg_ingest::Validator;
use vawg_proto::pb::vawg_record::Event;

use super::{
    catalogue::{GIVEN, GIVEN_MALE},
    *,
};

#[test]
fn same_seed_same_records_and_a_different_seed_differs() {
    let a = generate(200, 7);
    let b = generate(200, 7);
    assert_eq!(a.records, b.records);
    assert_eq!(a.agencies, b.agencies);
    assert_ne!(a.records, generate(200, 8).records);
}

#[test]
fn every_record_passes_validation_and_the_journey_has_its_stages() {
    let data = generate(1500, 42);
    let defs = Arc::new(DefinitionSet::embedded());
    let ring = Keyring::new(vec![PseudonymKey::new("k", vec![1; 32]).unwrap()]).unwrap();
    let mut kinds = BTreeSet::new();
    for agency in &data.agencies {
        let caller = CallerIdentity {
            agency_id: agency.id.clone(),
            agency_kind: agency.kind,
            scopes: BTreeSet::new(),
            areas: agency.areas.clone(),
        };
        let v = Validator {
            caller: &caller,
            definition: defs.current(),
            keyring: &ring,
            now: Utc::now(),
        };
        for r in data.records_of(&agency.id) {
            let valid = v
                .validate(r.clone())
                .unwrap_or_else(|e| panic!("{} {}: {e:?}", agency.id, r.source_record_id));
            kinds.insert(valid.row.event_kind.clone());
        }
    }
    for k in [
        "CRIME_RECORDED",
        "POLICE_OUTCOME",
        "CPS_REFERRAL",
        "CHARGING_DECISION",
        "PROSECUTION_OUTCOME",
        "COURT_OUTCOME",
        "PROTECTIVE_ORDER",
        "VICTIM_WITHDRAWAL",
        "MARAC_REFERRAL",
        "SUPPORT_REFERRAL",
        "SUPPORT_PROVIDED",
        "UNABLE_TO_SUPPORT",
        "HEALTH_DISCLOSURE",
        "HEALTH_REFERRAL",
        "ENCOMPASS_NOTIFICATION",
        "VICTIM_SATISFACTION",
        "FUNDING_RETURN",
    ] {
        assert!(kinds.contains(k), "no {k} in synthetic data");
    }
    let no_recourse = data.records.iter().filter(|r| matches!(&r.event,
        Some(Event::UnableToSupport(u)) if u.reason == pb::UnableToSupportReason::NoRecourseToPublicFunds as i32)).count();
    assert!(no_recourse > 0);
}

#[test]
fn rape_takes_far_longer_from_referral_to_charge() {
    let data = generate(4000, 3);
    let mut referral = std::collections::HashMap::new();
    for r in &data.records {
        if let Some(Event::CpsReferral(_)) = r.event {
            let refs = r.case_references.as_ref().unwrap();
            referral.insert(
                refs.police_crime_reference.clone(),
                r.event_time.unwrap().seconds,
            );
        }
    }
    let (mut rape, mut other) = (vec![], vec![]);
    for r in &data.records {
        if let Some(Event::ChargingDecision(_)) = r.event {
            let refs = r.case_references.as_ref().unwrap();
            let days = (r.event_time.unwrap().seconds - referral[&refs.police_crime_reference])
                as f64
                / 86400.0;
            if r.classification.as_ref().unwrap().code == "RAPE" {
                rape.push(days)
            } else {
                other.push(days)
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (r, o) = (mean(&rape), mean(&other));
    assert!((120.0..200.0).contains(&r), "rape mean {r}");
    assert!((30.0..65.0).contains(&o), "other mean {o}");
}

#[test]
fn names_are_obviously_synthetic_and_files_round_trip() {
    let data = generate(50, 1);
    for r in &data.records {
        if let Some(ids) = r.victim.as_ref().and_then(|v| v.identifiers.as_ref()) {
            assert!(
                GIVEN.contains(&ids.given_name.as_str())
                    || GIVEN_MALE.contains(&ids.given_name.as_str())
            );
            assert!(ids.nhs_number.starts_with("999"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("synth.bin");
    write(&data, &out).unwrap();
    assert_eq!(read_records(&out).unwrap(), data.records);
    assert!(agencies_path(&out).exists());
}

mod realism;

/// No synthetic record is dated after the end of March 2026 (ingest refuses records dated in
/// the future), however long a victim's chain of repeat reports runs: many journeys, so long
/// chains occur.
#[test]
fn no_record_is_dated_in_the_future_even_with_long_repeat_chains() {
    let data = generate(20_000, 11);
    let latest = data
        .records
        .iter()
        .filter_map(|r| r.event_time.as_ref().map(|t| t.seconds))
        .max()
        .unwrap();
    let limit = chrono::NaiveDate::from_ymd_opt(2026, 4, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    assert!(latest < limit, "a record is dated {latest}, after {limit}");
}
