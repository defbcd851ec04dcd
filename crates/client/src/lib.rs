//! vawg-client: the Rust client for vawg-hub.
//!
//! - [`HubClient::builder`] opens one mutual-TLS channel (the agency's certificate, the hub's
//!   CA) and attaches the agency's bearer token to every call. A [`TokenProvider`] (a
//!   callback, or a [`TokenFile`] another process rotates) refreshes the token shortly before
//!   it expires, without reconnecting.
//! - [`HubClient::submit`] sends records in `SubmitBatch` batches; [`HubClient::stream_chunks`]
//!   streams them over `StreamRecords` with at most N unacknowledged chunks (backpressure) and
//!   hands each acknowledged chunk's per-record results to a callback ([`Ack`],
//!   [`refusal_reason`]).
//! - Transient failures are retried with exponential backoff and jitter ([`RetryPolicy`]); a
//!   broken stream is reopened and every unacknowledged chunk resent. That is safe because
//!   ingest is idempotent on (agency, source record id, revision): a resent record comes back
//!   `DUPLICATE`, never stored twice.
//! - [`sealing`] (the `vawg-seal` crate, re-exported) seals identifying details to a recipient
//!   agency's key and opens what was sealed to this agency ([`HubClient::seal_for`],
//!   [`open_sealed`]).

mod retry;
mod token;
mod upload;

use std::{path::Path, sync::Arc, time::Duration};

use tonic::{
    Status,
    codegen::InterceptedService,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use vawg_proto::pb::{
    self, definition_service_client::DefinitionServiceClient,
    exchange_service_client::ExchangeServiceClient, firewall_service_client::FirewallServiceClient,
    ingest_service_client::IngestServiceClient, metrics_service_client::MetricsServiceClient,
};
pub use vawg_seal as sealing;

pub use crate::{
    retry::{RetryPolicy, retryable},
    token::{BearerToken, ProviderError, TokenFile, TokenProvider, expiry_of},
    upload::{Ack, Tally, is_held, refusal_reason},
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
    /// The token provider failed.
    #[error("refreshing the token: {0}")]
    TokenRefresh(String),
    /// The builder lacks a setting.
    #[error("the client needs {0}")]
    Missing(&'static str),
    /// A sealed payload could not be sealed or opened.
    #[error("{0}")]
    Sealing(#[from] vawg_seal::Error),
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

type AuthedChannel = InterceptedService<Channel, BearerToken>;

/// A connection to the hub as one agency. Cheap to clone: clones share the channel and the
/// token.
#[derive(Clone, Debug)]
pub struct HubClient {
    channel: Channel,
    token: BearerToken,
    retry: RetryPolicy,
}

/// Builds a [`HubClient`]: where the hub is, the agency's mTLS identity, its token (fixed or
/// refreshed), and the retry policy.
///
/// ```no_run
/// # async fn f() -> Result<(), vawg_client::ClientError> {
/// use vawg_client::{HubClient, TokenFile};
/// let client = HubClient::builder("https://hub.example:50051")
///     .server_name("hub.example")
///     .ca_file("ca.pem")?
///     .identity_files("police-e23000001.pem", "police-e23000001.key")?
///     .token_provider(TokenFile("token.jwt".into()))
///     .connect()
///     .await?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone)]
pub struct HubClientBuilder {
    endpoint: String,
    server_name: String,
    ca_pem: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    token: Option<String>,
    provider: Option<Arc<dyn TokenProvider>>,
    refresh_margin: Duration,
    retry: RetryPolicy,
    connect_timeout: Duration,
}

impl std::fmt::Debug for HubClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("server_name", &self.server_name)
            .field("token", &"[redacted]")
            .field("retry", &self.retry)
            .finish()
    }
}

impl HubClientBuilder {
    /// The name in the hub's certificate (default `localhost`, as the development PKI issues).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = name.into();
        self
    }

    /// The hub's CA certificate (PEM).
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// The hub's CA certificate from a PEM file.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let pem = read(path.as_ref())?;
        Ok(self.ca_pem(pem))
    }

    /// The agency's client certificate and private key (PEM).
    pub fn identity_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.identity = Some((cert.into(), key.into()));
        self
    }

    /// The agency's client certificate and private key from PEM files.
    pub fn identity_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, ClientError> {
        let (cert, key) = (read(cert.as_ref())?, read(key.as_ref())?);
        Ok(self.identity_pem(cert, key))
    }

    /// A fixed bearer token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Where fresh tokens come from. The first token is fetched at connect unless
    /// [`token`](Self::token) gave one; later ones shortly before each expires, and once more
    /// when the hub refuses a token as unauthenticated.
    pub fn token_provider(mut self, provider: impl TokenProvider) -> Self {
        self.provider = Some(Arc::new(provider));
        self
    }

    /// How long before expiry to refresh (default 60 s).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// How to retry transient failures (default [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How long to wait for the TCP and TLS handshake (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects: the TLS handshake happens now, so a wrong CA or certificate fails here.
    pub async fn connect(self) -> Result<HubClient, ClientError> {
        let channel = self.endpoint()?.connect().await?;
        self.finish(channel)
    }

    /// A client that connects on its first call (and reconnects after failures).
    pub fn connect_lazy(self) -> Result<HubClient, ClientError> {
        let channel = self.endpoint()?.connect_lazy();
        self.finish(channel)
    }

    fn endpoint(&self) -> Result<Endpoint, ClientError> {
        let ca = self
            .ca_pem
            .as_ref()
            .ok_or(ClientError::Missing("the hub's CA certificate"))?;
        let (cert, key) = self
            .identity
            .as_ref()
            .ok_or(ClientError::Missing("the agency's certificate and key"))?;
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .identity(Identity::from_pem(cert, key))
            .domain_name(self.server_name.clone());
        Ok(Endpoint::from_shared(self.endpoint.clone())?
            .tls_config(tls)?
            .tcp_nodelay(true)
            .connect_timeout(self.connect_timeout)
            .http2_adaptive_window(true))
    }

    fn finish(self, channel: Channel) -> Result<HubClient, ClientError> {
        let first = match (self.token, &self.provider) {
            (Some(t), _) => t,
            (None, Some(p)) => p
                .fetch()
                .map_err(|e| ClientError::TokenRefresh(e.to_string()))?,
            (None, None) => return Err(ClientError::Missing("a token or a token provider")),
        };
        Ok(HubClient {
            channel,
            token: BearerToken::new(&first, self.provider, self.refresh_margin)?,
            retry: self.retry,
        })
    }
}

impl HubClient {
    /// A builder for a client to the hub at `endpoint` (e.g. `https://127.0.0.1:50051`).
    pub fn builder(endpoint: impl Into<String>) -> HubClientBuilder {
        HubClientBuilder {
            endpoint: endpoint.into(),
            server_name: "localhost".into(),
            ca_pem: None,
            identity: None,
            token: None,
            provider: None,
            refresh_margin: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Connects to `endpoint` (e.g. `https://127.0.0.1:50051`) with mutual TLS and a fixed
    /// token. `server_name` is the name in the hub's certificate (`localhost` for the
    /// development PKI). See [`HubClient::builder`] for token refresh and retry settings.
    pub async fn connect(
        endpoint: &str,
        server_name: &str,
        creds: &Credentials,
    ) -> Result<HubClient, ClientError> {
        HubClient::builder(endpoint)
            .server_name(server_name)
            .ca_pem(creds.ca_pem.clone())
            .identity_pem(creds.cert_pem.clone(), creds.key_pem.clone())
            .token(creds.token.clone())
            .connect()
            .await
    }

    /// Replaces the bearer token for later calls (a manual refresh).
    pub fn set_token(&self, token: &str) -> Result<(), ClientError> {
        self.token.set(token)
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
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

    /// Registers this agency's sealing public key under `key_id`, so that other agencies can
    /// seal identifying details to it (see [`sealing`]).
    pub async fn register_sealing_key(
        &self,
        key_id: &str,
        keys: &sealing::KeyPair,
    ) -> Result<String, ClientError> {
        let response = self
            .exchange()
            .register_sealing_key(pb::RegisterSealingKeyRequest {
                key_id: key_id.to_string(),
                public_key: keys.public_key().to_vec(),
            })
            .await?
            .into_inner();
        Ok(response.key_id)
    }

    /// Seals `plaintext` to `recipient_agency_id`'s current key, fetched from the hub.
    pub async fn seal_for(
        &self,
        recipient_agency_id: &str,
        plaintext: &[u8],
    ) -> Result<pb::SealedPayload, ClientError> {
        let key = self
            .exchange()
            .get_sealing_key(pb::GetSealingKeyRequest {
                agency_id: recipient_agency_id.to_string(),
            })
            .await?
            .into_inner();
        Ok(sealing::seal(
            &key.agency_id,
            &key.key_id,
            &key.public_key,
            plaintext,
        )?)
    }
}

/// Opens a payload another agency sealed to this agency's `keys` (e.g. the pupil details of an
/// Operation Encompass notification). Fails for any other key or a tampered payload.
pub fn open_sealed(
    keys: &sealing::KeyPair,
    sealed: &pb::SealedPayload,
) -> Result<Vec<u8>, ClientError> {
    Ok(sealing::open(keys, sealed)?)
}
