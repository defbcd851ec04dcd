//! The dashboard listener: the embedded page, and gRPC-Web over HTTPS with a bearer token and
//! no client certificate — read-only aggregates only, every call through the firewall and into
//! the audit log. The client here speaks HTTP/1.1 gRPC-Web exactly as a browser's fetch does.

use std::{collections::BTreeMap, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use prost::Message;
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;
use vawg_audit::AuditRecord;
use vawg_auth::layer::DASHBOARD_POLICY_ID;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb;
use vawg_tools::pki::TokenSpec;

/// An HTTP response: status, headers (lower-case names) and the de-chunked body.
struct HttpResponse {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// One request over a fresh TLS connection (HTTP/1.1, `Connection: close`), trusting only the
/// hub's development CA and presenting no client certificate.
async fn https(addr: SocketAddr, ca: &Path, request: Vec<u8>) -> HttpResponse {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA certificate")).expect("add CA");
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("TLS handshake without a client certificate");
        tls.write_all(&request).await.expect("write");
        tls.flush().await.expect("flush");
        let mut raw = Vec::new();
        // The server closes after the response; a close without close_notify still ends it.
        let _ = tls.read_to_end(&mut raw).await;
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .expect("the dashboard listener answered within 20 s");
    parse(&raw)
}

fn parse(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP response head");
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .expect("chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

/// The outcome of a gRPC-Web call: the grpc-status (from the trailer frame, or the headers of
/// a trailers-only answer), its message, and the response message bytes if any.
struct GrpcWebResult {
    code: i32,
    message: String,
    data: Option<Vec<u8>>,
}

async fn grpc_web(
    addr: SocketAddr,
    ca: &Path,
    path: &str,
    token: Option<&str>,
    request: &impl Message,
) -> GrpcWebResult {
    grpc_web_bytes(addr, ca, path, token, request.encode_to_vec()).await
}

/// A gRPC-Web call with an already-encoded request message.
async fn grpc_web_bytes(
    addr: SocketAddr,
    ca: &Path,
    path: &str,
    token: Option<&str>,
    payload: Vec<u8>,
) -> GrpcWebResult {
    let mut body = vec![0u8];
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(&payload);
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/grpc-web+proto\r\n\
         X-Grpc-Web: 1\r\nAccept: application/grpc-web+proto\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(&body);
    let response = https(addr, ca, request).await;
    assert_eq!(response.status, 200, "gRPC-Web answers in HTTP 200");
    let mut trailers = BTreeMap::new();
    let mut data = None;
    let mut rest = response.body.as_slice();
    while rest.len() >= 5 {
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let frame = &rest[5..5 + len];
        if flag & 0x80 != 0 {
            for line in String::from_utf8_lossy(frame).split("\r\n") {
                if let Some((k, v)) = line.split_once(':') {
                    trailers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
        } else {
            data = Some(frame.to_vec());
        }
        rest = &rest[5 + len..];
    }
    let field = |name: &str| {
        trailers
            .get(name)
            .or_else(|| response.headers.get(name))
            .cloned()
            .unwrap_or_default()
    };
    GrpcWebResult {
        code: field("grpc-status").parse().expect("a grpc-status"),
        message: percent_decode(&field("grpc-message")),
        data,
    }
}

/// `grpc-message` is percent-encoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn get(addr: SocketAddr, ca: &Path, path: &str) -> HttpResponse {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes();
    https(addr, ca, request).await
}

fn query() -> pb::MetricQuery {
    pb::MetricQuery {
        metric_id: "recorded_crimes".into(),
        victim_scope: pb::VictimScope::AllVictims as i32,
        counting_rule: pb::CountingRule::AllOffences as i32,
        period: Some(pb::ReferencePeriod {
            start: Some(pb::Date {
                year: 2024,
                month: 4,
                day: 1,
            }),
            end: Some(pb::Date {
                year: 2025,
                month: 3,
                day: 31,
            }),
        }),
        grain: pb::TimeGrain::WholePeriod as i32,
        area_level: pb::AreaLevel::PoliceForceArea as i32,
        ..Default::default()
    }
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |s| {
        s.dashboard_listen = Some(([127, 0, 0, 1], 0).into());
    })
    .await
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_security_headers() {
    let app = spawn().await;
    let addr = app.dashboard_addr.expect("dashboard listener");
    let ca = app.pki.ca_cert();
    let page = get(addr, &ca, "/").await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].starts_with("text/html"));
    assert!(page.headers["content-security-policy"].contains("default-src 'none'"));
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    let html = String::from_utf8(page.body).expect("UTF-8 page");
    assert!(
        html.contains("app.js") && html.contains("Sign in"),
        "{html}"
    );
    for (path, kind) in [("/app.js", "text/javascript"), ("/app.css", "text/css")] {
        let asset = get(addr, &ca, path).await;
        assert_eq!(asset.status, 200, "{path}");
        assert!(asset.headers["content-type"].starts_with(kind), "{path}");
        assert!(!asset.body.is_empty(), "{path}");
    }
    assert_eq!(get(addr, &ca, "/../Cargo.toml").await.status, 404);
    assert_eq!(get(addr, &ca, "/vawg-hub.db").await.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn grpc_web_reads_aggregates_with_a_token_and_refuses_everything_else_all_audited() {
    let app = spawn().await;
    let addr = app.dashboard_addr.expect("dashboard listener");
    let ca = app.pki.ca_cert();
    let central = app
        .agency("central-analysis", AgencyKind::CentralAnalyst, &[])
        .await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let before = app.audit_entries().await.len();

    // A central analyst's token, no client certificate: QueryMetric works.
    let ok = grpc_web(
        addr,
        &ca,
        "/vawg.v1.MetricsService/QueryMetric",
        Some(central.token()),
        &pb::QueryMetricRequest {
            query: Some(query()),
        },
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.message);
    let table = pb::QueryMetricResponse::decode(ok.data.expect("a response").as_slice())
        .expect("QueryMetricResponse")
        .table
        .expect("a table");
    assert_eq!(table.query.expect("query").metric_id, "recorded_crimes");
    let listed = grpc_web(
        addr,
        &ca,
        "/vawg.v1.DefinitionService/ListDefinitions",
        Some(central.token()),
        &pb::ListDefinitionsRequest {},
    )
    .await;
    assert_eq!(listed.code, 0, "{}", listed.message);

    // Record-level, write and oversight RPCs are refused here, whoever asks.
    let refused = [
        (
            "/vawg.v1.IngestService/SubmitBatch",
            police.token(),
            pb::SubmitBatchRequest { records: vec![] }.encode_to_vec(),
        ),
        (
            "/vawg.v1.ExchangeService/RequestRecords",
            central.token(),
            pb::RequestRecordsRequest::default().encode_to_vec(),
        ),
        (
            "/vawg.v1.FirewallService/ReadAudit",
            central.token(),
            pb::ReadAuditRequest::default().encode_to_vec(),
        ),
    ];
    for (path, token, bytes) in &refused {
        let r = grpc_web_bytes(addr, &ca, path, Some(token), bytes.clone()).await;
        assert_eq!(r.code, tonic::Code::PermissionDenied as i32, "{path}");
        assert!(
            r.message.contains("aggregates only"),
            "{path}: {}",
            r.message
        );
    }

    // No token, or a token for an agency the registry does not know: unauthenticated.
    let anonymous = grpc_web(
        addr,
        &ca,
        "/vawg.v1.MetricsService/QueryMetric",
        None,
        &pb::QueryMetricRequest {
            query: Some(query()),
        },
    )
    .await;
    assert_eq!(anonymous.code, tonic::Code::Unauthenticated as i32);
    let stranger = app.token(&TokenSpec::new(
        "central-stranger",
        vawg_policy::default_scopes(AgencyKind::CentralAnalyst),
    ));
    let unknown = grpc_web(
        addr,
        &ca,
        "/vawg.v1.MetricsService/ListMetrics",
        Some(&stranger),
        &pb::ListMetricsRequest {},
    )
    .await;
    assert_eq!(unknown.code, tonic::Code::Unauthenticated as i32);

    // Every one of the seven calls is in the audit log, in order (QueryMetric twice: the
    // gate's decision, then the metrics service's own decision on the aggregate flow).
    let entries: Vec<AuditRecord> = app.audit_entries().await.split_off(before);
    let calls: Vec<(&str, &str, bool)> = entries
        .iter()
        .map(|e| (e.rpc.as_str(), e.agency_id.as_str(), e.allowed))
        .collect();
    let query_metric = "/vawg.v1.MetricsService/QueryMetric";
    assert_eq!(
        calls,
        vec![
            (query_metric, "central-analysis", true),
            (query_metric, "central-analysis", true),
            (
                "/vawg.v1.DefinitionService/ListDefinitions",
                "central-analysis",
                true
            ),
            (
                "/vawg.v1.IngestService/SubmitBatch",
                "police-e23000001",
                false
            ),
            (
                "/vawg.v1.ExchangeService/RequestRecords",
                "central-analysis",
                false
            ),
            (
                "/vawg.v1.FirewallService/ReadAudit",
                "central-analysis",
                false
            ),
            (query_metric, "", false),
            (
                "/vawg.v1.MetricsService/ListMetrics",
                "central-stranger",
                false
            ),
        ],
        "{entries:#?}"
    );
    // The gate's decisions on identified callers name this listener's rule.
    let gates: Vec<&AuditRecord> = entries[..6].iter().filter(|e| e.gate).collect();
    assert_eq!(gates.len(), 5, "{entries:#?}");
    for e in &gates {
        assert!(
            e.policy_ids.iter().any(|p| p == DASHBOARD_POLICY_ID),
            "the dashboard's rule is named: {e:?}"
        );
    }
    for e in &entries[3..6] {
        assert_eq!(e.status, "PERMISSION_DENIED", "{e:?}");
    }
    for e in &entries[6..] {
        assert_eq!(e.status, "UNAUTHENTICATED", "{e:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_agency_reads_only_its_own_areas_on_the_dashboard_too() {
    let app = spawn().await;
    let addr = app.dashboard_addr.expect("dashboard listener");
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let mut q = query();
    q.area_codes = vec!["E23000002".into()];
    let other = grpc_web(
        addr,
        &app.pki.ca_cert(),
        "/vawg.v1.MetricsService/QueryMetric",
        Some(police.token()),
        &pb::QueryMetricRequest { query: Some(q) },
    )
    .await;
    assert_eq!(
        other.code,
        tonic::Code::PermissionDenied as i32,
        "{}",
        other.message
    );
    app.stop().await;
}

#[tokio::test]
async fn without_dashboard_listen_there_is_no_dashboard() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.dashboard_addr, None);
    app.stop().await;
}
