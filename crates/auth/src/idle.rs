//! Idle and header timeouts: a connection with no call in flight is closed once
//! `idle_timeout` passes without a new call arriving — from when it was established (a client
//! that connects and sends nothing, or trickles a request's headers and never completes them)
//! or from when its last call ended.
//!
//! [`IdleStream`] wraps each established connection and watches its [`Activity`];
//! [`ActivityLayer`], the outermost layer of the listener, finds the connection of each call
//! (by its peer address) and holds it busy until the call's response body ends. On expiry the
//! stream reports end-of-file, and the HTTP server closes the connection.

use std::{
    collections::HashMap,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex, Weak},
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use http::{Request, Response};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};
use tonic::{
    body::Body,
    transport::server::{Connected, TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};

/// Calls in flight on one connection, and when the last one ended.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<(usize, Instant)>,
}

impl Activity {
    fn begin(self: &Arc<Self>) -> Busy {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 += 1;
        Busy(self.clone())
    }

    /// When the connection may be closed, if no call is in flight.
    fn idle_since(&self) -> Option<Instant> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.0 == 0).then_some(state.1)
    }
}

/// A call in flight; ends (and restarts the idle clock) when dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 = state.0.saturating_sub(1);
        state.1 = Instant::now();
    }
}

/// The open connections of one listener, by peer address. Cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct Connections {
    by_peer: Mutex<HashMap<SocketAddr, Weak<Activity>>>,
}

impl Connections {
    fn register(&self, peer: SocketAddr) -> Arc<Activity> {
        let activity = Arc::new(Activity {
            state: Mutex::new((0, Instant::now())),
        });
        let mut map = self.by_peer.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(peer, Arc::downgrade(&activity));
        activity
    }

    fn forget(&self, peer: SocketAddr, activity: &Arc<Activity>) {
        let mut map = self.by_peer.lock().unwrap_or_else(|p| p.into_inner());
        if map
            .get(&peer)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(activity)))
        {
            map.remove(&peer);
        }
    }

    fn find(&self, peer: SocketAddr) -> Option<Arc<Activity>> {
        let map = self.by_peer.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&peer).and_then(Weak::upgrade)
    }

    /// Number of connections open (for tests and diagnostics).
    pub fn open(&self) -> usize {
        self.by_peer.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// An established connection closed after `idle` with no call in flight.
pub struct IdleStream<S> {
    inner: S,
    peer: SocketAddr,
    idle: Duration,
    activity: Arc<Activity>,
    connections: Arc<Connections>,
    timer: Pin<Box<Sleep>>,
    expired: bool,
}

impl<S> IdleStream<S> {
    /// Wraps `inner`, the connection from `peer`, registering it with `connections`.
    pub fn new(inner: S, peer: SocketAddr, idle: Duration, connections: Arc<Connections>) -> Self {
        let activity = connections.register(peer);
        IdleStream {
            inner,
            peer,
            idle,
            activity,
            connections,
            timer: Box::pin(tokio::time::sleep(idle)),
            expired: false,
        }
    }

    /// Whether the connection has been idle too long (re-arms the timer when not).
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.expired {
            return true;
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let next = match self.activity.idle_since() {
                Some(since) if since + self.idle <= now => {
                    self.expired = true;
                    return true;
                }
                Some(since) => since + self.idle,
                None => now + self.idle,
            };
            self.timer.as_mut().reset(next);
        }
        false
    }
}

impl<S> Drop for IdleStream<S> {
    fn drop(&mut self) {
        self.connections.forget(self.peer, &self.activity);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending if this.poll_expired(cx) => {
                tracing::debug!(peer = %this.peer, "idle connection closed");
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: Connected> Connected for IdleStream<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// Marks each call's connection busy until the call's response body ends. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ActivityLayer {
    connections: Arc<Connections>,
}

impl ActivityLayer {
    /// A layer tracking calls on `connections`.
    pub fn new(connections: Arc<Connections>) -> ActivityLayer {
        ActivityLayer { connections }
    }
}

impl<S> Layer<S> for ActivityLayer {
    type Service = ActivityService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ActivityService {
            inner,
            connections: self.connections.clone(),
        }
    }
}

/// The service [`ActivityLayer`] wraps.
#[derive(Clone, Debug)]
pub struct ActivityService<S> {
    inner: S,
    connections: Arc<Connections>,
}

/// The peer address of a call's connection.
pub fn peer_of<B>(req: &Request<B>) -> Option<SocketAddr> {
    req.extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(|info| info.get_ref().remote_addr())
}

impl<S, B> Service<Request<B>> for ActivityService<S>
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
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let busy = peer_of(&req)
            .and_then(|p| self.connections.find(p))
            .map(|a| a.begin());
        Box::pin(async move {
            let response = inner.call(req).await?;
            let Some(busy) = busy else {
                return Ok(response);
            };
            Ok(response.map(|body| {
                Body::new(BusyBody {
                    inner: body,
                    _busy: busy,
                })
            }))
        })
    }
}

/// A response body that keeps its connection busy until it is dropped.
struct BusyBody {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = <Body as http_body::Body>::Data;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
