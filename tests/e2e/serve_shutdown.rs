//! Production serving: `vawg-hub serve` runs as a process with a configuration file against
//! PostgreSQL, serving a subset of services; SIGTERM arrives mid-stream; the hub finishes the
//! chunk in hand, ends the stream with UNAVAILABLE, exits cleanly — and every acknowledged
//! record is stored. Its log never shows a secret.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use vawg_domain::identity::AgencyKind;
use vawg_e2e::process::{HubConfig, HubProcess, hub_binary};
use vawg_proto::pb;
use vawg_store::{Store, testing::TestDatabase};

use crate::ingest_common::{MET, MET_ID, crime};

/// A pseudonymisation secret given only through the environment; it must never be printed.
const SECRET: &str = "c2VydmUtc2h1dGRvd24tdGVzdC1zZWNyZXQtMzItYnl0ZXMh";

#[tokio::test]
async fn sigterm_mid_stream_loses_no_acknowledged_record() {
    let binary = hub_binary();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    store
        .add_agency(MET_ID, "Met (test)", AgencyKind::Police, &[MET.to_string()])
        .await
        .unwrap();
    let hub = HubConfig::new(dir.path(), &db.url, |s| {
        s.pseudonym.dev_key_file = None;
        s.pseudonym.key_id = Some("serve-test".into());
    });
    let mut process = HubProcess::start(
        &binary,
        &hub.config,
        &["--services", "ingest,firewall"],
        &[("VAWG_PSEUDONYM__SECRET", SECRET)],
    )
    .await;
    let channel = hub.channel(process.addr, MET_ID, AgencyKind::Police).await;

    // Only the services asked for are served.
    let mut health = HealthClient::new(channel.clone());
    for (service, want) in [
        ("vawg.v1.IngestService", ServingStatus::Serving),
        ("vawg.v1.MetricsService", ServingStatus::NotServing),
    ] {
        let got = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(got, want, "{service}");
    }

    // Stream; after a few acknowledgements, with more chunks in flight, SIGTERM.
    let mut ingest = pb::ingest_service_client::IngestServiceClient::new(channel);
    let (tx, rx) = mpsc::channel::<pb::StreamRecordsRequest>(64);
    let chunk = |c: usize| pb::StreamRecordsRequest {
        records: (0..50).map(|i| crime(&format!("t-{c}-{i}"), 1)).collect(),
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
    let mut terminated = false;
    let ended = loop {
        match acks.message().await {
            Ok(Some(ack)) => {
                assert!(ack.audit_receipt.is_some());
                for r in &ack.results {
                    assert_eq!(r.status(), pb::RecordStatus::Accepted);
                    acknowledged.push(r.source_record_id.clone());
                }
                if !terminated && acknowledged.len() >= 150 {
                    for _ in 0..4 {
                        let _ = tx.send(chunk(next)).await;
                        next += 1;
                    }
                    process.terminate(); // SIGTERM
                    terminated = true;
                } else {
                    // Keep the client streaming through the drain.
                    let _ = tx.send(chunk(next)).await;
                    next += 1;
                }
            }
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    assert!(terminated, "acknowledged only {}", acknowledged.len());
    // The hub ended the stream itself, telling the client to resend the rest.
    let status = ended.expect("the hub ends the stream while draining");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let exit = process.wait(Duration::from_secs(60)).await;
    assert!(exit.success(), "vawg-hub exited with {exit}");

    // Every acknowledged record is stored, exactly once; nothing beyond what was sent.
    for id in &acknowledged {
        let revs = store.revisions(MET_ID, id).await.unwrap();
        assert_eq!(revs.len(), 1, "{id}: {revs:?}");
    }
    let total = store.count_records(Some(MET_ID)).await.unwrap() as usize;
    assert!(total >= acknowledged.len() && total <= next * 50);

    // The log shows the drain, and no secret.
    process.wait_for_log("draining").await;
    process.wait_for_log("vawg-hub stopped").await;
    assert!(!process.log().iter().any(|l| l.contains(SECRET)));
    store.close().await;
    db.drop_database().await.unwrap();
}
