use serde::{Deserialize, Serialize};

use super::common::NodeRole;
use crate::bytes::{Bytes, Bytes32};
use crate::event::Event;
use crate::id::NodeId;

/// How this node knows a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerDirection {
    /// The peer registered with this node (a follower of ours).
    Inbound,
    /// This node registered with the peer (our main peer).
    Outbound,
    /// Seen by discovery only.
    Discovered,
}

/// A known peer node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerInfo {
    /// The peer.
    pub node_id: NodeId,
    /// Its name.
    pub name: String,
    /// Where it serves.
    pub url: String,
    /// Its role.
    pub role: NodeRole,
    /// Its group.
    pub group: String,
    /// How we know it.
    pub direction: PeerDirection,
    /// False once silent for 90 s.
    pub online: bool,
    /// Unix seconds.
    pub last_seen: u64,
}

/// `GET /api/v1/peers` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerQuery {
    /// Only peers with this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<NodeRole>,
    /// Only online (true) or offline (false) peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
}

/// The known peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerList {
    /// The peers.
    pub peers: Vec<PeerInfo>,
}

/// `POST /api/v1/peers`: a node registers with this one, signed by its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterPeer {
    /// The registering node.
    pub node_id: NodeId,
    /// Its name.
    pub name: String,
    /// Its node key's SPKI DER.
    pub spki: Bytes,
    /// Its group.
    pub group: String,
    /// Where it takes pushes.
    pub url: String,
    /// Unix seconds.
    pub timestamp: u64,
    /// 32 random bytes.
    pub nonce: Bytes32,
    /// Node key signature over `PeerTbs` (the target is this node).
    pub signature: Bytes,
}

/// `DELETE /api/v1/peers/{node_id}`: a node leaves, signed by its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerLeave {
    /// Unix seconds.
    pub timestamp: u64,
    /// 32 random bytes.
    pub nonce: Bytes32,
    /// Node key signature over `PeerLeaveTbs`.
    pub signature: Bytes,
}

/// `POST /api/v1/notify`: a batch of events, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// The pushing node.
    pub from: NodeId,
    /// The events, oldest first.
    pub events: Vec<Event>,
}
