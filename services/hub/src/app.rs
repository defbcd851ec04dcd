//! Start-up: build every service from [`Settings`], bind the listener (so the port is known
//! before serving, which is what tests need), then serve until a shutdown signal.

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use vawg_hub::{
    definition::{Definition, DefinitionSet},
    pb::{
        self, definition_service_server::DefinitionServiceServer,
        ingest_service_server::IngestServiceServer,
    },
};
use vawg_ingest::{IngestApi, IngestLimits};
use vawg_store::Store;

use crate::{config::Settings, definitions::DefinitionApi};

/// A built hub, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    definitions: Arc<DefinitionSet>,
    settings: Settings,
    store: Store,
    ingest: IngestApi,
}

impl Application {
    /// Loads definitions and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let definitions = Arc::new(load_definitions(settings.definitions_dir.as_deref())?);
        let store = Store::connect(&settings.database_url)
            .await
            .context("connecting to the database")?;
        store.migrate().await.context("migrating the database")?;
        let keyring = Arc::new(crate::keys::load_keyring(&settings)?);
        let ingest = IngestApi::new(
            store.clone(),
            definitions.clone(),
            keyring,
            IngestLimits {
                max_batch_records: settings.limits.max_batch_records,
                max_stream_records: settings.limits.max_stream_records,
            },
        );
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        Ok(Application {
            listener,
            local_addr,
            definitions,
            settings,
            store,
            ingest,
        })
    }

    /// The store the hub writes to (tests inspect it directly).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The address the hub listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight calls finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let max = self.settings.limits.max_message_bytes;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<DefinitionServiceServer<DefinitionApi>>()
            .await;
        health.set_serving::<IngestServiceServer<IngestApi>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let definitions =
            DefinitionServiceServer::new(DefinitionApi::new(self.definitions.clone()))
                .max_decoding_message_size(max);
        let ingest = IngestServiceServer::new(self.ingest.clone()).max_decoding_message_size(max);
        tracing::info!(addr = %self.local_addr, "vawg-hub serving");
        Server::builder()
            .accept_http1(true)
            .layer(tonic_web::GrpcWebLayer::new())
            // Inside gRPC-Web so it sees plain gRPC: a span and metrics per RPC.
            .layer(crate::telemetry::RpcLayer::new())
            .add_service(health_service)
            .add_service(reflection)
            .add_service(definitions)
            .add_service(ingest)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), shutdown)
            .await
            .context("serving gRPC")?;
        self.store.close().await;
        tracing::info!("vawg-hub stopped");
        Ok(())
    }
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
