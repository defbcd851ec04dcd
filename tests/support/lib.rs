//! Test support: spawn a real hub on 127.0.0.1:0 — mutual TLS, bearer tokens, its own fresh
//! database (a temporary SQLite file or a new PostgreSQL database) and its own development
//! PKI — and hand back agencies holding typed gRPC clients. Every end-to-end test goes through
//! here.
//!
//! ```ignore
//! let app = TestApp::spawn(Backend::Sqlite).await;
//! let police = app.agency("police-e23000001", AgencyKind::Police, &["E23000001"]).await;
//! police.ingest().submit_batch(…).await?;
//! app.stop().await;
//! ```

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{
    Request, Status,
    metadata::{AsciiMetadataValue, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use vawg_audit::AuditRecord;
use vawg_domain::identity::AgencyKind;
use vawg_policy::default_scopes;
use vawg_proto::pb::{
    definition_service_client::DefinitionServiceClient,
    exchange_service_client::ExchangeServiceClient, firewall_service_client::FirewallServiceClient,
    ingest_service_client::IngestServiceClient, metrics_service_client::MetricsServiceClient,
};
use vawg_server::{app::Application, config::Settings};
use vawg_store::{Store, testing::TestDatabase};
use vawg_tools::pki::{self, Pki, TokenSpec, Validity};

pub mod pg_cluster;
pub mod process;

/// Which database the hub under test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A new database on the test PostgreSQL server (dropped in [`TestApp::stop`]).
    Postgres,
}

/// Adds `authorization: Bearer <token>` to every call (or nothing, for negative tests).
#[derive(Clone, Debug)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl Bearer {
    /// A bearer token; `None` sends no authorization header.
    pub fn new(token: Option<&str>) -> Bearer {
        Bearer(
            token.map(|t| MetadataValue::try_from(format!("Bearer {t}")).expect("token is ASCII")),
        )
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// A channel whose calls carry a bearer token.
pub type AuthChannel = InterceptedService<Channel, Bearer>;

/// A hub running inside the test process.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The plaintext health-only listener, when the test set `health_listen`.
    pub health_addr: Option<SocketAddr>,
    /// The dashboard listener (token only, aggregates only), when the test set
    /// `dashboard_listen`.
    pub dashboard_addr: Option<SocketAddr>,
    /// The database URL it uses.
    pub database_url: String,
    /// Its development PKI (CA, server certificate, token and audit keys).
    pub pki: Pki,
    /// The backend.
    pub backend: Backend,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    store: Store,
    postgres: Option<TestDatabase>,
    /// Keeps the data folder (SQLite file, PKI) alive for the test's duration.
    pub dir: TempDir,
}

/// A registered agency with its certificate, key and token, connected over mutual TLS.
#[derive(Clone, Debug)]
pub struct Agency {
    /// Registry id.
    pub id: String,
    /// Kind.
    pub kind: AgencyKind,
    /// Client certificate (PEM).
    pub cert: PathBuf,
    /// Client key (PEM).
    pub key: PathBuf,
    token: String,
    channel: Channel,
}

impl Agency {
    /// The mutually authenticated channel (without the token).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The agency's bearer token (default scopes of its kind).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The channel with the bearer token on every call.
    pub fn authed(&self) -> AuthChannel {
        InterceptedService::new(self.channel(), Bearer::new(Some(&self.token)))
    }

    /// DefinitionService client.
    pub fn definitions(&self) -> DefinitionServiceClient<AuthChannel> {
        DefinitionServiceClient::new(self.authed())
    }

    /// IngestService client.
    pub fn ingest(&self) -> IngestServiceClient<AuthChannel> {
        IngestServiceClient::new(self.authed())
    }

    /// MetricsService client.
    pub fn metrics(&self) -> MetricsServiceClient<AuthChannel> {
        MetricsServiceClient::new(self.authed())
    }

    /// ExchangeService client.
    pub fn exchange(&self) -> ExchangeServiceClient<AuthChannel> {
        ExchangeServiceClient::new(self.authed())
    }

    /// FirewallService client.
    pub fn firewall(&self) -> FirewallServiceClient<AuthChannel> {
        FirewallServiceClient::new(self.authed())
    }
}

/// Connects, retrying until the hub answers or 10 s pass (no sleeps: the listener is bound
/// before the hub is spawned, so the first attempt normally succeeds).
pub async fn connect_with_retry(endpoint: &Endpoint) -> Channel {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match endpoint.connect().await {
            Ok(c) => return c,
            Err(_) if tokio::time::Instant::now() < deadline => tokio::task::yield_now().await,
            Err(e) => panic!("hub did not answer: {e}"),
        }
    }
}

impl TestApp {
    /// Starts a hub with default settings on an ephemeral port.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a hub after letting the test adjust its settings.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = pki::init(&dir.path().join("pki")).expect("dev PKI");
        let (database_url, postgres) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("hub.db").display()),
                None,
            ),
            Backend::Postgres => {
                let db = TestDatabase::create().await.expect("test database");
                (db.url.clone(), Some(db))
            }
        };
        let mut settings = pki::dev_settings(&pki, database_url.clone(), dir.path());
        adjust(&mut settings);
        let app = Application::build(settings).await.expect("hub builds");
        let addr = app.local_addr();
        let health_addr = app.health_addr();
        let dashboard_addr = app.dashboard_addr();
        let store = Store::connect(&database_url).await.expect("test store");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            health_addr,
            dashboard_addr,
            database_url,
            pki,
            backend,
            stop: Some(tx),
            handle: Some(handle),
            store,
            postgres,
            dir,
        }
    }

    /// The hub's database, for direct assertions.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Registers an agency, issues its certificate, mints a token with its kind's default
    /// scopes, and connects.
    pub async fn agency(&self, id: &str, kind: AgencyKind, areas: &[&str]) -> Agency {
        let areas: Vec<String> = areas.iter().map(|a| a.to_string()).collect();
        self.store
            .add_agency(id, &format!("{id} (test)"), kind, &areas)
            .await
            .expect("register agency");
        let (cert, key) = self.issue_cert(id, kind, None);
        let token = self.token(&TokenSpec::new(id, default_scopes(kind)));
        let channel =
            connect_with_retry(&self.endpoint(self.client_tls(Some((&cert, &key))))).await;
        Agency {
            id: id.to_string(),
            kind,
            cert,
            key,
            token,
            channel,
        }
    }

    /// Issues a client certificate from the hub's CA (a year's validity unless given).
    pub fn issue_cert(
        &self,
        id: &str,
        kind: AgencyKind,
        validity: Option<Validity>,
    ) -> (PathBuf, PathBuf) {
        pki::issue(&self.pki, id, kind, validity).expect("issue certificate")
    }

    /// Mints a token with the hub's development token key.
    pub fn token(&self, spec: &TokenSpec) -> String {
        pki::mint_token(&self.pki.jwt_key(), spec).expect("mint token")
    }

    /// A second, unrelated CA (in this test's folder), for "another CA" tests.
    pub fn foreign_pki(&self) -> Pki {
        let dir = self.dir.path().join("foreign-pki");
        if dir.join("ca.pem").exists() {
            Pki::at(dir)
        } else {
            pki::init(&dir).expect("foreign PKI")
        }
    }

    /// Client TLS trusting the hub's CA, presenting `identity` (certificate, key) if given.
    pub fn client_tls(&self, identity: Option<(&Path, &Path)>) -> ClientTlsConfig {
        let ca = std::fs::read(self.pki.ca_cert()).expect("CA");
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name("localhost");
        if let Some((cert, key)) = identity {
            let cert = std::fs::read(cert).expect("client certificate");
            let key = std::fs::read(key).expect("client key");
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        tls
    }

    /// An endpoint to the hub with `tls`.
    pub fn endpoint(&self, tls: ClientTlsConfig) -> Endpoint {
        Endpoint::from_shared(format!("https://{}", self.addr))
            .expect("endpoint")
            .tls_config(tls)
            .expect("client TLS")
            .connect_timeout(Duration::from_secs(10))
    }

    /// A channel that connects on first use, for negative tests where the handshake itself is
    /// refused (the error then surfaces on the call).
    pub fn lazy_channel(&self, tls: ClientTlsConfig) -> Channel {
        self.endpoint(tls).connect_lazy()
    }

    /// A channel with `tls` and an optional bearer token, connecting on first use.
    pub fn raw(&self, tls: ClientTlsConfig, token: Option<&str>) -> AuthChannel {
        InterceptedService::new(self.lazy_channel(tls), Bearer::new(token))
    }

    /// Every audit entry, in order.
    pub async fn audit_entries(&self) -> Vec<AuditRecord> {
        self.store
            .audit_read(0, u32::MAX, None)
            .await
            .expect("read audit log")
            .into_iter()
            .map(|r| serde_json::from_str(&r.entry).expect("audit entry JSON"))
            .collect()
    }

    /// Drops the hub's PostgreSQL database now, forcing its connections off, while the hub
    /// keeps running (for tests of what the hub does when its database goes away).
    pub async fn drop_database_now(&mut self) {
        let db = self
            .postgres
            .take()
            .expect("drop_database_now needs the PostgreSQL backend");
        db.drop_database().await.expect("drop test database");
    }

    /// Stops the hub, waits for it to finish, and drops its database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("join").expect("hub ran cleanly");
        }
        self.store.close().await;
        if let Some(db) = self.postgres.take() {
            db.drop_database().await.expect("drop test database");
        }
    }
}

impl TestApp {
    /// Waits (polling the database, with a 10 s deadline) for an audit entry matching `pred`.
    /// Needed only for refusals during the TLS handshake, which the hub audits as the
    /// connection closes, possibly after the client has seen the error.
    pub async fn wait_for_audit(&self, pred: impl Fn(&AuditRecord) -> bool) -> AuditRecord {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.audit_entries().await.into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no matching audit entry in {:#?}",
                self.audit_entries().await
            );
            tokio::task::yield_now().await;
        }
    }
}
