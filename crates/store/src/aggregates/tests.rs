//! Cell keys in the stored aggregates, on both backends: the secret the migration generated,
//! and keys that follow their unit across a revision.

use vawg_domain::cellkey::record_unit;

use crate::{
    Store,
    records::tests::{record, with_each_backend},
};

/// The stored secret's bytes, read directly.
async fn stored_secret(store: &Store) -> Vec<Vec<u8>> {
    let sql = "SELECT secret FROM cell_key_secret";
    crate::dispatch_pool!(store.pool(), |p| {
        sqlx::query_scalar(sql).fetch_all(p).await.unwrap()
    })
}

/// The cells of `series` as (category, subtype, n_all, k_all).
async fn cells(store: &Store, series: &str) -> Vec<(String, String, i64, i64)> {
    store
        .all_aggregates()
        .await
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k.series == series)
        .map(|(k, v)| (k.category, k.subtype, v.n_all, v.k_all))
        .collect()
}

#[tokio::test]
async fn the_migration_draws_one_secret_and_keys_follow_their_unit_across_a_revision() {
    with_each_backend(|store| async move {
        let secrets = stored_secret(&store).await;
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].len(), 32);
        assert!(secrets[0].iter().any(|b| *b != secrets[0][0]), "not random");
        let secret = store.cell_key_secret().await.unwrap();
        assert_eq!(format!("{secret:?}"), "CellKeySecret([redacted])");
        // A crime is keyed by its offence's first record (agency, source id); its case by the
        // case's pseudonym. Its sub-type is its domestic context (an ex-partner, not flagged in
        // the detail: domestic by relationship only).
        let record_key = i64::from(secret.unit_key(&record_unit("police-1", "a")));
        let case_key = i64::from(secret.unit_key("case:ref-a"));

        store
            .ingest("police-1", vec![record("a", 1)])
            .await
            .unwrap();
        assert_eq!(
            cells(&store, "recorded_crimes").await,
            vec![("stalking".into(), "RELATIONSHIP_ONLY".into(), 1, record_key)]
        );
        let recorded = ("stalking".into(), "1_recorded".into(), 1, case_key);
        assert_eq!(cells(&store, "attrition_funnel").await, vec![recorded]);

        // A revision reclassifies the crime: the cell moves, its key goes with it.
        let mut revised = record("a", 2);
        revised.category = "harassment".into();
        revised.harm_rank = 11;
        store.ingest("police-1", vec![revised]).await.unwrap();
        assert_eq!(
            cells(&store, "recorded_crimes").await,
            vec![(
                "harassment".into(),
                "RELATIONSHIP_ONLY".into(),
                1,
                record_key
            )]
        );
        let recorded = ("harassment".into(), "1_recorded".into(), 1, case_key);
        assert_eq!(cells(&store, "attrition_funnel").await, vec![recorded]);
        assert_eq!(
            store.all_aggregates().await.unwrap(),
            super::recompute_all(&store).await.unwrap()
        );
    })
    .await;
}

/// Runs the migrations before `0500_cell_keys.sql` (copied to a temporary folder, so the full
/// migrator later sees them applied with the same checksums).
async fn migrate_to_0401(store: &Store) {
    let backend = match store.backend() {
        crate::Backend::Sqlite => "sqlite",
        crate::Backend::Postgres => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.as_str() < "0500" {
            std::fs::copy(&path, dir.path().join(name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    crate::dispatch_pool!(store.pool(), |p| migrator.run(p).await.unwrap());
}

/// A hub whose aggregates were built before cell keys: the migration empties them, queues
/// every current record, and the next read rebuilds them keyed, equal to a recomputation.
async fn upgrade_rebuilds_the_aggregates_with_keys(store: Store) {
    migrate_to_0401(&store).await;
    store
        .ingest("police-1", vec![record("a", 1), record("b", 1)])
        .await
        .unwrap();
    store
        .ingest("police-1", vec![record("a", 2)])
        .await
        .unwrap();
    // As if the aggregator had drained the queue into unkeyed aggregates.
    let stale = [
        "DELETE FROM agg_queue",
        "INSERT INTO agg_counts VALUES ('recorded_crimes', '2025-05', 'E23000001', 'stalking', \
         'SEX_FEMALE', '25-34', '', '', '', '', 0, 2, 2, 2, 0)",
        "INSERT INTO agg_rollup VALUES ('recorded_crimes', '2025-05', 'E23000001', 'stalking', \
         'SEX_FEMALE', '25-34', 0, 2, 2, 2, 0)",
        "INSERT INTO agg_entities (entity, facts) VALUES ('rec:1', ''), ('case:ref-a', '')",
    ];
    crate::dispatch_pool!(store.pool(), |p| {
        for sql in stale {
            sqlx::query(sql).execute(p).await.unwrap();
        }
    });
    store.migrate().await.unwrap();
    let left: i64 = crate::dispatch_pool!(store.pool(), |p| {
        sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM agg_entities) + (SELECT COUNT(*) FROM agg_counts) \
             + (SELECT COUNT(*) FROM agg_rollup) + (SELECT COUNT(*) FROM agg_rollup_scope)",
        )
        .fetch_one(p)
        .await
        .unwrap()
    });
    assert_eq!(left, 0, "every aggregate is emptied");
    // The current revisions of a and b.
    assert_eq!(store.aggregate_backlog().await.unwrap(), 2);

    let rebuilt = store.all_aggregates().await.unwrap();
    assert_eq!(rebuilt, super::recompute_all(&store).await.unwrap());
    let recorded = cells(&store, "recorded_crimes").await;
    let secret = store.cell_key_secret().await.unwrap();
    let key = |id: &str| i64::from(secret.unit_key(&record_unit("police-1", id)));
    assert_eq!(
        recorded,
        vec![(
            "stalking".into(),
            "RELATIONSHIP_ONLY".into(),
            2,
            key("a") + key("b")
        )]
    );
    for table in crate::rollup::ROLLUPS {
        assert_eq!(
            store.rollup_aggregates(table).await.unwrap(),
            crate::rollup::roll_up(&rebuilt, table)
        );
    }
    store.close().await;
}

#[tokio::test]
async fn upgrading_rebuilds_every_aggregate_with_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    upgrade_rebuilds_the_aggregates_with_keys(Store::connect(&url).await.unwrap()).await;

    let db = crate::testing::TestDatabase::create().await.unwrap();
    upgrade_rebuilds_the_aggregates_with_keys(Store::connect(&db.url).await.unwrap()).await;
    db.drop_database().await.unwrap();
}
