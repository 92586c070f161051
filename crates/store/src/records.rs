//! The stored records. These are storage types, not API bodies: the node
//! builds API responses from them (and leaves out what the API never shows,
//! like password hashes). Ids, enums, binary fields and envelopes are the
//! `peer-proto` types.
//!
//! Every integer a backend stores must fit in an `i64` (BSON has no
//! unsigned integers); a larger time, seq or version is refused with
//! [`StoreError::Invalid`](crate::error::StoreError::Invalid) by every backend.

use core::fmt;

use peer_proto::api::{Envelope, JoinRule, LeaveReason, NodeRole, PeerDirection, Role, Visibility};
use peer_proto::{Bytes, MessageId, NodeId, RoomId, UserId};

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// First 16 bytes of SHA-256 over `spki`.
    pub id: UserId,
    /// The name as registered; unique ignoring case
    /// ([`peer_proto::limits::fold_user_name`]).
    pub name: String,
    /// The identity key's SPKI DER.
    pub spki: Bytes,
    /// Unix seconds.
    pub created_at: u64,
}

/// A room, with its settings and counters.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomRecord {
    /// 16 random bytes chosen by the creating client.
    pub id: RoomId,
    /// Its name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// Public or private.
    pub visibility: Visibility,
    /// Open, password or invite.
    pub join_rule: JoinRule,
    /// An argon2 PHC string made by the node; the store never sees a
    /// password. Redacted in `Debug`.
    pub password_hash: Option<String>,
    /// Maximum member count.
    pub capacity: u32,
    /// True when messages are end-to-end encrypted.
    pub encrypted: bool,
    /// The owner.
    pub owner_id: UserId,
    /// The current key epoch (0 in unencrypted rooms).
    pub epoch: u32,
    /// True after a member left or was removed, until a rotation.
    pub rotation_due: bool,
    /// The number of members; never above `capacity`. Maintained by the
    /// store (`create_room` counts the owner; the value passed in is
    /// ignored).
    pub member_count: u32,
    /// The highest message seq assigned (0 when none). Maintained by the
    /// store.
    pub last_seq: u64,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds of the last settings change.
    pub updated_at: u64,
    /// Optimistic concurrency: 1 on creation, +1 on every change of the
    /// settings (`update_room`, `remove_member`, `rotate_epoch`). Member
    /// joins and appends do not change it. Maintained by the store.
    pub version: u64,
}

impl fmt::Debug for RoomRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("visibility", &self.visibility)
            .field("join_rule", &self.join_rule)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("capacity", &self.capacity)
            .field("encrypted", &self.encrypted)
            .field("owner_id", &self.owner_id)
            .field("epoch", &self.epoch)
            .field("rotation_due", &self.rotation_due)
            .field("member_count", &self.member_count)
            .field("last_seq", &self.last_seq)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("version", &self.version)
            .finish()
    }
}

/// A change of a room's settings; `None` fields stay as they are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RoomUpdate {
    /// New name.
    pub name: Option<String>,
    /// New topic.
    pub topic: Option<String>,
    /// New visibility.
    pub visibility: Option<Visibility>,
    /// New join rule.
    pub join_rule: Option<JoinRule>,
    /// New password hash: `Some(None)` removes it. Redacted in `Debug`.
    pub password_hash: Option<Option<String>>,
    /// New capacity; refused with `Conflict { CapacityBelowMembers }` when
    /// below the member count at the moment of the write.
    pub capacity: Option<u32>,
    /// Set or clear the rotation-due flag.
    pub rotation_due: Option<bool>,
}

impl fmt::Debug for RoomUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomUpdate")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("visibility", &self.visibility)
            .field("join_rule", &self.join_rule)
            .field(
                "password_hash",
                &self
                    .password_hash
                    .as_ref()
                    .map(|h| h.as_ref().map(|_| "<redacted>")),
            )
            .field("capacity", &self.capacity)
            .field("rotation_due", &self.rotation_due)
            .finish()
    }
}

impl RoomUpdate {
    /// Applies the change to a record (settings only; version and
    /// `updated_at` are the caller's business).
    pub fn apply_to(&self, room: &mut RoomRecord) {
        if let Some(v) = &self.name {
            room.name.clone_from(v);
        }
        if let Some(v) = &self.topic {
            room.topic.clone_from(v);
        }
        if let Some(v) = self.visibility {
            room.visibility = v;
        }
        if let Some(v) = self.join_rule {
            room.join_rule = v;
        }
        if let Some(v) = &self.password_hash {
            room.password_hash.clone_from(v);
        }
        if let Some(v) = self.capacity {
            room.capacity = v;
        }
        if let Some(v) = self.rotation_due {
            room.rotation_due = v;
        }
    }
}

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// The room.
    pub room_id: RoomId,
    /// The user.
    pub user_id: UserId,
    /// Owner, admin or member.
    pub role: Role,
    /// The first epoch whose key the member may hold: the room's epoch at
    /// the moment of the join (set by the store).
    pub join_epoch: u32,
    /// Unix seconds.
    pub joined_at: u64,
}

/// A user to add to a room ([`Store::add_member`](crate::Store::add_member)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    /// The user.
    pub user_id: UserId,
    /// Its role (usually [`Role::Member`]).
    pub role: Role,
    /// Unix seconds; also the `now` against which an invite's expiry is
    /// checked.
    pub joined_at: u64,
}

/// A ban: the user cannot be added to the room until unbanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    /// The room.
    pub room_id: RoomId,
    /// The banned user.
    pub user_id: UserId,
    /// Unix seconds.
    pub banned_at: u64,
}

/// What [`Store::remove_member`](crate::Store::remove_member) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The room afterwards.
    pub room: RoomRecord,
    /// The member that was removed.
    pub member: MemberRecord,
    /// Why.
    pub reason: LeaveReason,
}

/// An invite code of a room.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteRecord {
    /// The room.
    pub room_id: RoomId,
    /// The code (unique within the room; the node may store a hash of it).
    /// Redacted in `Debug`.
    pub code: String,
    /// Joins left.
    pub uses: u32,
    /// Unix seconds; usable while `now < expires_at`.
    pub expires_at: u64,
    /// Who made it.
    pub created_by: UserId,
    /// Unix seconds.
    pub created_at: u64,
}

impl fmt::Debug for InviteRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InviteRecord")
            .field("room_id", &self.room_id)
            .field("code", &"<redacted>")
            .field("uses", &self.uses)
            .field("expires_at", &self.expires_at)
            .field("created_by", &self.created_by)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A room key wrapped for one member at one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeRecord {
    /// The envelope as signed by its distributor.
    pub envelope: Envelope,
    /// Unix seconds.
    pub stored_at: u64,
}

/// A message to append; the store assigns its seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// 16 random bytes chosen by the node.
    pub id: MessageId,
    /// The sender.
    pub sender_id: UserId,
    /// Unix seconds.
    pub created_at: u64,
    /// Encrypted rooms: the epoch.
    pub epoch: Option<u32>,
    /// Encrypted rooms: the ciphertext.
    pub ciphertext: Option<Bytes>,
    /// Encrypted rooms: the sender's signature.
    pub signature: Option<Bytes>,
    /// Unencrypted rooms: the text.
    pub text: Option<String>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The room.
    pub room_id: RoomId,
    /// Position in the room, from 1, without gaps.
    pub seq: u64,
    /// The message id.
    pub id: MessageId,
    /// The sender.
    pub sender_id: UserId,
    /// Unix seconds.
    pub created_at: u64,
    /// Encrypted rooms: the epoch (kept when tombstoned).
    pub epoch: Option<u32>,
    /// Encrypted rooms: the ciphertext (`None` once tombstoned).
    pub ciphertext: Option<Bytes>,
    /// Encrypted rooms: the signature (`None` once tombstoned).
    pub signature: Option<Bytes>,
    /// Unencrypted rooms: the text (`None` once tombstoned).
    pub text: Option<String>,
    /// True once tombstoned.
    pub deleted: bool,
}

impl MessageRecord {
    /// The record of `msg` stored at `seq` in `room_id`.
    pub fn from_new(room_id: RoomId, seq: u64, msg: NewMessage) -> Self {
        MessageRecord {
            room_id,
            seq,
            id: msg.id,
            sender_id: msg.sender_id,
            created_at: msg.created_at,
            epoch: msg.epoch,
            ciphertext: msg.ciphertext,
            signature: msg.signature,
            text: msg.text,
            deleted: false,
        }
    }

    /// Clears the content and marks the message deleted.
    pub fn tombstone(&mut self) {
        self.ciphertext = None;
        self.signature = None;
        self.text = None;
        self.deleted = true;
    }
}

/// A known peer node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
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
    /// Its node key's SPKI DER, once it registered (discovery alone gives
    /// only a hash).
    pub spki: Option<Bytes>,
    /// Unix seconds; "online" is derived from it by the node.
    pub last_seen: u64,
}

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    /// Unix seconds.
    pub at: u64,
    /// Who acted, when a user did.
    pub actor_id: Option<UserId>,
    /// The room concerned, if any.
    pub room_id: Option<RoomId>,
    /// A short stable action name chosen by the node (`"room.create"`).
    pub action: String,
    /// Free text for people; never secrets or message contents.
    pub detail: String,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Opaque, increasing in append order within one backend (the memory
    /// backend counts; MongoDB uses the ObjectId's text).
    pub id: String,
    /// Unix seconds.
    pub at: u64,
    /// Who acted, when a user did.
    pub actor_id: Option<UserId>,
    /// The room concerned, if any.
    pub room_id: Option<RoomId>,
    /// The action name.
    pub action: String,
    /// Free text.
    pub detail: String,
}

/// Message counts of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageCount {
    /// Messages stored now, tombstones included.
    pub stored: u64,
    /// Messages dropped by a retention bound (the memory backend's cap);
    /// always 0 in durable backends.
    pub dropped: u64,
    /// The highest seq assigned (0 when none).
    pub last_seq: u64,
}

/// What an import did (`Store::import_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportCount {
    /// Records stored by this call.
    pub inserted: u64,
    /// Records whose key was already stored (kept as they were).
    pub present: u64,
}

impl ImportCount {
    /// Adds another call's counts.
    pub fn add(&mut self, other: ImportCount) {
        self.inserted += other.inserted;
        self.present += other.present;
    }

    /// Imports `items` one at a time: `one` stores an item and says
    /// whether it was new (`false`: its key was already stored, and it was
    /// kept as it was). Stops at the first error.
    pub fn each<T, E>(
        items: &[T],
        mut one: impl FnMut(&T) -> Result<bool, E>,
    ) -> Result<ImportCount, E> {
        let mut count = ImportCount::default();
        for item in items {
            count.count(one(item)?);
        }
        Ok(count)
    }

    /// Counts one record: new or not.
    pub fn count(&mut self, inserted: bool) {
        if inserted {
            self.inserted += 1;
        } else {
            self.present += 1;
        }
    }
}
