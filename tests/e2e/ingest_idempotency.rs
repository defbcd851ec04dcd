//! Idempotency on (agency, source record id, revision): duplicates, supersession, stale
//! revisions and retraction.

use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb::{self, RecordStatus};

use crate::{
    both_backends,
    ingest_common::{MET, MET_ID, crime, statuses},
};

async fn duplicates_supersession_stale_and_retraction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let mut ingest = police.ingest();
    let submit = |records: Vec<pb::VawgRecord>| pb::SubmitBatchRequest { records };
    use RecordStatus::*;

    let r = ingest
        .submit_batch(submit(vec![crime("a", 1)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statuses(&r.results), vec![Accepted]);
    // The same revision again: no second copy.
    let r = ingest
        .submit_batch(submit(vec![crime("a", 1)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statuses(&r.results), vec![Duplicate]);
    assert_eq!(r.results[0].category, "stalking");
    // A higher revision supersedes; the old one is kept, not current.
    let mut rev2 = crime("a", 2);
    rev2.classification.as_mut().unwrap().code = "8L".into();
    let r = ingest
        .submit_batch(submit(vec![rev2]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statuses(&r.results), vec![Superseded]);
    assert_eq!(r.results[0].category, "harassment");
    // A lower revision is stale.
    let r = ingest
        .submit_batch(submit(vec![crime("a", 1), crime("a", 0)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statuses(&r.results), vec![Duplicate, Rejected]);
    let r = ingest
        .submit_batch(submit(vec![crime("b", 3), crime("b", 2)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statuses(&r.results), vec![Accepted, Stale]);
    assert_eq!(r.results[1].violations[0].field, "revision");

    let revs = app.store().revisions(MET_ID, "a").await.unwrap();
    assert_eq!(
        revs.iter()
            .map(|r| (r.revision, r.is_current, r.local_code.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, false, "8Q"), (2, true, "8L")]
    );

    // Retraction: kept for audit, marked retracted; a second retraction says so; unknown ids
    // are NOT_FOUND; a retracted record takes no new revision.
    let r = ingest
        .retract_record(pb::RetractRecordRequest {
            source_record_id: "a".into(),
            reason: "crime found not to have happened".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.retracted);
    assert_eq!(r.revision, 2);
    let again = ingest
        .retract_record(pb::RetractRecordRequest {
            source_record_id: "a".into(),
            reason: "again".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!again.retracted);
    let missing = ingest
        .retract_record(pb::RetractRecordRequest {
            source_record_id: "nope".into(),
            reason: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let revs = app.store().revisions(MET_ID, "a").await.unwrap();
    assert!(revs.iter().any(|r| r.is_current && r.retracted));
    let r = ingest
        .submit_batch(submit(vec![crime("a", 3)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statuses(&r.results), vec![Rejected]);
    app.stop().await;
}
both_backends!(idempotency, duplicates_supersession_stale_and_retraction);
