//! Two `vawg-hub serve` processes on one PostgreSQL database, polling the outbox only once a
//! minute: a notification ingested through either process reaches a subscriber connected to the
//! other within seconds — delivered by PostgreSQL LISTEN/NOTIFY between the processes.

use std::time::Duration;

use vawg_domain::identity::AgencyKind;
use vawg_e2e::process::{HubConfig, HubProcess, hub_binary};
use vawg_proto::pb::{self, exchange_service_client::ExchangeServiceClient};
use vawg_store::{Store, testing::TestDatabase};

use crate::exchange_fixtures::{MET, encompass};

const POLICE: &str = "police-e23000001";
const SCHOOL: &str = "school-100001";

async fn next(stream: &mut tonic::Streaming<pb::SubscribeResponse>) -> pb::Notification {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("delivered within 5 s although the other process polls once a minute")
        .expect("stream open")
        .expect("a message")
        .notification
        .expect("a notification")
}

#[tokio::test]
async fn two_serve_processes_deliver_whichever_received_the_record() {
    let db = TestDatabase::create().await.expect("test database");
    let dir = tempfile::tempdir().unwrap();
    let hub = HubConfig::new(dir.path(), &db.url, |s| {
        s.exchange.poll_interval_ms = 60_000
    });
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    store
        .add_agency(
            POLICE,
            "Police (synthetic)",
            AgencyKind::Police,
            &[MET.to_string()],
        )
        .await
        .unwrap();
    store
        .add_agency(
            SCHOOL,
            "School (synthetic)",
            AgencyKind::School,
            &[MET.to_string()],
        )
        .await
        .unwrap();
    store.close().await;

    let binary = hub_binary();
    let mut a = HubProcess::start(&binary, &hub.config, &[], &[]).await;
    let mut b = HubProcess::start(&binary, &hub.config, &[], &[]).await;
    assert_ne!(a.addr, b.addr);

    let subscribe = |addr| {
        let hub = &hub;
        async move {
            let mut exchange =
                ExchangeServiceClient::new(hub.channel(addr, SCHOOL, AgencyKind::School).await);
            exchange
                .subscribe(pb::SubscribeRequest {
                    topic: pb::Topic::Encompass as i32,
                    after_sequence: 0,
                })
                .await
                .expect("subscribe")
                .into_inner()
        }
    };
    let mut on_a = subscribe(a.addr).await;
    let mut on_b = subscribe(b.addr).await;

    // Ingested through process A: both subscribers (on A and on B) receive it.
    let mut ingest_a = hub.ingest_client(a.addr, POLICE, AgencyKind::Police).await;
    ingest_a
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![encompass(POLICE, "oe-a", "100001", None)],
        })
        .await
        .expect("ingest on A");
    assert_eq!(next(&mut on_a).await.sequence, 1);
    assert_eq!(next(&mut on_b).await.sequence, 1);

    // Ingested through process B: likewise.
    let mut ingest_b = hub.ingest_client(b.addr, POLICE, AgencyKind::Police).await;
    ingest_b
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![encompass(POLICE, "oe-b", "100001", None)],
        })
        .await
        .expect("ingest on B");
    assert_eq!(next(&mut on_b).await.sequence, 2);
    assert_eq!(next(&mut on_a).await.sequence, 2);

    drop((on_a, on_b));
    a.terminate();
    b.terminate();
    a.wait(Duration::from_secs(30)).await;
    b.wait(Duration::from_secs(30)).await;
    db.drop_database().await.expect("drop test database");
}
