//! The hub the benchmarks measure: a full [`Application`] (mutual TLS, tokens, the agency
//! registry, the firewall gate and the signed audit log) in this process on a loopback port,
//! with a throwaway development PKI, plus helpers to register agencies and open authenticated
//! channels as them. Shared by `bench ingest`, `bench query` and `bench rpc`.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use vawg_domain::identity::AgencyKind;
use vawg_policy::default_scopes;
use vawg_store::Store;

use vawg_server::{app::Application, config::Settings};

use crate::pki::{self, Pki, TokenSpec};

/// Adds a bearer token to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: Request<()>) -> Result<Request<()>, Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        Ok(r)
    }
}

/// A channel that sends an agency's token with every call.
pub type Authed = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

/// A running hub for a benchmark. Dropping it without [`BenchHub::stop`] aborts the server.
pub struct BenchHub {
    /// The temporary folder holding the PKI (and the SQLite file when none was given).
    pub dir: tempfile::TempDir,
    /// The development PKI.
    pub pki: Pki,
    /// Where the hub listens.
    pub addr: SocketAddr,
    /// The hub's store (benchmarks register agencies and load data through it).
    pub store: Store,
    /// The settings the hub was built from.
    pub settings: Settings,
    /// The hub's firewall.
    pub firewall: vawg_firewall::Firewall,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl BenchHub {
    /// Builds and starts a hub on `database` (migrated if needed), or on a temporary SQLite
    /// file when `None`.
    pub async fn start(database: Option<&str>) -> anyhow::Result<BenchHub> {
        BenchHub::start_with(database, |_| {}).await
    }

    /// [`BenchHub::start`], with `configure` adjusting the settings before the hub is built.
    pub async fn start_with(
        database: Option<&str>,
        configure: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<BenchHub> {
        let dir = tempfile::tempdir()?;
        let pki = pki::init(&dir.path().join("pki"))?;
        let database_url = database
            .map(str::to_owned)
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
        let mut settings = pki::dev_settings(&pki, database_url, dir.path());
        settings.limits.max_message_bytes = settings.limits.max_message_bytes.max(64 << 20);
        configure(&mut settings);
        let app = Application::build(settings.clone()).await?;
        let addr = app.local_addr();
        let store = app.store().clone();
        let firewall = app.firewall().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Ok(BenchHub {
            dir,
            pki,
            addr,
            store,
            settings,
            firewall,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// Registers `id` (if it is not already) and returns a channel authenticated as it: its
    /// own client certificate and a token with its kind's default scopes.
    pub async fn agency(
        &self,
        id: &str,
        kind: AgencyKind,
        areas: &[String],
    ) -> anyhow::Result<Authed> {
        if self.store.agency(id).await.ok().flatten().is_none() {
            self.store
                .add_agency(id, "Benchmark agency", kind, areas)
                .await
                .with_context(|| format!("registering {id}"))?;
        }
        let (cert, key) = pki::issue(&self.pki, id, kind, None)?;
        let token = pki::mint_token(
            &self.pki.jwt_key(),
            &TokenSpec::new(id, default_scopes(kind)),
        )?;
        let channel = self.connect(&cert, &key).await?;
        Ok(tonic::service::interceptor::InterceptedService::new(
            channel,
            Bearer(format!("Bearer {token}").parse()?),
        ))
    }

    /// A mutual-TLS channel to the hub presenting this certificate.
    pub async fn connect(&self, cert: &PathBuf, key: &PathBuf) -> anyhow::Result<Channel> {
        connect_tls(&self.pki, self.addr, Some((cert, key))).await
    }

    /// Stops the hub and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.context("joining the hub")??;
        }
        Ok(())
    }
}

impl Drop for BenchHub {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A TLS channel to `addr`, trusting the PKI's CA for `localhost`, presenting `identity` if
/// given. Tuned as a bulk client would be: TCP_NODELAY and large HTTP/2 windows.
pub async fn connect_tls(
    pki: &Pki,
    addr: SocketAddr,
    identity: Option<(&PathBuf, &PathBuf)>,
) -> anyhow::Result<Channel> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(pki.ca_cert())?))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(cert)?,
            std::fs::read(key)?,
        ));
    }
    Ok(Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .tcp_nodelay(true)
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(8 << 20))
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await?)
}

/// Resident memory of this process in KiB (`VmRSS` in `/proc/self/status`), when known.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
