//! Fault injection: the hub (the built `vawg-hub serve` process) is killed with SIGKILL while
//! it is delivering notifications to a subscriber, then restarted on the same database.
//! Delivery is acknowledgement-based: after the restart the subscriber resumes after its last
//! acknowledged sequence and receives every notification it had not acknowledged — those
//! delivered but unacknowledged at the kill, those not yet delivered, and those ingested
//! after the restart — each exactly once, in order, none lost.

use std::{collections::BTreeSet, time::Duration};

use tonic::Streaming;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{
    Backend,
    process::{HubConfig, HubProcess, hub_binary},
};
use vawg_proto::pb::{self, exchange_service_client::ExchangeServiceClient};
use vawg_store::{Store, testing::TestDatabase};

use crate::{
    both_backends,
    exchange_fixtures::{MET, ack, encompass, next, nothing_within, subscribe},
};

const POLICE: &str = "police-e23000001";
const SCHOOL: &str = "school-100001";
/// Notifications ingested before the kill, read before it, and acknowledged before it.
const INGESTED: u64 = 40;
const READ: u64 = 15;
const ACKED: u64 = 10;
/// Ingested after the restart.
const LATER: u64 = 5;

async fn read(stream: &mut Streaming<pb::SubscribeResponse>, n: u64) -> Vec<pb::Notification> {
    let mut got = Vec::new();
    for _ in 0..n {
        got.push(next(stream).await);
    }
    got
}

async fn notifications_survive_sigkill_during_delivery(backend: Backend) {
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
    for (id, kind) in [(POLICE, AgencyKind::Police), (SCHOOL, AgencyKind::School)] {
        store
            .add_agency(id, "test", kind, &[MET.to_string()])
            .await
            .unwrap();
    }
    let hub = HubConfig::new(dir.path(), &database_url, |_| {});
    let mut process = HubProcess::start(&binary, &hub.config, &[], &[]).await;
    let mut school =
        ExchangeServiceClient::new(hub.channel(process.addr, SCHOOL, AgencyKind::School).await);
    let mut police = hub
        .ingest_client(process.addr, POLICE, AgencyKind::Police)
        .await;

    // Subscribed; a burst of notifications; the school reads some, acknowledges fewer, and the
    // hub is killed while the rest are being delivered.
    let mut stream = subscribe(&mut school, pb::Topic::Encompass, 0).await;
    let records: Vec<_> = (1..=INGESTED)
        .map(|i| encompass(POLICE, &format!("oe-{i}"), "100001", None))
        .collect();
    police
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .expect("ingested");
    let before = read(&mut stream, READ).await;
    let seqs: Vec<u64> = before.iter().map(|n| n.sequence).collect();
    assert_eq!(seqs, (1..=READ).collect::<Vec<_>>());
    ack(&mut school, pb::Topic::Encompass, ACKED).await;
    process.kill().await; // SIGKILL, mid-delivery
    drop(stream);

    // Restarted on the same database: resume from the acknowledgement.
    let mut process = HubProcess::start(&binary, &hub.config, &[], &[]).await;
    let mut school =
        ExchangeServiceClient::new(hub.channel(process.addr, SCHOOL, AgencyKind::School).await);
    let mut police = hub
        .ingest_client(process.addr, POLICE, AgencyKind::Police)
        .await;
    let mut stream = subscribe(&mut school, pb::Topic::Encompass, 0).await;
    let mut after = read(&mut stream, INGESTED - ACKED).await;
    // Notifications created after the restart come on the same subscription.
    let records: Vec<_> = (INGESTED + 1..=INGESTED + LATER)
        .map(|i| encompass(POLICE, &format!("oe-{i}"), "100001", None))
        .collect();
    police
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .expect("ingested after the restart");
    after.extend(read(&mut stream, LATER).await);
    nothing_within(&mut stream, Duration::from_millis(1500)).await;

    // Exactly once after resume: contiguous from the acknowledgement, no gap, no repeat.
    let seqs: Vec<u64> = after.iter().map(|n| n.sequence).collect();
    assert_eq!(seqs, (ACKED + 1..=INGESTED + LATER).collect::<Vec<_>>());
    // Those delivered before the kill but not acknowledged are the same notifications again.
    for n in &before[ACKED as usize..] {
        let again = &after[(n.sequence - ACKED - 1) as usize];
        assert_eq!(again.record_id, n.record_id, "sequence {}", n.sequence);
    }
    // None lost: every ingested record's notification, each once, over both connections.
    let mut records: Vec<&str> = before[..ACKED as usize]
        .iter()
        .chain(&after)
        .map(|n| n.record_id.as_str())
        .collect();
    let total = records.len();
    records.sort();
    let distinct: BTreeSet<&str> = records.into_iter().collect();
    assert_eq!(distinct.len(), total);
    assert_eq!(total as u64, INGESTED + LATER);
    let outbox = store
        .notifications_after(SCHOOL, vawg_store::exchange::Topic::Encompass, 0, 1000)
        .await
        .unwrap();
    assert_eq!(outbox.len() as u64, INGESTED + LATER);

    // Acknowledging everything holds across another restart.
    ack(&mut school, pb::Topic::Encompass, INGESTED + LATER).await;
    drop(stream);
    process.kill().await;
    let mut process = HubProcess::start(&binary, &hub.config, &[], &[]).await;
    let mut school =
        ExchangeServiceClient::new(hub.channel(process.addr, SCHOOL, AgencyKind::School).await);
    let mut stream = subscribe(&mut school, pb::Topic::Encompass, 0).await;
    nothing_within(&mut stream, Duration::from_millis(1500)).await;
    process.kill().await;
    store.close().await;
    if let Some(db) = pg {
        db.drop_database().await.unwrap();
    }
}
both_backends!(
    fault_notify_sigkill,
    notifications_survive_sigkill_during_delivery
);
