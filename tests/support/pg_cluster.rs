//! A private PostgreSQL 15 cluster for the tests that stop and restart the database server
//! (the machine's shared server on port 5432 is never touched). `initdb` and `postgres` refuse
//! to run as root, so they run as the `postgres` OS user (`runuser`), with the data in a
//! temporary folder that user owns, listening on a free port on 127.0.0.1 only, trust auth.
//!
//! ```ignore
//! let Some(mut pg) = PgCluster::init().await else { return }; // skipped: no root or binaries
//! pg.start().await;
//! let url = pg.url("postgres");
//! pg.stop().await; // fast shutdown: sessions get 57P01
//! pg.start().await;
//! ```

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
};

use tempfile::TempDir;

/// Where Debian's PostgreSQL 15 server binaries live.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A private cluster; stopped (immediately) and deleted when dropped.
pub struct PgCluster {
    dir: TempDir,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    running: bool,
}

/// Runs `PG_BIN/<tool> args…` as the `postgres` OS user; panics with its output on failure.
async fn as_postgres(tool: &str, args: &[&str]) {
    let out = tokio::process::Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(Path::new(PG_BIN).join(tool))
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a fault test that cannot run must fail rather than skip: under CI (`CI` set to
/// anything but empty, `0` or `false`; `.ci/run` exports `CI=true`), which runs as root with
/// PostgreSQL installed, so every fault test can run there.
pub fn fault_tests_required() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE"))
}

impl PgCluster {
    /// Creates the cluster (`initdb`, trust auth), not yet started. `None` (with a note on
    /// stderr) when this is not root, or the PostgreSQL 15 binaries or `runuser` are missing.
    pub async fn init() -> Option<PgCluster> {
        // Root? (the effective uid, from /proc).
        let root = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|v| v.split_whitespace().nth(1).map(|u| u == "0"))
            })
            .unwrap_or(false);
        if !root || !Path::new(PG_BIN).join("initdb").exists() {
            // CI runs as root with PostgreSQL installed and must exercise these faults: there a
            // missing prerequisite fails the test instead of skipping it.
            assert!(
                !fault_tests_required(),
                "CI: a private PostgreSQL cluster needs root and {PG_BIN}"
            );
            eprintln!("SKIPPED: a private PostgreSQL cluster needs root and {PG_BIN}");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("vawg-pg-")
            .tempdir()
            .expect("temp dir");
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(status.success(), "chown the cluster folder to postgres");
        let data = dir.path().join("data");
        let data = data.to_str().expect("UTF-8 path");
        as_postgres(
            "initdb",
            &[
                "-D",
                data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )
        .await;
        // A free port: bound and released just before the server binds it.
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("port")
            .port();
        Some(PgCluster {
            dir,
            port,
            running: false,
        })
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A URL for database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts the server and waits until it accepts connections (`pg_ctl -w`, 60 s deadline).
    pub async fn start(&mut self) {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=60",
            self.port,
            self.dir.path().display()
        );
        as_postgres(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                data.to_str().expect("UTF-8"),
                "-l",
                log.to_str().expect("UTF-8"),
                "-o",
                &opts,
            ],
        )
        .await;
        self.running = true;
    }

    /// Stops the server with a fast shutdown (every session is terminated with 57P01, as in a
    /// restart) and waits until it has exited.
    pub async fn stop(&mut self) {
        let data = self.data();
        as_postgres(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-m",
                "fast",
                "-D",
                data.to_str().expect("UTF-8"),
            ],
        )
        .await;
        self.running = false;
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(Path::new(PG_BIN).join("pg_ctl"))
                .args(["stop", "-w", "-m", "immediate", "-D"])
                .arg(&data)
                .output();
        }
    }
}
