//! `vawg-hub bench rpc`: small unary RPCs per second through the hub's full per-call path —
//! mutual TLS, token validation, the agency registry, the firewall decision and the signed,
//! hash-chained audit append — against a bare tonic server with mutual TLS serving the very
//! same handler (`DefinitionService/Classify`, a few hundred bytes each way) in the same
//! process and run. The handler is identical, so the ratio is the cost of auth, firewall and
//! audit alone.
//!
//! Load: `--concurrency` tasks share one HTTP/2 connection per server, each sending calls back
//! to back until `--requests` calls are done. The two servers are measured alternately, twice
//! each, and the better round of each is kept (the machine is shared).

use std::{path::PathBuf, sync::Arc, time::Instant};

use serde::Serialize;
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig, server::TcpIncoming};
use vawg_domain::identity::AgencyKind;
use vawg_proto::pb::{
    self, definition_service_client::DefinitionServiceClient,
    definition_service_server::DefinitionServiceServer,
};

use vawg_server::definitions::DefinitionApi;

use super::{
    backend_name,
    hub::{BenchHub, connect_tls},
};

/// Options of `vawg-hub bench rpc`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchRpcArgs {
    /// Database URL (`sqlite://…` or `postgres://…`, migrated if needed) for the hub's registry
    /// and audit log; default a temporary SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Calls per round.
    #[arg(long, default_value_t = 4000)]
    pub requests: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct RpcBenchReport {
    /// Backend of the hub's registry and audit log.
    pub backend: String,
    /// Calls per round.
    pub requests: usize,
    /// Calls in flight.
    pub concurrency: usize,
    /// Calls per second through the hub (best round).
    pub hub_requests_per_second: f64,
    /// Calls per second of the bare TLS server (best round).
    pub baseline_requests_per_second: f64,
    /// `hub / baseline`.
    pub ratio: f64,
}

impl RpcBenchReport {
    /// Prints the figures.
    pub fn print(&self) {
        println!(
            "rpc benchmark ({}): Classify, {} calls per round, {} in flight",
            self.backend, self.requests, self.concurrency
        );
        println!(
            "  hub (mTLS + JWT + registry + firewall + audit): {:>8.0} req/s",
            self.hub_requests_per_second
        );
        println!(
            "  baseline (bare tonic, mTLS, same handler):      {:>8.0} req/s",
            self.baseline_requests_per_second
        );
        println!("  ratio: {:.3}", self.ratio);
    }
}

/// Sends `requests` Classify calls, `concurrency` at a time; returns calls per second.
async fn load<S>(
    client: DefinitionServiceClient<S>,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<f64>
where
    S: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
    S::Future: Send,
    S::ResponseBody: tonic::transport::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <S::ResponseBody as tonic::transport::Body>::Error: Into<tonic::codegen::StdError> + Send,
    S::Error: Into<tonic::codegen::StdError>,
{
    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(requests));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let mut client = client.clone();
        let remaining = remaining.clone();
        tasks.push(tokio::spawn(async move {
            while remaining
                .fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |n| n.checked_sub(1),
                )
                .is_ok()
            {
                client
                    .classify(pb::ClassifyRequest {
                        version: String::new(),
                        scheme: "HO_OFFENCE".into(),
                        code: "8N".into(),
                    })
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(requests as f64 / started.elapsed().as_secs_f64())
}

/// Measures the hub against the bare server.
pub async fn rpc(args: &BenchRpcArgs) -> anyhow::Result<RpcBenchReport> {
    anyhow::ensure!(args.requests > 0, "--requests must be positive");
    // The per-agency rate limit stays in the path (its bookkeeping is part of the per-call
    // cost) but far above what one benchmark client can send: this measures the overhead of
    // a call, not the limit an operator sets.
    let hub = BenchHub::start_with(args.database.as_deref(), |settings| {
        settings.limits.agency_requests_per_second = 1_000_000;
        settings.limits.agency_burst = 1_000_000;
    })
    .await?;
    let hub_client = DefinitionServiceClient::new(
        hub.agency(
            "police-rpc-bench",
            AgencyKind::Police,
            &["E23000001".into()],
        )
        .await?,
    );

    // The bare server: same handler, tonic's own mutual TLS with the same certificates.
    let pki = &hub.pki;
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(
            std::fs::read(pki.server_cert())?,
            std::fs::read(pki.server_key())?,
        ))
        .client_ca_root(Certificate::from_pem(std::fs::read(pki.ca_cert())?));
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let bare_addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // `Server::tcp_nodelay` is ignored for an incoming stream we pass in, so the accepted
    // sockets get TCP_NODELAY here, as the hub's own accept loop gives its sockets: without
    // it the baseline would pay Nagle's delays and flatter the ratio.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let bare = tokio::spawn(
        Server::builder()
            .tls_config(tls)?
            .add_service(DefinitionServiceServer::new(DefinitionApi::new(Arc::new(
                vawg_server::app::load_definitions(None)?,
            ))))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    let (cert, key) = crate::pki::issue(pki, "police-rpc-bench", AgencyKind::Police, None)?;
    let bare_client =
        DefinitionServiceClient::new(connect_tls(pki, bare_addr, Some((&cert, &key))).await?);

    // Warm-up, then alternate rounds.
    load(bare_client.clone(), 200, args.concurrency).await?;
    load(hub_client.clone(), 200, args.concurrency).await?;
    let (mut best_hub, mut best_bare) = (0.0f64, 0.0f64);
    for _ in 0..2 {
        best_bare =
            best_bare.max(load(bare_client.clone(), args.requests, args.concurrency).await?);
        best_hub = best_hub.max(load(hub_client.clone(), args.requests, args.concurrency).await?);
    }
    let _ = stop.send(());
    bare.await??;
    let backend = hub.store.backend();
    hub.stop().await?;
    Ok(RpcBenchReport {
        backend: backend_name(backend).into(),
        requests: args.requests,
        concurrency: args.concurrency,
        hub_requests_per_second: best_hub,
        baseline_requests_per_second: best_bare,
        ratio: best_hub / best_bare,
    })
}
