//! The node's settings, with the defaults of api.md.

use core::time::Duration;

use peer_proto::limits;

use crate::events::BusConfig;
use crate::password::PasswordCost;
use crate::ratelimit::Rate;

/// Settings of a [`Node`](crate::Node).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's name (shown in `/api/v1/node` and discovery).
    pub name: String,
    /// The discovery group.
    pub group: String,
    /// Whether anyone may register.
    pub registration_open: bool,
    /// Whether bearer tokens are issued and accepted.
    pub bearer_tokens: bool,
    /// Sessions idle this long end.
    pub session_idle: Duration,
    /// Sessions end this long after the handshake at the latest.
    pub session_max: Duration,
    /// At most this many live sessions.
    pub max_sessions: usize,
    /// Requests per session (and per bearer token).
    pub session_rate: Rate,
    /// Handshakes (and registrations) per source address.
    pub handshake_rate: Rate,
    /// Event streams one user may hold open.
    pub max_streams_per_user: usize,
    /// The event bus.
    pub bus: BusConfig,
    /// Hello nonces remembered at most (the replay cache's bound).
    pub replay_capacity: usize,
    /// Longest bearer token lifetime, in seconds.
    pub token_max_ttl: u64,
    /// Largest message ciphertext or text, in bytes.
    pub max_message_bytes: usize,
    /// Argon2id cost of room passwords.
    pub password_cost: PasswordCost,
    /// The software version reported in `/api/v1/node`.
    pub version: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: "peerd".into(),
            group: "default".into(),
            registration_open: true,
            bearer_tokens: true,
            session_idle: limits::SESSION_IDLE,
            session_max: limits::SESSION_MAX,
            max_sessions: 100_000,
            session_rate: Rate {
                per_sec: limits::SESSION_RATE_PER_SEC,
                burst: limits::SESSION_RATE_BURST,
            },
            handshake_rate: Rate {
                per_sec: limits::HANDSHAKES_PER_IP_PER_SEC,
                burst: limits::HANDSHAKES_PER_IP_PER_SEC,
            },
            max_streams_per_user: limits::MAX_EVENT_STREAMS_PER_USER,
            bus: BusConfig::default(),
            replay_capacity: 100_000,
            token_max_ttl: limits::TOKEN_MAX_TTL_SECS,
            max_message_bytes: limits::MAX_CIPHERTEXT_BYTES,
            password_cost: PasswordCost::default(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}
