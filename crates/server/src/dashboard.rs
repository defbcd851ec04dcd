//! The central team's browser dashboard: its static assets, built from `dashboard/` and embedded
//! in the binary, served on the optional `dashboard_listen` listener beside gRPC-Web.
//!
//! The assets are public (a page and its script, no data). Everything with data goes through
//! gRPC-Web calls, which pass the auth layer in
//! [`vawg_auth::layer::AuthMode::TokenOnlyAggregates`]: a bearer token, the firewall's
//! decision and the audit log on every call, read-only aggregates only.
//!
//! `dashboard/dist` is committed; CI rebuilds it and fails if it differs (`npm run check` in
//! `dashboard/`), so the embedded bundle cannot go stale.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Frame, SizeHint};
use tonic::{body::Body, codegen::Bytes};
use tower::{Layer, Service};

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// The URL path it is served at.
    pub path: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

/// Every file the dashboard is made of, as built into `dashboard/dist`.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../../../dashboard/dist/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../dashboard/dist/app.js"),
    },
    Asset {
        path: "/app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../../dashboard/dist/app.css"),
    },
];

/// The Content-Security-Policy of every asset: scripts, styles and calls to this origin only,
/// no framing (the dashboard shows figures a clickjacking page should not overlay).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The asset served at `path` (`/index.html` is `/`).
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// A body of static bytes.
struct StaticBody(Option<&'static [u8]>);

impl http_body::Body for StaticBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.0
                .take()
                .map(|b| Ok(Frame::data(Bytes::from_static(b)))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.map_or(0, |b| b.len() as u64))
    }
}

/// The response to a plain (non-gRPC) request on the dashboard listener.
fn respond(method: &Method, path: &str) -> Response<Body> {
    let (status, content_type, bytes): (StatusCode, &'static str, &'static [u8]) = match asset(path)
    {
        Some(a) => (StatusCode::OK, a.content_type, a.bytes),
        None => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            b"not found\n",
        ),
    };
    let body = if method == Method::HEAD {
        StaticBody(None)
    } else {
        StaticBody(Some(bytes))
    };
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Small files, replaced with each release: always revalidate.
        (header::CACHE_CONTROL, "no-cache"),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    response
}

/// Whether a request is a gRPC or gRPC-Web call (by its content type), which the layers inside
/// handle; anything else is a request for a static asset.
fn is_rpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/grpc"))
}

/// Serves the embedded assets to `GET`/`HEAD` requests that are not RPCs, and passes every
/// other request to the layers inside (gRPC-Web, limits, auth). Cheap to clone.
#[derive(Clone, Copy, Debug, Default)]
pub struct AssetsLayer;

impl<S> Layer<S> for AssetsLayer {
    type Service = AssetsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AssetsService { inner }
    }
}

/// The service [`AssetsLayer`] wraps.
#[derive(Clone, Debug)]
pub struct AssetsService<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for AssetsService<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !is_rpc(&req) && (req.method() == Method::GET || req.method() == Method::HEAD) {
            let response = respond(req.method(), req.uri().path());
            return Box::pin(async move { Ok(response) });
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_built_and_the_page_loads_only_its_own_files() {
        for a in ASSETS {
            assert!(!a.bytes.is_empty(), "{} is empty", a.path);
        }
        let page = std::str::from_utf8(asset("/index.html").unwrap().bytes).unwrap();
        assert!(page.contains("src=\"app.js\"") || page.contains("src=\"/app.js\""));
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(asset("/../Cargo.toml").is_none());
        assert!(asset("/secrets").is_none());
    }

    #[test]
    fn responses_carry_security_headers() {
        let r = respond(&Method::GET, "/");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(
            respond(&Method::GET, "/nope").status(),
            StatusCode::NOT_FOUND
        );
    }
}
