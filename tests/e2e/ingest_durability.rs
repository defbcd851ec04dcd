//! Durability: the hub runs as a separate process (the built `vawg-hub serve`); records are
//! streamed; the process is killed with SIGKILL mid-stream and restarted; every acknowledged
//! record is then present exactly once.

use std::{path::PathBuf, process::Stdio};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use vawg_e2e::{Backend, Bearer, connect_with_retry};
use vawg_hub::{identity::AgencyKind, pb, pb::ingest_service_client::IngestServiceClient};
use vawg_server::{
    config::{AuditSettings, JwtSettings, Settings, TlsSettings},
    pki::{self, TokenSpec},
};
use vawg_store::{Store, testing::TestDatabase};

use crate::{
    both_backends,
    ingest_common::{MET, MET_ID, crime},
};

/// The `vawg-hub` binary, built if needed (the e2e crate cannot name another crate's binary).
fn hub_binary() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "vawg-server", "--bin", "vawg-hub"])
        .current_dir(&workspace)
        .status()
        .expect("cargo build");
    assert!(status.success(), "building vawg-hub");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target"));
    target.join("debug").join("vawg-hub")
}

/// Starts `vawg-hub serve` and reads the bound address from its JSON log.
async fn start(binary: &PathBuf, config: &PathBuf) -> (Child, std::net::SocketAddr) {
    let mut child = Command::new(binary)
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn vawg-hub");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("vawg-hub serving") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                let addr = v["fields"]["addr"].as_str().unwrap().parse().unwrap();
                return addr;
            }
        }
        panic!("vawg-hub exited before serving");
    })
    .await
    .expect("vawg-hub started within 60 s");
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

async fn acknowledged_records_survive_sigkill(backend: Backend) {
    let binary = hub_binary();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::init(&dir.path().join("pki")).unwrap();
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
    store
        .add_agency(MET_ID, "Met (test)", AgencyKind::Police, &[MET.to_string()])
        .await
        .unwrap();
    let mut settings = Settings {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url: database_url.clone(),
        tls: Some(TlsSettings {
            ca_cert: pki.ca_cert(),
            server_cert: pki.server_cert(),
            server_key: pki.server_key(),
        }),
        jwt: Some(JwtSettings {
            issuer: pki::DEV_ISSUER.into(),
            audience: pki::DEV_AUDIENCE.into(),
            jwks_file: pki.jwks(),
        }),
        audit: AuditSettings {
            signing_key: Some(pki.audit_key()),
        },
        ..Settings::default()
    };
    settings.pseudonym.dev_key_file = Some(dir.path().join("pseudonym-dev.key"));
    let config = dir.path().join("hub.toml");
    std::fs::write(&config, toml::to_string(&settings).unwrap()).unwrap();
    let (cert, key) = pki::issue(&pki, MET_ID, AgencyKind::Police, None).unwrap();
    let token = pki::mint_token(
        &pki.jwt_key(),
        &TokenSpec::new(MET_ID, vawg_firewall::default_scopes(AgencyKind::Police)),
    )
    .unwrap();
    let client = |addr: std::net::SocketAddr| {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(std::fs::read(pki.ca_cert()).unwrap()))
            .domain_name("localhost")
            .identity(Identity::from_pem(
                std::fs::read(&cert).unwrap(),
                std::fs::read(&key).unwrap(),
            ));
        let endpoint = Endpoint::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .unwrap();
        let token = token.clone();
        async move {
            let channel = connect_with_retry(&endpoint).await;
            IngestServiceClient::new(tonic::service::interceptor::InterceptedService::new(
                channel,
                Bearer::new(Some(&token)),
            ))
        }
    };

    // Stream chunks; after a few acknowledgements, with more chunks in flight, SIGKILL.
    let (mut child, addr) = start(&binary, &config).await;
    let mut ingest = client(addr).await;
    let (tx, rx) = mpsc::channel::<pb::StreamRecordsRequest>(64);
    let chunk = |c: usize| pb::StreamRecordsRequest {
        records: (0..50).map(|i| crime(&format!("d-{c}-{i}"), 1)).collect(),
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
    loop {
        match acks.message().await {
            Ok(Some(ack)) => {
                for r in &ack.results {
                    assert_eq!(r.status(), pb::RecordStatus::Accepted);
                    acknowledged.push(r.source_record_id.clone());
                }
                if acknowledged.len() >= 150 && child.id().is_some() {
                    // More in flight, then kill without warning.
                    for _ in 0..4 {
                        let _ = tx.send(chunk(next)).await;
                        next += 1;
                    }
                    child.start_kill().unwrap(); // SIGKILL
                    child.wait().await.unwrap();
                } else if child.id().is_some() {
                    let _ = tx.send(chunk(next)).await;
                    next += 1;
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    assert!(
        acknowledged.len() >= 150,
        "acknowledged {}",
        acknowledged.len()
    );

    // Restart: every acknowledged record is there exactly once; resending them is DUPLICATE.
    let (mut child, addr) = start(&binary, &config).await;
    for id in &acknowledged {
        let revs = store.revisions(MET_ID, id).await.unwrap();
        assert_eq!(revs.len(), 1, "{id}: {revs:?}");
    }
    let mut ingest = client(addr).await;
    let resent: Vec<pb::VawgRecord> = acknowledged
        .iter()
        .take(100)
        .map(|id| crime(id, 1))
        .collect();
    let r = ingest
        .submit_batch(pb::SubmitBatchRequest { records: resent })
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.results
            .iter()
            .all(|r| r.status() == pb::RecordStatus::Duplicate)
    );
    let total = store.count_records(Some(MET_ID)).await.unwrap() as usize;
    assert!(total >= acknowledged.len() && total <= next * 50);
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    store.close().await;
    if let Some(db) = pg {
        db.drop_database().await.unwrap();
    }
}
both_backends!(durability, acknowledged_records_survive_sigkill);
