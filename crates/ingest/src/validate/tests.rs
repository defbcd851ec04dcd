//! Unit tests of the validator's tables.

use vawg_proto::pb;

use super::{check_gss, event::outcome_group};

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

#[test]
fn outcome_types_belong_to_the_contract_groups() {
    use pb::PoliceOutcomeGroup as G;
    assert_eq!(outcome_group(1), Some(G::ChargedOrSummonsed));
    assert_eq!(outcome_group(16), Some(G::VictimDoesNotSupport));
    assert_eq!(outcome_group(21), Some(G::ProsecutionPrevented));
    assert_eq!(outcome_group(4), None);
    assert_eq!(outcome_group(23), None);
}
