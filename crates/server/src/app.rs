//! Start-up: build every service from [`Settings`], bind the listener (so the port is known
//! before serving, which is what tests need), then serve until a shutdown signal.

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc};

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic_health::{
    pb::health_server::{Health, HealthServer},
    server::HealthReporter,
};
use vawg_audit::HeadSigner;
use vawg_auth::{jwt::TokenValidator, layer::AuthLayer};
use vawg_domain::definition::{Definition, DefinitionSet};
use vawg_exchange::{ExchangeApi, ExchangeSettings};
use vawg_firewall::{Firewall, service::FirewallApi};
use vawg_ingest::{IngestApi, IngestLimits};
use vawg_metrics::MetricsApi;
use vawg_policy::engine::PolicyEngine;
use vawg_proto::pb::{
    self, definition_service_server::DefinitionServiceServer,
    exchange_service_server::ExchangeServiceServer, firewall_service_server::FirewallServiceServer,
    ingest_service_server::IngestServiceServer, metrics_service_server::MetricsServiceServer,
};
use vawg_store::Store;

use crate::{
    config::{ServiceName, Settings},
    definitions::DefinitionApi,
    health::HealthChecks,
};

/// A built hub, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    /// The plaintext health-only listener, when `health_listen` is set.
    health_listener: Option<TcpListener>,
    /// The dashboard listener (static page + gRPC-Web, token only, aggregates only) and its
    /// TLS configuration (no client certificates), when `dashboard_listen` is set.
    dashboard: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
    definitions: Arc<DefinitionSet>,
    settings: Settings,
    store: Store,
    ingest: IngestApi,
    metrics: MetricsApi,
    exchange: ExchangeApi,
    firewall: Firewall,
    auth: AuthLayer,
    tls: Arc<rustls::ServerConfig>,
}

impl Application {
    /// Loads definitions and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let definitions = Arc::new(load_definitions(settings.definitions_dir.as_deref())?);
        let store = Store::connect(&settings.database_url)
            .await
            .context("connecting to the database")?;
        migrate(&store, settings.migration_database_url.as_deref()).await?;
        crate::reclassify::reclassify_stored(&store, definitions.current())
            .await
            .context("reclassifying stored records under the current definition")?;
        let keyring = Arc::new(crate::keys::load_keyring(&settings)?);
        let (firewall, auth, tls) = build_security(&settings, store.clone()).await?;
        let ingest = IngestApi::new(
            store.clone(),
            definitions.clone(),
            keyring.clone(),
            IngestLimits {
                max_batch_records: settings.limits.max_batch_records,
                max_stream_records: settings.limits.max_stream_records,
            },
            firewall.clone(),
        );
        let exchange = ExchangeApi::new(
            store.clone(),
            firewall.clone(),
            keyring,
            ExchangeSettings {
                poll_interval: std::time::Duration::from_millis(
                    settings.exchange.poll_interval_ms.max(10),
                ),
                max_records: settings.exchange.max_records.max(1),
                ..ExchangeSettings::default()
            },
        )
        .await
        .context("starting the exchange")?;
        let metrics = MetricsApi::new(
            store.clone(),
            vawg_domain::disclosure::DisclosureRules {
                threshold: settings.disclosure.threshold,
                rounding_base: settings.disclosure.rounding_base,
            },
            definitions.current().version.clone(),
            firewall.clone(),
        );
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        let health_listener = match settings.health_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the health listener {addr}"))?,
            ),
            None => None,
        };
        let dashboard = match (settings.dashboard_listen, settings.tls.as_ref()) {
            (Some(addr), Some(tls)) => Some((
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the dashboard listener {addr}"))?,
                vawg_auth::tls::server_config_without_client_auth(
                    &tls.server_cert,
                    &tls.server_key,
                )?,
            )),
            _ => None,
        };
        Ok(Application {
            listener,
            local_addr,
            health_listener,
            dashboard,
            definitions,
            settings,
            store,
            ingest,
            metrics,
            exchange,
            firewall,
            auth,
            tls,
        })
    }

    /// The store the hub writes to (tests inspect it directly).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The firewall (policy decision point and audit log) every RPC passes.
    pub fn firewall(&self) -> &Firewall {
        &self.firewall
    }

    /// The bearer-token validator (tests watch its key-file reads).
    pub fn tokens(&self) -> Arc<TokenValidator> {
        self.auth.tokens()
    }

    /// The address the hub listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the plaintext health-only listener, when `health_listen` is set.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The address of the dashboard listener, when `dashboard_listen` is set (with the real
    /// port when 0 was asked for): `https://{addr}/` is the dashboard.
    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight calls finish.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        // Deep checks decide "" and each service's status: once before serving, so the first
        // probe is truthful, then on the interval until the drain starts.
        let checks = self.first_health_check(&health).await;
        let (drain, draining) = tokio::sync::watch::channel(false);
        let health_checks = tokio::spawn(checks.clone().run(health.clone(), draining.clone()));
        // Keeps the aggregate tables close behind ingest (reads settle whatever is left).
        let aggregator = self.store.spawn_aggregator();
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let services = self.services();
        // Probes: `grpc.health.v1.Health` itself answers SERVING while the process serves
        // (liveness); "" and the services follow the deep checks (readiness).
        health
            .set_service_status(
                "grpc.health.v1.Health",
                tonic_health::ServingStatus::Serving,
            )
            .await;
        let (stop_health, health_stopped) = tokio::sync::oneshot::channel::<()>();
        let health_probe = self
            .health_listener
            .take()
            .map(|listener| spawn_health_probe(listener, health_service.clone(), health_stopped));
        let (guard, mut flushers) = self.accept_guard("main", &draining);
        let dashboard = self.dashboard.take().map(|(listener, tls)| {
            let (guard, flusher) = self.accept_guard("dashboard", &draining);
            flushers.extend(flusher);
            self.spawn_dashboard(listener, tls, guard, draining.clone())
        });
        let shutdown = drain_after(
            shutdown,
            drain,
            health,
            checks,
            self.exchange.clone(),
            self.ingest.clone(),
        );
        let grace = std::time::Duration::from_millis(self.settings.shutdown_grace_ms);
        let mut grace_started = draining;
        let deadline = async move {
            let _ = grace_started.wait_for(|d| *d).await;
            tokio::time::sleep(grace).await;
        };
        tracing::info!(
            addr = %self.local_addr,
            services = %String::from(self.settings.services.clone()),
            "vawg-hub serving"
        );
        let serve = Server::builder()
            .accept_http1(true)
            // Outermost: each call holds its connection busy (idle and header timeouts).
            .layer(vawg_auth::idle::ActivityLayer::new(
                guard.connections.clone(),
            ))
            .layer(tonic_web::GrpcWebLayer::new())
            // Inside gRPC-Web so it sees plain gRPC: a span and metrics per RPC.
            .layer(crate::telemetry::RpcLayer::new())
            // Per-agency rate and in-flight limits, keyed on the verified certificate, before
            // any token check, registry read or audit append (a flood costs the hub little).
            .layer(self.agency_limits())
            // Every RPC: mutual-TLS identity, token, registry, firewall gate, audit.
            .layer(self.auth.with_refusals(guard.refusals.clone()))
            .add_service(health_service)
            .add_service(reflection)
            .add_optional_service(services.definitions)
            .add_optional_service(services.ingest)
            .add_optional_service(services.metrics)
            .add_optional_service(services.exchange)
            .add_optional_service(services.firewall)
            .serve_with_incoming_shutdown(
                vawg_auth::tls::incoming_guarded(self.listener, self.tls.clone(), guard),
                shutdown,
            );
        tokio::select! {
            served = serve => served.context("serving gRPC")?,
            _ = deadline => tracing::warn!(
                grace_ms = self.settings.shutdown_grace_ms,
                "drain deadline passed; closing the remaining connections"
            ),
        }
        health_checks.abort();
        join_side_listeners(dashboard, grace, stop_health, health_probe).await?;
        // The last aggregated refusals are written before the store closes.
        for flusher in flushers {
            let _ = tokio::time::timeout(grace, flusher).await;
        }
        aggregator.abort();
        self.store.close().await;
        tracing::info!("vawg-hub stopped");
        Ok(())
    }

    /// The deep health checks, run once and reported.
    async fn first_health_check(&self, health: &HealthReporter) -> HealthChecks {
        let checks = HealthChecks::new(&self.settings, self.store.clone(), self.firewall.clone());
        let first = checks.check().await;
        if !first.healthy() {
            tracing::warn!(failures = ?first.failures, "health checks fail: not serving");
        }
        checks.report(health, first.healthy()).await;
        checks
    }

    /// The gRPC services the settings ask for, each with the configured message limit.
    fn services(&self) -> Services {
        let served = &self.settings.services;
        let max = self.settings.limits.max_message_bytes;
        Services {
            definitions: self.definitions_service(),
            ingest: served.contains(ServiceName::Ingest).then(|| {
                IngestServiceServer::new(self.ingest.clone()).max_decoding_message_size(max)
            }),
            metrics: self.metrics_service(),
            exchange: served.contains(ServiceName::Exchange).then(|| {
                ExchangeServiceServer::new(self.exchange.clone()).max_decoding_message_size(max)
            }),
            firewall: served.contains(ServiceName::Firewall).then(|| {
                FirewallServiceServer::new(FirewallApi::new(self.firewall.clone()))
                    .max_decoding_message_size(max)
            }),
        }
    }

    fn definitions_service(&self) -> Option<DefinitionServiceServer<DefinitionApi>> {
        let max = self.settings.limits.max_message_bytes;
        self.settings
            .services
            .contains(ServiceName::Definitions)
            .then(|| {
                DefinitionServiceServer::new(DefinitionApi::new(self.definitions.clone()))
                    .max_decoding_message_size(max)
            })
    }

    fn metrics_service(&self) -> Option<MetricsServiceServer<MetricsApi>> {
        let max = self.settings.limits.max_message_bytes;
        self.settings
            .services
            .contains(ServiceName::Metrics)
            .then(|| MetricsServiceServer::new(self.metrics.clone()).max_decoding_message_size(max))
    }

    /// A listener's protection before identity: its refusal gate (flushed to the audit log
    /// every interval, and once more when `draining` turns true), handshake bounds and idle
    /// timeout.
    fn accept_guard(
        &self,
        listener: &'static str,
        draining: &tokio::sync::watch::Receiver<bool>,
    ) -> (
        vawg_auth::tls::AcceptGuard,
        Vec<tokio::task::JoinHandle<()>>,
    ) {
        let limits = &self.settings.limits;
        let gate = Arc::new(vawg_auth::refusals::RefusalGate::new(
            listener,
            vawg_auth::refusals::RefusalSettings {
                per_source_per_second: limits.unauthenticated_per_source_per_second,
                burst: limits.unauthenticated_per_source_burst,
                interval: std::time::Duration::from_millis(
                    limits.unauthenticated_audit_interval_ms.max(10),
                ),
                max_sources: limits.unauthenticated_max_sources.max(1),
            },
            self.firewall.clone(),
        ));
        let flusher = gate.clone().spawn_flusher(draining.clone());
        let guard = vawg_auth::tls::AcceptGuard {
            refusals: gate,
            handshake_timeout: handshake_timeout(&self.settings),
            max_pending_handshakes: limits.max_pending_handshakes.max(1),
            idle_timeout: std::time::Duration::from_millis(limits.idle_timeout_ms.max(1)),
            connections: Arc::default(),
        };
        (guard, vec![flusher])
    }

    /// The per-agency rate and in-flight limits.
    fn agency_limits(&self) -> vawg_auth::limits::AgencyLimitLayer {
        vawg_auth::limits::AgencyLimitLayer::new(vawg_auth::limits::AgencyLimitSettings {
            requests_per_second: self.settings.limits.agency_requests_per_second,
            burst: self.settings.limits.agency_burst,
            max_concurrent: self.settings.limits.agency_max_concurrent,
        })
    }

    /// The dashboard: its page, and gRPC-Web calls through the same auth layer in its
    /// token-only, aggregates-only mode (only the metrics and definitions services are
    /// mounted, and the layer refuses everything else first). It stops when the drain starts.
    fn spawn_dashboard(
        &self,
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
        guard: vawg_auth::tls::AcceptGuard,
        mut draining: tokio::sync::watch::Receiver<bool>,
    ) -> Listener {
        let limits = &self.settings.limits;
        let auth = self.auth.token_only_aggregates(
            guard.refusals.clone(),
            limits.dashboard_per_source_per_second,
            limits.dashboard_per_source_burst,
        );
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "dashboard serving at https://{addr}/ (bearer token, aggregates only)");
        }
        tokio::spawn(
            Server::builder()
                .accept_http1(true)
                // Outermost: each request holds its connection busy (idle/header timeouts).
                .layer(vawg_auth::idle::ActivityLayer::new(
                    guard.connections.clone(),
                ))
                .layer(crate::dashboard::AssetsLayer)
                .layer(tonic_web::GrpcWebLayer::new())
                .layer(crate::telemetry::RpcLayer::new())
                // No certificate here, so no per-agency limit applies; the caller's
                // deadline is still enforced over the whole call.
                .layer(self.agency_limits())
                // Per-source limits, then the token; refusals before identity aggregated.
                .layer(auth)
                .add_optional_service(self.definitions_service())
                .add_optional_service(self.metrics_service())
                .serve_with_incoming_shutdown(
                    vawg_auth::tls::incoming_guarded(listener, tls, guard),
                    async move {
                        let _ = draining.wait_for(|d| *d).await;
                    },
                ),
        )
    }
}

/// The gRPC services a hub serves (each `None` when the settings leave it out).
struct Services {
    definitions: Option<DefinitionServiceServer<DefinitionApi>>,
    ingest: Option<IngestServiceServer<IngestApi>>,
    metrics: Option<MetricsServiceServer<MetricsApi>>,
    exchange: Option<ExchangeServiceServer<ExchangeApi>>,
    firewall: Option<FirewallServiceServer<FirewallApi>>,
}

/// A side listener (dashboard, health) serving on its own task.
type Listener = tokio::task::JoinHandle<Result<(), tonic::transport::Error>>;

/// The longest a TLS handshake may take.
fn handshake_timeout(settings: &Settings) -> std::time::Duration {
    std::time::Duration::from_millis(settings.limits.tls_handshake_timeout_ms.max(1))
}

/// The plaintext health-only listener, until `stopped`.
fn spawn_health_probe(
    listener: TcpListener,
    health_service: HealthServer<impl Health>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> Listener {
    tokio::spawn(
        Server::builder()
            .add_service(health_service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    )
}

/// `shutdown`, then the drain: readiness drops at once, open subscriptions (endless streams)
/// end, and open ingest streams end at their next chunk boundary, every chunk they
/// acknowledged committed; then the server stops accepting and waits for in-flight calls.
async fn drain_after(
    shutdown: impl Future<Output = ()>,
    drain: tokio::sync::watch::Sender<bool>,
    health: HealthReporter,
    checks: HealthChecks,
    exchange: ExchangeApi,
    ingest: IngestApi,
) {
    shutdown.await;
    tracing::info!("draining: not serving, finishing in-flight calls");
    drain.send_replace(true);
    checks.report(&health, false).await;
    exchange.shutdown();
    ingest.shutdown();
}

/// After serving: waits (up to the grace period) for the dashboard listener, which began
/// draining with the main one, then stops the health listener.
async fn join_side_listeners(
    dashboard: Option<Listener>,
    grace: std::time::Duration,
    stop_health: tokio::sync::oneshot::Sender<()>,
    health_probe: Option<Listener>,
) -> anyhow::Result<()> {
    if let Some(dashboard) = dashboard {
        // gRPC-Web calls are short.
        match tokio::time::timeout(grace, dashboard).await {
            Ok(joined) => joined
                .context("joining the dashboard listener")?
                .context("serving the dashboard listener")?,
            Err(_) => tracing::warn!("the dashboard listener outlived the drain deadline"),
        }
    }
    let _ = stop_health.send(());
    if let Some(probe) = health_probe {
        probe
            .await
            .context("joining the health listener")?
            .context("serving the health listener")?;
    }
    Ok(())
}

/// Identity and the firewall: refuses to start without TLS, token validation and an audit
/// key, or with policies that do not validate — there is no unauthenticated listener.
async fn build_security(
    settings: &Settings,
    store: Store,
) -> anyhow::Result<(Firewall, AuthLayer, Arc<rustls::ServerConfig>)> {
    let tls = settings.tls.as_ref().context(
        "refusing to start without mutual TLS: set [tls] ca_cert, server_cert and server_key \
         (`vawg-hub pki init --dir D` makes a development set)",
    )?;
    let jwt = settings.jwt.as_ref().context(
        "refusing to start without token validation: set [jwt] issuer, audience and jwks_file",
    )?;
    let audit_key = settings
        .audit
        .signing_key
        .as_ref()
        .context("refusing to start without an audit signing key: set [audit] signing_key")?;
    let tls = vawg_auth::tls::server_config(&tls.ca_cert, &tls.server_cert, &tls.server_key)?;
    let tokens = TokenValidator::new(&jwt.issuer, &jwt.audience, &jwt.jwks_file)?
        .with_unknown_kid_reload_interval(std::time::Duration::from_millis(
            settings.limits.unknown_kid_reload_interval_ms,
        ));
    let signer = HeadSigner::from_pem(
        &std::fs::read_to_string(audit_key)
            .with_context(|| format!("reading {}", audit_key.display()))?,
    )?;
    let engine = match &settings.policies_dir {
        Some(dir) => PolicyEngine::load_dir(dir)?,
        None => PolicyEngine::embedded()?,
    };
    tracing::info!(
        policy_set_version = engine.version(),
        "firewall policies validated"
    );
    let firewall = Firewall::new(store, engine, signer).await?;
    let auth = AuthLayer::new(firewall.clone(), tokens);
    Ok((firewall, auth, tls))
}

/// The embedded definition plus every `*.toml` in `dir`; the newest `effective_from` is current.
pub fn load_definitions(dir: Option<&Path>) -> anyhow::Result<DefinitionSet> {
    let embedded = DefinitionSet::embedded();
    let Some(dir) = dir else { return Ok(embedded) };
    let mut defs: Vec<Definition> = embedded.versions().map(|d| (**d).clone()).collect();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading definitions folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let def = Definition::from_toml_str(&text, &path.display().to_string())?;
        defs.retain(|d| d.version != def.version);
        defs.push(def);
    }
    let current = defs
        .iter()
        .max_by_key(|d| (d.effective_from, d.version.clone()))
        .map(|d| d.version.clone())
        .context("no definition versions")?;
    Ok(DefinitionSet::from_definitions(defs, &current)?)
}

/// Applies pending migrations: through `owner_url` (the tables' owner) when set, so the hub's
/// own role needs no right to alter its tables; else through the hub's connection.
async fn migrate(store: &Store, owner_url: Option<&str>) -> anyhow::Result<()> {
    let Some(url) = owner_url else {
        return store.migrate().await.context("migrating the database");
    };
    let owner = Store::connect(url)
        .await
        .context("connecting to the database as the migration owner")?;
    let migrated = owner.migrate().await.context("migrating the database");
    owner.close().await;
    migrated
}
