//! One typed configuration, layered: built-in defaults, then a TOML file, then environment
//! variables (`VAWG_…`, with `__` separating nested keys, e.g. `VAWG_LIMITS__MAX_BATCH_RECORDS`).
//! Nothing outside this module reads the environment for configuration.

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// Everything the hub needs to start. Its `Debug` never shows secrets: pseudonymisation secrets
/// are wrapped, and a password in the database URL is masked.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Optional second address serving only `grpc.health.v1`, in plaintext and without client
    /// certificates, for orchestrators' probes (Kubernetes gRPC probes cannot present a client
    /// certificate). It reveals serving status and nothing else. Unset: no such listener.
    pub health_listen: Option<SocketAddr>,
    /// Optional address for the central team's browser dashboard: its static page and gRPC-Web
    /// over HTTPS with the hub's server certificate, WITHOUT client certificates (browsers
    /// cannot practically hold an agency's). Every call there needs a bearer token naming a
    /// registered, active agency, passes the firewall and the audit log like any other, and may
    /// reach only the read-only aggregate RPCs (MetricsService, DefinitionService); everything
    /// else is refused. Unset: no such listener.
    pub dashboard_listen: Option<SocketAddr>,
    /// Database URL: `sqlite://path/to/file.db` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// Optional database URL the migrations run as: the role that owns the tables. Set it
    /// (PostgreSQL) so that `database_url` can name a role that owns nothing and may only
    /// INSERT and SELECT on the audit tables (deploy/README.md, "Database roles"); the hub
    /// then migrates through this URL at start and never through `database_url`. Unset: the
    /// migrations run through `database_url`.
    pub migration_database_url: Option<String>,
    /// Folder of extra definition versions (`*.toml`); the embedded v1 is always present.
    pub definitions_dir: Option<PathBuf>,
    /// Request and batch limits.
    pub limits: Limits,
    /// Logs, and OpenTelemetry export of traces and metrics.
    pub telemetry: Telemetry,
    /// Keys for pseudonymising personal and case identifiers (see [`crate::keys`]).
    pub pseudonym: PseudonymSettings,
    /// Mutual TLS. Required: the hub has no unauthenticated listener.
    pub tls: Option<TlsSettings>,
    /// Bearer-token validation. Required.
    pub jwt: Option<JwtSettings>,
    /// The audit log's signing key. Required.
    pub audit: AuditSettings,
    /// Folder of firewall policies (one `*.cedarschema`, `*.cedar` files); the reviewed
    /// defaults from `deploy/policies/` are embedded and used when unset.
    pub policies_dir: Option<PathBuf>,
    /// Statistical disclosure control applied to every metric cell.
    pub disclosure: DisclosureSettings,
    /// Record sharing and notification delivery.
    pub exchange: ExchangeConfig,
    /// Which gRPC services this process serves (`vawg-hub serve --services`); health, reflection
    /// and the auth layer are always there. Default: all.
    pub services: ServiceSet,
    /// Deep health checks.
    pub health: HealthSettings,
    /// Longest a graceful shutdown waits for in-flight calls after it stops accepting, in
    /// milliseconds. Open ingest streams end at their next chunk boundary well before this;
    /// past it, remaining connections are closed (acknowledged records are committed already).
    pub shutdown_grace_ms: u64,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field cannot be forgotten here.
        let Settings {
            listen,
            health_listen,
            dashboard_listen,
            database_url,
            migration_database_url,
            definitions_dir,
            limits,
            telemetry,
            pseudonym,
            tls,
            jwt,
            audit,
            policies_dir,
            disclosure,
            exchange,
            services,
            health,
            shutdown_grace_ms,
        } = self;
        f.debug_struct("Settings")
            .field("listen", listen)
            .field("health_listen", health_listen)
            .field("dashboard_listen", dashboard_listen)
            .field("database_url", &redact_url(database_url))
            .field(
                "migration_database_url",
                &migration_database_url.as_deref().map(redact_url),
            )
            .field("definitions_dir", definitions_dir)
            .field("limits", limits)
            .field("telemetry", telemetry)
            .field("pseudonym", pseudonym)
            .field("tls", tls)
            .field("jwt", jwt)
            .field("audit", audit)
            .field("policies_dir", policies_dir)
            .field("disclosure", disclosure)
            .field("exchange", exchange)
            .field("services", services)
            .field("health", health)
            .field("shutdown_grace_ms", shutdown_grace_ms)
            .finish()
    }
}

/// A URL with any password replaced by `***` (`postgres://hub:***@db/vawg`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// One of the hub's own gRPC services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceName {
    /// `vawg.v1.IngestService`.
    Ingest,
    /// `vawg.v1.MetricsService`.
    Metrics,
    /// `vawg.v1.ExchangeService`.
    Exchange,
    /// `vawg.v1.FirewallService`.
    Firewall,
    /// `vawg.v1.DefinitionService`.
    Definitions,
}

impl ServiceName {
    /// Every service, in the order `--services` lists them.
    pub const ALL: [ServiceName; 5] = [
        ServiceName::Ingest,
        ServiceName::Metrics,
        ServiceName::Exchange,
        ServiceName::Firewall,
        ServiceName::Definitions,
    ];

    /// The name `--services` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Ingest => "ingest",
            ServiceName::Metrics => "metrics",
            ServiceName::Exchange => "exchange",
            ServiceName::Firewall => "firewall",
            ServiceName::Definitions => "definitions",
        }
    }

    /// The fully qualified gRPC service name (what `grpc.health.v1` reports on).
    pub fn grpc_name(self) -> &'static str {
        match self {
            ServiceName::Ingest => "vawg.v1.IngestService",
            ServiceName::Metrics => "vawg.v1.MetricsService",
            ServiceName::Exchange => "vawg.v1.ExchangeService",
            ServiceName::Firewall => "vawg.v1.FirewallService",
            ServiceName::Definitions => "vawg.v1.DefinitionService",
        }
    }
}

impl std::str::FromStr for ServiceName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceName::ALL
            .into_iter()
            .find(|n| n.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown service '{}': expected one of ingest, metrics, exchange, firewall, \
                     definitions",
                    s.trim()
                )
            })
    }
}

/// The services a process serves: a comma-separated list (`ingest,metrics`) in the file, in
/// `VAWG_SERVICES` and on the command line. Never empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceSet(Vec<ServiceName>);

impl ServiceSet {
    /// Whether `service` is served.
    pub fn contains(&self, service: ServiceName) -> bool {
        self.0.contains(&service)
    }

    /// The services served.
    pub fn iter(&self) -> impl Iterator<Item = ServiceName> + '_ {
        self.0.iter().copied()
    }
}

impl Default for ServiceSet {
    fn default() -> Self {
        ServiceSet(ServiceName::ALL.to_vec())
    }
}

impl std::str::FromStr for ServiceSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut names: Vec<ServiceName> = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Err("name at least one service".into());
        }
        Ok(ServiceSet(names))
    }
}

impl TryFrom<String> for ServiceSet {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ServiceSet> for String {
    fn from(s: ServiceSet) -> String {
        s.0.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(",")
    }
}

/// Deep health checks: how often, and how close to expiry a certificate may come.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// How often the checks run, in milliseconds.
    pub check_interval_ms: u64,
    /// A certificate that expires within this many days fails its check (time to renew).
    pub expiry_warning_days: u32,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            check_interval_ms: 10_000,
            expiry_warning_days: 14,
        }
    }
}

/// Record sharing and notification delivery.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeConfig {
    /// How often an idle subscription re-reads the outbox without a wake-up, in milliseconds:
    /// the bound on the delay of a lost wake-up (PostgreSQL `NOTIFY` or the in-process signal
    /// on SQLite normally deliver at once).
    pub poll_interval_ms: u64,
    /// Most records one `RequestRecords` returns.
    pub max_records: u32,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 500,
            max_records: 500,
        }
    }
}

/// Statistical disclosure control defaults (GSS guidance on small counts: withhold 1-4).
/// Callers may ask for stricter control per query, never weaker.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisclosureSettings {
    /// Counts from 1 to `threshold - 1` are withheld.
    pub threshold: u64,
    /// Released counts are rounded to this base (0 or 1: none).
    pub rounding_base: u64,
}

impl Default for DisclosureSettings {
    fn default() -> Self {
        Self {
            threshold: 5,
            rounding_base: 0,
        }
    }
}

/// Mutual TLS: the hub's identity and the CA whose client certificates it accepts (`vawg-hub
/// pki init` makes a development set).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// CA certificate(s) (PEM) that issue agency client certificates.
    pub ca_cert: PathBuf,
    /// The hub's certificate chain (PEM).
    pub server_cert: PathBuf,
    /// The hub's private key (PEM).
    pub server_key: PathBuf,
}

/// Bearer tokens: who issues them, for which audience, and the keys (JWKS file, re-read when
/// it changes, so keys rotate by `kid` without a restart).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// The JWKS file.
    pub jwks_file: PathBuf,
}

/// The audit log.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// ECDSA P-256 key (PKCS#8 PEM) that signs tree heads.
    pub signing_key: Option<PathBuf>,
}

/// Where the pseudonymisation keys come from. Secrets are base64 text (at least 32 bytes once
/// decoded), given inline (`VAWG_PSEUDONYM__SECRET`) or in a file (`secret_file`); they are
/// wrapped so they never print and are never serialised. See [`crate::keys`] for rotation.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PseudonymSettings {
    /// Id of the primary key (stored beside every pseudonym). Default `dev` for a generated
    /// development key.
    pub key_id: Option<String>,
    /// The primary key's secret, base64. Prefer `secret_file` outside development.
    #[serde(skip_serializing)]
    pub secret: Option<secrecy::SecretString>,
    /// File holding the primary key's secret, base64.
    pub secret_file: Option<PathBuf>,
    /// Without a secret: generate a development key into this file on first start (and reuse
    /// it after). Defaults, for a SQLite database, to `pseudonym-dev.key` beside the database
    /// file; with PostgreSQL a key must be configured.
    pub dev_key_file: Option<PathBuf>,
    /// Previous keys, newest first, kept after a rotation so that records pseudonymised under
    /// them can still be found.
    pub previous: Vec<PreviousKey>,
}

/// A previous pseudonymisation key, kept after a rotation.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreviousKey {
    /// Its id.
    pub key_id: String,
    /// Its secret, base64.
    #[serde(skip_serializing)]
    pub secret: Option<secrecy::SecretString>,
    /// File holding its secret, base64.
    pub secret_file: Option<PathBuf>,
}

/// Logs, traces and metrics. Export over OTLP/gRPC happens only when `otlp_endpoint` is set;
/// without it the hub writes JSON logs and nothing else.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Telemetry {
    /// OTLP/gRPC collector endpoint, e.g. `http://otel-collector:4317`. The standard
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` environment variable, when set and not empty, overrides it.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute (`OTEL_SERVICE_NAME` overrides).
    pub service_name: String,
    /// Log filter in `tracing` directive syntax, e.g. `info,vawg_ingest=debug` (`RUST_LOG`
    /// overrides).
    pub log_filter: String,
    /// How often metrics are exported, in milliseconds.
    pub metrics_interval_ms: u64,
    /// Longest a finished span waits in a batch before export, in milliseconds.
    pub traces_batch_delay_ms: u64,
    /// Timeout of one export call, in milliseconds.
    pub export_timeout_ms: u64,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "vawg-hub".to_string(),
            log_filter: "info".to_string(),
            metrics_interval_ms: 15_000,
            traces_batch_delay_ms: 2_000,
            export_timeout_ms: 10_000,
        }
    }
}

/// Limits that protect the hub from oversized or endless requests.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most records in one `SubmitBatch` or one stream chunk.
    pub max_batch_records: usize,
    /// Largest decoded gRPC message, in bytes.
    pub max_message_bytes: usize,
    /// Most records in one `StreamRecords` stream.
    pub max_stream_records: u64,
    /// Sustained calls per second one agency may make (a token bucket per agency, keyed on
    /// its verified client certificate); beyond it calls get `RESOURCE_EXHAUSTED`. 0: none.
    pub agency_requests_per_second: u32,
    /// Calls one agency may make in a burst above `agency_requests_per_second`.
    pub agency_burst: u32,
    /// Calls one agency may have in flight at once, open streams included; beyond it calls
    /// get `RESOURCE_EXHAUSTED`. 0: none.
    pub agency_max_concurrent: u32,
    /// How long a client has to finish the TLS handshake before its connection is dropped
    /// (slow-loris protection), in milliseconds.
    pub tls_handshake_timeout_ms: u64,
    /// TLS handshakes in progress at once, per listener; further connections are dropped.
    pub max_pending_handshakes: usize,
    /// A connection (either listener) with no call in flight is closed after this long without
    /// a new call's headers arriving: the idle and header timeout, in milliseconds.
    pub idle_timeout_ms: u64,
    /// Refusals before identity (failed handshakes, token-less dashboard calls) one source
    /// address may cause per second before it is blocked for a while.
    pub unauthenticated_per_source_per_second: u32,
    /// Such refusals a source may cause in a burst above that rate.
    pub unauthenticated_per_source_burst: u32,
    /// How often refusals before identity are written to the audit log, aggregated: one entry
    /// per source per interval, in milliseconds.
    pub unauthenticated_audit_interval_ms: u64,
    /// Sources given an entry of their own per interval and listener; the rest share one.
    pub unauthenticated_max_sources: usize,
    /// Calls per second one source address may make on the dashboard listener. 0: none.
    pub dashboard_per_source_per_second: u32,
    /// Calls a source may make on the dashboard listener in a burst above that rate.
    pub dashboard_per_source_burst: u32,
    /// The least time between two reloads of the JWKS caused by tokens naming an unknown
    /// `kid`, in milliseconds.
    pub unknown_kid_reload_interval_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch_records: 1000,
            max_message_bytes: 4 * 1024 * 1024,
            max_stream_records: 10_000_000,
            agency_requests_per_second: 2000,
            agency_burst: 4000,
            agency_max_concurrent: 256,
            tls_handshake_timeout_ms: 10_000,
            max_pending_handshakes: 256,
            idle_timeout_ms: 30_000,
            unauthenticated_per_source_per_second: 5,
            unauthenticated_per_source_burst: 50,
            unauthenticated_audit_interval_ms: 60_000,
            unauthenticated_max_sources: 256,
            dashboard_per_source_per_second: 20,
            dashboard_per_source_burst: 100,
            unknown_kid_reload_interval_ms: 10_000,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            health_listen: None,
            dashboard_listen: None,
            database_url: "sqlite://vawg-hub.db".to_string(),
            migration_database_url: None,
            definitions_dir: None,
            limits: Limits::default(),
            telemetry: Telemetry::default(),
            pseudonym: PseudonymSettings::default(),
            tls: None,
            jwt: None,
            audit: AuditSettings::default(),
            policies_dir: None,
            disclosure: DisclosureSettings::default(),
            exchange: ExchangeConfig::default(),
            services: ServiceSet::default(),
            health: HealthSettings::default(),
            shutdown_grace_ms: 30_000,
        }
    }
}

impl Settings {
    /// Defaults, then the file (if given), then `VAWG_*` environment variables, then the
    /// standard `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME` and `RUST_LOG`.
    pub fn load(file: Option<&std::path::Path>) -> Result<Settings, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            fig = fig.merge(Toml::file_exact(file));
        }
        // `VAWG_TEST_*` belong to the test suite (e.g. VAWG_TEST_DATABASE_URL), not the hub.
        fig = fig.merge(
            Env::prefixed("VAWG_")
                .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_"))
                .split("__"),
        );
        // The OpenTelemetry and `tracing` conventions, so the hub fits operators' tooling.
        for (var, key) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "telemetry.otlp_endpoint"),
            ("OTEL_SERVICE_NAME", "telemetry.service_name"),
            ("RUST_LOG", "telemetry.log_filter"),
        ] {
            fig = fig.merge(Env::raw().only(&[var]).map(move |_| key.into()));
        }
        fig.extract().map_err(Box::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_secrets() {
        let mut settings = Settings {
            database_url: "postgres://hub:hunter2-secret@db.internal:5432/vawg".into(),
            ..Settings::default()
        };
        settings.pseudonym.secret = Some("c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into());
        settings.pseudonym.previous.push(PreviousKey {
            key_id: "old".into(),
            secret: Some("b2xkLXNlY3JldC1vbGQtc2VjcmV0".into()),
            secret_file: None,
        });
        let shown = format!("{settings:?} {settings:#?}");
        for secret in [
            "hunter2-secret",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
            "b2xkLXNlY3JldC1vbGQtc2VjcmV0",
        ] {
            assert!(!shown.contains(secret), "{secret} printed");
        }
        assert!(shown.contains("postgres://hub:***@db.internal:5432/vawg"));
    }

    #[test]
    fn urls_without_passwords_are_unchanged() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "sqlite://vawg-hub.db",
            "sqlite:///tmp/a@b.db",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn services_parse_and_round_trip() {
        let s: ServiceSet = "metrics, ingest,metrics".parse().unwrap();
        assert!(s.contains(ServiceName::Ingest) && !s.contains(ServiceName::Exchange));
        assert_eq!(String::from(s), "ingest,metrics");
        assert!("ingest,billing".parse::<ServiceSet>().is_err());
        assert!("".parse::<ServiceSet>().is_err());
        assert_eq!(String::from(ServiceSet::default()).split(',').count(), 5);
    }
}
