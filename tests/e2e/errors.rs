//! One error model: the same fault gives the same gRPC code on every service (the table in
//! `crates/proto/src/error.rs`, documented in `docs/api.md`). Each fault is caused for real over
//! gRPC — something not held, a conflicting write, a full disk — and asked of every service
//! that can meet it.

use tonic::Code;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb;

use crate::{
    fault_disk_full::hub_on_tmpfs,
    ingest_common::{MET, MET_ID, crime},
};

fn code<T>(r: Result<tonic::Response<T>, tonic::Status>) -> (Code, String) {
    match r {
        Ok(_) => (Code::Ok, String::new()),
        Err(s) => (s.code(), s.message().to_string()),
    }
}

fn metric_query(metric: &str) -> pb::QueryMetricRequest {
    pb::QueryMetricRequest {
        query: Some(pb::MetricQuery {
            metric_id: metric.into(),
            victim_scope: pb::VictimScope::AllVictims as i32,
            counting_rule: pb::CountingRule::AllOffences as i32,
            period: Some(pb::ReferencePeriod {
                start: Some(pb::Date {
                    year: 2025,
                    month: 1,
                    day: 1,
                }),
                end: Some(pb::Date {
                    year: 2025,
                    month: 12,
                    day: 31,
                }),
            }),
            grain: pb::TimeGrain::WholePeriod as i32,
            area_level: pb::AreaLevel::PoliceForceArea as i32,
            ..Default::default()
        }),
    }
}

/// Something not held is NOT_FOUND on every service that names things: an unknown record to
/// retract (ingest), an unknown metric (metrics), an unknown definition version (definitions),
/// a recipient with no sealing key (exchange).
async fn not_found_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let central = app
        .agency("central-analysts", AgencyKind::CentralAnalyst, &[])
        .await;
    let calls = [
        (
            "ingest RetractRecord",
            code(
                met.ingest()
                    .retract_record(pb::RetractRecordRequest {
                        source_record_id: "never-sent".into(),
                        reason: "test".into(),
                    })
                    .await,
            ),
        ),
        (
            "metrics QueryMetric",
            code(
                central
                    .metrics()
                    .query_metric(metric_query("no_such_metric"))
                    .await,
            ),
        ),
        (
            "definitions GetDefinition",
            code(
                met.definitions()
                    .get_definition(pb::GetDefinitionRequest {
                        version: "vawg-v999".into(),
                    })
                    .await,
            ),
        ),
        (
            "exchange GetSealingKey",
            code(
                met.exchange()
                    .get_sealing_key(pb::GetSealingKeyRequest {
                        agency_id: "school-without-a-key".into(),
                    })
                    .await,
            ),
        ),
    ];
    for (rpc, (c, message)) in calls {
        assert_eq!(c, Code::NotFound, "{rpc}: {message}");
        assert!(
            !message.is_empty(),
            "{rpc}: a NOT_FOUND says what was not found"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn errors_not_found_is_not_found_on_every_service_sqlite() {
    not_found_everywhere(Backend::Sqlite).await;
}

#[tokio::test]
async fn errors_not_found_is_not_found_on_every_service_postgres() {
    not_found_everywhere(Backend::Postgres).await;
}

/// A conflicting write is ALREADY_EXISTS: a sealing key id registered again with another key.
#[tokio::test]
async fn errors_a_conflicting_write_is_already_exists() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let school = app
        .agency("school-100001", AgencyKind::School, &["E09000001"])
        .await;
    let register = |key: [u8; 32]| {
        let mut exchange = school.exchange();
        async move {
            code(
                exchange
                    .register_sealing_key(pb::RegisterSealingKeyRequest {
                        key_id: "2026-k1".into(),
                        public_key: key.to_vec(),
                    })
                    .await,
            )
        }
    };
    assert_eq!(register([7; 32]).await.0, Code::Ok);
    let (c, message) = register([9; 32]).await;
    assert_eq!(c, Code::AlreadyExists, "{message}");
    app.stop().await;
}

/// Fills the tmpfs under the database with a filler file until the file system refuses more.
fn fill(dir: &std::path::Path, name: &str) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join(name)).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if f.write_all(&block).and_then(|_| f.flush()).is_err() {
            break;
        }
    }
    // Whatever fitted of the last block is on disk; the file system is full.
    let _ = f.sync_all();
}

/// Every call the hub answers is audited first, so on a full disk every service meets the same
/// fault; each must answer RESOURCE_EXHAUSTED ("storage is full"), and after space is freed each
/// must answer again, without a restart.
#[tokio::test]
async fn errors_a_full_disk_is_resource_exhausted_on_every_service() {
    let scratch = tempfile::tempdir().unwrap();
    let Some((disk, app)) = hub_on_tmpfs(&scratch, "8m").await else {
        return;
    };
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let central = app
        .agency("central-analysts", AgencyKind::CentralAnalyst, &[])
        .await;
    let submitted = met
        .ingest()
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![crime("before-full", 1)],
        })
        .await
        .expect("accepted before the disk fills");
    assert_eq!(
        submitted.into_inner().results[0].status(),
        pb::RecordStatus::Accepted
    );

    // Settle the aggregates, empty the write-ahead log (so SQLite cannot reuse its frames),
    // then fill the disk: the next write anywhere needs space the disk does not have.
    let (settled, message) = code(
        central
            .metrics()
            .query_metric(metric_query("recorded_crimes"))
            .await,
    );
    assert_eq!(settled, Code::Ok, "{message}");
    let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    fill(&disk.0, "filler-1");

    let results = every_service(&met, &central).await;
    for (rpc, (c, message)) in &results {
        assert_eq!(*c, Code::ResourceExhausted, "{rpc}: {message}");
        assert!(message.contains("storage is full"), "{rpc}: {message}");
    }

    // Space freed: every service answers again.
    std::fs::remove_file(disk.0.join("filler-1")).unwrap();
    for (rpc, (c, message)) in every_service(&met, &central).await {
        assert_eq!(c, Code::Ok, "{rpc} after space was freed: {message}");
    }
    app.stop().await;
}

/// One call to each service, as the agency that may make it.
async fn every_service(met: &Agency, central: &Agency) -> Vec<(&'static str, (Code, String))> {
    vec![
        (
            "ingest SubmitBatch",
            code(
                met.ingest()
                    .submit_batch(pb::SubmitBatchRequest {
                        records: vec![crime(&format!("during-{}", uuid::Uuid::new_v4()), 1)],
                    })
                    .await,
            ),
        ),
        (
            "metrics QueryMetric",
            code(
                central
                    .metrics()
                    .query_metric(metric_query("recorded_crimes"))
                    .await,
            ),
        ),
        (
            "definitions ListDefinitions",
            code(
                met.definitions()
                    .list_definitions(pb::ListDefinitionsRequest {})
                    .await,
            ),
        ),
        (
            "firewall CheckPurpose",
            code(
                met.firewall()
                    .check_purpose(pb::CheckPurposeRequest {
                        action: pb::Action::Submit as i32,
                        purpose: pb::Purpose::RecordSubmission as i32,
                        lawful_basis: pb::LawfulBasis::LawEnforcementPart3 as i32,
                        event_kinds: vec![],
                        categories: vec![],
                    })
                    .await,
            ),
        ),
        (
            "exchange RequestRecords",
            code(
                met.exchange()
                    .request_records(pb::RequestRecordsRequest {
                        subject: Some(pb::PersonIdentifiers {
                            local_person_id: "p-1".into(),
                            ..Default::default()
                        }),
                        purpose: pb::Purpose::LawEnforcement as i32,
                        lawful_basis: pb::LawfulBasis::LawEnforcementPart3 as i32,
                        justification: "investigation of a reported crime".into(),
                        event_kinds: vec![],
                    })
                    .await,
            ),
        ),
    ]
}
