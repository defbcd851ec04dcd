//! The aggregator: ingest queues its changes in the ingest transaction and the aggregate tables
//! catch up off the ingest path; every read first settles what was committed before it.

use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb;
use vawg_store::{Pool, aggregates::recompute_all};

use crate::{
    both_backends,
    exchange_fixtures::{ingest_on, replica},
    ingest_common::{MET, MET_ID, crime, person},
};

/// A Met crime whose victim (and so relationship and victim entities) varies with `i`.
fn varied(id: &str, revision: u32, i: usize, code: &str) -> pb::VawgRecord {
    let mut r = crime(id, revision);
    r.victim = Some(person("Testina", &format!("Mockford{}", i % 7)));
    if let Some(c) = r.classification.as_mut() {
        c.code = code.into();
    }
    r
}

async fn accept_all(
    client: &mut pb::ingest_service_client::IngestServiceClient<vawg_e2e::AuthChannel>,
    records: Vec<pb::VawgRecord>,
) {
    let results = client
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .unwrap()
        .into_inner()
        .results;
    for r in results {
        assert!(
            r.violations.is_empty(),
            "{} refused: {:?}",
            r.source_record_id,
            r.violations
        );
    }
}

/// Two hubs on one database ingest, revise and retract at the same time while both
/// aggregators (and the reads) drain the one queue: the aggregates end equal to a full
/// recomputation and nothing is left queued.
async fn replicas_ingesting_revising_and_retracting_at_once(backend: Backend) {
    let owner = TestApp::spawn(backend).await;
    let second = replica(&owner, 500).await;
    let met = owner.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let work = |mut client: pb::ingest_service_client::IngestServiceClient<_>,
                prefix: &'static str| async move {
        for batch in 0..4 {
            let records = (0..40)
                .map(|i| varied(&format!("{prefix}{batch}-{i}"), 1, i, "8Q"))
                .collect();
            accept_all(&mut client, records).await;
        }
        // Revise a third of the first batch into another category, retract a few others.
        let revised = (0..40)
            .step_by(3)
            .map(|i| varied(&format!("{prefix}0-{i}"), 2, i + 1, "19C"))
            .collect();
        accept_all(&mut client, revised).await;
        for i in [1, 4, 10, 22] {
            client
                .retract_record(pb::RetractRecordRequest {
                    source_record_id: format!("{prefix}1-{i}"),
                    reason: "test".into(),
                })
                .await
                .unwrap();
        }
    };
    let on_second = ingest_on(&second, &owner, &met).await;
    tokio::join!(work(met.ingest(), "a"), work(on_second, "b"));

    let stored = owner.store().all_aggregates().await.unwrap();
    assert!(!stored.is_empty());
    assert_eq!(
        stored,
        recompute_all(owner.store()).await.unwrap(),
        "aggregates differ from a full recomputation"
    );
    assert_eq!(owner.store().aggregate_backlog().await.unwrap(), 0);
    second.stop().await;
    owner.stop().await;
}
both_backends!(
    replicas_ingesting_revising_and_retracting_at_once,
    replicas_ingesting_revising_and_retracting_at_once
);

/// Ingest leaves the aggregate tables alone and queues its changes in its own transaction:
/// with the aggregator held off (its PostgreSQL lock taken elsewhere) acknowledged records are
/// queued and the aggregate table is unchanged; once the lock is released, the next read
/// brings the aggregates up to date.
#[tokio::test]
async fn ingest_queues_changes_and_a_read_settles_them() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let mut client = met.ingest();
    accept_all(
        &mut client,
        (0..10)
            .map(|i| varied(&format!("s{i}"), 1, i, "8Q"))
            .collect(),
    )
    .await;
    let before = app.store().all_aggregates().await.unwrap();

    let Pool::Postgres(pool) = app.store().pool() else {
        unreachable!()
    };
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(3, 0)")
        .execute(&mut *holder)
        .await
        .unwrap();
    accept_all(
        &mut client,
        (10..30)
            .map(|i| varied(&format!("s{i}"), 1, i, "8Q"))
            .collect(),
    )
    .await;
    client
        .retract_record(pb::RetractRecordRequest {
            source_record_id: "s3".into(),
            reason: "test".into(),
        })
        .await
        .unwrap();
    // 20 inserted + 1 retracted, all committed with their records; aggregates untouched.
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agg_queue")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(queued, 21);
    let rows: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(n_all), 0)::bigint FROM agg_counts WHERE series = 'recorded_crimes'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let before_recorded: i64 = before
        .iter()
        .filter(|(k, _)| k.series == "recorded_crimes")
        .map(|(_, v)| v.n_all)
        .sum();
    assert_eq!(
        rows, before_recorded,
        "ingest must not touch the aggregate table"
    );
    holder.rollback().await.unwrap();

    let after = app.store().all_aggregates().await.unwrap();
    let after_recorded: i64 = after
        .iter()
        .filter(|(k, _)| k.series == "recorded_crimes")
        .map(|(_, v)| v.n_all)
        .sum();
    assert_eq!(after_recorded, before_recorded + 20 - 1);
    assert_eq!(after, recompute_all(app.store()).await.unwrap());
    assert_eq!(app.store().aggregate_backlog().await.unwrap(), 0);
    app.stop().await;
}

/// Found by the roll-up tests: a case's records were loaded by police reference whatever their
/// kind, while a full recomputation puts only justice-journey kinds in a case, so after
/// revisions and retractions the maintained aggregates drifted from a recomputation.
async fn synthetic_revisions_and_retractions_match_a_recomputation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    crate::metrics_rollup::load(&app).await;
    let full = app.store().all_aggregates().await.unwrap();
    let recomputed = vawg_store::aggregates::recompute_all(app.store())
        .await
        .unwrap();
    let differing: Vec<_> = full
        .iter()
        .filter(|(k, v)| recomputed.get(*k) != Some(*v))
        .map(|(k, v)| (k, Some(v), recomputed.get(k)))
        .chain(
            recomputed
                .iter()
                .filter(|(k, _)| !full.contains_key(*k))
                .map(|(k, v)| (k, None, Some(v))),
        )
        .collect();
    assert!(
        differing.is_empty(),
        "{} differences: {differing:?}",
        differing.len()
    );
    app.stop().await;
}
both_backends!(
    synthetic_revisions_and_retractions_match_a_recomputation,
    synthetic_revisions_and_retractions_match_a_recomputation
);
