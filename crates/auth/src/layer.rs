//! The auth layer: every request to the hub passes here. It establishes who is calling from
//! the verified client certificate and the bearer token (which must name the same agency),
//! checks the agency registry, asks the firewall whether this RPC may be called, audits the
//! decision either way, and hands the service a [`CallerIdentity`] — or refuses.
//!
//! The same layer, in [`AuthMode::TokenOnlyAggregates`], guards the browser dashboard's
//! listener, where no client certificate exists: the bearer token alone names the agency (it
//! must still be registered and active), only the read-only aggregate RPCs of
//! [`rpc::dashboard_allows`] may be called, and the decision and audit path is the same one.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use http::{Request, Response};
use rustls::pki_types::CertificateDer;
use tonic::{
    Code, Status,
    body::Body,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};
use vawg_domain::identity::CallerIdentity;
use vawg_firewall::Firewall;
use vawg_policy::{Decision, rpc};
use vawg_proto::error::{IntoStatus, status};
use vawg_store::agencies::AgencyStatus;

use crate::{Error, cert, idle::peer_of, jwt::TokenValidator, refusals::RefusalGate};

/// How callers prove who they are on a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// The agencies' listener: a verified client certificate AND a bearer token naming the same
    /// agency; every RPC the hub serves is open to the firewall's decision.
    MutualTls,
    /// The dashboard listener (browsers hold no client certificate): the bearer token alone
    /// names the agency, and only the read-only aggregate RPCs of [`rpc::dashboard_allows`]
    /// pass; anything else is refused (and audited) before the firewall is asked.
    TokenOnlyAggregates,
}

/// The policy id recorded on dashboard-listener decisions: allowed calls carry it beside the
/// deciding policies, refused non-aggregate calls carry it alone.
pub const DASHBOARD_POLICY_ID: &str = "code:dashboard-token-only-aggregates";

/// Authenticates and authorises every call. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
}

impl AuthLayer {
    /// A layer deciding with `firewall` and validating tokens with `tokens`.
    pub fn new(firewall: Firewall, tokens: TokenValidator) -> AuthLayer {
        AuthLayer::with_mode(firewall, tokens, AuthMode::MutualTls)
    }

    /// A layer for a listener whose callers authenticate as `mode` says.
    pub fn with_mode(firewall: Firewall, tokens: TokenValidator, mode: AuthMode) -> AuthLayer {
        AuthLayer {
            auth: Arc::new(Authenticator {
                firewall,
                tokens: Arc::new(tokens),
                mode,
                refusals: None,
                per_source: None,
            }),
        }
    }

    /// This layer with refusals before identity (no agency named) counted against their
    /// source in `gate` and audited in aggregate, instead of one audit entry each.
    pub fn with_refusals(&self, gate: Arc<RefusalGate>) -> AuthLayer {
        AuthLayer {
            auth: Arc::new(Authenticator {
                firewall: self.auth.firewall.clone(),
                tokens: self.auth.tokens.clone(),
                mode: self.auth.mode,
                refusals: Some(gate),
                per_source: None,
            }),
        }
    }

    /// The same firewall and token validation, for the dashboard listener
    /// ([`AuthMode::TokenOnlyAggregates`]): refusals before identity go to `gate`, and each
    /// source address may make `per_second` calls a second (bursts of `burst`).
    pub fn token_only_aggregates(
        &self,
        gate: Arc<RefusalGate>,
        per_second: u32,
        burst: u32,
    ) -> AuthLayer {
        let quota = governor::Quota::per_second(
            NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN),
        )
        .allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN));
        AuthLayer {
            auth: Arc::new(Authenticator {
                firewall: self.auth.firewall.clone(),
                tokens: self.auth.tokens.clone(),
                mode: AuthMode::TokenOnlyAggregates,
                refusals: Some(gate),
                per_source: (per_second > 0).then(|| governor::RateLimiter::keyed(quota)),
            }),
        }
    }

    /// The token validator (its key-file reads are observable, for tests and diagnostics).
    pub fn tokens(&self) -> Arc<TokenValidator> {
        self.auth.tokens.clone()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

#[derive(Debug)]
struct Authenticator {
    firewall: Firewall,
    tokens: Arc<TokenValidator>,
    mode: AuthMode,
    /// Where refusals before identity are counted (per source) and audited in aggregate.
    refusals: Option<Arc<RefusalGate>>,
    /// The per-source call limit (dashboard listener).
    per_source: Option<governor::DefaultKeyedRateLimiter<IpAddr>>,
}

/// What the layer reads from a request (the body stays with the request).
struct CallInfo {
    rpc: String,
    peer: Option<IpAddr>,
    certs: Option<Arc<Vec<CertificateDer<'static>>>>,
    authorization: Option<String>,
}

/// The bearer token of the `authorization` header, if any.
fn bearer(call: &CallInfo) -> Option<&str> {
    call.authorization
        .as_deref()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// What was established about a refused caller before the refusal, for the audit entry.
struct Refusal {
    agency_id: String,
    error: Error,
}

impl Authenticator {
    /// Identity: certificate, token, registry. Refusals carry the agency the certificate named.
    async fn identify(&self, call: &CallInfo) -> Result<CallerIdentity, Refusal> {
        let unauthenticated = |agency_id: &str, why: &str| Refusal {
            agency_id: agency_id.to_string(),
            error: Error::Unauthenticated(why.to_string()),
        };
        if self.mode == AuthMode::TokenOnlyAggregates {
            return self.identify_by_token(call).await;
        }
        let Some(leaf) = call.certs.as_ref().and_then(|c| c.first()) else {
            return Err(unauthenticated("", "a client certificate is required"));
        };
        let from_cert = cert::identity_of(leaf.as_ref()).map_err(|error| Refusal {
            agency_id: String::new(),
            error,
        })?;
        let agency_id = from_cert.agency_id.as_str();
        let token =
            bearer(call).ok_or_else(|| unauthenticated(agency_id, "a bearer token is required"))?;
        let claims = self.tokens.validate(token).map_err(|error| Refusal {
            agency_id: agency_id.to_string(),
            error,
        })?;
        if claims.sub != agency_id {
            return Err(unauthenticated(
                agency_id,
                "the token and the client certificate name different agencies",
            ));
        }
        let record = self
            .firewall
            .store()
            .agency(agency_id)
            .await
            .map_err(|e| Refusal {
                agency_id: agency_id.to_string(),
                error: e.into(),
            })?
            .ok_or_else(|| unauthenticated(agency_id, "the agency is not registered"))?;
        if from_cert.kind.is_some_and(|k| k != record.kind) {
            return Err(unauthenticated(
                agency_id,
                "the client certificate names a different agency kind than the registry",
            ));
        }
        if record.status == AgencyStatus::Suspended {
            return Err(Refusal {
                agency_id: agency_id.to_string(),
                error: Error::PermissionDenied("the agency is suspended".into()),
            });
        }
        Ok(CallerIdentity {
            agency_id: record.id,
            agency_kind: record.kind,
            scopes: claims.scopes(),
            areas: record.areas,
        })
    }

    /// Identity on the dashboard listener: the token alone names the agency, which must be
    /// registered and not suspended. No certificate is asked for or looked at.
    async fn identify_by_token(&self, call: &CallInfo) -> Result<CallerIdentity, Refusal> {
        let token = bearer(call).ok_or_else(|| Refusal {
            agency_id: String::new(),
            error: Error::Unauthenticated("a bearer token is required".into()),
        })?;
        let claims = self.tokens.validate(token).map_err(|error| Refusal {
            agency_id: String::new(),
            error,
        })?;
        let agency_id = claims.sub.as_str();
        let refusal = |error: Error| Refusal {
            agency_id: agency_id.to_string(),
            error,
        };
        let record = self
            .firewall
            .store()
            .agency(agency_id)
            .await
            .map_err(|e| refusal(e.into()))?
            .ok_or_else(|| {
                refusal(Error::Unauthenticated(
                    "the agency is not registered".into(),
                ))
            })?;
        if record.status == AgencyStatus::Suspended {
            return Err(refusal(Error::PermissionDenied(
                "the agency is suspended".into(),
            )));
        }
        Ok(CallerIdentity {
            agency_id: record.id,
            agency_kind: record.kind,
            scopes: claims.scopes(),
            areas: record.areas,
        })
    }

    /// Identity, then the firewall's gate, each outcome audited. Fails closed: if the audit
    /// cannot be written, the call is refused.
    async fn authorise(&self, call: &CallInfo) -> Result<CallerIdentity, Status> {
        let rpc = call.rpc.as_str();
        self.admit_source(call).await?;
        let caller = match self.identify(call).await {
            Ok(c) => c,
            Err(Refusal { agency_id, error }) => {
                let status = status(&error);
                let code = match status.code() {
                    Code::Internal => Code::Unavailable,
                    c => c,
                };
                match (&self.refusals, call.peer) {
                    // No identity established: counted against the source, audited in
                    // aggregate (bounded audit growth under a flood).
                    (Some(gate), Some(peer))
                        if agency_id.is_empty() && code != Code::Unavailable =>
                    {
                        if gate.refused(peer, status.message()) {
                            gate.audit_first("", rpc, code, status.message())
                                .await
                                .into_status()?;
                        }
                    }
                    _ => self
                        .firewall
                        .audit_refusal(&agency_id, rpc, code, status.message())
                        .await
                        .map(|_| ())
                        .into_status()?,
                }
                if agency_id.is_empty() {
                    // A flood's refusals are counted, not logged one by one at info.
                    tracing::debug!(%rpc, code = ?status.code(), "call refused before identity");
                } else {
                    tracing::info!(agency = %agency_id, %rpc, code = ?status.code(), "call refused");
                }
                return Err(status);
            }
        };
        let (flow, mut decision) = self.firewall.admit(&caller, rpc);
        if self.mode == AuthMode::TokenOnlyAggregates {
            if rpc::dashboard_allows(rpc) {
                decision.policy_ids.push(DASHBOARD_POLICY_ID.into());
            } else {
                decision = Decision {
                    allowed: false,
                    released_fields: Vec::new(),
                    policy_ids: vec![DASHBOARD_POLICY_ID.into()],
                    policy_set_version: decision.policy_set_version,
                    reason: "The dashboard listener serves read-only aggregates only (metrics \
                             and definitions); other RPCs need the agencies' listener with a \
                             client certificate."
                        .into(),
                    hard_rule: false,
                    override_attempt: false,
                };
            }
        }
        self.firewall
            .audit(&caller, &flow, &decision, &[])
            .await
            .into_status()?;
        if !decision.allowed {
            tracing::info!(agency = %caller.agency_id, %rpc, hard_rule = decision.hard_rule, "call refused by the firewall");
            return Err(status(&Error::PermissionDenied(decision.reason)));
        }
        Ok(caller)
    }
}

impl Authenticator {
    /// The per-source gate before any token is looked at: a source blocked for too many
    /// refusals, or over its call rate (dashboard listener), is refused with
    /// `RESOURCE_EXHAUSTED`, counted in the aggregate, and nothing else is done.
    /// (On the agencies' listener the verified certificate already names the caller, and the
    /// per-agency limits apply instead.)
    async fn admit_source(&self, call: &CallInfo) -> Result<(), Status> {
        let (Some(gate), Some(peer)) = (&self.refusals, call.peer) else {
            return Ok(());
        };
        if self.mode != AuthMode::TokenOnlyAggregates {
            return Ok(());
        }
        let (first, kind, message) = if !gate.admits(peer) {
            let kind = "call refused: source over its refusal rate";
            let message = "too many refused calls from this address; retry later";
            (gate.tally(peer, kind), kind, message)
        } else if self
            .per_source
            .as_ref()
            .is_some_and(|l| l.check_key(&peer).is_err())
        {
            let kind = "call refused: source over its call rate";
            let message = "rate limit: too many calls from this address; retry with backoff";
            (gate.refused(peer, kind), kind, message)
        } else {
            return Ok(());
        };
        let refusal = status(&Error::LimitExceeded(message.into()));
        if first {
            gate.audit_first("", &call.rpc, refusal.code(), kind)
                .await
                .into_status()?;
        }
        Err(refusal)
    }
}

/// The service the layer wraps around the hub's router.
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        // The clone that was driven to readiness serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let call = CallInfo {
            rpc: req.uri().path().to_string(),
            peer: peer_of(&req).map(|p| p.ip()),
            certs: req
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.peer_certs()),
            authorization: req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        };
        Box::pin(async move {
            match auth.authorise(&call).await {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}
