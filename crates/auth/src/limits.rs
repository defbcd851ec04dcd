//! Per-agency abuse limits: a token-bucket rate limit and a cap on calls in flight, each per
//! agency, so that one misbehaving (or compromised) agency system cannot starve the others.
//!
//! The layer sits *outside* the auth layer and keys on the agency named by the client
//! certificate, which rustls has already verified: a flood is refused before any token is
//! validated, any registry row read or any audit entry written, so it cannot fill the audit
//! log or load the database. Calls without a verifiable agency pass through untouched; the
//! auth layer then refuses them.
//!
//! Refusals are `RESOURCE_EXHAUSTED` at once (never queued: queueing a flooder's calls would
//! hold the hub's memory for it). A call counts as in flight until its response body ends, so
//! long streams (ingest streams, subscriptions) hold their slot for their whole life.
//!
//! The layer also enforces the caller's deadline (`grpc-timeout`) over the *whole* call.
//! tonic's own timeout covers a call only until its response headers, so a streaming call
//! (an ingest stream acknowledging chunks, a subscription) would otherwise outlive its
//! deadline: here the response body is cut at the deadline with `DEADLINE_EXCEEDED`, and the
//! handler's stream is dropped with it.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use http::{Request, Response};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Sleep,
};
use tonic::{
    body::Body,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};
use vawg_proto::error::status;

use crate::{Error, cert};

/// The limits applied to each agency separately. Zero disables a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgencyLimitSettings {
    /// Sustained calls per second per agency (token-bucket refill rate); 0: unlimited.
    pub requests_per_second: u32,
    /// Calls an agency may make in a burst above the sustained rate (bucket size); at least 1.
    pub burst: u32,
    /// Calls (including open streams) one agency may have in flight at once; 0: unlimited.
    pub max_concurrent: u32,
}

/// Why a call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitExceeded {
    /// The agency's rate limit.
    Rate,
    /// The agency's in-flight limit.
    Concurrency,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

struct AgencyState {
    bucket: Mutex<Bucket>,
    in_flight: Arc<Semaphore>,
}

/// The per-agency state. The map holds one entry per agency that has presented a valid
/// client certificate — bounded by the certificates the hub's CA issued.
pub struct AgencyLimits {
    settings: AgencyLimitSettings,
    agencies: Mutex<HashMap<String, Arc<AgencyState>>>,
}

impl std::fmt::Debug for AgencyLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgencyLimits")
            .field("settings", &self.settings)
            .finish()
    }
}

/// A slot in flight; released when dropped.
#[derive(Debug)]
pub struct InFlight(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl AgencyLimits {
    /// Limits with `settings`.
    pub fn new(settings: AgencyLimitSettings) -> AgencyLimits {
        AgencyLimits {
            settings,
            agencies: Mutex::new(HashMap::new()),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> AgencyLimitSettings {
        self.settings
    }

    fn state(&self, agency_id: &str) -> Arc<AgencyState> {
        let mut map = self.agencies.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(agency_id.to_string())
            .or_insert_with(|| {
                Arc::new(AgencyState {
                    bucket: Mutex::new(Bucket {
                        tokens: f64::from(self.settings.burst.max(1)),
                        last: Instant::now(),
                    }),
                    in_flight: Arc::new(Semaphore::new(if self.settings.max_concurrent == 0 {
                        Semaphore::MAX_PERMITS
                    } else {
                        self.settings.max_concurrent as usize
                    })),
                })
            })
            .clone()
    }

    /// Admits one call of `agency_id` now, or says which limit it exceeds. The returned slot
    /// must be held until the call ends.
    pub fn admit(&self, agency_id: &str) -> Result<InFlight, LimitExceeded> {
        let state = self.state(agency_id);
        let permit = if self.settings.max_concurrent == 0 {
            None
        } else {
            Some(
                state
                    .in_flight
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| LimitExceeded::Concurrency)?,
            )
        };
        if self.settings.requests_per_second > 0 {
            let mut bucket = state.bucket.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let refill = now.duration_since(bucket.last).as_secs_f64()
                * f64::from(self.settings.requests_per_second);
            bucket.tokens = (bucket.tokens + refill).min(f64::from(self.settings.burst.max(1)));
            bucket.last = now;
            if bucket.tokens < 1.0 {
                return Err(LimitExceeded::Rate);
            }
            bucket.tokens -= 1.0;
        }
        Ok(InFlight(permit))
    }
}

/// The tower layer applying [`AgencyLimits`] to every call. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AgencyLimitLayer {
    limits: Arc<AgencyLimits>,
}

impl AgencyLimitLayer {
    /// A layer applying `settings` per agency.
    pub fn new(settings: AgencyLimitSettings) -> AgencyLimitLayer {
        AgencyLimitLayer {
            limits: Arc::new(AgencyLimits::new(settings)),
        }
    }
}

impl<S> Layer<S> for AgencyLimitLayer {
    type Service = AgencyLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AgencyLimitService {
            inner,
            limits: self.limits.clone(),
        }
    }
}

/// The service [`AgencyLimitLayer`] wraps around the hub.
#[derive(Clone, Debug)]
pub struct AgencyLimitService<S> {
    inner: S,
    limits: Arc<AgencyLimits>,
}

/// The agency the verified client certificate of this connection names, if any.
fn certificate_agency<B>(req: &Request<B>) -> Option<String> {
    let certs = req
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(|info| info.peer_certs())?;
    let leaf = certs.first()?;
    cert::identity_of(leaf.as_ref()).ok().map(|c| c.agency_id)
}

impl<S> Service<Request<Body>> for AgencyLimitService<S>
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

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let deadline = grpc_timeout(req.headers());
        let slot = match certificate_agency(&req) {
            None => None,
            Some(agency) => match self.limits.admit(&agency) {
                Ok(slot) => Some(slot),
                Err(exceeded) => {
                    let s = self.limits.settings();
                    let message = match exceeded {
                        LimitExceeded::Rate => format!(
                            "rate limit: more than {} calls per second (burst {}) from this \
                             agency; retry with backoff",
                            s.requests_per_second, s.burst
                        ),
                        LimitExceeded::Concurrency => format!(
                            "concurrency limit: {} calls already in flight from this agency; \
                             retry when one ends",
                            s.max_concurrent
                        ),
                    };
                    tracing::debug!(%agency, rpc = %req.uri().path(), ?exceeded, "call refused by an abuse limit");
                    let refused = status(&Error::LimitExceeded(message));
                    return Box::pin(async move { Ok(refused.into_http()) });
                }
            },
        };
        let started = tokio::time::Instant::now();
        Box::pin(async move {
            let response = inner.call(req).await?;
            if slot.is_none() && deadline.is_none() {
                return Ok(response);
            }
            Ok(response.map(|body| {
                Body::new(HoldingBody {
                    inner: Some(body),
                    _slot: slot,
                    deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(started + d))),
                })
            }))
        })
    }
}

/// The caller's deadline from the `grpc-timeout` header (`<digits><H|M|S|m|u|n>`, at most 8
/// digits), if any and well formed.
pub fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// A response body that holds its call's in-flight slot until it is dropped, and ends the
/// call with `DEADLINE_EXCEEDED` (dropping the handler's stream) when the deadline passes.
struct HoldingBody {
    /// `None` once cut at the deadline.
    inner: Option<Body>,
    _slot: Option<InFlight>,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl http_body::Body for HoldingBody {
    type Data = <Body as http_body::Body>::Data;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(frame) = Pin::new(inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.inner = None;
            this.deadline = None;
            let mut trailers = status(&Error::DeadlineExceeded)
                .into_http::<()>()
                .into_parts()
                .0
                .headers;
            trailers.remove(http::header::CONTENT_TYPE);
            return Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), |b| b.size_hint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_refuses_until_it_refills() {
        let limits = AgencyLimits::new(AgencyLimitSettings {
            requests_per_second: 1,
            burst: 3,
            max_concurrent: 0,
        });
        for _ in 0..3 {
            assert!(limits.admit("a").is_ok());
        }
        assert_eq!(limits.admit("a").unwrap_err(), LimitExceeded::Rate);
        // Another agency has its own bucket.
        assert!(limits.admit("b").is_ok());
    }

    #[test]
    fn grpc_timeouts_parse_and_junk_is_ignored() {
        let mut h = http::HeaderMap::new();
        for (v, d) in [
            ("500m", Some(Duration::from_millis(500))),
            ("2S", Some(Duration::from_secs(2))),
            ("1H", Some(Duration::from_secs(3600))),
            ("123456789S", None),
            ("m", None),
            ("5x", None),
            ("-5m", None),
        ] {
            h.insert("grpc-timeout", v.parse().unwrap());
            assert_eq!(grpc_timeout(&h), d, "{v}");
        }
    }

    #[test]
    fn slots_are_released_when_dropped() {
        let limits = AgencyLimits::new(AgencyLimitSettings {
            requests_per_second: 0,
            burst: 1,
            max_concurrent: 2,
        });
        let a = limits.admit("a").unwrap();
        let _b = limits.admit("a").unwrap();
        assert_eq!(limits.admit("a").unwrap_err(), LimitExceeded::Concurrency);
        assert!(limits.admit("other").is_ok());
        drop(a);
        assert!(limits.admit("a").is_ok());
    }
}
