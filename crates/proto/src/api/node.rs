use serde::{Deserialize, Serialize};

use super::common::{NodeRole, StoreKind};
use crate::bytes::Bytes;
use crate::id::NodeId;

/// `GET /api/v1/node`: who this node is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInfo {
    /// First 16 bytes of SHA-256 over `spki`.
    pub node_id: NodeId,
    /// The node's name.
    pub name: String,
    /// The node key's SPKI DER (clients pin it).
    pub spki: Bytes,
    /// The software version.
    pub version: String,
    /// The protocol version.
    pub protocol_version: u16,
    /// Main, follower or standalone.
    pub role: NodeRole,
    /// The discovery group.
    pub group: String,
    /// The storage backend.
    pub store: StoreKind,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// True when anyone may register.
    pub registration_open: bool,
    /// True when bearer tokens are accepted.
    pub bearer_tokens: bool,
    /// For followers: the main peer they relay to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_peer: Option<MainPeerStatus>,
}

/// A follower's view of its main peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MainPeerStatus {
    /// The main peer.
    pub node_id: NodeId,
    /// Where it serves.
    pub url: String,
    /// Its node key's SPKI DER: a client that connects through the follower
    /// verifies the main peer's handshake reply with it (and pins it).
    pub spki: Bytes,
    /// False once it stopped answering.
    pub reachable: bool,
    /// Unix seconds of the last successful contact.
    pub last_seen: u64,
}

/// Overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything answers.
    Ok,
    /// The node runs but a dependency does not answer.
    Degraded,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Ok or degraded.
    pub status: HealthStatus,
    /// True when the store answered a health check.
    pub store_ok: bool,
    /// For followers: true when the main peer answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_peer_ok: Option<bool>,
}
