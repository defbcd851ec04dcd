//! vawg-client: the Rust client for vawg-hub.
//!
//! - [`HubClient::connect`] opens one mutual-TLS channel (the agency's certificate, the hub's
//!   CA) and attaches the agency's bearer token to every call; [`HubClient::set_token`]
//!   replaces the token (refresh) without reconnecting.
//! - [`HubClient::submit`] sends records in batches with per-record results, retrying a batch
//!   with exponential backoff on `UNAVAILABLE`/`DEADLINE_EXCEEDED` — safe because ingest is
//!   idempotent on (agency, source record id, revision): a resent record comes back DUPLICATE.
//! - [`HubClient::stream`] streams records over `StreamRecords` with bounded in-flight chunks
//!   (backpressure) and hands each acknowledged chunk's results to a callback.

use std::{
    path::Path,
    sync::{Arc, RwLock},
    time::Duration,
};

use tokio_stream::StreamExt;
use tonic::{
    Request, Status,
    codegen::InterceptedService,
    metadata::MetadataValue,
    service::Interceptor,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use vawg_hub::pb::{
    self, definition_service_client::DefinitionServiceClient,
    exchange_service_client::ExchangeServiceClient, firewall_service_client::FirewallServiceClient,
    ingest_service_client::IngestServiceClient, metrics_service_client::MetricsServiceClient,
};

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A credential file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The endpoint or TLS configuration is invalid, or the hub could not be reached.
    #[error("connecting to the hub: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The hub refused a call.
    #[error("the hub answered {}: {}", .0.code(), .0.message())]
    Status(#[from] Status),
    /// A token is not valid header text.
    #[error("the token is not valid header text")]
    BadToken,
}

/// The credentials an agency system holds.
#[derive(Clone)]
pub struct Credentials {
    /// PEM of the hub's CA certificate.
    pub ca_pem: Vec<u8>,
    /// PEM of the agency's client certificate.
    pub cert_pem: Vec<u8>,
    /// PEM of the agency's private key.
    pub key_pem: Vec<u8>,
    /// The bearer token (JWT).
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &"[redacted]")
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl Credentials {
    /// Reads the CA, certificate and key from PEM files; the token is given.
    pub fn from_files(
        ca: &Path,
        cert: &Path,
        key: &Path,
        token: impl Into<String>,
    ) -> Result<Credentials, ClientError> {
        Ok(Credentials {
            ca_pem: read(ca)?,
            cert_pem: read(cert)?,
            key_pem: read(key)?,
            token: token.into(),
        })
    }
}

/// Adds `authorization: Bearer <token>` to every call, reading the current token each time.
#[derive(Clone)]
pub struct BearerToken(Arc<RwLock<MetadataValue<tonic::metadata::Ascii>>>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let value = self
            .0
            .read()
            .map_err(|_| Status::internal("token lock poisoned"))?
            .clone();
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

fn bearer(token: &str) -> Result<MetadataValue<tonic::metadata::Ascii>, ClientError> {
    format!("Bearer {token}")
        .parse()
        .map_err(|_| ClientError::BadToken)
}

type AuthedChannel = InterceptedService<Channel, BearerToken>;

/// A connection to the hub as one agency.
#[derive(Clone)]
pub struct HubClient {
    channel: Channel,
    token: BearerToken,
}

/// How a batch of records fared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// New records stored.
    pub accepted: u64,
    /// Records that superseded an earlier revision.
    pub superseded: u64,
    /// Records already held at that revision.
    pub duplicate: u64,
    /// Stale revisions refused.
    pub stale: u64,
    /// Invalid records refused.
    pub rejected: u64,
}

impl Tally {
    /// Adds a hub summary.
    pub fn add(&mut self, s: &pb::ResultSummary) {
        self.accepted += u64::from(s.accepted);
        self.superseded += u64::from(s.superseded);
        self.duplicate += u64::from(s.duplicate);
        self.stale += u64::from(s.stale);
        self.rejected += u64::from(s.rejected);
    }

    /// Records the hub holds now (accepted, superseded or duplicate).
    pub fn held(&self) -> u64 {
        self.accepted + self.superseded + self.duplicate
    }
}

fn retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::ResourceExhausted
    )
}

impl HubClient {
    /// Connects to `endpoint` (e.g. `https://127.0.0.1:50051`) with mutual TLS. `server_name`
    /// is the name in the hub's certificate (`localhost` for the development PKI).
    pub async fn connect(
        endpoint: &str,
        server_name: &str,
        creds: &Credentials,
    ) -> Result<HubClient, ClientError> {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&creds.ca_pem))
            .identity(Identity::from_pem(&creds.cert_pem, &creds.key_pem))
            .domain_name(server_name);
        let channel = Endpoint::from_shared(endpoint.to_string())?
            .tls_config(tls)?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .http2_adaptive_window(true)
            .connect()
            .await?;
        Ok(HubClient {
            channel,
            token: BearerToken(Arc::new(RwLock::new(bearer(&creds.token)?))),
        })
    }

    /// Replaces the bearer token for later calls (token refresh).
    pub fn set_token(&self, token: &str) -> Result<(), ClientError> {
        let value = bearer(token)?;
        *self.token.0.write().map_err(|_| ClientError::BadToken)? = value;
        Ok(())
    }

    fn authed(&self) -> AuthedChannel {
        InterceptedService::new(self.channel.clone(), self.token.clone())
    }

    /// The ingest service.
    pub fn ingest(&self) -> IngestServiceClient<AuthedChannel> {
        IngestServiceClient::new(self.authed())
    }

    /// The metrics service.
    pub fn metrics(&self) -> MetricsServiceClient<AuthedChannel> {
        MetricsServiceClient::new(self.authed())
    }

    /// The definition service.
    pub fn definitions(&self) -> DefinitionServiceClient<AuthedChannel> {
        DefinitionServiceClient::new(self.authed())
    }

    /// The exchange service.
    pub fn exchange(&self) -> ExchangeServiceClient<AuthedChannel> {
        ExchangeServiceClient::new(self.authed())
    }

    /// The firewall service.
    pub fn firewall(&self) -> FirewallServiceClient<AuthedChannel> {
        FirewallServiceClient::new(self.authed())
    }

    /// Submits records in batches of `batch`, retrying a batch up to `retries` times with
    /// exponential backoff when the hub is briefly unavailable. `on_results` sees every
    /// record's result (e.g. to write a rejects file).
    pub async fn submit(
        &self,
        records: Vec<pb::VawgRecord>,
        batch: usize,
        retries: u32,
        mut on_results: impl FnMut(&[pb::VawgRecord], &[pb::RecordResult]),
    ) -> Result<Tally, ClientError> {
        let mut tally = Tally::default();
        let mut ingest = self.ingest();
        for chunk in records.chunks(batch.max(1)) {
            let mut attempt = 0;
            let response = loop {
                match ingest
                    .submit_batch(pb::SubmitBatchRequest {
                        records: chunk.to_vec(),
                    })
                    .await
                {
                    Ok(r) => break r.into_inner(),
                    Err(s) if retryable(&s) && attempt < retries => {
                        attempt += 1;
                        let wait = Duration::from_millis(100 * 2u64.pow(attempt.min(6)));
                        tracing::warn!(code = ?s.code(), attempt, "batch refused as unavailable; retrying");
                        tokio::time::sleep(wait).await;
                    }
                    Err(s) => return Err(s.into()),
                }
            };
            if let Some(s) = &response.summary {
                tally.add(s);
            }
            on_results(chunk, &response.results);
        }
        Ok(tally)
    }

    /// Streams records in chunks of `chunk` over one `StreamRecords` call, with at most
    /// `in_flight` unacknowledged chunks (backpressure), calling `on_ack` with each
    /// acknowledged chunk's index and results.
    pub async fn stream(
        &self,
        records: Vec<pb::VawgRecord>,
        chunk: usize,
        in_flight: usize,
        mut on_ack: impl FnMut(u64, &[pb::RecordResult]),
    ) -> Result<Tally, ClientError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::StreamRecordsRequest>(in_flight.max(1));
        let chunks: Vec<Vec<pb::VawgRecord>> =
            records.chunks(chunk.max(1)).map(|c| c.to_vec()).collect();
        let total = chunks.len() as u64;
        let permits = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
        let sender = {
            let permits = permits.clone();
            tokio::spawn(async move {
                for c in chunks {
                    let Ok(p) = permits.clone().acquire_owned().await else {
                        return;
                    };
                    p.forget();
                    if tx
                        .send(pb::StreamRecordsRequest { records: c })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            })
        };
        let mut responses = self
            .ingest()
            .stream_records(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?
            .into_inner();
        let mut tally = Tally::default();
        let mut acked = 0;
        while let Some(ack) = responses.next().await {
            let ack = ack?;
            permits.add_permits(1);
            if let Some(s) = &ack.summary {
                tally.add(s);
            }
            on_ack(ack.chunk, &ack.results);
            acked += 1;
            if acked == total {
                break;
            }
        }
        sender.abort();
        Ok(tally)
    }
}
