//! Append-only enforcement of the audit tables (issue 20, item 5): on SQLite, `REPLACE INTO`,
//! `INSERT OR REPLACE` and UPSERT are refused like UPDATE and DELETE (REPLACE deletes the row in
//! its way without firing DELETE triggers); on PostgreSQL, with the migrations run as the owner
//! (`migration_database_url`) and the hub connected as a role that owns nothing, the hub's role
//! cannot UPDATE, DELETE, TRUNCATE, ALTER or DROP the audit tables, nor disable or drop their
//! triggers, and still serves.

use std::{
    str::FromStr,
    sync::{Arc, Mutex},
};

use sqlx::{ConnectOptions, Connection, PgConnection, postgres::PgConnectOptions};
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb;
use vawg_store::Pool;

use crate::exchange_fixtures::{MET, crime, submit, victim};

async fn exercise(police: &Agency, id: &str) {
    submit(police, vec![crime(&police.id, id, victim("A"))]).await;
    police
        .ingest()
        .retract_record(pb::RetractRecordRequest {
            source_record_id: id.into(),
            reason: "Recorded in error".into(),
        })
        .await
        .expect("retracted");
}

async fn verified(police: &Agency) -> pb::VerifyAuditResponse {
    let report = police
        .firewall()
        .verify_audit(pb::VerifyAuditRequest::default())
        .await
        .expect("VerifyAudit")
        .into_inner();
    assert!(report.ok, "{report:?}");
    report
}

const SQLITE_TAMPERING: &[&str] = &[
    "REPLACE INTO audit_log (idx, agency_id, entry, leaf_hash, chain_hash) \
     VALUES (0, 'x', '{}', '00', '00')",
    "INSERT OR REPLACE INTO audit_log (idx, agency_id, entry, leaf_hash, chain_hash) \
     VALUES (1, 'x', '{}', '00', '00')",
    "INSERT INTO audit_log (idx, agency_id, entry, leaf_hash, chain_hash) \
     VALUES (0, 'x', '{}', '00', '00') ON CONFLICT (idx) DO UPDATE SET entry = excluded.entry",
    "UPDATE audit_log SET agency_id = 'x' WHERE idx = 0",
    "DELETE FROM audit_log WHERE idx = 0",
    "REPLACE INTO audit_heads (tree_size, root_hash, timestamp_ms, signature, key_id, algorithm) \
     SELECT tree_size, 'ff', 0, 'ff', 'k', 'a' FROM audit_heads LIMIT 1",
    "INSERT OR REPLACE INTO audit_heads \
     (tree_size, root_hash, timestamp_ms, signature, key_id, algorithm) \
     SELECT tree_size, 'ff', 0, 'ff', 'k', 'a' FROM audit_heads LIMIT 1",
    "DELETE FROM audit_heads",
];

#[tokio::test]
async fn sqlite_replace_into_the_audit_tables_is_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    exercise(&police, "c1").await;
    let Pool::Sqlite(pool) = app.store().pool() else {
        unreachable!("SQLite backend")
    };
    let entries = app.store().audit_read(0, 10_000, None).await.unwrap();
    let head = app.store().audit_latest_head().await.unwrap();
    assert!(entries.len() >= 2, "{entries:?}");
    for sql in SQLITE_TAMPERING {
        let err = sqlx::query(sql)
            .execute(pool)
            .await
            .expect_err("tampering refused");
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(
        app.store().audit_read(0, 10_000, None).await.unwrap(),
        entries
    );
    assert_eq!(app.store().audit_latest_head().await.unwrap(), head);
    // The hub's own appends are unaffected, and the log verifies.
    exercise(&police, "c2").await;
    let report = verified(&police).await;
    assert!(report.entries_checked > entries.len() as u64);
    app.stop().await;
}

/// Connects to the test server as its administrator.
async fn admin() -> PgConnection {
    PgConnection::connect(&vawg_store::testing::test_server_url())
        .await
        .expect("test server")
}

const PG_TAMPERING: &[&str] = &[
    "UPDATE audit_log SET agency_id = 'x'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "INSERT INTO audit_log (idx, agency_id, entry, leaf_hash, chain_hash) \
     VALUES (0, 'x', '{}', '00', '00') ON CONFLICT (idx) DO UPDATE SET entry = excluded.entry",
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "ALTER TABLE audit_log RENAME TO audit_log_old",
    "DROP TABLE audit_log",
    "UPDATE audit_heads SET root_hash = 'ff'",
    "DELETE FROM audit_heads",
    "TRUNCATE audit_heads",
    "ALTER TABLE audit_heads DISABLE TRIGGER ALL",
    "DROP TABLE audit_heads",
    "DROP FUNCTION audit_refuse_change() CASCADE",
    "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql \
     AS $$ BEGIN RETURN NEW; END; $$",
    "SET session_replication_role = replica",
    "CREATE TABLE audit_shadow (x int)",
];

#[tokio::test]
async fn postgres_the_hubs_role_cannot_alter_the_audit_tables() {
    // The hub's login role, a member of the group role the migrations grant to (made here
    // first: the migrations run only when the hub starts).
    let role = format!("vawg_hub_{}", uuid::Uuid::new_v4().simple());
    let mut adm = admin().await;
    sqlx::raw_sql(
        "DO $$ BEGIN CREATE ROLE vawg_hub_runtime NOLOGIN; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    .execute(&mut adm)
    .await
    .expect("group role");
    sqlx::raw_sql(&format!(
        "CREATE ROLE {role} LOGIN IN ROLE vawg_hub_runtime"
    ))
    .execute(&mut adm)
    .await
    .expect("hub role");

    let runtime_url = Arc::new(Mutex::new(String::new()));
    let captured = runtime_url.clone();
    let app = TestApp::spawn_with(Backend::Postgres, move |s| {
        let url = PgConnectOptions::from_str(&s.database_url)
            .expect("URL")
            .username(&role)
            .to_url_lossy()
            .to_string();
        s.migration_database_url = Some(std::mem::replace(&mut s.database_url, url.clone()));
        *captured.lock().unwrap() = url;
    })
    .await;
    let runtime_url = runtime_url.lock().unwrap().clone();

    // The hub serves as that role: ingest, retraction, audit, verification.
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    exercise(&police, "c1").await;
    let before = verified(&police).await;

    let mut hub = PgConnection::connect(&runtime_url)
        .await
        .expect("connect as the hub's role");
    let (user, owner): (String, String) = sqlx::query_as(
        "SELECT current_user::text, tableowner::text FROM pg_tables WHERE tablename = 'audit_log'",
    )
    .fetch_one(&mut hub)
    .await
    .unwrap();
    assert_ne!(user, owner, "the hub's role must not own the audit log");
    for sql in PG_TAMPERING {
        let err = sqlx::raw_sql(sql)
            .execute(&mut hub)
            .await
            .expect_err("tampering refused");
        let text = err.to_string();
        assert!(
            text.contains("permission denied") || text.contains("must be owner"),
            "{sql}: {text}"
        );
    }
    hub.close().await.unwrap();

    // Nothing changed; the hub goes on appending.
    exercise(&police, "c2").await;
    let after = verified(&police).await;
    assert!(after.entries_checked > before.entries_checked);
    let role = runtime_url_role(&runtime_url);
    app.stop().await;
    sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {role}"))
        .execute(&mut adm)
        .await
        .expect("drop the hub role");
}

fn runtime_url_role(url: &str) -> String {
    PgConnectOptions::from_str(url)
        .expect("URL")
        .get_username()
        .to_string()
}
