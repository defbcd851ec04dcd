//! Test support: spawn a real hub on 127.0.0.1:0 with its own fresh database and hand back
//! typed gRPC clients. Every end-to-end test goes through here.

use std::net::SocketAddr;

use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::{Channel, Endpoint};
use vawg_server::{app::Application, config::Settings};

/// A hub running inside the test process.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    /// Keeps the data folder alive for the test's duration.
    pub dir: TempDir,
}

impl TestApp {
    /// Starts a hub with default settings on an ephemeral port and a temporary SQLite file.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a hub after letting the test adjust its settings.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings {
            listen: ([127, 0, 0, 1], 0).into(),
            database_url: format!("sqlite://{}", dir.path().join("hub.db").display()),
            ..Settings::default()
        };
        adjust(&mut settings);
        let app = Application::build(settings).await.expect("hub builds");
        let addr = app.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            stop: Some(tx),
            handle: Some(handle),
            dir,
        }
    }

    /// A channel to the hub; connecting retries until the listener answers or 10 s pass.
    pub async fn channel(&self) -> Channel {
        let endpoint = Endpoint::from_shared(format!("http://{}", self.addr)).expect("endpoint");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match endpoint.connect().await {
                Ok(c) => return c,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::task::yield_now().await;
                }
                Err(e) => panic!("hub did not answer: {e}"),
            }
        }
    }

    /// Stops the hub and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("join").expect("hub ran cleanly");
        }
    }
}
