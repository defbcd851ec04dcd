//! The hub as a separate process: the built `vawg-hub serve` with a configuration file, for the
//! tests that kill it, signal it or restart it.
//!
//! ```ignore
//! let hub = HubConfig::new(dir.path(), &database_url);
//! let mut process = HubProcess::start(&hub_binary(), &hub.config, &[]).await;
//! let ingest = hub.ingest_client(process.addr, MET_ID, AgencyKind::Police).await;
//! process.terminate(); // SIGTERM
//! ```

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};
use vawg_domain::identity::AgencyKind;
use vawg_proto::pb::ingest_service_client::IngestServiceClient;
use vawg_server::config::Settings;
use vawg_tools::pki::{self, Pki, TokenSpec};

use crate::{AuthChannel, Bearer, connect_with_retry};

/// The `vawg-hub` binary, built if needed (the e2e crate cannot name another crate's binary).
pub fn hub_binary() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "vawg-hub", "--bin", "vawg-hub"])
        .current_dir(&workspace)
        .status()
        .expect("cargo build");
    assert!(status.success(), "building vawg-hub");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target"));
    target.join("debug").join("vawg-hub")
}

/// A development PKI and a configuration file for a hub process on `127.0.0.1:0`.
pub struct HubConfig {
    /// The development PKI (in `dir/pki`).
    pub pki: Pki,
    /// The configuration file written (`dir/hub.toml`).
    pub config: PathBuf,
    /// The settings the file holds.
    pub settings: Settings,
}

impl HubConfig {
    /// Makes a PKI in `dir` and writes a configuration for `database_url` (after `adjust`).
    pub fn new(dir: &Path, database_url: &str, adjust: impl FnOnce(&mut Settings)) -> HubConfig {
        let pki = pki::init(&dir.join("pki")).expect("dev PKI");
        let mut settings = pki::dev_settings(&pki, database_url.to_string(), dir);
        adjust(&mut settings);
        let config = dir.join("hub.toml");
        std::fs::write(
            &config,
            toml::to_string(&settings).expect("settings as TOML"),
        )
        .expect("write hub.toml");
        HubConfig {
            pki,
            config,
            settings,
        }
    }

    /// An `IngestService` client for agency `id` (already registered) over mutual TLS, with a
    /// token of its kind's default scopes.
    pub async fn ingest_client(
        &self,
        addr: SocketAddr,
        id: &str,
        kind: AgencyKind,
    ) -> IngestServiceClient<AuthChannel> {
        IngestServiceClient::new(self.channel(addr, id, kind).await)
    }

    /// A mutually authenticated channel for agency `id` with its bearer token.
    pub async fn channel(&self, addr: SocketAddr, id: &str, kind: AgencyKind) -> AuthChannel {
        let (cert, key) = if self.pki.agency_cert(id).exists() {
            (self.pki.agency_cert(id), self.pki.agency_key(id))
        } else {
            pki::issue(&self.pki, id, kind, None).expect("issue certificate")
        };
        let token = pki::mint_token(
            &self.pki.jwt_key(),
            &TokenSpec::new(id, vawg_policy::default_scopes(kind)),
        )
        .expect("mint token");
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(
                std::fs::read(self.pki.ca_cert()).expect("CA"),
            ))
            .domain_name("localhost")
            .identity(Identity::from_pem(
                std::fs::read(&cert).expect("client certificate"),
                std::fs::read(&key).expect("client key"),
            ));
        let endpoint = Endpoint::from_shared(format!("https://{addr}"))
            .expect("endpoint")
            .tls_config(tls)
            .expect("client TLS");
        InterceptedService::new(
            connect_with_retry(&endpoint).await,
            Bearer::new(Some(&token)),
        )
    }
}

/// A running `vawg-hub serve` process.
pub struct HubProcess {
    /// The process (killed if dropped).
    pub child: Child,
    /// The address it serves on (read from its log).
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl HubProcess {
    /// Starts `vawg-hub serve --config CONFIG ARGS…` with `env` added, and waits (60 s
    /// deadline) for the "vawg-hub serving" log line to learn the bound address.
    pub async fn start(
        binary: &Path,
        config: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> HubProcess {
        let mut child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(config)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn vawg-hub");
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let seen = log.clone();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read log") {
                seen.lock().unwrap().push(line.clone());
                if line.contains("vawg-hub serving") {
                    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log");
                    return v["fields"]["addr"]
                        .as_str()
                        .expect("addr field")
                        .parse()
                        .expect("socket address");
                }
            }
            panic!(
                "vawg-hub exited before serving:\n{}",
                seen.lock().unwrap().join("\n")
            );
        })
        .await
        .expect("vawg-hub started within 60 s");
        // Keep draining (and keeping) the log so the child never blocks on a full pipe.
        let seen = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.lock().unwrap().push(line);
            }
        });
        HubProcess { child, addr, log }
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (10 s deadline) until a log line contains `needle`; the log is read as it comes,
    /// so lines written just before exit may arrive after the exit is seen.
    pub async fn wait_for_log(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if let Some(line) = self.log().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log line with '{needle}' in:\n{}",
                self.log().join("\n")
            );
        }
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) {
        let pid = self.child.id().expect("hub still running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Sends SIGKILL and reaps the process.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reap");
    }

    /// Waits (with `deadline`) for the process to exit.
    pub async fn wait(&mut self, deadline: Duration) -> ExitStatus {
        tokio::time::timeout(deadline, self.child.wait())
            .await
            .expect("the hub exited in time")
            .expect("reap")
    }
}
