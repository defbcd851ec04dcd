//! Mutual TLS: the server's rustls configuration (a client certificate issued by the hub's CA
//! is REQUIRED in the handshake) and the accept loop. The hub runs the handshake itself, rather
//! than through tonic's `ServerTlsConfig`, so that a refused handshake (no certificate, another
//! CA, expired) is counted against its source address and audited in aggregate (see
//! [`crate::refusals`]), with bounded pending handshakes and idle connections closed.

use std::{io, path::Path, sync::Arc, time::Duration};

use futures::Stream;
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;

use crate::{
    Error,
    idle::{Connections, IdleStream},
    refusals::RefusalGate,
};

/// How long a client has to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Keys(format!("reading {}: {e}", path.display())))
}

/// The server configuration: `server_cert` (PEM chain) and `server_key` (PEM) as identity,
/// client certificates required and verified against `ca_cert` (PEM). HTTP/2 and HTTP/1.1
/// (gRPC-Web) offered by ALPN.
pub fn server_config(
    ca_cert: &Path,
    server_cert: &Path,
    server_key: &Path,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read(ca_cert)?) {
        let cert = cert.map_err(|e| Error::Keys(format!("{}: {e}", ca_cert.display())))?;
        roots
            .add(cert)
            .map_err(|e| Error::Keys(format!("{}: {e}", ca_cert.display())))?;
    }
    if roots.is_empty() {
        return Err(Error::Keys(format!(
            "{} holds no CA certificate",
            ca_cert.display()
        )));
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::Keys(format!("client verifier: {e}")))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(server_cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Keys(format!("{}: {e}", server_cert.display())))?;
    let key = PrivateKeyDer::from_pem_slice(&read(server_key)?)
        .map_err(|e| Error::Keys(format!("{}: {e}", server_key.display())))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Keys(format!("TLS versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| Error::Keys(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The dashboard listener's configuration: the same server identity (`server_cert`, `server_key`)
/// but no client certificate asked for, since browsers cannot practically hold an agency's.
/// Callers there authenticate by bearer token alone and reach read-only aggregates only (see
/// [`crate::layer::AuthMode::TokenOnlyAggregates`]). HTTP/2 and HTTP/1.1 offered by ALPN.
pub fn server_config_without_client_auth(
    server_cert: &Path,
    server_key: &Path,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(server_cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Keys(format!("{}: {e}", server_cert.display())))?;
    let key = PrivateKeyDer::from_pem_slice(&read(server_key)?)
        .map_err(|e| Error::Keys(format!("{}: {e}", server_key.display())))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Keys(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Keys(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Why a handshake was refused, in words, when it was about the client's certificate.
fn client_cert_problem(e: &io::Error) -> Option<String> {
    use rustls::{CertificateError as C, Error as R};
    let inner = e.get_ref()?.downcast_ref::<R>()?;
    Some(match inner {
        R::NoCertificatesPresented => "TLS: no client certificate presented".into(),
        R::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            "TLS: client certificate not issued by the hub's CA".into()
        }
        R::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "TLS: client certificate expired".into()
        }
        R::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "TLS: client certificate not yet valid".into()
        }
        R::InvalidCertificate(C::Revoked) => "TLS: client certificate revoked".into(),
        R::InvalidCertificate(other) => format!("TLS: client certificate refused ({other:?})"),
        _ => return None,
    })
}

/// How a listener's accept loop protects itself before identity is established.
#[derive(Clone, Debug)]
pub struct AcceptGuard {
    /// Per-source refusal limits and aggregated auditing.
    pub refusals: Arc<RefusalGate>,
    /// The longest a TLS handshake may take (slow-loris protection).
    pub handshake_timeout: Duration,
    /// Most TLS handshakes in progress at once; further connections are dropped at once.
    pub max_pending_handshakes: usize,
    /// A connection with no call in flight is closed after this long without a new call.
    pub idle_timeout: Duration,
    /// The listener's open connections, shared with its [`crate::idle::ActivityLayer`].
    pub connections: Arc<Connections>,
}

/// The stream an accept loop yields: an established TLS connection, closed when idle.
pub type Established = IdleStream<TlsStream<TcpStream>>;

/// Accepts TCP connections on `listener`, runs the TLS handshake for each (concurrently, at
/// most `guard.max_pending_handshakes` at once, each within `guard.handshake_timeout`) and
/// yields the established streams. Sources blocked by `guard.refusals` are dropped before the
/// handshake; failed handshakes are counted against their source and audited in aggregate.
/// Accept errors (a full file table) back off, up to a second. The loop ends when the returned
/// stream is dropped.
pub fn incoming_guarded(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    guard: AcceptGuard,
) -> impl Stream<Item = Result<Established, io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Established, io::Error>>(64);
    let acceptor = TlsAcceptor::from(config);
    let pending = Arc::new(Semaphore::new(guard.max_pending_handshakes.max(1)));
    tokio::spawn(async move {
        let mut backoff = Duration::ZERO;
        loop {
            let accepted = tokio::select! {
                _ = tx.closed() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => {
                    backoff = Duration::ZERO;
                    a
                }
                Err(e) => {
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            if !guard.refusals.admits(peer.ip()) {
                let kind = "connection dropped: source over its refusal rate";
                spawn_audit_first(&guard.refusals, guard.refusals.tally(peer.ip(), kind), kind);
                continue;
            }
            let Ok(permit) = pending.clone().try_acquire_owned() else {
                tracing::debug!(%peer, "too many TLS handshakes pending; connection dropped");
                let kind = "connection dropped: too many pending handshakes";
                spawn_audit_first(&guard.refusals, guard.refusals.tally(peer.ip(), kind), kind);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx, guard) = (acceptor.clone(), tx.clone(), guard.clone());
            tokio::spawn(async move {
                let handshake =
                    tokio::time::timeout(guard.handshake_timeout, acceptor.accept(tcp)).await;
                drop(permit);
                let kind = match handshake {
                    Ok(Ok(tls)) => {
                        let stream = IdleStream::new(
                            tls,
                            peer,
                            guard.idle_timeout,
                            guard.connections.clone(),
                        );
                        let _ = tx.send(Ok(stream)).await;
                        return;
                    }
                    Ok(Err(e)) => client_cert_problem(&e).unwrap_or_else(|| {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        "TLS: handshake failed".into()
                    }),
                    Err(_) => "TLS: handshake timed out".into(),
                };
                tracing::debug!(%peer, reason = %kind, "TLS handshake refused");
                if guard.refusals.refused(peer.ip(), &kind)
                    && let Err(e) = guard
                        .refusals
                        .audit_first("", "", tonic::Code::Unauthenticated, &kind)
                        .await
                {
                    tracing::error!(error = %e, "auditing a refused handshake failed");
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// Audits, on its own task, a source's first refusal of the interval (`first`).
fn spawn_audit_first(gate: &Arc<RefusalGate>, first: bool, kind: &'static str) {
    if !first {
        return;
    }
    let gate = gate.clone();
    tokio::spawn(async move {
        if let Err(e) = gate
            .audit_first("", "", tonic::Code::Unauthenticated, kind)
            .await
        {
            tracing::error!(error = %e, "auditing a dropped connection failed");
        }
    });
}
