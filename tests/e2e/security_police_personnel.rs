//! Police-personnel suspects (issue #20, item 9): a record the submitting agency labels
//! `suspect_is_police_personnel` is never read by a police agency for any purpose other than
//! professional standards — a hard rule, audited by name — while other agencies' purposes are
//! unaffected and the force's professional standards department can read it.

use tonic::Code;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb;

use crate::{
    both_backends,
    exchange_fixtures::{MET, crime, identifiers, submit, victim},
};

const RULE: &str = "hard-rule:police-personnel-professional-standards-only";
const MET_ID: &str = "police-e23000001";

async fn ask(
    agency: &Agency,
    purpose: pb::Purpose,
    basis: pb::LawfulBasis,
) -> pb::RequestRecordsResponse {
    agency
        .exchange()
        .request_records(pb::RequestRecordsRequest {
            subject: Some(identifiers("A")),
            purpose: purpose as i32,
            lawful_basis: basis as i32,
            justification: "Case review".into(),
            event_kinds: vec![],
        })
        .await
        .expect("request answered")
        .into_inner()
}

/// The crime reference pseudonyms of the records returned (each record has its own crime
/// reference; the masks release its pseudonym, not the source record id).
fn crime_refs(response: &pb::RequestRecordsResponse) -> Vec<String> {
    let mut refs: Vec<String> = response
        .records
        .iter()
        .map(|r| {
            let refs = r.case_references.as_ref().expect("case references");
            refs.police_crime_reference_pseudonym.clone()
        })
        .collect();
    refs.sort();
    refs
}

async fn police_read_police_personnel_records_for_professional_standards_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let marac = app
        .agency("marac-e23000001", AgencyKind::Marac, &[MET])
        .await;
    let mut labelled = crime(MET_ID, "pp-1", victim("A"));
    labelled.suspect_is_police_personnel = true;
    submit(&met, vec![labelled, crime(MET_ID, "plain-1", victim("A"))]).await;

    // Safeguarding: the labelled record is withheld, the rest is released.
    let safeguarding = ask(
        &met,
        pb::Purpose::Safeguarding,
        pb::LawfulBasis::PublicTaskSafeguarding,
    )
    .await;
    assert!(safeguarding.decision.as_ref().expect("decision").allowed);
    let released = crime_refs(&safeguarding);
    assert_eq!(released.len(), 1, "{:?}", safeguarding.records);
    // The withholding is audited as the hard rule's refusal.
    let entries = app.audit_entries().await;
    let refusal = entries
        .iter()
        .find(|e| !e.gate && !e.allowed && e.agency_id == MET_ID)
        .expect("an audit entry for the refusal");
    assert!(refusal.hard_rule);
    assert!(
        refusal.policy_ids.contains(&RULE.to_string()),
        "{refusal:?}"
    );
    assert_eq!(refusal.rpc, "/vawg.v1.ExchangeService/RequestRecords");
    assert_eq!(refusal.purpose, "PURPOSE_SAFEGUARDING");
    assert!(!refusal.subject_pseudonyms.is_empty());

    // Professional standards: only the labelled record, with the suspect's pseudonym.
    let standards = ask(
        &met,
        pb::Purpose::ProfessionalStandards,
        pb::LawfulBasis::LawEnforcementPart3,
    )
    .await;
    let decision = standards.decision.as_ref().expect("decision");
    assert!(decision.allowed, "{decision:?}");
    assert!(
        decision
            .policy_ids
            .contains(&"professional-standards".to_string())
    );
    let labelled = crime_refs(&standards);
    assert_eq!(labelled.len(), 1, "{:?}", standards.records);
    assert_ne!(labelled, released);
    let record = &standards.records[0];
    assert!(record.suspect_is_police_personnel);
    assert!(
        !record
            .suspect
            .as_ref()
            .expect("suspect")
            .pseudonym
            .is_empty()
    );
    assert!(
        record
            .victim
            .as_ref()
            .expect("victim")
            .demographics
            .is_none()
    );

    // Not a police agency: its own purpose is unaffected by the label.
    let risk = ask(
        &marac,
        pb::Purpose::MaracRiskAssessment,
        pb::LawfulBasis::PublicTaskSafeguarding,
    )
    .await;
    assert!(risk.decision.as_ref().expect("decision").allowed);
    let mut both = [released, labelled].concat();
    both.sort();
    assert_eq!(crime_refs(&risk), both);
    app.stop().await;
}
both_backends!(
    professional_standards_only,
    police_read_police_personnel_records_for_professional_standards_only
);

async fn a_police_subscription_is_refused_by_the_hard_rule(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let refused = met
        .exchange()
        .subscribe(pb::SubscribeRequest {
            topic: pb::Topic::Encompass as i32,
            after_sequence: 0,
        })
        .await
        .expect_err("a police subscription is refused");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let entries = app.audit_entries().await;
    let refusal = entries
        .iter()
        .find(|e| !e.gate && !e.allowed && e.rpc.ends_with("/Subscribe"))
        .expect("an audit entry for the refusal");
    assert!(
        refusal.policy_ids.contains(&RULE.to_string()),
        "{refusal:?}"
    );
    app.stop().await;
}
both_backends!(
    police_subscription_refused,
    a_police_subscription_is_refused_by_the_hard_rule
);
