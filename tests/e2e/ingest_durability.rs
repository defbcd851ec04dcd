//! Durability: the hub runs as a separate process (the built `vawg-hub serve`); records are
//! streamed; the process is killed with SIGKILL mid-stream and restarted; every acknowledged
//! record is then present exactly once.

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{
    Backend,
    process::{HubConfig, HubProcess, hub_binary},
};
use vawg_proto::pb;
use vawg_store::{Store, testing::TestDatabase};

use crate::{
    both_backends,
    ingest_common::{MET, MET_ID, crime},
};

async fn acknowledged_records_survive_sigkill(backend: Backend) {
    let binary = hub_binary();
    let dir = tempfile::tempdir().unwrap();
    let (database_url, pg) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("hub.db").display()),
            None,
        ),
        Backend::Postgres => {
            let db = TestDatabase::create().await.unwrap();
            (db.url.clone(), Some(db))
        }
    };
    let store = Store::connect(&database_url).await.unwrap();
    store.migrate().await.unwrap();
    store
        .add_agency(MET_ID, "Met (test)", AgencyKind::Police, &[MET.to_string()])
        .await
        .unwrap();
    let hub = HubConfig::new(dir.path(), &database_url, |_| {});
    let config = hub.config.clone();

    // Stream chunks; after a few acknowledgements, with more chunks in flight, SIGKILL.
    let mut process = HubProcess::start(&binary, &config, &[], &[]).await;
    let mut ingest = hub
        .ingest_client(process.addr, MET_ID, AgencyKind::Police)
        .await;
    let (tx, rx) = mpsc::channel::<pb::StreamRecordsRequest>(64);
    let chunk = |c: usize| pb::StreamRecordsRequest {
        records: (0..50).map(|i| crime(&format!("d-{c}-{i}"), 1)).collect(),
    };
    for c in 0..4 {
        tx.send(chunk(c)).await.unwrap();
    }
    let mut acks = ingest
        .stream_records(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut next = 4;
    // The stream ends (with an error) once the hub is killed.
    while let Ok(Some(ack)) = acks.message().await {
        for r in &ack.results {
            assert_eq!(r.status(), pb::RecordStatus::Accepted);
            acknowledged.push(r.source_record_id.clone());
        }
        if acknowledged.len() >= 150 && process.child.id().is_some() {
            // More in flight, then kill without warning.
            for _ in 0..4 {
                let _ = tx.send(chunk(next)).await;
                next += 1;
            }
            process.kill().await; // SIGKILL
        } else if process.child.id().is_some() {
            let _ = tx.send(chunk(next)).await;
            next += 1;
        }
    }
    assert!(
        acknowledged.len() >= 150,
        "acknowledged {}",
        acknowledged.len()
    );

    // Restart: every acknowledged record is there exactly once; resending them is DUPLICATE.
    let mut process = HubProcess::start(&binary, &config, &[], &[]).await;
    for id in &acknowledged {
        let revs = store.revisions(MET_ID, id).await.unwrap();
        assert_eq!(revs.len(), 1, "{id}: {revs:?}");
    }
    let mut ingest = hub
        .ingest_client(process.addr, MET_ID, AgencyKind::Police)
        .await;
    let resent: Vec<pb::VawgRecord> = acknowledged
        .iter()
        .take(100)
        .map(|id| crime(id, 1))
        .collect();
    let r = ingest
        .submit_batch(pb::SubmitBatchRequest { records: resent })
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.results
            .iter()
            .all(|r| r.status() == pb::RecordStatus::Duplicate)
    );
    let total = store.count_records(Some(MET_ID)).await.unwrap() as usize;
    assert!(total >= acknowledged.len() && total <= next * 50);
    // The aggregates maintained at ingest survived the kill consistent with the records: a
    // full recomputation from the raw records gives the same facts.
    let stored = store.all_aggregates().await.unwrap();
    let recomputed = vawg_store::aggregates::recompute_all(&store).await.unwrap();
    assert!(!stored.is_empty());
    assert_eq!(
        stored, recomputed,
        "aggregates differ from a full recomputation"
    );
    // And the audit log, appended to up to the kill, verifies end to end.
    let signer =
        vawg_audit::HeadSigner::from_pem(&std::fs::read_to_string(hub.pki.audit_key()).unwrap())
            .unwrap();
    let report = vawg_audit::verify_store(&store, Some(&signer), None)
        .await
        .unwrap();
    assert!(report.ok, "audit log after SIGKILL: {}", report.problem);
    assert!(report.entries_checked > 0);
    process.kill().await;
    store.close().await;
    if let Some(db) = pg {
        db.drop_database().await.unwrap();
    }
}
both_backends!(durability, acknowledged_records_survive_sigkill);
