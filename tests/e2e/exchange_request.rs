//! RequestRecords end to end: the firewall decides on the stated purpose and lawful basis, only
//! the released fields come back (never identifiers, never immigration status), and every
//! request is audited with its purpose and outcome — refusals included. Immigration enforcement
//! is never an allowed requester or purpose.

use tonic::Code;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb;

use crate::exchange_fixtures::{MET, crime, identifiers, submit, victim};

fn request(tag: &str, purpose: pb::Purpose, basis: pb::LawfulBasis) -> pb::RequestRecordsRequest {
    pb::RequestRecordsRequest {
        subject: Some(identifiers(tag)),
        purpose: purpose as i32,
        lawful_basis: basis as i32,
        justification: "Child protection strategy discussion".into(),
        event_kinds: vec![],
    }
}

async fn ask(agency: &Agency, req: pb::RequestRecordsRequest) -> pb::RequestRecordsResponse {
    agency
        .exchange()
        .request_records(req)
        .await
        .expect("request answered")
        .into_inner()
}

async fn allowed_request_returns_only_unmasked_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let school = app
        .agency("school-100001", AgencyKind::School, &[MET])
        .await;
    let marac = app
        .agency("marac-e23000001", AgencyKind::Marac, &[MET])
        .await;
    submit(
        &police,
        vec![
            crime(&police.id, "c1", victim("A")),
            crime(&police.id, "c2", victim("A")),
            crime(&police.id, "other", victim("B")),
        ],
    )
    .await;
    police
        .ingest()
        .retract_record(pb::RetractRecordRequest {
            source_record_id: "c2".into(),
            reason: "Recorded in error".into(),
        })
        .await
        .expect("retracted");

    // A school, to safeguard: the `safeguarding-practitioners` mask.
    let got = ask(
        &school,
        request(
            "A",
            pb::Purpose::Safeguarding,
            pb::LawfulBasis::PublicTaskSafeguarding,
        ),
    )
    .await;
    let decision = got.decision.expect("decision");
    assert!(decision.allowed, "{decision:?}");
    assert!(
        decision
            .policy_ids
            .contains(&"safeguarding-practitioners".to_string())
    );
    assert!(got.audit_receipt.expect("receipt").tree_size > 0);
    // Only the current, unretracted record about this victim.
    assert_eq!(got.records.len(), 1, "{:?}", got.records);
    let r = &got.records[0];
    assert_eq!(r.source_agency_id, police.id);
    assert!(r.event_time.is_some());
    assert_eq!(r.area.as_ref().unwrap().gss_code, MET);
    assert_eq!(r.category, "domestic_abuse");
    assert!(!r.definition_version.is_empty());
    assert!(matches!(
        r.event,
        Some(pb::vawg_record::Event::CrimeRecorded(_))
    ));
    let v = r.victim.as_ref().expect("victim pseudonym released");
    assert_eq!(v.pseudonym.len(), 32);
    assert!(v.identifiers.is_none());
    assert!(v.demographics.is_none(), "no demographics for safeguarding");
    let refs = r
        .case_references
        .as_ref()
        .expect("crime reference pseudonym");
    assert!(!refs.police_crime_reference_pseudonym.is_empty());
    assert!(refs.police_crime_reference.is_empty());
    // Masked.
    assert!(r.source_record_id.is_empty());
    assert_eq!(r.revision, 0);
    assert!(r.recorded_time.is_none());
    assert!(r.reference_period.is_none());
    assert!(r.classification.is_none());
    assert_eq!(r.counting_unit, 0);
    assert!(r.suspect.is_none());

    // A MARAC, for risk assessment: demographics and the suspect's pseudonym, never
    // immigration status.
    let got = ask(
        &marac,
        request(
            "A",
            pb::Purpose::MaracRiskAssessment,
            pb::LawfulBasis::PublicTaskSafeguarding,
        ),
    )
    .await;
    assert!(got.decision.as_ref().unwrap().allowed);
    let released = &got.decision.as_ref().unwrap().released_fields;
    assert!(
        released.iter().all(|f| !f.contains("immigration_status")),
        "{released:?}"
    );
    assert_eq!(got.records.len(), 1);
    let r = &got.records[0];
    let d = r
        .victim
        .as_ref()
        .unwrap()
        .demographics
        .as_ref()
        .expect("demographics");
    assert_eq!(d.sex, pb::Sex::Female as i32);
    assert_eq!(d.ethnic_group, pb::EthnicGroup::Asian as i32);
    assert_eq!(
        d.immigration_status, 0,
        "immigration status never leaves the hub"
    );
    assert_eq!(r.suspect.as_ref().unwrap().pseudonym.len(), 32);
    assert!(r.suspect.as_ref().unwrap().identifiers.is_none());

    // Both requests were audited with their purpose, allowed, naming the subject's pseudonym.
    let entries = app.audit_entries().await;
    let flows: Vec<_> = entries
        .iter()
        .filter(|e| !e.gate && e.rpc.ends_with("ExchangeService/RequestRecords"))
        .collect();
    assert_eq!(flows.len(), 2, "{flows:#?}");
    assert_eq!(flows[0].purpose, "PURPOSE_SAFEGUARDING");
    assert_eq!(flows[1].purpose, "PURPOSE_MARAC_RISK_ASSESSMENT");
    assert!(flows.iter().all(|e| e.allowed));
    assert!(flows[0].subject_pseudonyms.contains(&v.pseudonym));
    app.stop().await;
}

#[tokio::test]
async fn allowed_request_returns_only_unmasked_fields_sqlite() {
    allowed_request_returns_only_unmasked_fields(Backend::Sqlite).await;
}

#[tokio::test]
async fn allowed_request_returns_only_unmasked_fields_postgres() {
    allowed_request_returns_only_unmasked_fields(Backend::Postgres).await;
}

async fn disallowed_purpose_is_refused_and_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let school = app
        .agency("school-100001", AgencyKind::School, &[MET])
        .await;
    submit(&police, vec![crime(&police.id, "c1", victim("A"))]).await;

    // A school has no law-enforcement purpose; statistics never flow at record level.
    for (purpose, basis) in [
        (
            pb::Purpose::LawEnforcement,
            pb::LawfulBasis::LawEnforcementPart3,
        ),
        (
            pb::Purpose::Statistics,
            pb::LawfulBasis::StatisticsAndResearch,
        ),
        (pb::Purpose::Safeguarding, pb::LawfulBasis::Consent),
    ] {
        let got = ask(&school, request("A", purpose, basis)).await;
        let decision = got.decision.expect("decision");
        assert!(!decision.allowed, "{purpose:?} {basis:?}: {decision:?}");
        assert!(decision.released_fields.is_empty());
        assert!(got.records.is_empty());
        assert!(
            got.audit_receipt
                .expect("refusals are audited too")
                .tree_size
                > 0
        );
    }
    let refused: Vec<_> = app
        .audit_entries()
        .await
        .into_iter()
        .filter(|e| !e.gate && e.rpc.ends_with("ExchangeService/RequestRecords"))
        .collect();
    assert_eq!(refused.len(), 3);
    assert!(
        refused
            .iter()
            .all(|e| !e.allowed && e.agency_id == school.id)
    );
    assert_eq!(refused[0].purpose, "PURPOSE_LAW_ENFORCEMENT");
    assert_eq!(
        refused[0].lawful_basis,
        "LAWFUL_BASIS_LAW_ENFORCEMENT_PART_3"
    );
    assert_eq!(refused[1].purpose, "PURPOSE_STATISTICS");
    assert!(
        refused[1]
            .policy_ids
            .contains(&"no-record-level-statistics".to_string())
    );

    // Malformed requests are refused before any flow.
    let status = school
        .exchange()
        .request_records(pb::RequestRecordsRequest {
            justification: String::new(),
            ..request(
                "A",
                pb::Purpose::Safeguarding,
                pb::LawfulBasis::PublicTaskSafeguarding,
            )
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = school
        .exchange()
        .request_records(pb::RequestRecordsRequest {
            subject: Some(pb::PersonIdentifiers::default()),
            ..request(
                "A",
                pb::Purpose::Safeguarding,
                pb::LawfulBasis::PublicTaskSafeguarding,
            )
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(!status.message().contains("Testgiven"));
    app.stop().await;
}

#[tokio::test]
async fn disallowed_purpose_is_refused_and_audited_sqlite() {
    disallowed_purpose_is_refused_and_audited(Backend::Sqlite).await;
}

#[tokio::test]
async fn disallowed_purpose_is_refused_and_audited_postgres() {
    disallowed_purpose_is_refused_and_audited(Backend::Postgres).await;
}

#[tokio::test]
async fn immigration_enforcement_is_never_an_allowed_requester_or_purpose() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let home = app
        .agency(
            "immigration-enforcement",
            AgencyKind::ImmigrationEnforcement,
            &[MET],
        )
        .await;
    submit(&police, vec![crime(&police.id, "c1", victim("A"))]).await;

    // The requester: refused whatever purpose it states (even one a policy would allow).
    for purpose in [
        pb::Purpose::Safeguarding,
        pb::Purpose::ImmigrationEnforcement,
    ] {
        let status = home
            .exchange()
            .request_records(request(
                "A",
                purpose,
                pb::LawfulBasis::PublicTaskSafeguarding,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{purpose:?}");
    }
    // Nor may it subscribe to anything.
    let status = home
        .exchange()
        .subscribe(pb::SubscribeRequest {
            topic: pb::Topic::Marac as i32,
            after_sequence: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // The purpose: refused to the police too, by the hard rule.
    let got = ask(
        &police,
        request(
            "A",
            pb::Purpose::ImmigrationEnforcement,
            pb::LawfulBasis::LawEnforcementPart3,
        ),
    )
    .await;
    let decision = got.decision.unwrap();
    assert!(!decision.allowed);
    assert!(decision.hard_rule);
    assert!(got.records.is_empty());

    let entries = app.audit_entries().await;
    assert!(
        entries
            .iter()
            .filter(|e| e.agency_id == home.id)
            .all(|e| !e.allowed && e.hard_rule),
        "{entries:#?}"
    );
    assert!(entries.iter().filter(|e| e.agency_id == home.id).count() >= 3);
    assert!(entries.iter().any(|e| e.agency_id == police.id
        && e.purpose == "PURPOSE_IMMIGRATION_ENFORCEMENT"
        && !e.allowed
        && e.hard_rule));
    app.stop().await;
}
