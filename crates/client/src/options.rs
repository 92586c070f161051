//! How a [`Client`](crate::Client) talks: key exchange, sealed bodies,
//! transport limits, and the clock its signed timestamps come from.

use std::fmt;
use std::sync::Arc;

use peer_http::client::ClientConfig;
use peer_proto::api::Kex;

/// A source of unix seconds (hello and registration timestamps, session
/// expiry). The node refuses timestamps more than 120 s from its own clock.
pub trait Clock: Send + Sync + 'static {
    /// Now, in unix seconds.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// Settings of a client.
///
/// ```
/// use peer_client::ClientOptions;
/// use peer_proto::api::Kex;
///
/// let opts = ClientOptions::default().kex(Kex::RsaOaep).sealed(true);
/// assert_eq!(opts.kex, Kex::RsaOaep);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The handshake's key exchange: `ecdh-p256` (default, forward secret)
    /// or `rsa-oaep` (the node picks the session secret; no forward
    /// secrecy).
    pub kex: Kex,
    /// Seal every authenticated request and response body under per-request
    /// keys (default false: bodies are authenticated but readable on the
    /// wire; encrypted rooms' messages are end-to-end encrypted either way).
    pub sealed: bool,
    /// Transport limits and timeouts.
    pub transport: ClientConfig,
    /// The clock (default: the system clock).
    pub clock: Arc<dyn Clock>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            kex: Kex::EcdhP256,
            sealed: false,
            transport: ClientConfig::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("kex", &self.kex)
            .field("sealed", &self.sealed)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Sets the key exchange.
    #[must_use]
    pub fn kex(mut self, kex: Kex) -> Self {
        self.kex = kex;
        self
    }

    /// Seals bodies (or not).
    #[must_use]
    pub fn sealed(mut self, sealed: bool) -> Self {
        self.sealed = sealed;
        self
    }

    /// Sets transport limits and timeouts.
    #[must_use]
    pub fn transport(mut self, transport: ClientConfig) -> Self {
        self.transport = transport;
        self
    }

    /// Sets the clock.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}
