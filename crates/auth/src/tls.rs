//! Mutual TLS: the server's rustls configuration (a client certificate issued by the hub's CA
//! is REQUIRED in the handshake) and the accept loop. The hub runs the handshake itself, rather
//! than through tonic's `ServerTlsConfig`, so that a refused handshake (no certificate, another
//! CA, expired) is audited like every other refusal.

use std::{io, path::Path, sync::Arc, time::Duration};

use futures::Stream;
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;

use vawg_firewall::Firewall;

use crate::Error;

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

/// Accepts TCP connections on `listener`, runs the TLS handshake for each (concurrently, with
/// a timeout) and yields the established streams. Handshakes refused over the client
/// certificate are audited. The loop ends when the returned stream is dropped.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    firewall: Firewall,
) -> impl Stream<Item = Result<TlsStream<TcpStream>, io::Error>> {
    incoming_with_timeout(listener, config, firewall, HANDSHAKE_TIMEOUT)
}

/// [`incoming`] with a configurable handshake timeout: a client that opens a connection and
/// does not finish the TLS handshake within `handshake_timeout` (a slow-loris client) is
/// disconnected, and never holds more than its own spawned task meanwhile.
pub fn incoming_with_timeout(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    firewall: Firewall,
    handshake_timeout: Duration,
) -> impl Stream<Item = Result<TlsStream<TcpStream>, io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<TlsStream<TcpStream>, io::Error>>(64);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = tx.closed() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            let firewall = firewall.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => match client_cert_problem(&e) {
                        Some(reason) => {
                            tracing::info!(%peer, %reason, "TLS handshake refused");
                            if let Err(e) = firewall
                                .audit_refusal("", "", tonic::Code::Unauthenticated, &reason)
                                .await
                            {
                                tracing::error!(error = %e, "auditing a refused handshake failed");
                            }
                        }
                        None => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    },
                    Err(_) => tracing::info!(%peer, "TLS handshake timed out; connection dropped"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
