//! Logs, traces, metrics and shutdown signals.
//!
//! - [`init`] installs JSON logs and, when the settings name an OTLP endpoint, exports traces
//!   and metrics over OTLP/gRPC; [`Telemetry::shutdown`] flushes both on the way out.
//! - [`RpcLayer`] wraps the gRPC server: one span per RPC, continuing the caller's W3C trace
//!   (`traceparent` in the request metadata), and request count and latency per RPC and status.
//! - [`record_rejection`], [`record_denial`], [`record_ingest_lag`] and
//!   [`record_aggregate_batch`] (from `vawg_telemetry`, so every service crate can call
//!   them) are the domain metrics.
//!
//! Labels and span fields carry RPC names, status codes, agency kinds and enum names only, never
//! personal data: the domain helpers take `&'static str` labels, so a value built at run time
//! from a request (where personal data lives) cannot be passed by mistake.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, LazyLock, RwLock},
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use http_body::{Body as HttpBody, Frame, SizeHint};
use opentelemetry::{
    KeyValue, global,
    metrics::{Counter, Histogram, Meter, MeterProvider as _},
    propagation::{Extractor, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    metrics::{SdkMeterProvider, periodic_reader_with_async_runtime::PeriodicReader},
    propagation::TraceContextPropagator,
    runtime,
    trace::{
        BatchConfigBuilder, SdkTracerProvider,
        span_processor_with_async_runtime::BatchSpanProcessor,
    },
};
use tower::{Layer, Service};
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};
use vawg_telemetry::SCOPE;

use crate::config;

/// The domain metrics, recorded by the services through the library (`vawg_telemetry`).
pub use vawg_telemetry::{
    record_aggregate_batch, record_denial, record_ingest_lag, record_rejection,
};

/// Running telemetry: holds the OpenTelemetry providers (when exporting) so they can be flushed
/// and shut down. Call [`Telemetry::shutdown`] before the process exits, or the last batch of
/// spans and metrics is lost.
#[must_use = "call `shutdown` before exiting, or the last spans and metrics are lost"]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Whether traces and metrics are being exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.tracer_provider.is_some()
    }

    /// Exports every finished span and the current value of every metric now.
    pub async fn flush(&self) -> anyhow::Result<()> {
        let tracer = self.tracer_provider.clone();
        let meter = self.meter_provider.clone();
        // The SDK blocks the calling thread until the export tasks (on this runtime) answer.
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            if let Some(t) = tracer {
                t.force_flush().context("flushing traces")?;
            }
            if let Some(m) = meter {
                m.force_flush().context("flushing metrics")?;
            }
            Ok(())
        })
        .await
        .context("joining the flush")?
    }

    /// Flushes and stops the exporters. Spans and metrics recorded afterwards are dropped.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let Telemetry {
            tracer_provider,
            meter_provider,
        } = self;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            // Both are attempted even if the first fails.
            let traces = tracer_provider.map(|t| t.shutdown()).transpose();
            let metrics = meter_provider.map(|m| m.shutdown()).transpose();
            traces.context("shutting down trace export")?;
            metrics.context("shutting down metric export")?;
            Ok(())
        })
        .await
        .context("joining the telemetry shutdown")?
    }
}

/// Installs the process-wide telemetry: JSON logs to stderr filtered by `log_filter`, and, when
/// `otlp_endpoint` is set, OTLP/gRPC export of traces (every `tracing` span) and metrics.
///
/// Must run inside a Tokio runtime (the exporters run on it). Fails if another global `tracing`
/// subscriber is already installed, because spans would then silently never reach the exporter.
pub fn init(settings: &config::Telemetry) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_new(&settings.log_filter)
        .with_context(|| format!("log filter '{}'", settings.log_filter))?;
    let endpoint = settings
        .otlp_endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let (tracer_provider, meter_provider) = match endpoint {
        Some(endpoint) => {
            let (t, m) = otlp_providers(settings, endpoint)?;
            (Some(t), Some(m))
        }
        None => (None, None),
    };
    let otel_layer = tracer_provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(SCOPE)));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().json().with_writer(std::io::stderr))
        .with(otel_layer)
        .try_init()
        .context("installing the global tracing subscriber (is one already installed?)")?;
    if let Some(m) = &meter_provider {
        global::set_meter_provider(m.clone());
        let meter = m.meter(SCOPE);
        *INSTRUMENTS.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(Instruments::new(&meter));
        vawg_telemetry::bind(&meter);
    }
    if let Some(t) = &tracer_provider {
        global::set_tracer_provider(t.clone());
        global::set_text_map_propagator(TraceContextPropagator::new());
        tracing::info!(endpoint, "exporting traces and metrics over OTLP/gRPC");
    }
    Ok(Telemetry {
        tracer_provider,
        meter_provider,
    })
}

/// Builds the trace and metric pipelines that export to `endpoint`.
fn otlp_providers(
    settings: &config::Telemetry,
    endpoint: &str,
) -> anyhow::Result<(SdkTracerProvider, SdkMeterProvider)> {
    let timeout = Duration::from_millis(settings.export_timeout_ms);
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();

    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(timeout)
        .build()
        .context("building the OTLP span exporter")?;
    // The tokio-driven processor: the tonic exporter needs a Tokio reactor, which the SDK's
    // default thread-based processor does not provide.
    let batch = BatchConfigBuilder::default()
        .with_scheduled_delay(Duration::from_millis(settings.traces_batch_delay_ms))
        .with_max_export_timeout(timeout)
        .build();
    let processor = BatchSpanProcessor::builder(spans, runtime::Tokio)
        .with_batch_config(batch)
        .build();
    let tracer_provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource.clone())
        .build();

    let metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(timeout)
        .build()
        .context("building the OTLP metric exporter")?;
    let reader = PeriodicReader::builder(metrics, runtime::Tokio)
        .with_interval(Duration::from_millis(settings.metrics_interval_ms.max(1)))
        .with_timeout(timeout)
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build();
    Ok((tracer_provider, meter_provider))
}

/// JSON logs to stderr, filtered by `RUST_LOG` (default `info`), without OpenTelemetry export.
/// Log lines carry ids, never personal data. `serve` uses [`init`] instead.
pub fn init_json_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().json().with_writer(std::io::stderr))
        .try_init();
}

/// Human-readable logs for interactive commands (warnings and errors; per-RPC failures, which
/// the commands report themselves, only as errors).
pub fn init_plain_logs() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,vawg_server::telemetry=error"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(std::io::stderr))
        .try_init();
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/// The per-RPC instruments. Built from the no-op global meter until [`init`] replaces them with
/// ones bound to the exporting meter provider.
struct Instruments {
    rpc_requests: Counter<u64>,
    rpc_duration: Histogram<f64>,
}

impl Instruments {
    fn new(meter: &Meter) -> Self {
        Instruments {
            rpc_requests: meter
                .u64_counter("vawg.rpc.server.requests")
                .with_description("gRPC requests served, by RPC and status code")
                .with_unit("{request}")
                .build(),
            rpc_duration: meter
                .f64_histogram("rpc.server.call.duration")
                .with_description("Time from request to the end of the response stream")
                .with_unit("s")
                .with_boundaries(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 300.0,
                ])
                .build(),
        }
    }
}

static INSTRUMENTS: LazyLock<RwLock<Arc<Instruments>>> =
    LazyLock::new(|| RwLock::new(Arc::new(Instruments::new(&global::meter(SCOPE)))));

fn instruments() -> Arc<Instruments> {
    INSTRUMENTS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

// ---------------------------------------------------------------------------------------------
// The per-RPC layer
// ---------------------------------------------------------------------------------------------

/// A tower layer for the gRPC server: one `rpc` span per call (a child of the caller's trace when
/// the request carries a W3C `traceparent`), and the request counter and duration histogram with
/// `rpc.service`, `rpc.method` and `rpc.grpc.status_code` attributes. The status comes from the
/// response headers (trailers-only errors) or the trailers at the end of the stream, so streaming
/// calls are timed to their end.
#[derive(Clone, Copy, Debug, Default)]
pub struct RpcLayer;

impl RpcLayer {
    /// The layer.
    pub fn new() -> Self {
        RpcLayer
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcService { inner }
    }
}

/// The service [`RpcLayer`] wraps around the server's routes.
#[derive(Clone, Debug)]
pub struct RpcService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RpcService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: HttpBody<Data = tonic::codegen::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        let (service, method) = rpc_name(req.uri().path());
        let span = tracing::info_span!(
            "rpc",
            otel.name = format!("{service}/{method}"),
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            rpc.grpc.status_code = Empty,
        );
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(req.headers()));
        if parent.span().span_context().is_valid() {
            // Only fails when no OpenTelemetry layer is installed, i.e. when not exporting.
            let _ = span.set_parent(parent);
        }
        let call = CallRecorder {
            span: span.clone(),
            start: Instant::now(),
            service: service.to_string(),
            method: method.to_string(),
            done: false,
        };
        Box::pin(
            async move {
                match inner.call(req).await {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        let recorder = match grpc_status(&parts.headers) {
                            // Trailers-only response (how errors are sent): the call is over.
                            Some(code) => {
                                call.finish(code);
                                None
                            }
                            None => Some(call),
                        };
                        let body = tonic::body::Body::new(RpcBody {
                            inner: body,
                            recorder,
                        });
                        Ok(http::Response::from_parts(parts, body))
                    }
                    Err(e) => {
                        call.finish(tonic::Code::Unknown as i32);
                        Err(e)
                    }
                }
            }
            .instrument(span),
        )
    }
}

/// The label for a service or method that is not a real RPC.
const UNKNOWN: &str = "unknown";

/// The gRPC service and method from a request path (`/vawg.v1.IngestService/SubmitBatch`).
/// Paths that are not of that shape collapse to `unknown`, so a caller cannot create arbitrary
/// label values.
fn rpc_name(path: &str) -> (&str, &str) {
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
        Some((service, method)) if valid(service) && valid(method) => (service, method),
        _ => (UNKNOWN, UNKNOWN),
    }
}

/// The `grpc-status` of a header or trailer map.
fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads W3C trace context from gRPC metadata (HTTP/2 headers).
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Records one call's outcome exactly once: when its status is known, or, if the response is
/// dropped before that (the client went away), as `CANCELLED`.
struct CallRecorder {
    span: tracing::Span,
    start: Instant,
    service: String,
    method: String,
    done: bool,
}

impl CallRecorder {
    fn finish(mut self, code: i32) {
        self.record(code);
    }

    fn record(&mut self, code: i32) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.start.elapsed();
        // An UNIMPLEMENTED answer means the path named no real RPC: keep it out of the labels.
        let (service, method) = if code == tonic::Code::Unimplemented as i32 {
            (UNKNOWN.to_string(), UNKNOWN.to_string())
        } else {
            (self.service.clone(), self.method.clone())
        };
        let attributes = [
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service),
            KeyValue::new("rpc.method", method),
            KeyValue::new("rpc.grpc.status_code", i64::from(code)),
        ];
        let instruments = instruments();
        instruments.rpc_requests.add(1, &attributes);
        instruments
            .rpc_duration
            .record(elapsed.as_secs_f64(), &attributes);

        self.span.record("rpc.grpc.status_code", code);
        let server_fault = is_server_fault(code);
        if server_fault {
            self.span.record("otel.status_code", "ERROR");
        }
        let _entered = self.span.enter();
        let millis = elapsed.as_secs_f64() * 1000.0;
        if server_fault {
            tracing::warn!(grpc_status = code, duration_ms = millis, "rpc failed");
        } else {
            tracing::debug!(grpc_status = code, duration_ms = millis, "rpc finished");
        }
    }
}

impl Drop for CallRecorder {
    fn drop(&mut self) {
        self.record(tonic::Code::Cancelled as i32);
    }
}

/// Status codes that are the server's fault, per the OpenTelemetry gRPC conventions.
fn is_server_fault(code: i32) -> bool {
    use tonic::Code;
    [
        Code::Unknown,
        Code::DeadlineExceeded,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
    ]
    .iter()
    .any(|c| *c as i32 == code)
}

pin_project_lite::pin_project! {
    /// A response body that records the call when its trailers (or its end) go past.
    struct RpcBody<B> {
        #[pin]
        inner: B,
        recorder: Option<CallRecorder>,
    }
}

impl<B: HttpBody> HttpBody for RpcBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let outcome = match &frame {
            Some(Ok(frame)) => frame
                .trailers_ref()
                .map(|t| grpc_status(t).unwrap_or(tonic::Code::Unknown as i32)),
            Some(Err(_)) => Some(tonic::Code::Internal as i32),
            // A gRPC response always ends with a status; a body that ends without one is broken.
            None => Some(tonic::Code::Unknown as i32),
        };
        if let Some(code) = outcome
            && let Some(recorder) = this.recorder.take()
        {
            recorder.finish(code);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_names_come_from_well_formed_paths_only() {
        assert_eq!(
            rpc_name("/vawg.v1.IngestService/SubmitBatch"),
            ("vawg.v1.IngestService", "SubmitBatch")
        );
        assert_eq!(rpc_name("/"), ("unknown", "unknown"));
        assert_eq!(rpc_name("/a/b/c"), ("unknown", "unknown"));
        assert_eq!(rpc_name("/svc/na me"), ("unknown", "unknown"));
        assert_eq!(
            rpc_name(&format!("/{}/m", "s".repeat(200))),
            ("unknown", "unknown")
        );
    }

    #[test]
    fn grpc_status_is_read_from_headers() {
        let mut h = http::HeaderMap::new();
        assert_eq!(grpc_status(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(grpc_status(&h), Some(5));
    }

    #[test]
    fn server_faults_follow_the_grpc_conventions() {
        assert!(is_server_fault(tonic::Code::Internal as i32));
        assert!(!is_server_fault(tonic::Code::Ok as i32));
        assert!(!is_server_fault(tonic::Code::InvalidArgument as i32));
        assert!(!is_server_fault(tonic::Code::PermissionDenied as i32));
    }
}
