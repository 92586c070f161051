//! The server's settings, with the defaults of api.md ("Limits").

use core::time::Duration;

use peer_proto::limits;

/// Settings of a [`Server`](super::Server). Every field is public; the
/// [`Default`] is what api.md documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Largest request body in bytes (413 `body_too_large`). Default 1 MiB.
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers) in bytes: 431
    /// `headers_too_large`. Heads over twice this are stopped by the HTTP
    /// parser with a bare 431 (no JSON body) and the connection closes.
    /// Default 16 KiB.
    pub max_header_bytes: usize,
    /// Most request header lines: 431 `headers_too_large`. Over twice this,
    /// a bare 431 as above. Default 64.
    pub max_headers: usize,
    /// Time a connection has to deliver a complete request head, counted
    /// from its first byte (or from the accept, for the first request).
    /// Past it the connection is closed without an answer. Default 10 s.
    pub header_read_timeout: Duration,
    /// Time a request has to deliver its whole body once its head arrived.
    /// Past it the request is answered 400 `invalid_body` and the connection
    /// closed. Default 30 s.
    pub body_read_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    /// Default 60 s.
    pub idle_timeout: Duration,
    /// Interval of `: ping` comments on idle event streams. Default 15 s.
    pub sse_heartbeat: Duration,
    /// On shutdown, how long in-flight requests may take to finish before
    /// their connections are cut. Default 30 s.
    pub drain_timeout: Duration,
    /// How often expired sessions and tokens are swept. Default 60 s.
    pub sweep_interval: Duration,
    /// When false, `GET /metrics` answers only clients on a loopback
    /// address (others get 403 `forbidden`). Default true.
    pub metrics_public: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: limits::MAX_BODY_BYTES,
            max_header_bytes: limits::MAX_HEADER_BYTES,
            max_headers: limits::MAX_HEADERS,
            header_read_timeout: limits::HEADER_READ_TIMEOUT,
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: limits::IDLE_KEEP_ALIVE,
            sse_heartbeat: Duration::from_secs(15),
            drain_timeout: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(60),
            metrics_public: true,
        }
    }
}
