//! Identity over real mutual TLS: every way of being refused, each with its exact status and
//! an audit entry.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use tonic::Code;
use vawg_audit::AuditRecord;
use vawg_domain::identity::{AgencyKind, scope};
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb::{
    self, definition_service_client::DefinitionServiceClient,
    metrics_service_client::MetricsServiceClient,
};
use vawg_store::agencies::AgencyStatus;
use vawg_tools::pki::{TokenSpec, Validity};

const MET: &str = "E23000001";

async fn list_definitions(channel: vawg_e2e::AuthChannel) -> Result<(), tonic::Status> {
    DefinitionServiceClient::new(channel)
        .list_definitions(pb::ListDefinitionsRequest {})
        .await
        .map(|_| ())
}

/// The call is refused with `code`, and the log holds a refusal for `agency` on the
/// definitions RPC whose reason contains `reason`.
async fn assert_refused_and_audited(
    app: &TestApp,
    result: Result<(), tonic::Status>,
    code: Code,
    agency: &str,
    reason: &str,
) -> AuditRecord {
    let status = result.expect_err("the call must be refused");
    assert_eq!(status.code(), code, "{status:?}");
    let entries = app.audit_entries().await;
    let entry = entries
        .iter()
        .rev()
        .find(|e| !e.allowed && e.agency_id == agency && e.reason.contains(reason))
        .unwrap_or_else(|| panic!("no audit entry with '{reason}' in {entries:#?}"))
        .clone();
    assert_eq!(entry.rpc, "/vawg.v1.DefinitionService/ListDefinitions");
    let expected = match code {
        Code::Unauthenticated => "UNAUTHENTICATED",
        Code::PermissionDenied => "PERMISSION_DENIED",
        _ => unreachable!(),
    };
    assert_eq!(entry.status, expected);
    entry
}

async fn police(app: &TestApp) -> Agency {
    app.agency("police-e23000001", AgencyKind::Police, &[MET])
        .await
}

/// A refused handshake: no gRPC status can be sent before TLS is established, so the client
/// sees tonic's transport failure (UNKNOWN, "transport error", caused by the server's TLS
/// alert), and the hub audits why.
async fn assert_handshake_refused(app: &TestApp, channel: vawg_e2e::AuthChannel, reason: &str) {
    let status = list_definitions(channel).await.expect_err("refused");
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert_eq!(status.message(), "transport error");
    assert!(
        format!("{status:?}").contains("received fatal alert"),
        "{status:?}"
    );
    let entry = app.wait_for_audit(|e| e.reason.contains(reason)).await;
    assert!(!entry.allowed);
    assert_eq!(entry.status, "UNAUTHENTICATED");
    assert_eq!(entry.agency_id, "");
}

#[tokio::test]
async fn a_caller_without_a_client_certificate_is_refused_in_the_handshake() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = police(&app).await;
    let channel = app.raw(app.client_tls(None), Some(police.token()));
    assert_handshake_refused(&app, channel, "no client certificate").await;
    app.stop().await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_in_the_handshake() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = police(&app).await;
    let foreign = app.foreign_pki();
    let (cert, key) =
        vawg_tools::pki::issue(&foreign, &police.id, AgencyKind::Police, None).unwrap();
    let channel = app.raw(app.client_tls(Some((&cert, &key))), Some(police.token()));
    assert_handshake_refused(&app, channel, "not issued by the hub's CA").await;
    app.stop().await;
}

#[tokio::test]
async fn an_expired_certificate_is_refused_in_the_handshake() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = police(&app).await;
    let (cert, key) = app.issue_cert(
        &police.id,
        AgencyKind::Police,
        Some(Validity {
            not_before: (2020, 1, 1),
            not_after: (2021, 1, 1),
        }),
    );
    let channel = app.raw(app.client_tls(Some((&cert, &key))), Some(police.token()));
    assert_handshake_refused(&app, channel, "expired").await;
    app.stop().await;
}

#[tokio::test]
async fn a_call_without_a_token_is_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = police(&app).await;
    let channel = app.raw(app.client_tls(Some((&police.cert, &police.key))), None);
    let result = list_definitions(channel).await;
    assert_refused_and_audited(
        &app,
        result,
        Code::Unauthenticated,
        &police.id,
        "bearer token is required",
    )
    .await;
    app.stop().await;
}

async fn with_token(app: &TestApp, police: &Agency, token: &str) -> Result<(), tonic::Status> {
    list_definitions(app.raw(
        app.client_tls(Some((&police.cert, &police.key))),
        Some(token),
    ))
    .await
}

#[tokio::test]
async fn expired_wrong_audience_and_wrong_issuer_tokens_are_unauthenticated() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let police = police(&app).await;
    let scopes = [scope::REFERENCE_READ];

    // Expired well beyond the 30 s leeway.
    let mut expired = TokenSpec::new(&police.id, scopes);
    expired.not_before_seconds = -7200;
    expired.ttl_seconds = -3600;
    let result = with_token(&app, &police, &app.token(&expired)).await;
    assert_refused_and_audited(&app, result, Code::Unauthenticated, &police.id, "expired").await;

    // Within the leeway: still accepted.
    let mut just_expired = TokenSpec::new(&police.id, scopes);
    just_expired.ttl_seconds = -5;
    with_token(&app, &police, &app.token(&just_expired))
        .await
        .expect("a token expired 5 s ago is within the leeway");

    let mut not_yet = TokenSpec::new(&police.id, scopes);
    not_yet.not_before_seconds = 600;
    let result = with_token(&app, &police, &app.token(&not_yet)).await;
    assert_refused_and_audited(
        &app,
        result,
        Code::Unauthenticated,
        &police.id,
        "not yet valid",
    )
    .await;

    let mut aud = TokenSpec::new(&police.id, scopes);
    aud.audience = "urn:some:other:service".into();
    let result = with_token(&app, &police, &app.token(&aud)).await;
    assert_refused_and_audited(
        &app,
        result,
        Code::Unauthenticated,
        &police.id,
        "wrong audience",
    )
    .await;

    let mut iss = TokenSpec::new(&police.id, scopes);
    iss.issuer = "urn:someone:else".into();
    let result = with_token(&app, &police, &app.token(&iss)).await;
    assert_refused_and_audited(
        &app,
        result,
        Code::Unauthenticated,
        &police.id,
        "wrong issuer",
    )
    .await;
    app.stop().await;
}

fn claims_json(agency: &str) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    serde_json::json!({
        "iss": vawg_tools::pki::DEV_ISSUER,
        "aud": vawg_tools::pki::DEV_AUDIENCE,
        "sub": agency,
        "exp": now + 600,
        "nbf": now - 10,
        "iat": now,
        "scope": "reference:read",
    })
}

fn kid_of(app: &TestApp) -> String {
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(app.pki.jwks()).unwrap()).unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn alg_none_and_hs256_signed_with_the_public_key_are_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = police(&app).await;
    let kid = kid_of(&app);

    let header = serde_json::json!({ "alg": "none", "typ": "JWT", "kid": kid });
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims_json(&police.id).to_string())
    );
    let result = with_token(&app, &police, &none).await;
    assert_refused_and_audited(
        &app,
        result,
        Code::Unauthenticated,
        &police.id,
        "invalid token",
    )
    .await;

    // The classic key-confusion attack: HMAC keyed with the (public) verification key.
    let public_pem = rcgen::KeyPair::from_pem(&std::fs::read_to_string(app.pki.jwt_key()).unwrap())
        .unwrap()
        .public_key_pem();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid);
    let hs256 = jsonwebtoken::encode(
        &header,
        &claims_json(&police.id),
        &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    let result = with_token(&app, &police, &hs256).await;
    let entry = assert_refused_and_audited(
        &app,
        result,
        Code::Unauthenticated,
        &police.id,
        "algorithm not allowed",
    )
    .await;
    assert!(
        !entry.reason.contains(&hs256),
        "the token never reaches the log"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_token_for_one_agency_with_the_certificate_of_another_is_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let a = police(&app).await;
    let b = app
        .agency("police-e23000002", AgencyKind::Police, &["E23000002"])
        .await;
    let channel = app.raw(app.client_tls(Some((&b.cert, &b.key))), Some(a.token()));
    let result = list_definitions(channel).await;
    assert_refused_and_audited(
        &app,
        result,
        Code::Unauthenticated,
        &b.id,
        "name different agencies",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_suspended_agency_is_refused_at_once() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let police = police(&app).await;
    list_definitions(police.authed())
        .await
        .expect("active: allowed");
    app.store()
        .set_agency_status(&police.id, AgencyStatus::Suspended)
        .await
        .unwrap();
    let result = list_definitions(police.authed()).await;
    assert_refused_and_audited(
        &app,
        result,
        Code::PermissionDenied,
        &police.id,
        "suspended",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn an_unregistered_agency_is_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (cert, key) = app.issue_cert("police-unknown", AgencyKind::Police, None);
    let token = app.token(&TokenSpec::new("police-unknown", [scope::REFERENCE_READ]));
    let result = list_definitions(app.raw(app.client_tls(Some((&cert, &key))), Some(&token))).await;
    assert_refused_and_audited(
        &app,
        result,
        Code::Unauthenticated,
        "police-unknown",
        "not registered",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_token_without_the_scope_of_the_action_is_permission_denied() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = police(&app).await;
    let token = app.token(&TokenSpec::new(&police.id, [scope::REFERENCE_READ]));
    let channel = app.raw(
        app.client_tls(Some((&police.cert, &police.key))),
        Some(&token),
    );
    let status = MetricsServiceClient::new(channel)
        .list_metrics(pb::ListMetricsRequest::default())
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("metrics:read"), "{status:?}");
    let entry = app
        .audit_entries()
        .await
        .into_iter()
        .rev()
        .find(|e| e.rpc == "/vawg.v1.MetricsService/ListMetrics")
        .expect("audited");
    assert!(!entry.allowed);
    assert_eq!(entry.policy_ids, vec!["code:scope-required".to_string()]);
    assert_eq!(entry.status, "PERMISSION_DENIED");
    app.stop().await;
}

#[tokio::test]
async fn allowed_calls_are_audited_too() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = police(&app).await;
    list_definitions(police.authed()).await.unwrap();
    let entries = app.audit_entries().await;
    let entry = entries.last().expect("one entry");
    assert!(entry.allowed);
    assert_eq!(entry.agency_id, police.id);
    assert_eq!(entry.agency_kind, "POLICE");
    assert_eq!(entry.action, "ACTION_READ_REFERENCE");
    assert_eq!(entry.policy_ids, vec!["reference-read".to_string()]);
    assert!(entry.gate);
    app.stop().await;
}
