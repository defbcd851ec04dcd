//! Unauthenticated floods cost bounded storage: refusals before identity (token-less calls on
//! the dashboard listener, handshakes without a client certificate on the agencies' port) are
//! limited per source address and audited in aggregate — the first refusal of a source per
//! interval on its own, the rest as one entry with the count. So a flood of any size from one
//! source adds at most 2 audit entries per interval:
//!
//!   rows ≤ 2 × (⌈elapsed / interval⌉ + 1)
//!
//! Also: idle connections (and clients trickling a request's headers) are closed after the
//! idle timeout; a storm of tokens with unknown `kid`s reloads the key file at most once per
//! interval and does not empty the token cache; legitimate agencies (from another address)
//! are served throughout. Floods come from 127.0.0.2, legitimate callers from 127.0.0.1.

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
};
use tokio_rustls::TlsConnector;
use tonic::{
    Code,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};
use vawg_audit::AuditRecord;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{AuthChannel, Backend, Bearer, TestApp};
use vawg_policy::default_scopes;
use vawg_proto::pb::{self, definition_service_client::DefinitionServiceClient};
use vawg_server::app::Application;
use vawg_tools::pki::{self, TokenSpec};

/// The aggregation interval the tests configure.
const INTERVAL: Duration = Duration::from_millis(1_500);

const FLOOD_SOURCE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

async fn spawn(idle_ms: u64) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |s| {
        s.dashboard_listen = Some(([127, 0, 0, 1], 0).into());
        s.limits.unauthenticated_audit_interval_ms = INTERVAL.as_millis() as u64;
        s.limits.idle_timeout_ms = idle_ms;
    })
    .await
}

/// A gRPC channel to `addr` presenting no client certificate, from `local` if given.
fn channel_to(
    app: &TestApp,
    addr: SocketAddr,
    local: Option<IpAddr>,
    token: Option<&str>,
) -> AuthChannel {
    let channel: Channel = Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(app.client_tls(None))
        .expect("client TLS")
        .local_address(local)
        .connect_timeout(Duration::from_secs(10))
        .connect_lazy();
    InterceptedService::new(channel, Bearer::new(token))
}

async fn list_definitions(channel: AuthChannel) -> Result<(), tonic::Status> {
    DefinitionServiceClient::new(channel)
        .list_definitions(pb::ListDefinitionsRequest {})
        .await
        .map(|_| ())
}

/// The refusals before identity (no agency) written since entry `before`.
async fn unauthenticated_rows(app: &TestApp, before: usize) -> Vec<AuditRecord> {
    let mut entries = app.audit_entries().await;
    entries
        .split_off(before.min(entries.len()))
        .into_iter()
        .filter(|e| !e.allowed && e.agency_id.is_empty())
        .collect()
}

/// How many refusals `rows` account for: one for each first refusal, N for each
/// "aggregated: N more refusals" entry.
fn refusals_counted(rows: &[AuditRecord]) -> u64 {
    rows.iter()
        .map(|e| match e.reason.strip_prefix("aggregated: ") {
            Some(rest) => rest
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a count"),
            None => 1,
        })
        .sum()
}

fn bound(elapsed: Duration) -> usize {
    2 * ((elapsed.as_secs_f64() / INTERVAL.as_secs_f64()).ceil() as usize + 1)
}

#[tokio::test]
async fn a_token_less_flood_on_the_dashboard_listener_adds_a_bounded_number_of_audit_rows() {
    let app = spawn(30_000).await;
    let addr = app.dashboard_addr.expect("dashboard listener");
    let central = app
        .agency("central-analysis", AgencyKind::CentralAnalyst, &[])
        .await;
    let legit = channel_to(&app, addr, None, Some(central.token()));
    list_definitions(legit.clone())
        .await
        .expect("a legitimate call");
    let before = app.audit_entries().await.len();
    let flood = channel_to(&app, addr, Some(FLOOD_SOURCE), None);
    let started = Instant::now();
    for _ in 0..10 {
        let calls = (0..50).map(|_| list_definitions(flood.clone()));
        for result in futures::future::join_all(calls).await {
            let status = result.expect_err("a token-less call is refused");
            assert!(
                matches!(
                    status.code(),
                    Code::Unauthenticated | Code::ResourceExhausted
                ),
                "{status:?}"
            );
        }
        // Another address is still served during the flood.
        list_definitions(legit.clone())
            .await
            .expect("a legitimate call during the flood");
    }
    let elapsed = started.elapsed();
    // Every tally written: the flush after the flood's last interval.
    tokio::time::sleep(INTERVAL * 2).await;
    let rows = unauthenticated_rows(&app, before).await;
    eprintln!("flood: {} audit rows in {elapsed:?}", rows.len());
    assert!(
        rows.len() <= bound(elapsed + INTERVAL * 2) && rows.len() <= 8,
        "{} rows for 500 refusals in {elapsed:?}: {rows:#?}",
        rows.len()
    );
    assert_eq!(refusals_counted(&rows), 500, "{rows:#?}");
    assert!(
        rows.iter().any(|e| e.reason.contains("from 127.0.0.2")),
        "{rows:#?}"
    );
    list_definitions(legit)
        .await
        .expect("a legitimate call after the flood");
    app.stop().await;
}

/// A rustls client trusting the hub's CA, with a client certificate if given.
fn tls_client(ca: &Path, identity: Option<(&Path, &Path)>, alpn: &[u8]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA certificate")).expect("add CA");
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .expect("cert")
                    .collect::<Result<_, _>>()
                    .expect("cert"),
                PrivateKeyDer::from_pem_file(key).expect("key"),
            )
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// A TCP connection to `addr` from `local`.
async fn tcp_from(local: IpAddr, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(addr).await
}

#[tokio::test]
async fn handshakes_without_a_client_certificate_add_a_bounded_number_of_audit_rows() {
    let app = spawn(30_000).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    police
        .definitions()
        .list_definitions(pb::ListDefinitionsRequest {})
        .await
        .expect("legit");
    let before = app.audit_entries().await.len();
    let connector = tls_client(&app.pki.ca_cert(), None, b"h2");
    let started = Instant::now();
    for round in 0..4 {
        let attempts = (0..25).map(|_| {
            let connector = connector.clone();
            let addr = app.addr;
            async move {
                let Ok(tcp) = tcp_from(FLOOD_SOURCE, addr).await else {
                    return;
                };
                let name = ServerName::try_from("localhost").expect("name");
                let attempt = async {
                    // TLS 1.3: the server's refusal of the missing certificate arrives as an
                    // alert after the client's side of the handshake; read until it does.
                    if let Ok(mut tls) = connector.connect(name, tcp).await {
                        let mut byte = [0u8; 1];
                        let _ = tls.read(&mut byte).await;
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), attempt).await;
            }
        });
        futures::future::join_all(attempts).await;
        // The agency's established connection is served during the flood.
        police
            .definitions()
            .list_definitions(pb::ListDefinitionsRequest {})
            .await
            .unwrap_or_else(|e| panic!("a legitimate call in round {round}: {e:?}"));
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(INTERVAL * 2).await;
    let rows = unauthenticated_rows(&app, before).await;
    eprintln!("flood: {} audit rows in {elapsed:?}", rows.len());
    assert!(
        rows.len() <= bound(elapsed + INTERVAL * 2) && rows.len() <= 8,
        "{} rows for 100 refused handshakes in {elapsed:?}: {rows:#?}",
        rows.len()
    );
    assert_eq!(refusals_counted(&rows), 100, "{rows:#?}");
    assert!(
        rows.iter()
            .any(|e| e.reason.contains("no client certificate")),
        "{rows:#?}"
    );
    // A new connection from the agency's own address is still accepted after the flood.
    let fresh = app.raw(
        app.client_tls(Some((&police.cert, &police.key))),
        Some(police.token()),
    );
    list_definitions(fresh)
        .await
        .expect("a fresh legitimate connection");
    app.stop().await;
}

/// How long until the server closes `stream` (EOF or error), reading and discarding anything.
async fn time_until_closed(mut stream: impl AsyncReadExt + Unpin) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_secs(15), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was still open after 15 s"),
        }
    }
}

#[tokio::test]
async fn idle_connections_and_trickled_headers_are_closed_after_the_idle_timeout() {
    let app = spawn(1_000).await;
    let dashboard = app.dashboard_addr.expect("dashboard listener");
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let name = || ServerName::try_from("localhost").expect("name");
    let local = IpAddr::from([127, 0, 0, 1]);
    // Dashboard listener: a TLS connection that never sends a request.
    let tls = tls_client(&app.pki.ca_cert(), None, b"http/1.1")
        .connect(name(), tcp_from(local, dashboard).await.expect("connect"))
        .await
        .expect("handshake");
    let idle = time_until_closed(tls).await;
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "{idle:?}"
    );
    // Dashboard listener: a request's headers trickled a byte at a time, never completed.
    let mut tls = tls_client(&app.pki.ca_cert(), None, b"http/1.1")
        .connect(name(), tcp_from(local, dashboard).await.expect("connect"))
        .await
        .expect("handshake");
    let started = Instant::now();
    let trickle = async {
        for byte in b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if tls.write_all(&[*byte]).await.is_err() || tls.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), trickle)
        .await
        .expect("trickle ends");
    let closed = started.elapsed() + time_until_closed(tls).await;
    assert!(closed < Duration::from_secs(6), "{closed:?}");
    // Agencies' listener: a mutually authenticated connection with no call.
    let tls = tls_client(&app.pki.ca_cert(), Some((&police.cert, &police.key)), b"h2")
        .connect(name(), tcp_from(local, app.addr).await.expect("connect"))
        .await
        .expect("handshake");
    let idle = time_until_closed(tls).await;
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "{idle:?}"
    );
    // Calls still work (the client reconnects after an idle close).
    police
        .definitions()
        .list_definitions(pb::ListDefinitionsRequest {})
        .await
        .expect("call");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    police
        .definitions()
        .list_definitions(pb::ListDefinitionsRequest {})
        .await
        .expect("call");
    app.stop().await;
}

/// A token naming an unknown `kid` (its signature is never looked at: the key lookup fails).
fn unknown_kid_token(i: usize) -> String {
    let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": format!("made-up-{i}") });
    let claims = serde_json::json!({ "sub": "central-analysis", "iss": pki::DEV_ISSUER });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode([0u8; 64])
    )
}

#[tokio::test]
async fn an_unknown_kid_storm_reloads_the_keys_at_most_once_per_interval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = pki::init(&dir.path().join("pki")).expect("dev PKI");
    let url = format!("sqlite://{}", dir.path().join("hub.db").display());
    let mut settings = pki::dev_settings(&pki, url, dir.path());
    settings.dashboard_listen = Some(([127, 0, 0, 1], 0).into());
    settings.limits.unknown_kid_reload_interval_ms = 60_000;
    // The storm must reach the token check: no per-source limit in the way here.
    settings.limits.dashboard_per_source_per_second = 1_000_000;
    settings.limits.dashboard_per_source_burst = 1_000_000;
    settings.limits.unauthenticated_per_source_per_second = 1_000_000;
    settings.limits.unauthenticated_per_source_burst = 1_000_000;
    let app = Application::build(settings).await.expect("hub builds");
    let tokens = app.tokens();
    let addr = app.dashboard_addr().expect("dashboard listener");
    let kind = AgencyKind::CentralAnalyst;
    app.store()
        .add_agency("central-analysis", "Central analysis (test)", kind, &[])
        .await
        .expect("register");
    let token = pki::mint_token(
        &pki.jwt_key(),
        &TokenSpec::new("central-analysis", default_scopes(kind)),
    )
    .expect("token");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hub = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let ca = std::fs::read(pki.ca_cert()).expect("CA");
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca))
                .domain_name("localhost"),
        )
        .expect("TLS");
    let channel = vawg_e2e::connect_with_retry(&endpoint).await;
    let with = |t: &str| InterceptedService::new(channel.clone(), Bearer::new(Some(t)));
    list_definitions(with(&token))
        .await
        .expect("a legitimate call");
    let (reads, remembered) = (tokens.key_file_reads(), tokens.remembered_tokens());
    assert_eq!(remembered, 1);
    for i in 0..300 {
        let status = list_definitions(with(&unknown_kid_token(i)))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        assert!(
            status.message().contains("unknown signing key"),
            "{status:?}"
        );
    }
    assert!(
        tokens.key_file_reads() - reads <= 1,
        "{} key file reads for 300 unknown kids",
        tokens.key_file_reads() - reads
    );
    assert_eq!(
        tokens.remembered_tokens(),
        remembered,
        "the token cache was emptied"
    );
    list_definitions(with(&token))
        .await
        .expect("a legitimate call after the storm");
    let _ = stop.send(());
    hub.await.expect("join").expect("hub ran cleanly");
}
