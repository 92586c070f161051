//! The HTTP server: hyper 1 (HTTP/1.1, keep-alive) in front of a
//! [`peer_node::Node`].
//!
//! ```text
//! TcpListener ─accept─▶ connection task (conn.rs: header-read and idle timers)
//!                         └─ hyper http1 ─▶ service.rs: route (routes.rs) ─▶ limits
//!                              ─▶ authenticate (auth.rs, Node::authenticate_request)
//!                              ─▶ handler (handlers.rs) ─▶ Node use case
//!                              ─▶ reply.rs: JSON / error body, Retry-After, Peer-Auth
//!                                 or sse.rs: text/event-stream
//!                         on a follower, client API routes instead:
//!                              ─▶ relay.rs ─▶ Upstream (the main peer) ─▶ answer as is
//! ```
//!
//! What it does: routing (one table, in `server/routes.rs`), body and header
//! limits, content types, JSON and query parsing with field paths in the
//! errors, users' and peers' authentication (a peer node's session reaches
//! node-to-node routes only), sealed bodies, response authenticators,
//! Server-Sent Events, `/healthz`, Prometheus `/metrics`, the periodic
//! session sweep, graceful shutdown, and on a follower the relay of the
//! client API to the main peer ([`Upstream`]).
//!
//! What it does not: decide anything about users, rooms, keys or messages
//! (the node does), terminate TLS, or speak HTTP/2.
//!
//! ```no_run
//! use std::sync::Arc;
//! use peer_http::server::{Server, ServerConfig};
//! use peer_node::{Node, NodeConfig};
//!
//! # async fn demo(key: peer_crypto::IdentityKey) -> std::io::Result<()> {
//! let node = Node::new(key, Arc::new(peer_store::MemoryStore::default()), NodeConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = Server::new(listener, node, ServerConfig::default());
//! println!("serving on http://{}", server.local_addr());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod auth;
mod call;
mod config;
mod conn;
mod handlers;
mod metrics;
mod openapi;
mod relay;
mod reply;
mod routes;
mod service;
mod sse;
mod upstream;
mod web;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use peer_node::Node;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::ServerConfig;
pub use upstream::{
    FORWARDED_REQUEST_HEADERS, FORWARDED_RESPONSE_HEADERS, Relayed, RelayedAnswer, StreamGrant,
    Upstream, UpstreamFuture,
};

use conn::{Activity, BusyGuard, Verdict, Watched};
use metrics::Metrics;
use reply::BoxBody;

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) node: Node,
    pub(crate) config: ServerConfig,
    pub(crate) metrics: Metrics,
    /// Cancelled when the server starts shutting down.
    pub(crate) shutdown: CancellationToken,
    /// The way to the main peer, for a node that may follow one.
    pub(crate) upstream: Option<Arc<dyn Upstream>>,
    /// More Prometheus text for `/metrics` (discovery, the mesh).
    pub(crate) extra_metrics: Option<ExtraMetrics>,
}

/// A source of more Prometheus text for `/metrics`.
pub type ExtraMetrics = Arc<dyn Fn() -> String + Send + Sync>;

impl Shared {
    /// The upstream, while this node follows a main peer.
    pub(crate) fn following(&self) -> Option<&Arc<dyn Upstream>> {
        self.upstream.as_ref().filter(|u| u.following())
    }
}

/// The HTTP server of a node. Build it with [`Server::new`], then
/// [`Server::run`] it.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    node: Node,
    config: ServerConfig,
    upstream: Option<Arc<dyn Upstream>>,
    extra_metrics: Option<ExtraMetrics>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("config", &self.config)
            .field("upstream", &self.upstream.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server for `node` on a bound `listener`.
    pub fn new(listener: TcpListener, node: Node, config: ServerConfig) -> Server {
        // A bound TCP listener always has a local address; the fallback is
        // only there to keep this constructor total.
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Server {
            listener,
            addr,
            node,
            config,
            upstream: None,
            extra_metrics: None,
        }
    }

    /// Appends what `render` returns (Prometheus text) to `/metrics`.
    #[must_use]
    pub fn with_extra_metrics(mut self, render: ExtraMetrics) -> Server {
        self.extra_metrics = Some(render);
        self
    }

    /// Serves the client API through `upstream` whenever it says this node
    /// follows a main peer (see [`Upstream`]).
    #[must_use]
    pub fn with_upstream(mut self, upstream: Arc<dyn Upstream>) -> Server {
        self.upstream = Some(upstream);
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves; then stops accepting (new
    /// connections are refused), lets in-flight requests finish (bounded by
    /// [`ServerConfig::drain_timeout`]), ends event streams, and returns.
    ///
    /// Also sweeps expired sessions and tokens every
    /// [`ServerConfig::sweep_interval`]. Accept errors (out of file
    /// descriptors, an aborted handshake) are logged and accepting goes on
    /// after a short pause.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server {
            listener,
            node,
            config,
            upstream,
            extra_metrics,
            ..
        } = self;
        let shared = Arc::new(Shared {
            node,
            config,
            metrics: Metrics::default(),
            shutdown: CancellationToken::new(),
            upstream,
            extra_metrics,
        });
        let sweeper = tokio::spawn(sweep(shared.node.clone(), shared.config.sweep_interval));
        let mut conns = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        conns.spawn(serve_connection(shared.clone(), stream, peer));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(done) = conns.join_next(), if !conns.is_empty() => log_join(done),
            }
        }
        drop(listener);
        sweeper.abort();
        shared.shutdown.cancel();
        let drain = async {
            while let Some(done) = conns.join_next().await {
                log_join(done);
            }
        };
        if tokio::time::timeout(shared.config.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                left = conns.len(),
                "drain timeout: cutting the remaining connections"
            );
            conns.shutdown().await;
        }
        Ok(())
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!("a connection task panicked; the connection was dropped");
    }
}

async fn sweep(node: Node, every: Duration) {
    let every = every.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
    loop {
        ticker.tick().await;
        let left = node.sweep();
        tracing::debug!(sessions = left, "swept expired sessions and tokens");
    }
}

/// Decrements the connection gauge when dropped.
struct ConnCount(Arc<Shared>);

impl Drop for ConnCount {
    fn drop(&mut self) {
        self.0.metrics.connection(-1);
    }
}

async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    shared.metrics.connection(1);
    let _count = ConnCount(shared.clone());
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "set_nodelay failed");
    }
    let activity = Activity::new();
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let svc_shared = shared.clone();
    let svc_activity = activity.clone();
    let service = service_fn(move |req| {
        let guard = svc_activity.request_started();
        let shared = svc_shared.clone();
        async move {
            let resp = service::handle(shared, peer, req).await;
            Ok::<_, Infallible>(resp.map(|body| Tracked {
                inner: body,
                _guard: guard,
            }))
        }
    });
    let config = &shared.config;
    let mut builder = http1::Builder::new();
    // The limits are checked exactly, with a JSON answer, by the service;
    // hyper's parser stops heads twice as large (with a bare 431) so that
    // nobody makes the server buffer an unbounded head.
    builder
        .keep_alive(true)
        .max_headers(config.max_headers.saturating_mul(2).max(1))
        .max_header_size(config.max_header_bytes.saturating_mul(2).max(1))
        .header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let verdict = activity.verdict(
            Instant::now(),
            config.header_read_timeout,
            config.idle_timeout,
        );
        let wake = match verdict {
            Verdict::Close => {
                tracing::debug!(%peer, "closing a connection: header read or idle timeout");
                return;
            }
            Verdict::WaitUntil(at) => at,
            Verdict::Busy => Instant::now() + Duration::from_secs(3600),
        };
        if draining && activity.is_quiet() {
            // Nothing of a request arrived: close now.
            return;
        }
        tokio::select! {
            // The connection first: bytes already received count as a
            // request in flight before a shutdown is looked at.
            biased;
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = shared.shutdown.cancelled(), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            () = activity.changed() => {}
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// A response body that keeps its request counted as in flight until hyper
/// has written (or dropped) it.
struct Tracked {
    inner: BoxBody,
    _guard: BusyGuard,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
