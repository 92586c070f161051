use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::id::{MessageId, RoomId, UserId};

/// `POST /api/v1/rooms/{id}/messages`: either an encrypted message
/// (`epoch`, `ciphertext`, `signature`) or, in unencrypted rooms, `text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The epoch whose key encrypts `ciphertext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    /// `seal(k_epoch, postcard(body), aad)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<Bytes>,
    /// The sender's signature over the ciphertext (protocol.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Bytes>,
    /// Plain text, for unencrypted rooms only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What the node assigned to a posted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Posted {
    /// The room's sequence number of the message.
    pub seq: u64,
    /// The message id.
    pub id: MessageId,
    /// When the node stored it (unix seconds).
    pub created_at: u64,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The room.
    pub room_id: RoomId,
    /// Position in the room, from 1, without gaps.
    pub seq: u64,
    /// The message id.
    pub id: MessageId,
    /// The sender.
    pub sender_id: UserId,
    /// When the node stored it (unix seconds).
    pub created_at: u64,
    /// Encrypted rooms: the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    /// Encrypted rooms: the ciphertext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<Bytes>,
    /// Encrypted rooms: the sender's signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Bytes>,
    /// Unencrypted rooms: the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// True once tombstoned; the content fields are then absent.
    #[serde(default)]
    pub deleted: bool,
}

/// `GET /api/v1/rooms/{id}/messages` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageQuery {
    /// Messages with a seq above this one, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// Messages with a seq below this one, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// At most this many (default 100, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// With `after`: wait up to this many seconds (at most 60) for a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u32>,
}

/// A page of messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageList {
    /// The messages: ascending after `after`, descending before `before`.
    pub messages: Vec<Message>,
    /// The room's highest seq when the page was read.
    pub last_seq: u64,
    /// True when more messages lie in the direction read.
    pub more: bool,
}
