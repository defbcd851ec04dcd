//! OpenTelemetry export: after a few RPCs, spans (continuing the caller's W3C trace) and metrics
//! (per RPC and status, and the domain counters) arrive at a local OTLP/gRPC receiver.
//!
//! Installs the process-wide telemetry, so it relies on nextest's process per test (the README's
//! test command).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{AnyValue, KeyValue, any_value},
    metrics::v1::{Metric, metric::Data, number_data_point},
    trace::v1::{Span, span::SpanKind},
};
use tokio::{net::TcpListener, sync::oneshot};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status, transport::Server};
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb::{self, definition_service_client::DefinitionServiceClient};
use vawg_server::{config, telemetry};

/// What the receiver has been sent.
#[derive(Default)]
struct Received {
    /// Every span, with its resource's `service.name`.
    spans: Mutex<Vec<(String, Span)>>,
    /// Every metric, with its resource's `service.name`.
    metrics: Mutex<Vec<(String, Metric)>>,
}

/// An OTLP/gRPC collector that keeps what it is sent.
#[derive(Clone)]
struct Receiver(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.0.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = service_name(rs.resource.as_ref().map(|r| &r.attributes[..]));
            for ss in rs.scope_spans {
                spans.extend(ss.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let mut metrics = self.0.metrics.lock().unwrap();
        for rm in request.into_inner().resource_metrics {
            let service = service_name(rm.resource.as_ref().map(|r| &r.attributes[..]));
            for sm in rm.scope_metrics {
                metrics.extend(sm.metrics.into_iter().map(|m| (service.clone(), m)));
            }
        }
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

fn service_name(attributes: Option<&[KeyValue]>) -> String {
    attributes
        .and_then(|a| attr(a, "service.name"))
        .and_then(|v| match v {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn attr_str<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn attr_int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// Starts the receiver on an ephemeral loopback port.
async fn start_receiver() -> (SocketAddr, Arc<Received>, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Received::default());
    let receiver = Receiver(received.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .add_service(MetricsServiceServer::new(receiver))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );
    (addr, received, stop)
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server span of one RPC, if it has arrived.
fn rpc_span(spans: &[(String, Span)], name: &str) -> Option<Span> {
    spans
        .iter()
        .find(|(_, s)| s.name == name && s.kind == SpanKind::Server as i32)
        .map(|(_, s)| s.clone())
}

/// The latest cumulative value of a counter among data points whose attributes include `labels`.
fn counter_total(metrics: &[(String, Metric)], name: &str, labels: &[(&str, &str)]) -> i64 {
    metrics
        .iter()
        .filter(|(_, m)| m.name == name)
        .filter_map(|(_, m)| match &m.data {
            Some(Data::Sum(sum)) => Some(sum.data_points.iter()),
            _ => None,
        })
        .flatten()
        .filter(|p| {
            labels
                .iter()
                .all(|(k, v)| attr_str(&p.attributes, k) == Some(v))
        })
        .map(|p| match p.value {
            Some(number_data_point::Value::AsInt(i)) => i,
            Some(number_data_point::Value::AsDouble(d)) => d as i64,
            None => 0,
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_reach_an_otlp_receiver() {
    let (otlp_addr, received, stop_receiver) = start_receiver().await;
    let telemetry = telemetry::init(&config::Telemetry {
        otlp_endpoint: Some(format!("http://{otlp_addr}")),
        service_name: "vawg-hub-e2e".into(),
        metrics_interval_ms: 200,
        traces_batch_delay_ms: 100,
        ..config::Telemetry::default()
    })
    .expect("telemetry starts");
    assert!(telemetry.exporting());

    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app
        .agency(
            "police-e23000001",
            vawg_domain::identity::AgencyKind::Police,
            &[],
        )
        .await;
    let mut client = DefinitionServiceClient::new(police.authed());

    // A caller already inside a trace: the hub's span must join it.
    let mut request = Request::new(pb::ListDefinitionsRequest {});
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01")
            .parse()
            .unwrap(),
    );
    client.list_definitions(request).await.expect("list");
    let missing = client
        .get_definition(pb::GetDefinitionRequest {
            version: "no-such-version".into(),
        })
        .await
        .expect_err("unknown version");
    assert_eq!(missing.code(), Code::NotFound);

    telemetry::record_rejection("UNKNOWN_LOCAL_CODE");
    telemetry::record_denial("PURPOSE_IMMIGRATION_ENFORCEMENT");
    telemetry::record_aggregate_batch(3, Duration::from_millis(5));

    // Flush, and keep flushing until everything has arrived or the deadline passes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        telemetry.flush().await.expect("flush");
        let spans = received.spans.lock().unwrap().clone();
        let metrics = received.metrics.lock().unwrap().clone();
        let list_span = rpc_span(&spans, "vawg.v1.DefinitionService/ListDefinitions");
        let get_span = rpc_span(&spans, "vawg.v1.DefinitionService/GetDefinition");
        let arrived = list_span.is_some()
            && get_span.is_some()
            && counter_total(
                &metrics,
                "vawg.rpc.server.requests",
                &[("rpc.method", "GetDefinition")],
            ) >= 1
            && counter_total(&metrics, "vawg.ingest.rejections", &[]) >= 1
            && counter_total(&metrics, "vawg.firewall.denials", &[]) >= 1
            && counter_total(&metrics, "vawg.aggregate.records", &[]) >= 3;
        if arrived {
            let list_span = list_span.unwrap();
            assert_eq!(
                hex(&list_span.trace_id),
                TRACE_ID,
                "joins the caller's trace"
            );
            assert_eq!(hex(&list_span.parent_span_id), PARENT_SPAN_ID);
            assert_eq!(
                attr_str(&list_span.attributes, "rpc.service"),
                Some("vawg.v1.DefinitionService")
            );
            assert_eq!(
                attr_int(&list_span.attributes, "rpc.grpc.status_code"),
                Some(0)
            );
            let get_span = get_span.unwrap();
            assert_ne!(
                hex(&get_span.trace_id),
                TRACE_ID,
                "a call without context starts a trace"
            );
            assert_eq!(
                attr_int(&get_span.attributes, "rpc.grpc.status_code"),
                Some(Code::NotFound as i64)
            );
            assert!(spans.iter().all(|(service, _)| service == "vawg-hub-e2e"));

            assert_eq!(
                counter_total(
                    &metrics,
                    "vawg.rpc.server.requests",
                    &[("rpc.method", "ListDefinitions")]
                ),
                1
            );
            let duration = metrics
                .iter()
                .filter(|(_, m)| m.name == "rpc.server.call.duration")
                .find_map(|(_, m)| match &m.data {
                    Some(Data::Histogram(h)) => h.data_points.iter().find(|p| {
                        attr_str(&p.attributes, "rpc.method") == Some("GetDefinition")
                            && attr_int(&p.attributes, "rpc.grpc.status_code")
                                == Some(Code::NotFound as i64)
                    }),
                    _ => None,
                })
                .expect("a duration histogram point for GetDefinition / NOT_FOUND");
            assert!(duration.count >= 1);
            assert_eq!(
                counter_total(
                    &metrics,
                    "vawg.ingest.rejections",
                    &[("reason", "UNKNOWN_LOCAL_CODE")]
                ),
                1
            );
            assert_eq!(
                counter_total(
                    &metrics,
                    "vawg.firewall.denials",
                    &[("purpose", "PURPOSE_IMMIGRATION_ENFORCEMENT")]
                ),
                1
            );
            assert!(metrics.iter().all(|(service, _)| service == "vawg-hub-e2e"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "telemetry did not arrive: {} spans ({:?}), metrics {:?}",
            spans.len(),
            spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>(),
            metrics.iter().map(|(_, m)| &m.name).collect::<Vec<_>>(),
        );
        tokio::task::yield_now().await;
    }

    app.stop().await;
    telemetry.shutdown().await.expect("telemetry shuts down");
    let _ = stop_receiver.send(());
}
