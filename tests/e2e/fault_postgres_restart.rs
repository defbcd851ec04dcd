//! Fault injection: PostgreSQL is stopped (fast shutdown, as in a restart) and started again
//! while an agency streams records. The database is a private PostgreSQL 15 cluster this test
//! creates (`vawg_e2e::pg_cluster`), never the machine's shared server; the hub is the built
//! `vawg-hub serve` process; the agency is the real `vawg-client`, which resends chunks the hub
//! had not acknowledged when the stream broke.
//!
//! Expected: while the database is down, calls fail with retryable `UNAVAILABLE` (never
//! `INTERNAL`); the hub reconnects by itself once it is back; the stream completes; every
//! acknowledged record is stored exactly once; the aggregates equal a full recomputation; the
//! audit log verifies.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use vawg_client::{HubClient, RetryPolicy};
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{
    pg_cluster::PgCluster,
    process::{HubConfig, HubProcess, hub_binary},
};
use vawg_proto::pb;
use vawg_store::Store;
use vawg_tools::pki::{self, TokenSpec};

use crate::ingest_common::{MET, MET_ID, crime};

/// Records per chunk, and chunks streamed before, during and after the outage.
const CHUNK: usize = 40;
const BEFORE: usize = 8;
const DURING: usize = 6;
const AFTER: usize = 8;

fn chunk(c: usize) -> Vec<pb::VawgRecord> {
    (0..CHUNK)
        .map(|i| crime(&format!("pg-{c}-{i}"), 1))
        .collect()
}

/// Polls `f` every 20 ms until it holds, failing after `deadline`.
async fn until(what: &str, deadline: Duration, f: impl Fn() -> bool) {
    let end = tokio::time::Instant::now() + deadline;
    while !f() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn fault_postgres_restart_under_load_is_unavailable_then_recovers_losing_nothing() {
    let Some(mut pg) = PgCluster::init().await else {
        return;
    };
    pg.start().await;
    let url = pg.url("postgres");
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
        .add_agency(MET_ID, "Met (test)", AgencyKind::Police, &[MET.to_string()])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = HubConfig::new(dir.path(), &url, |_| {});
    let process = HubProcess::start(&hub_binary(), &hub.config, &[], &[]).await;

    // The agency's client: mutual TLS, a token, and patient retries.
    let (cert, key) = pki::issue(&hub.pki, MET_ID, AgencyKind::Police, None).unwrap();
    let token = pki::mint_token(
        &hub.pki.jwt_key(),
        &TokenSpec::new(MET_ID, vawg_policy::default_scopes(AgencyKind::Police)),
    )
    .unwrap();
    let client = HubClient::builder(format!("https://{}", process.addr))
        .ca_file(hub.pki.ca_cert())
        .unwrap()
        .identity_files(&cert, &key)
        .unwrap()
        .token(token)
        .retry(RetryPolicy {
            max_retries: 40,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        })
        .connect()
        .await
        .unwrap();

    // The stream, fed chunk by chunk by the test; acknowledged ids are collected as they come.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let (feed, source) = mpsc::channel::<Vec<pb::VawgRecord>>(64);
    let streaming = {
        let client = client.clone();
        let acknowledged = acknowledged.clone();
        tokio::spawn(async move {
            client
                .stream_chunks(ReceiverStream::new(source), 4, |ack| {
                    let mut seen = acknowledged.lock().unwrap();
                    for (record, result) in ack.records.iter().zip(ack.results) {
                        assert!(
                            matches!(
                                result.status(),
                                pb::RecordStatus::Accepted | pb::RecordStatus::Duplicate
                            ),
                            "{}: {:?}",
                            record.source_record_id,
                            result
                        );
                        seen.push(record.source_record_id.clone());
                    }
                })
                .await
        })
    };
    let acked = || acknowledged.lock().unwrap().len();
    for c in 0..BEFORE {
        feed.send(chunk(c)).await.unwrap();
    }
    until(
        "half the first chunks acknowledged",
        Duration::from_secs(60),
        || acked() >= BEFORE / 2 * CHUNK,
    )
    .await;

    // Mid-stream: more chunks in flight, then the database goes away.
    for c in BEFORE..BEFORE + DURING {
        feed.send(chunk(c)).await.unwrap();
    }
    pg.stop().await;
    // A caller now gets UNAVAILABLE (retryable), with no database text in the message.
    let mut ingest = hub
        .ingest_client(process.addr, MET_ID, AgencyKind::Police)
        .await;
    for probe in 0..2 {
        let status = ingest
            .submit_batch(pb::SubmitBatchRequest {
                records: vec![crime(&format!("probe-{probe}"), 1)],
            })
            .await
            .expect_err("no database, no acknowledgement");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(vawg_client::retryable(&status));
        assert!(
            !status.message().contains("57P") && !status.message().contains("sqlx"),
            "{status:?}"
        );
    }
    let acked_while_down = acked();

    // The database comes back: the hub reconnects by itself and the stream completes.
    pg.start().await;
    for c in BEFORE + DURING..BEFORE + DURING + AFTER {
        feed.send(chunk(c)).await.unwrap();
    }
    drop(feed);
    let tally = tokio::time::timeout(Duration::from_secs(120), streaming)
        .await
        .expect("the stream completed after the restart")
        .unwrap()
        .expect("the client saw only retryable failures");
    let total = (BEFORE + DURING + AFTER) * CHUNK;
    let acknowledged: Vec<String> = acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), total, "every chunk acknowledged once");
    assert!(acknowledged.len() > acked_while_down);
    assert_eq!(tally.held() as usize, total, "{tally:?}");
    let fresh = ingest
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![crime("after-restart", 1)],
        })
        .await
        .expect("the hub reconnected")
        .into_inner();
    assert_eq!(fresh.results[0].status(), pb::RecordStatus::Accepted);

    // Nothing the hub did on the INTERNAL path.
    let log = process.log();
    assert!(
        !log.iter().any(|l| l.contains("ingest failed")),
        "the hub answered INTERNAL:\n{}",
        log.join("\n")
    );

    // Every acknowledged record present exactly once, nothing else but the one after.
    let store = Store::connect(&url).await.unwrap();
    let distinct: BTreeSet<&String> = acknowledged.iter().collect();
    assert_eq!(distinct.len(), total);
    for id in &distinct {
        let revs = store.revisions(MET_ID, id).await.unwrap();
        assert_eq!(revs.len(), 1, "{id}: {revs:?}");
    }
    assert_eq!(
        store.count_records(Some(MET_ID)).await.unwrap() as usize,
        total + 1
    );
    // Aggregates maintained at ingest equal a full recomputation from the records.
    let stored = store.all_aggregates().await.unwrap();
    let recomputed = vawg_store::aggregates::recompute_all(&store).await.unwrap();
    assert!(!stored.is_empty());
    assert_eq!(stored, recomputed, "aggregates differ from a recomputation");
    // The audit log, appended to before, during (refusals) and after the outage, verifies.
    let signer =
        vawg_audit::HeadSigner::from_pem(&std::fs::read_to_string(hub.pki.audit_key()).unwrap())
            .unwrap();
    let report = vawg_audit::verify_store(&store, Some(&signer), None)
        .await
        .unwrap();
    assert!(report.ok, "audit log after the restart: {}", report.problem);
    drop(process);
    store.close().await;
    drop(pg);
}
