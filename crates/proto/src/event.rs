//! Events: what clients see on `GET /api/v1/events` (Server-Sent Events) and
//! what nodes push to each other in `POST /api/v1/notify`.
//!
//! In JSON an event is flat: `{"id": 7, "at": 1700000000, "type":
//! "message", "room_id": "...", "seq": 3, "sender_id": "..."}`. On SSE the
//! `id:` line carries `id` (resume with `Last-Event-ID`) and the `event:`
//! line carries `type`.
//!
//! ```
//! use peer_proto::event::{Event, EventKind};
//! use peer_proto::{RoomId, UserId};
//!
//! let e = Event {
//!     id: 7,
//!     at: 1_700_000_000,
//!     kind: EventKind::KeyRotated { room_id: RoomId::from_bytes([1; 16]), epoch: 2 },
//! };
//! assert_eq!(e.kind.name(), "key_rotated");
//! let json = serde_json::to_value(&e).unwrap();
//! assert_eq!(json["type"], "key_rotated");
//! assert_eq!(json["epoch"], 2);
//! ```

use serde::{Deserialize, Serialize};

use crate::api::LeaveReason;
use crate::error::ErrorCode;
use crate::id::{RoomId, UserId};

/// An event with its position in the node's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing per node; SSE `id:` and `Last-Event-ID`.
    pub id: u64,
    /// Unix seconds.
    pub at: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A message was posted: fetch it with `after = seq - 1`.
    Message {
        /// The room.
        room_id: RoomId,
        /// Its seq.
        seq: u64,
        /// Its sender.
        sender_id: UserId,
    },
    /// A message was tombstoned.
    MessageDeleted {
        /// The room.
        room_id: RoomId,
        /// Its seq.
        seq: u64,
    },
    /// A user joined.
    MemberJoined {
        /// The room.
        room_id: RoomId,
        /// The new member.
        user_id: UserId,
        /// The first epoch the member may read.
        join_epoch: u32,
    },
    /// A member left or was removed.
    MemberLeft {
        /// The room.
        room_id: RoomId,
        /// The former member.
        user_id: UserId,
        /// Left, kicked or banned.
        reason: LeaveReason,
    },
    /// A member needs the key of an epoch: owners and admins answer by
    /// posting an envelope.
    KeyRequest {
        /// The room.
        room_id: RoomId,
        /// The member waiting.
        user_id: UserId,
        /// The epoch needed.
        epoch: u32,
    },
    /// An envelope for this member was stored.
    KeyGranted {
        /// The room.
        room_id: RoomId,
        /// The member.
        user_id: UserId,
        /// The epoch.
        epoch: u32,
    },
    /// The room key was rotated.
    KeyRotated {
        /// The room.
        room_id: RoomId,
        /// The new epoch.
        epoch: u32,
    },
    /// Settings or roles changed, or a rotation became due.
    RoomUpdated {
        /// The room.
        room_id: RoomId,
    },
    /// The room is gone.
    RoomDeleted {
        /// The room.
        room_id: RoomId,
    },
    /// The last event of a stream the node closes (for example, a
    /// subscriber too slow to keep up).
    Error {
        /// Why.
        code: ErrorCode,
        /// Human text.
        message: String,
    },
}

impl EventKind {
    /// The event's `type` (and SSE `event:` name).
    pub const fn name(&self) -> &'static str {
        match self {
            EventKind::Message { .. } => "message",
            EventKind::MessageDeleted { .. } => "message_deleted",
            EventKind::MemberJoined { .. } => "member_joined",
            EventKind::MemberLeft { .. } => "member_left",
            EventKind::KeyRequest { .. } => "key_request",
            EventKind::KeyGranted { .. } => "key_granted",
            EventKind::KeyRotated { .. } => "key_rotated",
            EventKind::RoomUpdated { .. } => "room_updated",
            EventKind::RoomDeleted { .. } => "room_deleted",
            EventKind::Error { .. } => "error",
        }
    }

    /// The room the event concerns, if any.
    pub const fn room_id(&self) -> Option<RoomId> {
        match self {
            EventKind::Message { room_id, .. }
            | EventKind::MessageDeleted { room_id, .. }
            | EventKind::MemberJoined { room_id, .. }
            | EventKind::MemberLeft { room_id, .. }
            | EventKind::KeyRequest { room_id, .. }
            | EventKind::KeyGranted { room_id, .. }
            | EventKind::KeyRotated { room_id, .. }
            | EventKind::RoomUpdated { room_id }
            | EventKind::RoomDeleted { room_id } => Some(*room_id),
            EventKind::Error { .. } => None,
        }
    }
}
