//! The tuples that get signed, MACed or hashed, field by field as protocol.md
//! lists them. Each is encoded with [`canonical`](crate::canonical()) under its
//! label (or, for [`ReplyParams`], with plain postcard inside a hash).
//!
//! Byte strings (`&[u8]`) encode as a varint length and the bytes; ids and
//! 32-byte values as raw bytes; integers as varints; `Option` as `0x00`, or
//! `0x01` and the value.
//!
//! ```
//! use peer_proto::{canonical, labels, signed::MessageSigTbs, RoomId};
//!
//! let tbs = MessageSigTbs { room_id: RoomId::from_bytes([1; 16]), epoch: 2, ciphertext_hash: &[3; 32] };
//! let bytes = canonical(labels::MESSAGE_SIG, &tbs).unwrap();
//! assert_eq!(bytes.len(), 1 + labels::MESSAGE_SIG.len() + 16 + 1 + 32);
//! ```

use serde::{Deserialize, Serialize};

use crate::api::{Kex, NodeRole};
use crate::discovery::DatagramKind;
use crate::id::{NodeId, RoomId, SessionId, UserId};

/// Registration: `("peergroup/register/v1", node_id, name, spki, timestamp)`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RegisterTbs<'a> {
    /// The node the user registers with.
    pub node_id: NodeId,
    /// The requested user name.
    pub name: &'a str,
    /// The user key's SPKI DER.
    pub spki: &'a [u8],
    /// Unix seconds.
    pub timestamp: u64,
}

/// The client hello: `("peergroup/handshake/hello/v1", version, kex, user_id,
/// client_eph, client_nonce, timestamp, node_id)`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HelloTbs<'a> {
    /// Protocol version.
    pub version: u16,
    /// Key exchange mode.
    pub kex: Kex,
    /// The user opening the session (or a node, its key standing in).
    pub user_id: UserId,
    /// The client's ephemeral P-256 key (SEC1 uncompressed), ecdh mode only.
    pub client_eph: Option<&'a [u8]>,
    /// 32 random bytes.
    pub client_nonce: &'a [u8; 32],
    /// Unix seconds.
    pub timestamp: u64,
    /// The node the hello is meant for.
    pub node_id: NodeId,
}

/// The reply parameters hashed into the transcript `th` (no label):
/// `(session_id, server_eph, server_nonce, expires_at)`.
///
/// In `rsa-oaep` mode the `server_eph` slot carries the RSA-OAEP ciphertext of
/// the session secret, so that the node's signature covers it (see
/// docs/protocol.md, "Deviations").
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReplyParams<'a> {
    /// The new session.
    pub session_id: SessionId,
    /// ecdh: the node's ephemeral P-256 key; rsa-oaep: the wrapped secret.
    pub server_eph: Option<&'a [u8]>,
    /// 32 random bytes.
    pub server_nonce: &'a [u8; 32],
    /// Unix seconds.
    pub expires_at: u64,
}

/// The node's reply signature: `("peergroup/handshake/reply/v1", th,
/// session_id, server_eph, server_nonce, expires_at)`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReplyTbs<'a> {
    /// The transcript hash.
    pub th: &'a [u8; 32],
    /// The new session.
    pub session_id: SessionId,
    /// As in [`ReplyParams`].
    pub server_eph: Option<&'a [u8]>,
    /// 32 random bytes.
    pub server_nonce: &'a [u8; 32],
    /// Unix seconds.
    pub expires_at: u64,
}

/// A request authenticator's input: `("peergroup/request/v1", method,
/// path_and_query, seq, SHA-256(body))`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RequestTbs<'a> {
    /// Upper-case HTTP method.
    pub method: &'a str,
    /// The request target as sent.
    pub path_and_query: &'a str,
    /// The request's sequence number.
    pub seq: u64,
    /// SHA-256 of the body bytes on the wire.
    pub body_hash: &'a [u8; 32],
}

/// A response authenticator's input: `("peergroup/response/v1", status, seq,
/// SHA-256(body))`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ResponseTbs<'a> {
    /// HTTP status.
    pub status: u16,
    /// The request's sequence number.
    pub seq: u64,
    /// SHA-256 of the body bytes on the wire.
    pub body_hash: &'a [u8; 32],
}

/// A key envelope's signature: `("peergroup/envelope/v1", room_id, epoch,
/// member_id, wrapped_key, distributor_id)`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EnvelopeTbs<'a> {
    /// The room.
    pub room_id: RoomId,
    /// The key's epoch.
    pub epoch: u32,
    /// The member the key is wrapped for.
    pub member_id: UserId,
    /// RSA-OAEP ciphertext of the 32-byte master key.
    pub wrapped_key: &'a [u8],
    /// The owner or admin who wrapped and signed it.
    pub distributor_id: UserId,
}

/// Associated data of a message ciphertext: `("peergroup/message/v1",
/// room_id, epoch, sender_id)`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MessageAad {
    /// The room.
    pub room_id: RoomId,
    /// The epoch whose key encrypts the message.
    pub epoch: u32,
    /// The sender.
    pub sender_id: UserId,
}

/// A message's sender signature: `("peergroup/message-sig/v1", room_id,
/// epoch, SHA-256(ciphertext))`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MessageSigTbs<'a> {
    /// The room.
    pub room_id: RoomId,
    /// The epoch whose key encrypts the message.
    pub epoch: u32,
    /// SHA-256 of the ciphertext.
    pub ciphertext_hash: &'a [u8; 32],
}

/// The plaintext of an encrypted message, postcard-encoded before sealing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    /// The text.
    pub text: String,
    /// When the sender wrote it (unix seconds, the sender's clock).
    pub sent_at: u64,
    /// The seq of the message this one answers.
    pub reply_to: Option<u64>,
}

/// A node registering with another: `("peergroup/peer/v1", target, node_id,
/// name, spki, group, url, timestamp, nonce)`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PeerTbs<'a> {
    /// The node registered with.
    pub target: NodeId,
    /// The registering node.
    pub node_id: NodeId,
    /// Its name.
    pub name: &'a str,
    /// Its node key's SPKI DER.
    pub spki: &'a [u8],
    /// Its group.
    pub group: &'a str,
    /// Where it takes pushes (`http://ADDR:PORT`).
    pub url: &'a str,
    /// Unix seconds.
    pub timestamp: u64,
    /// 32 random bytes.
    pub nonce: &'a [u8; 32],
}

/// A node leaving another: `("peergroup/peer-leave/v1", target, node_id,
/// timestamp, nonce)`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PeerLeaveTbs<'a> {
    /// The node left.
    pub target: NodeId,
    /// The leaving node.
    pub node_id: NodeId,
    /// Unix seconds.
    pub timestamp: u64,
    /// 32 random bytes.
    pub nonce: &'a [u8; 32],
}

/// A discovery datagram's signature: `("peergroup/discovery/v1", magic,
/// version, kind, node_id, node_spki_hash, name, group, role, http_port,
/// timestamp, nonce)`: every field of the datagram but the signature.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DiscoveryTbs<'a> {
    /// `b"PGRP"`.
    pub magic: &'a [u8; 4],
    /// Protocol version.
    pub version: u16,
    /// Query, announce or leave.
    pub kind: DatagramKind,
    /// The sending node.
    pub node_id: NodeId,
    /// SHA-256 of its node key's SPKI DER.
    pub node_spki_hash: &'a [u8; 32],
    /// Its name.
    pub name: &'a str,
    /// Its group.
    pub group: &'a str,
    /// Its role.
    pub role: NodeRole,
    /// Its HTTP port.
    pub http_port: u16,
    /// Unix seconds.
    pub timestamp: u64,
    /// 32 random bytes.
    pub nonce: &'a [u8; 32],
}
