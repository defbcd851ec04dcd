//! Areas enforced (issue #20, item 1): an agency submits records only for the areas it is
//! registered for — a record for another area is refused on its own, naming `area.gss_code`
//! and the hard rule, while the valid records of the batch are kept, and the refusal is
//! audited — and a record request returns only records of the areas the requester serves.

use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb::{self, RecordStatus};

use crate::{
    both_backends,
    exchange_fixtures::{CITY, crime as shared_crime, identifiers, submit, victim},
    ingest_common::{MET, MET_ID, crime},
};

const RULE: &str = "hard-rule:own-areas-only";
/// A local authority within the Met's area (the City of London).
const LA: &str = "E09000001";

fn in_area(id: &str, gss_code: &str, level: pb::AreaLevel) -> pb::VawgRecord {
    let mut r = crime(id, 1);
    r.area = Some(pb::Area {
        gss_code: gss_code.into(),
        level: level as i32,
    });
    r
}

async fn submit_batch(agency: &Agency, records: Vec<pb::VawgRecord>) -> pb::SubmitBatchResponse {
    agency
        .ingest()
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .expect("the batch is answered per record")
        .into_inner()
}

async fn a_record_for_another_forces_area_is_refused_and_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Registered at two levels: the force area and a local authority within it.
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET, LA]).await;
    let response = submit_batch(
        &met,
        vec![
            in_area("a-1", MET, pb::AreaLevel::PoliceForceArea),
            in_area("a-2", CITY, pb::AreaLevel::PoliceForceArea),
            in_area("a-3", LA, pb::AreaLevel::LocalAuthority),
        ],
    )
    .await;
    let statuses: Vec<RecordStatus> = response.results.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses,
        [
            RecordStatus::Accepted,
            RecordStatus::Rejected,
            RecordStatus::Accepted
        ],
        "{:#?}",
        response.results
    );
    let refused = &response.results[1].violations;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].field, "area.gss_code");
    let expected = format!("agency {MET_ID} is registered for {MET}, {LA}; not {CITY}");
    assert!(refused[0].reason.contains(&expected), "{refused:?}");
    assert!(refused[0].reason.contains(RULE), "{refused:?}");
    assert_eq!(app.store().count_records(Some(MET_ID)).await.unwrap(), 2);

    // The refusal is audited as a hard-rule decision, naming the area, before the commit.
    let entries = app.audit_entries().await;
    let refusal = entries
        .iter()
        .find(|e| !e.gate && !e.allowed && e.agency_id == MET_ID)
        .expect("an audit entry for the refusal");
    assert!(refusal.hard_rule);
    assert!(refusal.policy_ids.contains(&RULE.to_string()));
    assert!(refusal.reason.contains(&expected), "{}", refusal.reason);
    assert_eq!(refusal.rpc, "/vawg.v1.IngestService/SubmitBatch");
    let commit = entries
        .iter()
        .find(|e| !e.gate && e.allowed && e.agency_id == MET_ID)
        .expect("an audit entry for the commit");
    assert!(commit.index > refusal.index);
    app.stop().await;
}
both_backends!(
    foreign_area_refused,
    a_record_for_another_forces_area_is_refused_and_audited
);

async fn an_agency_registered_for_no_area_submits_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[]).await;
    let response = submit_batch(&met, vec![crime("n-1", 1)]).await;
    let result = &response.results[0];
    assert_eq!(result.status(), RecordStatus::Rejected);
    assert_eq!(result.violations[0].field, "area.gss_code");
    assert!(
        result.violations[0]
            .reason
            .contains("is registered for no area; not E23000001"),
        "{:?}",
        result.violations
    );
    assert!(response.audit_receipt.is_some());
    assert_eq!(app.store().count_records(Some(MET_ID)).await.unwrap(), 0);
    app.stop().await;
}
both_backends!(
    no_area_no_records,
    an_agency_registered_for_no_area_submits_nothing
);

async fn a_request_returns_only_records_of_the_requesters_areas(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let city = app
        .agency("police-e23000002", AgencyKind::Police, &[CITY])
        .await;
    submit(&met, vec![shared_crime(MET_ID, "x-1", victim("A"))]).await;
    let ask = |agency: &Agency| {
        let mut client = agency.exchange();
        async move {
            client
                .request_records(pb::RequestRecordsRequest {
                    subject: Some(identifiers("A")),
                    purpose: pb::Purpose::Safeguarding as i32,
                    lawful_basis: pb::LawfulBasis::PublicTaskSafeguarding as i32,
                    justification: "Safeguarding strategy discussion".into(),
                    event_kinds: vec![],
                })
                .await
                .expect("request answered")
                .into_inner()
        }
    };
    let own = ask(&met).await;
    assert!(own.decision.as_ref().expect("decision").allowed);
    assert_eq!(own.records.len(), 1);
    // The other force serves another area: the Met's record is not for it.
    let other = ask(&city).await;
    assert!(other.decision.as_ref().expect("decision").allowed);
    assert!(other.records.is_empty(), "{:?}", other.records);
    app.stop().await;
}
both_backends!(
    request_in_area_only,
    a_request_returns_only_records_of_the_requesters_areas
);
