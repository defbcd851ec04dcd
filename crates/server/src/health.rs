//! Deep health checks behind `grpc.health.v1`: on an interval, the hub checks what every RPC
//! depends on and reports the result per service and overall (`""`).
//!
//! Checks: the database answers ([`Store::ping`]); the TLS server certificate and the CA are
//! valid and not within `expiry_warning_days` of expiry; the audit signing key and the JWKS
//! still load; the firewall's policy set is loaded. Every RPC of every service passes the auth
//! layer, which reads the agency registry, validates the token, asks the policies and appends to
//! the audit log, so each check gates every service: a served service is SERVING exactly when
//! all checks pass and the hub is not draining. A service this process does not serve
//! (`--services`) is NOT_SERVING. `grpc.health.v1.Health` itself stays SERVING while the
//! process runs (liveness).
//!
//! Failures are logged once per transition, with file paths and error kinds only.

use std::{path::PathBuf, time::Duration};

use tokio::sync::watch;
use tonic_health::{ServingStatus, server::HealthReporter};
use vawg_audit::HeadSigner;
use vawg_auth::jwt::TokenValidator;
use vawg_firewall::Firewall;
use vawg_store::Store;

use crate::config::{ServiceName, ServiceSet, Settings};

/// Longest one database ping may take before the database counts as unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// What the checks read.
#[derive(Clone, Debug)]
pub struct HealthChecks {
    store: Store,
    firewall: Firewall,
    certificates: Vec<PathBuf>,
    audit_key: Option<PathBuf>,
    jwt: Option<(String, String, PathBuf)>,
    services: ServiceSet,
    interval: Duration,
    expiry_margin: chrono::Duration,
}

/// The outcome of one round of checks: the failures, in words (no personal data).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One line per failed check; empty when healthy.
    pub failures: Vec<String>,
}

impl CheckReport {
    /// Whether every check passed.
    pub fn healthy(&self) -> bool {
        self.failures.is_empty()
    }
}

impl HealthChecks {
    /// The checks for a hub built from `settings`.
    pub fn new(settings: &Settings, store: Store, firewall: Firewall) -> HealthChecks {
        let mut certificates = Vec::new();
        if let Some(tls) = &settings.tls {
            certificates.push(tls.server_cert.clone());
            certificates.push(tls.ca_cert.clone());
        }
        HealthChecks {
            store,
            firewall,
            certificates,
            audit_key: settings.audit.signing_key.clone(),
            jwt: settings
                .jwt
                .as_ref()
                .map(|j| (j.issuer.clone(), j.audience.clone(), j.jwks_file.clone())),
            services: settings.services.clone(),
            interval: Duration::from_millis(settings.health.check_interval_ms.max(10)),
            expiry_margin: chrono::Duration::days(i64::from(settings.health.expiry_warning_days)),
        }
    }

    /// Runs every check once.
    pub async fn check(&self) -> CheckReport {
        let mut failures = Vec::new();
        match tokio::time::timeout(PING_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("database unreachable: {}", error_kind(&e))),
            Err(_) => failures.push(format!(
                "database unreachable: no answer within {PING_TIMEOUT:?}"
            )),
        }
        let limit = chrono::Utc::now() + self.expiry_margin;
        for path in &self.certificates {
            if let Err(e) = check_certificates(path, limit) {
                failures.push(e);
            }
        }
        if let Some(path) = &self.audit_key {
            let loaded = std::fs::read_to_string(path)
                .map_err(|e| e.kind().to_string())
                .and_then(|pem| HeadSigner::from_pem(&pem).map_err(|e| e.to_string()));
            if let Err(e) = loaded {
                failures.push(format!("audit signing key {}: {e}", path.display()));
            }
        }
        if let Some((issuer, audience, jwks)) = &self.jwt
            && let Err(e) = TokenValidator::new(issuer, audience, jwks)
        {
            failures.push(format!("token keys {}: {e}", jwks.display()));
        }
        if self.firewall.engine().policies().is_empty() {
            failures.push("no firewall policy is loaded".into());
        }
        CheckReport { failures }
    }

    /// Sets every status now: SERVING for served services when `healthy` and not draining,
    /// NOT_SERVING otherwise.
    pub async fn report(&self, reporter: &HealthReporter, healthy: bool) {
        let status = |on: bool| {
            if on {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            }
        };
        reporter.set_service_status("", status(healthy)).await;
        for service in ServiceName::ALL {
            reporter
                .set_service_status(
                    service.grpc_name(),
                    status(healthy && self.services.contains(service)),
                )
                .await;
        }
    }

    /// Checks on the interval and reports, until `draining` turns true; then reports
    /// NOT_SERVING everywhere (the probes take the replica out of rotation while it drains)
    /// and returns.
    pub async fn run(self, reporter: HealthReporter, mut draining: watch::Receiver<bool>) {
        let mut healthy_before = None;
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = draining.wait_for(|d| *d) => break,
                _ = ticks.tick() => {}
            }
            let report = self.check().await;
            if *draining.borrow() {
                break;
            }
            let healthy = report.healthy();
            if healthy_before != Some(healthy) {
                if healthy {
                    tracing::info!("health checks pass: serving");
                } else {
                    tracing::warn!(failures = ?report.failures, "health checks fail: not serving");
                }
                healthy_before = Some(healthy);
            }
            self.report(&reporter, healthy).await;
        }
        self.report(&reporter, false).await;
    }
}

/// Every certificate in a PEM file must be valid now and after `limit`.
fn check_certificates(path: &PathBuf, limit: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let pem = std::fs::read(path).map_err(|e| format!("certificate {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("certificate {}: no certificate", path.display()));
    }
    let now = chrono::Utc::now().timestamp();
    for cert in certs {
        let (not_before, not_after) = vawg_auth::cert::validity_of(cert.as_ref())
            .map_err(|e| format!("certificate {}: {e}", path.display()))?;
        if now < not_before || now > not_after {
            return Err(format!("certificate {} is not valid now", path.display()));
        }
        if not_after < limit.timestamp() {
            let when = chrono::DateTime::from_timestamp(not_after, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            return Err(format!(
                "certificate {} expires at {when}, within the renewal margin",
                path.display()
            ));
        }
    }
    Ok(())
}

/// The kind of a store error, without database text.
fn error_kind(e: &vawg_store::StoreError) -> &'static str {
    if e.is_unavailable() {
        "unavailable"
    } else {
        "query failed"
    }
}
