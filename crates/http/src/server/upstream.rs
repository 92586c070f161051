//! The follower's way to its main peer, as the server needs it.
//!
//! A node that follows a main peer serves the client API by relaying:
//! every request of a [`Serve::Main`](super::routes::Serve) route goes to
//! the main peer unchanged (method, target, body, credential and content
//! headers) and its answer comes back unchanged (status, body, `Peer-Auth`,
//! content type, `Retry-After`), so the client's end-to-end checks hold.
//! Event streams are the exception: the follower asks the main peer to
//! check the client's credentials ([`Upstream::check_stream`]) and then
//! serves the stream itself from the events the main peer pushes to it, so
//! it holds no connection per client to the main peer.
//!
//! The server does not know how the follower reaches its main peer (which
//! URL, which peer session); whoever runs the follower machinery
//! (`peer-mesh`) implements [`Upstream`] and hands it to
//! [`Server::with_upstream`](super::Server::with_upstream).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use peer_node::NodeError;
use peer_proto::api::{StreamCheck, StreamVerdict};
use tokio_util::sync::CancellationToken;

/// A boxed future of an [`Upstream`] call.
pub type UpstreamFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, NodeError>> + Send + 'a>>;

/// Request headers a follower passes on to its main peer.
pub const FORWARDED_REQUEST_HEADERS: &[&str] = &[
    "peer-session",
    "peer-key",
    "peer-seq",
    "peer-auth",
    "authorization",
    "content-type",
    "last-event-id",
    "accept",
];

/// Response headers a follower passes back to its client.
pub const FORWARDED_RESPONSE_HEADERS: &[&str] =
    &["peer-auth", "content-type", "retry-after", "allow"];

/// A client request to pass on, as received.
#[derive(Clone)]
pub struct Relayed {
    /// The method.
    pub method: Method,
    /// The request target (path and query) exactly as the client sent it
    /// (the authenticator covers it).
    pub target: String,
    /// The headers of [`FORWARDED_REQUEST_HEADERS`] the client sent.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body bytes as received (sealed or not).
    pub body: Bytes,
}

impl std::fmt::Debug for Relayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are credentials: names only.
        f.debug_struct("Relayed")
            .field("method", &self.method)
            .field("target", &self.target)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The main peer's answer to a relayed request, to pass back unchanged.
#[derive(Clone)]
pub struct RelayedAnswer {
    /// The status.
    pub status: u16,
    /// The headers of [`FORWARDED_RESPONSE_HEADERS`] the main peer sent.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body bytes.
    pub body: Bytes,
}

impl std::fmt::Debug for RelayedAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayedAnswer")
            .field("status", &self.status)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A checked event-stream request: the main peer's verdict, and a token
/// cancelled when this node stops following that main peer (its relayed
/// streams then end, and their clients reconnect).
#[derive(Debug)]
pub struct StreamGrant {
    /// What the main peer said.
    pub verdict: StreamVerdict,
    /// Cancelled when the follow ends.
    pub follow: CancellationToken,
}

/// A follower's link to its main peer.
pub trait Upstream: Send + Sync + 'static {
    /// True while this node follows a main peer: client API requests are
    /// then relayed (and answered 503 `main_peer_unavailable` when the main
    /// peer cannot be reached).
    fn following(&self) -> bool;

    /// Passes a client request to the main peer and returns its answer.
    /// Fails with `main_peer_unavailable` when the main peer cannot be
    /// reached (and notes that it is lost).
    fn forward(&self, request: Relayed) -> UpstreamFuture<'_, RelayedAnswer>;

    /// Asks the main peer, in this node's peer session, to check a client's
    /// event-stream request (`POST /api/v1/relay/events`).
    fn check_stream(&self, check: StreamCheck) -> UpstreamFuture<'_, StreamGrant>;
}
