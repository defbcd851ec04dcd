//! The idempotency rules and the batched write path, on both backends.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::testing::TestDatabase;

/// A crime of `id` at `revision` (a stalking with a victim and no suspect).
pub(crate) fn record(id: &str, revision: u32) -> NewRecord {
    let event_time = Utc.with_ymd_and_hms(2025, 5, 1, 10, 0, 0).unwrap();
    NewRecord {
        source_record_id: id.into(),
        revision,
        event_kind: "CRIME_RECORDED".into(),
        definition_version: "vawg-v1".into(),
        local_scheme: "HO_OFFENCE".into(),
        local_code: "8Q".into(),
        category: "stalking".into(),
        harm_rank: 5,
        course_of_conduct: true,
        event_time,
        recorded_time: event_time + Duration::hours(1),
        period_start: NaiveDate::from_ymd_opt(2025, 5, 1).unwrap(),
        period_end: NaiveDate::from_ymd_opt(2025, 5, 31).unwrap(),
        counting_unit: "CRIME".into(),
        area_code: "E23000001".into(),
        area_level: "POLICE_FORCE_AREA".into(),
        pseudonym_key_id: "k1".into(),
        victim_pseudonym: Some("v".repeat(32)),
        suspect_pseudonym: None,
        police_ref_pseudonym: Some(format!("ref-{id}")),
        cps_urn_pseudonym: None,
        court_case_pseudonym: None,
        victim: Demographics {
            sex: Some("FEMALE".into()),
            age_at_event: Some(34),
            ..Default::default()
        },
        fields: EventFields {
            domestic_abuse_flag: Some(true),
            decision: Some("tab\there\\ and \"quotes\"\nnewline".into()),
            ..Default::default()
        },
        detail: serde_json::json!({"relationship": "EX_PARTNER", "note": "a\tb\\c\n"}),
    }
}

/// Runs `test` on a fresh, migrated SQLite store, then on a fresh PostgreSQL one.
pub(crate) async fn with_each_backend<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    test(sqlite.clone()).await;
    sqlite.close().await;

    let db = TestDatabase::create().await.unwrap();
    let pg = Store::connect(&db.url).await.unwrap();
    pg.migrate().await.unwrap();
    test(pg.clone()).await;
    pg.close().await;
    db.drop_database().await.unwrap();
}

#[tokio::test]
async fn idempotency_rules_hold_across_chunks_and_within_one() {
    with_each_backend(|store| async move {
        let out = store
            .ingest(
                "police-1",
                vec![record("a", 1), record("b", 2), record("a", 1)],
            )
            .await
            .unwrap();
        assert!(matches!(out[0], Outcome::Accepted { .. }));
        assert!(matches!(out[1], Outcome::Accepted { .. }));
        assert_eq!(out[2], Outcome::Duplicate);

        let out = store
            .ingest(
                "police-1",
                vec![
                    record("a", 1),
                    record("a", 3),
                    record("b", 1),
                    record("a", 2),
                    record("a", 4),
                ],
            )
            .await
            .unwrap();
        assert_eq!(out[0], Outcome::Duplicate);
        assert!(matches!(
            out[1],
            Outcome::Superseded {
                previous_revision: 1,
                ..
            }
        ));
        assert_eq!(out[2], Outcome::Stale { held_revision: 2 });
        assert_eq!(out[3], Outcome::Stale { held_revision: 3 });
        assert!(matches!(
            out[4],
            Outcome::Superseded {
                previous_revision: 3,
                ..
            }
        ));

        let revs = store.revisions("police-1", "a").await.unwrap();
        assert_eq!(
            revs.iter()
                .map(|r| (r.revision, r.is_current))
                .collect::<Vec<_>>(),
            vec![(1, false), (3, false), (4, true)]
        );
        // Another agency's record with the same source id is a different record.
        let out = store
            .ingest("police-2", vec![record("a", 1)])
            .await
            .unwrap();
        assert!(matches!(out[0], Outcome::Accepted { .. }));
        assert_eq!(store.count_records(Some("police-1")).await.unwrap(), 4);
        assert_eq!(store.count_records(None).await.unwrap(), 5);
    })
    .await;
}

#[tokio::test]
async fn retraction_marks_the_current_row_and_blocks_revisions() {
    with_each_backend(|store| async move {
        store
            .ingest("p", vec![record("r", 1), record("r", 2)])
            .await
            .unwrap();
        let r = store.retract("p", "r").await.unwrap();
        assert_eq!(
            r,
            Retraction {
                retracted_now: true,
                revision: 2
            }
        );
        let again = store.retract("p", "r").await.unwrap();
        assert!(!again.retracted_now);
        assert!(matches!(
            store.retract("p", "missing").await,
            Err(StoreError::NotFound(_))
        ));
        let out = store
            .ingest("p", vec![record("r", 2), record("r", 3)])
            .await
            .unwrap();
        assert_eq!(out, vec![Outcome::Duplicate, Outcome::Retracted]);
        let revs = store.revisions("p", "r").await.unwrap();
        assert!(revs.iter().all(|r| r.retracted == r.is_current));
    })
    .await;
}

#[tokio::test]
async fn earliest_referral_is_found_by_case_pseudonym_and_baseline_loads() {
    with_each_backend(|store| async move {
        let mut early = record("ref1", 1);
        early.event_kind = "CPS_REFERRAL".into();
        early.police_ref_pseudonym = Some("case-x".into());
        let mut late = early.clone();
        late.source_record_id = "ref2".into();
        late.event_time += Duration::days(10);
        store
            .ingest("cps", vec![late, early.clone()])
            .await
            .unwrap();
        let found = store
            .earliest_referrals(&["case-x".into(), "case-y".into()])
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found["case-x"], early.event_time);

        let rows: Vec<NewRecord> = (0..1200).map(|i| record(&format!("bulk-{i}"), 1)).collect();
        store.bulk_load_baseline("bench", &rows).await.unwrap();
        let out = store.ingest("bench", rows).await.unwrap();
        assert!(out.iter().all(|o| matches!(o, Outcome::Accepted { .. })));
        assert_eq!(store.count_records(Some("bench")).await.unwrap(), 1200);
    })
    .await;
}
