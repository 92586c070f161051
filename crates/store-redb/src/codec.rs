//! The stored values: plain structs (ids as 16 bytes, enums as small
//! numbers chosen here, never by `peer-proto`'s declaration order), encoded
//! with postcard, and their conversions to and from the records.

use peer_proto::api::{Envelope, JoinRule, NodeRole, PeerDirection, Role, Visibility};
use peer_proto::{Bytes, MessageId, NodeId, RoomId, UserId};
use peer_store::{
    AuditRecord, BanRecord, EnvelopeRecord, InviteRecord, MemberRecord, MessageRecord, PeerRecord,
    RoomRecord, StoreError, UserRecord,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::corrupt;

/// Encodes a value.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|e| StoreError::internal(format!("encoding: {e}")))
}

/// Decodes a value; `what` names it in the error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|_| corrupt(what))
}

/// A 16-byte id from a stored slice.
pub(crate) fn id16(bytes: &[u8], what: &str) -> Result<[u8; 16], StoreError> {
    bytes.try_into().map_err(|_| corrupt(what))
}

#[derive(Serialize, Deserialize)]
pub(crate) struct UserV {
    pub(crate) name: String,
    pub(crate) spki: Vec<u8>,
    pub(crate) created_at: u64,
}

impl UserV {
    pub(crate) fn from_record(u: &UserRecord) -> Self {
        UserV {
            name: u.name.clone(),
            spki: u.spki.0.clone(),
            created_at: u.created_at,
        }
    }

    pub(crate) fn record(self, id: [u8; 16]) -> UserRecord {
        UserRecord {
            id: UserId::from_bytes(id),
            name: self.name,
            spki: Bytes(self.spki),
            created_at: self.created_at,
        }
    }
}

#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct RoomV {
    pub(crate) name: String,
    pub(crate) topic: String,
    pub(crate) visibility: u8,
    pub(crate) join_rule: u8,
    pub(crate) password_hash: Option<String>,
    pub(crate) capacity: u32,
    pub(crate) encrypted: bool,
    pub(crate) owner_id: [u8; 16],
    pub(crate) epoch: u32,
    pub(crate) rotation_due: bool,
    pub(crate) member_count: u32,
    pub(crate) last_seq: u64,
    /// Messages stored (for `count_messages` without a scan).
    pub(crate) message_count: u64,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
    pub(crate) version: u64,
}

impl RoomV {
    /// The stored form of a record; counters as given.
    pub(crate) fn from_record(r: &RoomRecord) -> Self {
        RoomV {
            name: r.name.clone(),
            topic: r.topic.clone(),
            visibility: visibility_code(r.visibility),
            join_rule: join_rule_code(r.join_rule),
            password_hash: r.password_hash.clone(),
            capacity: r.capacity,
            encrypted: r.encrypted,
            owner_id: r.owner_id.to_bytes(),
            epoch: r.epoch,
            rotation_due: r.rotation_due,
            member_count: r.member_count,
            last_seq: r.last_seq,
            message_count: 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }

    pub(crate) fn is_public(&self) -> bool {
        self.visibility == visibility_code(Visibility::Public)
    }

    pub(crate) fn record(&self, id: [u8; 16]) -> Result<RoomRecord, StoreError> {
        Ok(RoomRecord {
            id: RoomId::from_bytes(id),
            name: self.name.clone(),
            topic: self.topic.clone(),
            visibility: visibility(self.visibility)?,
            join_rule: join_rule(self.join_rule)?,
            password_hash: self.password_hash.clone(),
            capacity: self.capacity,
            encrypted: self.encrypted,
            owner_id: UserId::from_bytes(self.owner_id),
            epoch: self.epoch,
            rotation_due: self.rotation_due,
            member_count: self.member_count,
            last_seq: self.last_seq,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct MemberV {
    pub(crate) role: u8,
    pub(crate) join_epoch: u32,
    pub(crate) joined_at: u64,
}

impl MemberV {
    pub(crate) fn from_record(m: &MemberRecord) -> Self {
        MemberV {
            role: role_code(m.role),
            join_epoch: m.join_epoch,
            joined_at: m.joined_at,
        }
    }

    pub(crate) fn record(self, room: [u8; 16], user: [u8; 16]) -> Result<MemberRecord, StoreError> {
        Ok(MemberRecord {
            room_id: RoomId::from_bytes(room),
            user_id: UserId::from_bytes(user),
            role: role(self.role)?,
            join_epoch: self.join_epoch,
            joined_at: self.joined_at,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct BanV {
    pub(crate) banned_at: u64,
}

impl BanV {
    pub(crate) fn record(self, room: [u8; 16], user: [u8; 16]) -> BanRecord {
        BanRecord {
            room_id: RoomId::from_bytes(room),
            user_id: UserId::from_bytes(user),
            banned_at: self.banned_at,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct InviteV {
    pub(crate) uses: u32,
    pub(crate) expires_at: u64,
    pub(crate) created_by: [u8; 16],
    pub(crate) created_at: u64,
}

impl InviteV {
    pub(crate) fn from_record(i: &InviteRecord) -> Self {
        InviteV {
            uses: i.uses,
            expires_at: i.expires_at,
            created_by: i.created_by.to_bytes(),
            created_at: i.created_at,
        }
    }

    pub(crate) fn record(self, room: [u8; 16], code: String) -> InviteRecord {
        InviteRecord {
            room_id: RoomId::from_bytes(room),
            code,
            uses: self.uses,
            expires_at: self.expires_at,
            created_by: UserId::from_bytes(self.created_by),
            created_at: self.created_at,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct EnvelopeV {
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) distributor_id: [u8; 16],
    pub(crate) signature: Vec<u8>,
    pub(crate) stored_at: u64,
}

impl EnvelopeV {
    pub(crate) fn from_record(e: &EnvelopeRecord) -> Self {
        EnvelopeV {
            wrapped_key: e.envelope.wrapped_key.0.clone(),
            distributor_id: e.envelope.distributor_id.to_bytes(),
            signature: e.envelope.signature.0.clone(),
            stored_at: e.stored_at,
        }
    }

    pub(crate) fn record(self, room: [u8; 16], member: [u8; 16], epoch: u32) -> EnvelopeRecord {
        EnvelopeRecord {
            envelope: Envelope {
                room_id: RoomId::from_bytes(room),
                epoch,
                member_id: UserId::from_bytes(member),
                wrapped_key: Bytes(self.wrapped_key),
                distributor_id: UserId::from_bytes(self.distributor_id),
                signature: Bytes(self.signature),
            },
            stored_at: self.stored_at,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct MessageV {
    pub(crate) id: [u8; 16],
    pub(crate) sender_id: [u8; 16],
    pub(crate) created_at: u64,
    pub(crate) epoch: Option<u32>,
    pub(crate) ciphertext: Option<Vec<u8>>,
    pub(crate) signature: Option<Vec<u8>>,
    pub(crate) text: Option<String>,
    pub(crate) deleted: bool,
}

impl MessageV {
    pub(crate) fn from_record(m: &MessageRecord) -> Self {
        MessageV {
            id: m.id.to_bytes(),
            sender_id: m.sender_id.to_bytes(),
            created_at: m.created_at,
            epoch: m.epoch,
            ciphertext: m.ciphertext.as_ref().map(|b| b.0.clone()),
            signature: m.signature.as_ref().map(|b| b.0.clone()),
            text: m.text.clone(),
            deleted: m.deleted,
        }
    }

    pub(crate) fn record(self, room: [u8; 16], seq: u64) -> MessageRecord {
        MessageRecord {
            room_id: RoomId::from_bytes(room),
            seq,
            id: MessageId::from_bytes(self.id),
            sender_id: UserId::from_bytes(self.sender_id),
            created_at: self.created_at,
            epoch: self.epoch,
            ciphertext: self.ciphertext.map(Bytes),
            signature: self.signature.map(Bytes),
            text: self.text,
            deleted: self.deleted,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct PeerV {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) role: u8,
    pub(crate) group: String,
    pub(crate) direction: u8,
    pub(crate) spki: Option<Vec<u8>>,
    pub(crate) last_seen: u64,
}

impl PeerV {
    pub(crate) fn from_record(p: &PeerRecord) -> Self {
        PeerV {
            name: p.name.clone(),
            url: p.url.clone(),
            role: node_role_code(p.role),
            group: p.group.clone(),
            direction: direction_code(p.direction),
            spki: p.spki.as_ref().map(|b| b.0.clone()),
            last_seen: p.last_seen,
        }
    }

    pub(crate) fn record(self, id: [u8; 16]) -> Result<PeerRecord, StoreError> {
        Ok(PeerRecord {
            node_id: NodeId::from_bytes(id),
            name: self.name,
            url: self.url,
            role: node_role(self.role)?,
            group: self.group,
            direction: direction(self.direction)?,
            spki: self.spki.map(Bytes),
            last_seen: self.last_seen,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct AuditV {
    pub(crate) at: u64,
    pub(crate) actor_id: Option<[u8; 16]>,
    pub(crate) room_id: Option<[u8; 16]>,
    pub(crate) action: String,
    pub(crate) detail: String,
}

impl AuditV {
    pub(crate) fn record(self, id: u64) -> AuditRecord {
        AuditRecord {
            id: audit_id_text(id),
            at: self.at,
            actor_id: self.actor_id.map(UserId::from_bytes),
            room_id: self.room_id.map(RoomId::from_bytes),
            action: self.action,
            detail: self.detail,
        }
    }
}

/// An audit id as text: fixed width, so that text order is number order
/// (the memory backend's form).
pub(crate) fn audit_id_text(id: u64) -> String {
    format!("{id:020}")
}

macro_rules! codes {
    ($code:ident, $from:ident, $ty:ty, $what:literal: $($variant:path = $n:literal),* $(,)?) => {
        pub(crate) fn $code(v: $ty) -> u8 {
            match v {
                $($variant => $n,)*
            }
        }

        pub(crate) fn $from(n: u8) -> Result<$ty, StoreError> {
            match n {
                $($n => Ok($variant),)*
                _ => Err(corrupt($what)),
            }
        }
    };
}

codes!(role_code, role, Role, "role": Role::Owner = 0, Role::Admin = 1, Role::Member = 2);
codes!(visibility_code, visibility, Visibility, "visibility":
    Visibility::Public = 0, Visibility::Private = 1);
codes!(join_rule_code, join_rule, JoinRule, "join rule":
    JoinRule::Open = 0, JoinRule::Password = 1, JoinRule::Invite = 2);
codes!(node_role_code, node_role, NodeRole, "node role":
    NodeRole::Main = 0, NodeRole::Follower = 1, NodeRole::Standalone = 2);
codes!(direction_code, direction, PeerDirection, "peer direction":
    PeerDirection::Inbound = 0, PeerDirection::Outbound = 1, PeerDirection::Discovered = 2);
