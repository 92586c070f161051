use serde::{Deserialize, Serialize};

use super::common::NodeRole;
use crate::bytes::{Bytes, Bytes32};
use crate::event::Event;
use crate::id::{NodeId, RoomId, UserId};

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

/// `POST /api/v1/relay/events` (node session): a follower asks its main
/// peer to check a client's `GET /api/v1/events` on its behalf.
///
/// The follower holds no session keys of its clients, so it cannot verify
/// their authenticators; the main peer can. The follower sends the
/// client's request target and credential headers exactly as received; the
/// main peer verifies them as if the client had asked it, and answers a
/// [`StreamVerdict`]. The follower then serves the stream itself, from the
/// events pushed to it, so that it holds one connection to the main peer
/// for all its clients (two levels of fan-out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamCheck {
    /// The request target the client sent (`/api/v1/events`, with any
    /// query), which its authenticator covers.
    pub target: String,
    /// The client's `Peer-Session` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_session: Option<String>,
    /// The client's `Peer-Key` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_key: Option<String>,
    /// The client's `Peer-Seq` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_seq: Option<String>,
    /// The client's `Peer-Auth` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_auth: Option<String>,
    /// The client's `Authorization` header (a bearer token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
}

/// The main peer's answer to a [`StreamCheck`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case", deny_unknown_fields)]
pub enum StreamVerdict {
    /// The credentials verified: the follower answers the client `200` with
    /// `peer_auth` and streams the events of `rooms` (and of rooms the user
    /// joins later, as events tell).
    Admit {
        /// The authenticated user.
        user_id: UserId,
        /// The rooms the user is a member of now.
        rooms: Vec<RoomId>,
        /// The response authenticator over status 200 and an empty body
        /// (absent for bearer tokens).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer_auth: Option<String>,
    },
    /// Refused: the follower answers the client exactly this.
    Refuse {
        /// The HTTP status.
        status: u16,
        /// The error body, byte for byte (the response authenticator
        /// covers these bytes).
        body: Bytes,
        /// The response authenticator, when the client's authenticator
        /// verified before the refusal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer_auth: Option<String>,
        /// `Retry-After` in seconds, for 429 and 503.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
}
