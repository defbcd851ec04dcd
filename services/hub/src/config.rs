//! One typed configuration, layered: built-in defaults, then a TOML file, then environment
//! variables (`VAWG_…`, with `__` separating nested keys, e.g. `VAWG_LIMITS__MAX_BATCH_RECORDS`).
//! Nothing outside this module reads the environment for configuration.

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// Everything the hub needs to start.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Optional second address serving only `grpc.health.v1`, in plaintext and without client
    /// certificates, for orchestrators' probes (Kubernetes gRPC probes cannot present a client
    /// certificate). It reveals serving status and nothing else. Unset: no such listener.
    pub health_listen: Option<SocketAddr>,
    /// Database URL: `sqlite://path/to/file.db` (embedded default) or `postgres://…`.
    pub database_url: String,
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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch_records: 1000,
            max_message_bytes: 4 * 1024 * 1024,
            max_stream_records: 10_000_000,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            health_listen: None,
            database_url: "sqlite://vawg-hub.db".to_string(),
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
        fig = fig.merge(Env::prefixed("VAWG_").split("__"));
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
