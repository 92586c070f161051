use serde::{Deserialize, Serialize};

use super::common::{JoinRule, LeaveReason, Role, Visibility};
use crate::bytes::Bytes;
use crate::id::{RoomId, UserId};

/// A room key wrapped for one member, signed by its distributor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The room.
    pub room_id: RoomId,
    /// The key's epoch (1, 2, ...).
    pub epoch: u32,
    /// The member it is wrapped for.
    pub member_id: UserId,
    /// RSA-OAEP (SHA-256) ciphertext of the 32-byte master key.
    pub wrapped_key: Bytes,
    /// The owner or admin who wrapped it.
    pub distributor_id: UserId,
    /// The distributor's signature (protocol.md).
    pub signature: Bytes,
}

/// `POST /api/v1/rooms`: create a room.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// 16 random bytes chosen by the client (the owner's envelope covers it).
    pub id: RoomId,
    /// 1-64 characters.
    pub name: String,
    /// At most 512 characters.
    #[serde(default)]
    pub topic: String,
    /// Default public.
    #[serde(default)]
    pub visibility: Visibility,
    /// Default open.
    #[serde(default)]
    pub join_rule: JoinRule,
    /// Required with the password join rule; never returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// 2-10,000 members (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Default true: messages are end-to-end encrypted.
    #[serde(default = "yes")]
    pub encrypted: bool,
    /// The owner's epoch-1 envelope; required iff encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
}

fn yes() -> bool {
    true
}

impl core::fmt::Debug for CreateRoom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CreateRoom")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("visibility", &self.visibility)
            .field("join_rule", &self.join_rule)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("capacity", &self.capacity)
            .field("encrypted", &self.encrypted)
            .field("envelope", &self.envelope)
            .finish()
    }
}

/// `PATCH /api/v1/rooms/{id}`: change some settings; absent fields stay.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoom {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// New visibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// New join rule (password requires `password`, unless one is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_rule: Option<JoinRule>,
    /// New password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// New capacity (not below the member count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

impl core::fmt::Debug for UpdateRoom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UpdateRoom")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("visibility", &self.visibility)
            .field("join_rule", &self.join_rule)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// The user's name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The first epoch whose key the member may hold.
    pub join_epoch: u32,
    /// Unix seconds.
    pub joined_at: u64,
}

/// A room as the API shows it. Never holds a password or a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Room {
    /// The room.
    pub id: RoomId,
    /// Its name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// Public or private.
    pub visibility: Visibility,
    /// Open, password or invite.
    pub join_rule: JoinRule,
    /// Maximum member count.
    pub capacity: u32,
    /// True when messages are end-to-end encrypted; false rooms hold text.
    pub encrypted: bool,
    /// The owner.
    pub owner_id: UserId,
    /// The current key epoch (0 in unencrypted rooms).
    pub epoch: u32,
    /// True after a member left or was removed, until a rotation.
    pub rotation_due: bool,
    /// The number of members.
    pub member_count: u32,
    /// The highest message seq (0 when empty).
    pub last_seq: u64,
    /// Unix seconds.
    pub created_at: u64,
    /// The caller's role, when a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_role: Option<Role>,
    /// The members, in room details for members only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<Member>>,
}

/// `GET /api/v1/rooms` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomQuery {
    /// At most this many (default 100, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A page of rooms: public ones and the caller's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomList {
    /// The rooms.
    pub rooms: Vec<Room>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/rooms/{id}/join`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRoom {
    /// For password rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// For invite rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

impl core::fmt::Debug for JoinRoom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JoinRoom")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("invite", &self.invite.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `POST /api/v1/rooms/{id}/kick`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kick {
    /// The member to remove.
    pub user_id: UserId,
    /// Also ban from rejoining.
    #[serde(default)]
    pub ban: bool,
}

/// `POST /api/v1/rooms/{id}/roles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    /// The member.
    pub user_id: UserId,
    /// `admin` or `member` (ownership does not move).
    pub role: Role,
}

/// `POST /api/v1/rooms/{id}/invites`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    /// How many joins it allows (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<u32>,
    /// Seconds until it expires (default 86,400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
}

/// An invite code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    /// The room.
    pub room_id: RoomId,
    /// The code to pass to join.
    pub code: String,
    /// Joins left.
    pub uses: u32,
    /// Unix seconds.
    pub expires_at: u64,
}

impl core::fmt::Debug for Invite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Invite")
            .field("room_id", &self.room_id)
            .field("code", &"<redacted>")
            .field("uses", &self.uses)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// `GET /api/v1/rooms/{id}/keys`: the caller's envelopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyList {
    /// The room's current epoch.
    pub current_epoch: u32,
    /// One envelope per epoch since the caller joined, oldest first.
    pub envelopes: Vec<Envelope>,
}

/// `POST /api/v1/rooms/{id}/keys`: distribute the current epoch to members
/// (`epoch` = current) or rotate (`epoch` = current + 1, an envelope for
/// every current member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostKeys {
    /// The epoch of every envelope.
    pub epoch: u32,
    /// The envelopes.
    pub envelopes: Vec<Envelope>,
    /// This is meant as a rotation: if the room is already at `epoch`
    /// (another manager rotated first), refuse with `conflict` instead of
    /// taking the envelopes as a distribution of the other manager's key.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub rotate: bool,
}

/// The result of posting keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysPosted {
    /// The room's current epoch afterwards.
    pub current_epoch: u32,
    /// How many envelopes were stored.
    pub stored: u32,
    /// True when this was a rotation.
    pub rotated: bool,
}

/// The result of joining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Joined {
    /// The room.
    pub room: Room,
    /// True when the caller must wait for a key (an owner or admin hands it
    /// out on the `key_request` event).
    pub key_pending: bool,
}

/// The result of leaving or kicking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removed {
    /// The room.
    pub room_id: RoomId,
    /// Who left.
    pub user_id: UserId,
    /// Why.
    pub reason: LeaveReason,
}
