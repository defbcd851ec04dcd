//! Bearer tokens with refresh: a [`TokenProvider`] mints or reads a fresh token, and the
//! [`BearerToken`] interceptor asks it for one shortly before the current token expires, so a
//! long upload never fails half-way on an expired token.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::Interceptor,
};

use crate::ClientError;

/// The error a [`TokenProvider`] returns.
pub type ProviderError = Box<dyn std::error::Error + Send + Sync>;

/// Where fresh tokens come from: an identity provider call, a file another process rotates,
/// a local signing key. Called from the request path, so it should be quick; it is called only
/// when the current token is within the refresh margin of its expiry (or has been refused).
pub trait TokenProvider: Send + Sync + 'static {
    /// A fresh token (the compact JWT, without `Bearer `).
    fn fetch(&self) -> Result<String, ProviderError>;
}

impl<F> TokenProvider for F
where
    F: Fn() -> Result<String, ProviderError> + Send + Sync + 'static,
{
    fn fetch(&self) -> Result<String, ProviderError> {
        self()
    }
}

/// A token kept in a file and replaced there by another process (e.g. a sidecar that talks to
/// the identity provider). Re-read on refresh.
#[derive(Clone, Debug)]
pub struct TokenFile(pub PathBuf);

impl TokenProvider for TokenFile {
    fn fetch(&self) -> Result<String, ProviderError> {
        let text = std::fs::read_to_string(&self.0)
            .map_err(|e| format!("reading the token file {}: {e}", self.0.display()))?;
        Ok(text.trim().to_string())
    }
}

/// The `exp` claim of a JWT, read without verifying the signature (the hub verifies; the
/// client only needs to know when to refresh). `None` when the token is not a JWT with `exp`.
pub fn expiry_of(token: &str) -> Option<SystemTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_u64()?;
    Some(UNIX_EPOCH + Duration::from_secs(exp))
}

fn header(token: &str) -> Result<MetadataValue<Ascii>, ClientError> {
    format!("Bearer {}", token.trim())
        .parse()
        .map_err(|_| ClientError::BadToken)
}

struct Current {
    header: MetadataValue<Ascii>,
    expires: Option<SystemTime>,
}

struct Shared {
    current: Mutex<Current>,
    provider: Option<Arc<dyn TokenProvider>>,
    margin: Duration,
}

/// Adds `authorization: Bearer <token>` to every call, refreshing the token from its provider
/// when it is within the refresh margin of expiry.
#[derive(Clone)]
pub struct BearerToken(Arc<Shared>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("token", &"[redacted]")
            .field("refreshes", &self.0.provider.is_some())
            .finish()
    }
}

impl BearerToken {
    /// A token, optionally refreshed by `provider` `margin` before it expires.
    pub fn new(
        token: &str,
        provider: Option<Arc<dyn TokenProvider>>,
        margin: Duration,
    ) -> Result<BearerToken, ClientError> {
        Ok(BearerToken(Arc::new(Shared {
            current: Mutex::new(Current {
                header: header(token)?,
                expires: expiry_of(token),
            }),
            provider,
            margin,
        })))
    }

    /// Whether a provider can mint fresh tokens.
    pub fn refreshes(&self) -> bool {
        self.0.provider.is_some()
    }

    /// Replaces the token.
    pub fn set(&self, token: &str) -> Result<(), ClientError> {
        let value = header(token)?;
        let mut current = self.0.current.lock().map_err(|_| ClientError::BadToken)?;
        current.header = value;
        current.expires = expiry_of(token);
        Ok(())
    }

    /// Fetches a fresh token from the provider now (e.g. after the hub refused the current
    /// one). Does nothing without a provider.
    pub fn refresh(&self) -> Result<(), ClientError> {
        let Some(provider) = &self.0.provider else {
            return Ok(());
        };
        let token = provider
            .fetch()
            .map_err(|e| ClientError::TokenRefresh(e.to_string()))?;
        self.set(&token)
    }

    fn header_for_call(&self) -> Result<MetadataValue<Ascii>, Status> {
        let mut current = self
            .0
            .current
            .lock()
            .map_err(|_| Status::internal("token lock poisoned"))?;
        let now = SystemTime::now();
        let due = current
            .expires
            .is_some_and(|exp| now + self.0.margin >= exp);
        if due && let Some(provider) = &self.0.provider {
            match provider.fetch().map_err(|e| e.to_string()).and_then(|t| {
                header(&t)
                    .map(|h| (h, expiry_of(&t)))
                    .map_err(|e| e.to_string())
            }) {
                Ok((h, exp)) => {
                    current.header = h;
                    current.expires = exp;
                }
                // Still valid: carry on with it and try again on the next call.
                Err(e) if current.expires.is_some_and(|exp| now < exp) => {
                    tracing::warn!(error = %e, "token refresh failed; using the current token");
                }
                Err(e) => {
                    return Err(Status::unauthenticated(format!(
                        "the token has expired and refreshing it failed: {e}"
                    )));
                }
            }
        }
        Ok(current.header.clone())
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let value = self.header_for_call()?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn jwt(exp: u64) -> String {
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"police-e23000001","exp":{exp}}}"#));
        format!("eyJhbGciOiJFUzI1NiJ9.{claims}.c2ln")
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn sent(token: &mut BearerToken) -> String {
        let r = token.call(Request::new(())).unwrap();
        r.metadata()
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn reads_the_expiry_of_a_jwt() {
        let t = jwt(2_000_000_000);
        assert_eq!(
            expiry_of(&t),
            Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
        assert_eq!(expiry_of("not-a-jwt"), None);
    }

    #[test]
    fn refreshes_only_near_expiry() {
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let provider = move || -> Result<String, ProviderError> {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(jwt(now() + 3600))
        };
        // Far from expiry: no refresh.
        let fresh = jwt(now() + 3600);
        let mut token =
            BearerToken::new(&fresh, Some(Arc::new(provider)), Duration::from_secs(60)).unwrap();
        assert_eq!(sent(&mut token), format!("Bearer {fresh}"));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        // Within the margin: the provider is asked, and its token is sent.
        token.set(&jwt(now() + 30)).unwrap();
        let after = sent(&mut token);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(expiry_of(after.trim_start_matches("Bearer ")).unwrap() > SystemTime::now());
        sent(&mut token);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no refresh while fresh");
    }

    #[test]
    fn an_expired_token_whose_refresh_fails_is_refused_locally() {
        let provider = || -> Result<String, ProviderError> { Err("identity provider down".into()) };
        let mut token = BearerToken::new(
            &jwt(now() - 10),
            Some(Arc::new(provider)),
            Duration::from_secs(60),
        )
        .unwrap();
        let e = token.call(Request::new(())).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert!(e.message().contains("identity provider down"));
        // Not yet expired: the current token is still used.
        let still = jwt(now() + 30);
        token.set(&still).unwrap();
        assert_eq!(sent(&mut token), format!("Bearer {still}"));
    }
}
