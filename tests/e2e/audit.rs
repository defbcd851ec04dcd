//! The audit log is tamper-evident: edits, deletions, reordering and truncation made directly
//! in the database are each detected by `vawg-hub audit verify`, naming the first bad entry,
//! on both backends.

use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb;
use vawg_store::Pool;
use vawg_tools::audit::{HeadFile, audit_verify};

/// A hub with a few audited calls, and the signed head an agency got back (a receipt).
async fn with_history(backend: Backend) -> (TestApp, Agency, pb::SignedTreeHead) {
    let app = TestApp::spawn(backend).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    for _ in 0..6 {
        police
            .definitions()
            .list_definitions(pb::ListDefinitionsRequest {})
            .await
            .unwrap();
    }
    let read = police
        .firewall()
        .read_audit(pb::ReadAuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    let head = read.head.expect("signed head");
    assert_eq!(head.tree_size, 7);
    assert_eq!(read.entries.len(), 7, "the agency reads its own entries");
    (app, police, head)
}

async fn exec(app: &TestApp, sql: &str) -> Result<(), sqlx::Error> {
    match app.store().pool() {
        Pool::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        Pool::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
    }
}

/// What an attacker with database access does first: get past the append-only triggers.
async fn disable_triggers(app: &TestApp) {
    let sql = match app.backend {
        Backend::Sqlite => {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; \
             DROP TRIGGER audit_heads_no_delete;"
        }
        Backend::Postgres => {
            "ALTER TABLE audit_log DISABLE TRIGGER USER; \
             ALTER TABLE audit_heads DISABLE TRIGGER USER;"
        }
    };
    exec(app, sql).await.unwrap();
}

async fn verify(app: &TestApp, head: Option<&pb::SignedTreeHead>) -> vawg_audit::VerifyReport {
    let head_file = head.map(|h| {
        let path = app.dir.path().join("receipt.json");
        std::fs::write(&path, serde_json::to_string(&HeadFile::from_pb(h)).unwrap()).unwrap();
        path
    });
    audit_verify(
        &app.database_url,
        Some(&app.pki.audit_key()),
        head_file.as_deref(),
    )
    .await
    .unwrap()
}

async fn untouched_log_verifies_and_triggers_refuse_changes(backend: Backend) {
    let (app, police, head) = with_history(backend).await;
    let report = verify(&app, Some(&head)).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries_checked, 7);
    let over_grpc = police
        .firewall()
        .verify_audit(pb::VerifyAuditRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(over_grpc.ok, "{over_grpc:?}");
    assert!(
        exec(&app, "UPDATE audit_log SET agency_id = 'x' WHERE idx = 1")
            .await
            .is_err()
    );
    assert!(
        exec(&app, "DELETE FROM audit_log WHERE idx = 1")
            .await
            .is_err()
    );
    assert!(exec(&app, "DELETE FROM audit_heads").await.is_err());
    if backend == Backend::Postgres {
        assert!(exec(&app, "TRUNCATE audit_log").await.is_err());
    }
    app.stop().await;
}

async fn an_edited_entry_is_named(backend: Backend) {
    let (app, _police, head) = with_history(backend).await;
    disable_triggers(&app).await;
    exec(
        &app,
        "UPDATE audit_log SET entry = replace(entry, '\"allowed\":true', '\"allowed\":false') \
         WHERE idx = 2",
    )
    .await
    .unwrap();
    let report = verify(&app, Some(&head)).await;
    assert!(!report.ok);
    assert_eq!(report.first_bad_index, Some(2), "{report:?}");
    assert!(report.problem.contains("altered"), "{report:?}");
    app.stop().await;
}

async fn a_deleted_entry_is_named(backend: Backend) {
    let (app, _police, head) = with_history(backend).await;
    disable_triggers(&app).await;
    exec(&app, "DELETE FROM audit_log WHERE idx = 3")
        .await
        .unwrap();
    let report = verify(&app, Some(&head)).await;
    assert_eq!(report.first_bad_index, Some(3), "{report:?}");
    assert!(report.problem.contains("missing"), "{report:?}");
    app.stop().await;
}

async fn reordered_entries_are_named(backend: Backend) {
    let (app, _police, head) = with_history(backend).await;
    disable_triggers(&app).await;
    exec(
        &app,
        "UPDATE audit_log SET idx = 1000 WHERE idx = 1; \
         UPDATE audit_log SET idx = 1 WHERE idx = 2; \
         UPDATE audit_log SET idx = 2 WHERE idx = 1000;",
    )
    .await
    .unwrap();
    let report = verify(&app, Some(&head)).await;
    assert_eq!(report.first_bad_index, Some(1), "{report:?}");
    assert!(report.problem.contains("moved"), "{report:?}");
    app.stop().await;
}

async fn truncation_is_detected_against_a_signed_head(backend: Backend) {
    let (app, _police, head) = with_history(backend).await;
    disable_triggers(&app).await;
    // Remove the tail and every head the hub kept that would betray it.
    exec(
        &app,
        "DELETE FROM audit_log WHERE idx >= 4; DELETE FROM audit_heads WHERE tree_size > 4;",
    )
    .await
    .unwrap();
    let report = verify(&app, Some(&head)).await;
    assert!(!report.ok);
    assert_eq!(report.first_bad_index, Some(4), "{report:?}");
    assert!(report.problem.contains("truncated"), "{report:?}");

    // A forged head (not signed by the hub's key) proves nothing.
    let mut forged = head.clone();
    forged.tree_size = 4;
    let report = verify(&app, Some(&forged)).await;
    assert!(!report.ok);
    assert!(report.problem.contains("signature"), "{report:?}");
    app.stop().await;
}

#[tokio::test]
async fn sqlite_untouched_log_verifies_and_triggers_refuse_changes() {
    untouched_log_verifies_and_triggers_refuse_changes(Backend::Sqlite).await;
}
#[tokio::test]
async fn postgres_untouched_log_verifies_and_triggers_refuse_changes() {
    untouched_log_verifies_and_triggers_refuse_changes(Backend::Postgres).await;
}
#[tokio::test]
async fn sqlite_an_edited_entry_is_named() {
    an_edited_entry_is_named(Backend::Sqlite).await;
}
#[tokio::test]
async fn postgres_an_edited_entry_is_named() {
    an_edited_entry_is_named(Backend::Postgres).await;
}
#[tokio::test]
async fn sqlite_a_deleted_entry_is_named() {
    a_deleted_entry_is_named(Backend::Sqlite).await;
}
#[tokio::test]
async fn postgres_a_deleted_entry_is_named() {
    a_deleted_entry_is_named(Backend::Postgres).await;
}
#[tokio::test]
async fn sqlite_reordered_entries_are_named() {
    reordered_entries_are_named(Backend::Sqlite).await;
}
#[tokio::test]
async fn postgres_reordered_entries_are_named() {
    reordered_entries_are_named(Backend::Postgres).await;
}
#[tokio::test]
async fn sqlite_truncation_is_detected_against_a_signed_head() {
    truncation_is_detected_against_a_signed_head(Backend::Sqlite).await;
}
#[tokio::test]
async fn postgres_truncation_is_detected_against_a_signed_head() {
    truncation_is_detected_against_a_signed_head(Backend::Postgres).await;
}
