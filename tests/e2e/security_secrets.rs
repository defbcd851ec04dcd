//! Security review: secrets never reach logs or errors. Every log line the hub writes (at
//! TRACE, every target) while callers present bad, stolen, tampered and expired tokens, and
//! every status and start-up error they get back, is scanned for the tokens, the private keys
//! (PEM) and the pseudonymisation key.

use std::{
    io,
    sync::{Arc, Mutex},
};

use base64::Engine;
use tracing_subscriber::fmt::MakeWriter;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{
    Backend, TestApp,
    process::{HubConfig, HubProcess, hub_binary},
};
use vawg_proto::pb;
use vawg_server::app::Application;
use vawg_store::Store;
use vawg_tools::pki::TokenSpec;

use crate::ingest_common::{MET, MET_ID, crime};

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The distinctive parts of a PEM file: each base64 line of its body (long enough not to
/// match by chance).
fn pem_secrets(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect()
}

/// Fails naming the secret (by label, not value) if any of `secrets` occurs in `haystack`.
fn assert_no_secret(haystack: &str, secrets: &[(String, String)], what: &str) {
    for (label, secret) in secrets {
        assert!(
            !haystack.contains(secret.as_str()),
            "{what} contains the secret {label}"
        );
    }
}

/// A token's signature segment (the part that makes it a credential).
fn signature(token: &str) -> String {
    token.rsplit('.').next().unwrap().to_string()
}

#[tokio::test]
async fn security_secrets_never_reach_logs_or_errors() {
    // Everything the hub's tasks log (they run on this test's single thread), at TRACE.
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let school = app
        .agency("school-e09000001", AgencyKind::School, &["E09000001"])
        .await;
    // The pseudonymisation key is in use: records with identifiers go in.
    let ingested = police
        .ingest()
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![crime("sec-1", 1)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ingested.results[0].status(), pb::RecordStatus::Accepted);

    let foreign = app.foreign_pki();
    let foreign_token =
        vawg_tools::pki::mint_token(&foreign.jwt_key(), &TokenSpec::new(MET_ID, ["x"])).unwrap();
    let expired = app.token(&TokenSpec {
        ttl_seconds: -3600,
        not_before_seconds: -7200,
        ..TokenSpec::new(MET_ID, ["reference:read"])
    });
    // A valid token with its claims swapped for more scopes: the signature no longer matches.
    let tampered = {
        let mut parts: Vec<String> = police.token().split('.').map(str::to_string).collect();
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value =
            serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
        claims["scope"] = "records:write exchange:request audit:read metrics:read".into();
        parts[1] = engine.encode(claims.to_string());
        parts.join(".")
    };
    let junk = "sk_live_hunter2_do_not_log_this_token_value".to_string();

    let mut errors = Vec::new();
    let attempts = [
        // The police token stolen and presented with the school's certificate.
        ((&school.cert, &school.key), police.token().to_string()),
        ((&police.cert, &police.key), foreign_token.clone()),
        ((&police.cert, &police.key), expired.clone()),
        ((&police.cert, &police.key), tampered.clone()),
        ((&police.cert, &police.key), junk.clone()),
    ];
    for ((cert, key), token) in &attempts {
        let channel = app.raw(app.client_tls(Some((cert, key))), Some(token));
        let status = pb::ingest_service_client::IngestServiceClient::new(channel)
            .submit_batch(pb::SubmitBatchRequest {
                records: vec![crime("sec-2", 1)],
            })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
        errors.push(format!("{status:?} {}", status.message()));
    }

    // Start-up refusals over bad keys say what is wrong without echoing the key.
    let bad_secret = "NOT-base64!!hunter2-pseudonym-secret".to_string();
    let short_secret = base64::engine::general_purpose::STANDARD.encode(b"short-hunter2-key");
    for secret in [&bad_secret, &short_secret] {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubConfig::new(
            dir.path(),
            &format!("sqlite://{}", dir.path().join("hub.db").display()),
            |s| {
                s.pseudonym.key_id = Some("k1".into());
                s.pseudonym.secret = Some(secret.as_str().into());
            },
        );
        let err = match Application::build(hub.settings.clone()).await {
            Ok(_) => panic!("a bad pseudonymisation secret must stop the hub"),
            Err(e) => e,
        };
        errors.push(format!("{err:?} {err:#}"));
    }
    let bad_audit_key = "-----BEGIN PRIVATE KEY-----\nhunter2AuditKeyMaterialThatIsNotDer\n\
                         -----END PRIVATE KEY-----\n";
    {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubConfig::new(
            dir.path(),
            &format!("sqlite://{}", dir.path().join("hub.db").display()),
            |_| {},
        );
        let key = dir.path().join("bad-audit.pem");
        std::fs::write(&key, bad_audit_key).unwrap();
        let mut settings = hub.settings.clone();
        settings.audit.signing_key = Some(key);
        let err = match Application::build(settings).await {
            Ok(_) => panic!("a bad audit key must stop the hub"),
            Err(e) => e,
        };
        errors.push(format!("{err:?} {err:#}"));
    }

    let mut secrets: Vec<(String, String)> = vec![
        ("police token".into(), signature(police.token())),
        ("school token".into(), signature(school.token())),
        ("foreign token".into(), signature(&foreign_token)),
        ("expired token".into(), signature(&expired)),
        ("tampered token".into(), signature(&tampered)),
        ("junk token".into(), junk.clone()),
        ("bad pseudonym secret".into(), bad_secret.clone()),
        ("short pseudonym secret".into(), short_secret.clone()),
        (
            "bad audit key".into(),
            "hunter2AuditKeyMaterialThatIsNotDer".into(),
        ),
    ];
    let pseudonym_key = std::fs::read_to_string(app.dir.path().join("pseudonym-dev.key"))
        .expect("the development pseudonymisation key");
    secrets.push(("pseudonymisation key".into(), pseudonym_key.trim().into()));
    for (label, path) in [
        ("token signing key", app.pki.jwt_key()),
        ("server key", app.pki.server_key()),
        ("audit key", app.pki.audit_key()),
        ("CA key", app.pki.ca_key()),
        ("police client key", police.key.clone()),
        ("school client key", school.key.clone()),
    ] {
        for line in pem_secrets(&path) {
            secrets.push((label.into(), line));
        }
    }
    app.stop().await;

    let logs = captured.text();
    // The capture works (the refusals were logged), so an empty scan proves something.
    assert!(logs.contains("call refused"), "nothing captured");
    assert_no_secret(&logs, &secrets, "the hub's log");
    assert_no_secret(&errors.join("\n"), &secrets, "an error");
}

/// The real binary with its production log format: the pseudonymisation secret comes from
/// the environment, a stolen token is refused, and neither appears in its log.
#[tokio::test]
async fn security_the_binary_logs_no_secret_from_its_configuration() {
    let binary = hub_binary();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hub.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
        .add_agency(MET_ID, "Met (test)", AgencyKind::Police, &[MET.to_string()])
        .await
        .unwrap();
    let hub = HubConfig::new(dir.path(), &url, |s| s.pseudonym.key_id = Some("k1".into()));
    let secret = base64::engine::general_purpose::STANDARD
        .encode(b"hunter2-hunter2-hunter2-hunter2-hunter2-env-secret");
    let process = HubProcess::start(
        &binary,
        &hub.config,
        &[],
        &[("VAWG_PSEUDONYM__SECRET", secret.as_str())],
    )
    .await;
    let mut ingest = hub
        .ingest_client(process.addr, MET_ID, AgencyKind::Police)
        .await;
    let accepted = ingest
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![crime("env-1", 1)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.results[0].status(), pb::RecordStatus::Accepted);
    // A token for another agency, presented with the Met's certificate.
    let other = vawg_tools::pki::mint_token(
        &hub.pki.jwt_key(),
        &TokenSpec::new("police-e23000002", ["records:write"]),
    )
    .unwrap();
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(
            std::fs::read(hub.pki.ca_cert()).unwrap(),
        ))
        .domain_name("localhost")
        .identity(tonic::transport::Identity::from_pem(
            std::fs::read(hub.pki.agency_cert(MET_ID)).unwrap(),
            std::fs::read(hub.pki.agency_key(MET_ID)).unwrap(),
        ));
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{}", process.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_lazy();
    let status = pb::ingest_service_client::IngestServiceClient::new(
        tonic::service::interceptor::InterceptedService::new(
            channel,
            vawg_e2e::Bearer::new(Some(&other)),
        ),
    )
    .submit_batch(pb::SubmitBatchRequest { records: vec![] })
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    process.wait_for_log("call refused").await;
    let log = process.log().join("\n");
    let secrets = [
        ("environment secret".to_string(), secret.clone()),
        ("stolen token".to_string(), signature(&other)),
    ];
    assert_no_secret(&log, &secrets, "the binary's log");
    assert_no_secret(status.message(), &secrets, "the status");
    drop(process);
    store.close().await;
}
