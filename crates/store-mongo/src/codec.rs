//! Records to BSON documents and back. Written by hand rather than with
//! serde so that every `u64` goes through a checked conversion (BSON has
//! only signed integers), ids are 16-byte binaries (which sort like the
//! ids), and a malformed stored document is an `Internal` error naming the
//! field, never a panic and never its contents.

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, Document, doc};
use peer_proto::api::{Envelope, JoinRule, NodeRole, PeerDirection, Role, Visibility};
use peer_proto::limits::fold_user_name;
use peer_proto::{Bytes, MessageId, NodeId, RoomId, UserId};
use peer_store::query::check_i64;
use peer_store::{
    AuditRecord, EnvelopeRecord, InviteRecord, MemberRecord, MessageRecord, PeerRecord, RoomRecord,
    StoreError, UserRecord,
};

/// Unique: folded user names.
pub(crate) const IDX_USER_NAME: &str = "users_name_folded";
/// Public-room listing.
pub(crate) const IDX_ROOM_VISIBILITY: &str = "rooms_visibility_id";
/// Unique: (room, user) members.
pub(crate) const IDX_MEMBER: &str = "members_room_user";
/// Memberships of a user.
pub(crate) const IDX_MEMBER_BY_USER: &str = "members_user_room";
/// Unique: (room, user) bans.
pub(crate) const IDX_BAN: &str = "bans_room_user";
/// Unique: (room, code) invites.
pub(crate) const IDX_INVITE: &str = "invites_room_code";
/// Unique: (room, epoch, member) envelopes.
pub(crate) const IDX_ENVELOPE: &str = "envelopes_room_epoch_member";
/// A member's envelopes by epoch.
pub(crate) const IDX_ENVELOPE_BY_MEMBER: &str = "envelopes_room_member_epoch";
/// Unique: (room, seq) messages.
pub(crate) const IDX_MESSAGE: &str = "messages_room_seq";
/// Audit by room.
pub(crate) const IDX_AUDIT_ROOM: &str = "audit_room_id";
/// Audit by actor.
pub(crate) const IDX_AUDIT_ACTOR: &str = "audit_actor_id";
/// Index of imported audit entries by their source's id (`import_audit`).
pub(crate) const IDX_AUDIT_SOURCE: &str = "audit_source_id";

/// A 16-byte id as a BSON binary.
pub(crate) fn bin(bytes: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    })
}

/// A `u64` as a BSON int64, or `Invalid`.
pub(crate) fn int(field: &'static str, v: u64) -> Result<Bson, StoreError> {
    Ok(Bson::Int64(check_i64(field, v)?))
}

/// A `u64` clamped to `i64::MAX` (for range bounds in queries).
pub(crate) fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn bad(coll: &str, field: &str) -> StoreError {
    StoreError::internal(format!("malformed {coll} document: field {field}"))
}

/// Typed reads from a stored document.
pub(crate) struct Reader<'a> {
    doc: &'a Document,
    coll: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(doc: &'a Document, coll: &'static str) -> Self {
        Reader { doc, coll }
    }

    fn err(&self, field: &str) -> StoreError {
        bad(self.coll, field)
    }

    pub(crate) fn id16(&self, field: &str) -> Result<[u8; 16], StoreError> {
        match self.doc.get(field) {
            Some(Bson::Binary(b)) => {
                <[u8; 16]>::try_from(b.bytes.as_slice()).map_err(|_| self.err(field))
            }
            _ => Err(self.err(field)),
        }
    }

    pub(crate) fn opt_id16(&self, field: &str) -> Result<Option<[u8; 16]>, StoreError> {
        match self.doc.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(_) => self.id16(field).map(Some),
        }
    }

    pub(crate) fn u64(&self, field: &str) -> Result<u64, StoreError> {
        let v = match self.doc.get(field) {
            Some(Bson::Int64(v)) => *v,
            Some(Bson::Int32(v)) => i64::from(*v),
            _ => return Err(self.err(field)),
        };
        u64::try_from(v).map_err(|_| self.err(field))
    }

    pub(crate) fn u32(&self, field: &str) -> Result<u32, StoreError> {
        u32::try_from(self.u64(field)?).map_err(|_| self.err(field))
    }

    pub(crate) fn opt_u32(&self, field: &str) -> Result<Option<u32>, StoreError> {
        match self.doc.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(_) => self.u32(field).map(Some),
        }
    }

    pub(crate) fn string(&self, field: &str) -> Result<String, StoreError> {
        match self.doc.get(field) {
            Some(Bson::String(s)) => Ok(s.clone()),
            _ => Err(self.err(field)),
        }
    }

    pub(crate) fn opt_string(&self, field: &str) -> Result<Option<String>, StoreError> {
        match self.doc.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(_) => self.string(field).map(Some),
        }
    }

    pub(crate) fn bool(&self, field: &str) -> Result<bool, StoreError> {
        match self.doc.get(field) {
            Some(Bson::Boolean(b)) => Ok(*b),
            _ => Err(self.err(field)),
        }
    }

    pub(crate) fn bytes(&self, field: &str) -> Result<Bytes, StoreError> {
        match self.doc.get(field) {
            Some(Bson::Binary(b)) => Ok(Bytes(b.bytes.clone())),
            _ => Err(self.err(field)),
        }
    }

    pub(crate) fn opt_bytes(&self, field: &str) -> Result<Option<Bytes>, StoreError> {
        match self.doc.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(_) => self.bytes(field).map(Some),
        }
    }
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Bson) -> Bson {
    v.map_or(Bson::Null, f)
}

// ------------------------------------------------------------------ enums

pub(crate) fn role_str(r: Role) -> &'static str {
    r.as_str()
}

pub(crate) fn role_of(s: &str) -> Option<Role> {
    match s {
        "owner" => Some(Role::Owner),
        "admin" => Some(Role::Admin),
        "member" => Some(Role::Member),
        _ => None,
    }
}

pub(crate) fn visibility_str(v: Visibility) -> &'static str {
    match v {
        Visibility::Public => "public",
        Visibility::Private => "private",
    }
}

fn visibility_of(s: &str) -> Option<Visibility> {
    match s {
        "public" => Some(Visibility::Public),
        "private" => Some(Visibility::Private),
        _ => None,
    }
}

pub(crate) fn join_rule_str(j: JoinRule) -> &'static str {
    match j {
        JoinRule::Open => "open",
        JoinRule::Password => "password",
        JoinRule::Invite => "invite",
    }
}

fn join_rule_of(s: &str) -> Option<JoinRule> {
    match s {
        "open" => Some(JoinRule::Open),
        "password" => Some(JoinRule::Password),
        "invite" => Some(JoinRule::Invite),
        _ => None,
    }
}

fn node_role_str(r: NodeRole) -> &'static str {
    match r {
        NodeRole::Main => "main",
        NodeRole::Follower => "follower",
        NodeRole::Standalone => "standalone",
    }
}

fn node_role_of(s: &str) -> Option<NodeRole> {
    match s {
        "main" => Some(NodeRole::Main),
        "follower" => Some(NodeRole::Follower),
        "standalone" => Some(NodeRole::Standalone),
        _ => None,
    }
}

fn direction_str(d: PeerDirection) -> &'static str {
    match d {
        PeerDirection::Inbound => "inbound",
        PeerDirection::Outbound => "outbound",
        PeerDirection::Discovered => "discovered",
    }
}

fn direction_of(s: &str) -> Option<PeerDirection> {
    match s {
        "inbound" => Some(PeerDirection::Inbound),
        "outbound" => Some(PeerDirection::Outbound),
        "discovered" => Some(PeerDirection::Discovered),
        _ => None,
    }
}

// ------------------------------------------------------------------ users

pub(crate) fn user_doc(u: &UserRecord) -> Result<Document, StoreError> {
    Ok(doc! {
        "_id": bin(u.id.as_bytes()),
        "name": &u.name,
        "name_folded": fold_user_name(&u.name),
        "spki": bin(u.spki.as_slice()),
        "created_at": int("created_at", u.created_at)?,
    })
}

pub(crate) fn user_of(d: &Document) -> Result<UserRecord, StoreError> {
    let r = Reader::new(d, "users");
    Ok(UserRecord {
        id: UserId::from_bytes(r.id16("_id")?),
        name: r.string("name")?,
        spki: r.bytes("spki")?,
        created_at: r.u64("created_at")?,
    })
}

// ------------------------------------------------------------------ rooms

/// A new room document (live unless `state` is given).
pub(crate) fn room_doc(room: &RoomRecord, state: Option<&str>) -> Result<Document, StoreError> {
    let mut d = doc! {
        "_id": bin(room.id.as_bytes()),
        "name": &room.name,
        "topic": &room.topic,
        "visibility": visibility_str(room.visibility),
        "join_rule": join_rule_str(room.join_rule),
        "password_hash": opt(room.password_hash.clone(), Bson::String),
        "capacity": i64::from(room.capacity),
        "encrypted": room.encrypted,
        "owner_id": bin(room.owner_id.as_bytes()),
        "epoch": i64::from(room.epoch),
        "rotation_due": room.rotation_due,
        "member_count": int("member_count", u64::from(room.member_count))?,
        "created_at": int("created_at", room.created_at)?,
        "updated_at": int("updated_at", room.updated_at)?,
        "version": int("version", room.version)?,
    };
    if let Some(s) = state {
        d.insert("state", s);
    }
    Ok(d)
}

/// A room from its document and its counter's last seq.
pub(crate) fn room_of(d: &Document, last_seq: u64) -> Result<RoomRecord, StoreError> {
    let r = Reader::new(d, "rooms");
    Ok(RoomRecord {
        id: RoomId::from_bytes(r.id16("_id")?),
        name: r.string("name")?,
        topic: r.string("topic")?,
        visibility: visibility_of(&r.string("visibility")?).ok_or_else(|| r.err("visibility"))?,
        join_rule: join_rule_of(&r.string("join_rule")?).ok_or_else(|| r.err("join_rule"))?,
        password_hash: r.opt_string("password_hash")?,
        capacity: r.u32("capacity")?,
        encrypted: r.bool("encrypted")?,
        owner_id: UserId::from_bytes(r.id16("owner_id")?),
        epoch: r.u32("epoch")?,
        rotation_due: r.bool("rotation_due")?,
        member_count: r.u32("member_count")?,
        last_seq,
        created_at: r.u64("created_at")?,
        updated_at: r.u64("updated_at")?,
        version: r.u64("version")?,
    })
}

// ------------------------------------------------------------------ members

pub(crate) fn member_doc(m: &MemberRecord) -> Result<Document, StoreError> {
    Ok(doc! {
        "room_id": bin(m.room_id.as_bytes()),
        "user_id": bin(m.user_id.as_bytes()),
        "role": role_str(m.role),
        "join_epoch": i64::from(m.join_epoch),
        "joined_at": int("joined_at", m.joined_at)?,
    })
}

pub(crate) fn member_of(d: &Document) -> Result<MemberRecord, StoreError> {
    let r = Reader::new(d, "members");
    Ok(MemberRecord {
        room_id: RoomId::from_bytes(r.id16("room_id")?),
        user_id: UserId::from_bytes(r.id16("user_id")?),
        role: role_of(&r.string("role")?).ok_or_else(|| r.err("role"))?,
        join_epoch: r.u32("join_epoch")?,
        joined_at: r.u64("joined_at")?,
    })
}

// ------------------------------------------------------------------ invites

pub(crate) fn invite_doc(i: &InviteRecord) -> Result<Document, StoreError> {
    Ok(doc! {
        "room_id": bin(i.room_id.as_bytes()),
        "code": &i.code,
        "uses": i64::from(i.uses),
        "expires_at": int("expires_at", i.expires_at)?,
        "created_by": bin(i.created_by.as_bytes()),
        "created_at": int("created_at", i.created_at)?,
    })
}

pub(crate) fn invite_of(d: &Document) -> Result<InviteRecord, StoreError> {
    let r = Reader::new(d, "invites");
    Ok(InviteRecord {
        room_id: RoomId::from_bytes(r.id16("room_id")?),
        code: r.string("code")?,
        uses: r.u32("uses")?,
        expires_at: r.u64("expires_at")?,
        created_by: UserId::from_bytes(r.id16("created_by")?),
        created_at: r.u64("created_at")?,
    })
}

// ------------------------------------------------------------------ envelopes

pub(crate) fn envelope_doc(e: &EnvelopeRecord) -> Result<Document, StoreError> {
    let env = &e.envelope;
    Ok(doc! {
        "room_id": bin(env.room_id.as_bytes()),
        "epoch": i64::from(env.epoch),
        "member_id": bin(env.member_id.as_bytes()),
        "wrapped_key": bin(env.wrapped_key.as_slice()),
        "distributor_id": bin(env.distributor_id.as_bytes()),
        "signature": bin(env.signature.as_slice()),
        "stored_at": int("stored_at", e.stored_at)?,
    })
}

pub(crate) fn envelope_of(d: &Document) -> Result<EnvelopeRecord, StoreError> {
    let r = Reader::new(d, "envelopes");
    Ok(EnvelopeRecord {
        envelope: Envelope {
            room_id: RoomId::from_bytes(r.id16("room_id")?),
            epoch: r.u32("epoch")?,
            member_id: UserId::from_bytes(r.id16("member_id")?),
            wrapped_key: r.bytes("wrapped_key")?,
            distributor_id: UserId::from_bytes(r.id16("distributor_id")?),
            signature: r.bytes("signature")?,
        },
        stored_at: r.u64("stored_at")?,
    })
}

// ------------------------------------------------------------------ messages

pub(crate) fn message_doc(m: &MessageRecord) -> Result<Document, StoreError> {
    Ok(doc! {
        "room_id": bin(m.room_id.as_bytes()),
        "seq": int("seq", m.seq)?,
        "id": bin(m.id.as_bytes()),
        "sender_id": bin(m.sender_id.as_bytes()),
        "created_at": int("created_at", m.created_at)?,
        "epoch": opt(m.epoch, |e| Bson::Int64(i64::from(e))),
        "ciphertext": opt(m.ciphertext.as_ref(), |b| bin(b.as_slice())),
        "signature": opt(m.signature.as_ref(), |b| bin(b.as_slice())),
        "text": opt(m.text.clone(), Bson::String),
        "deleted": m.deleted,
    })
}

pub(crate) fn message_of(d: &Document) -> Result<MessageRecord, StoreError> {
    let r = Reader::new(d, "messages");
    Ok(MessageRecord {
        room_id: RoomId::from_bytes(r.id16("room_id")?),
        seq: r.u64("seq")?,
        id: MessageId::from_bytes(r.id16("id")?),
        sender_id: UserId::from_bytes(r.id16("sender_id")?),
        created_at: r.u64("created_at")?,
        epoch: r.opt_u32("epoch")?,
        ciphertext: r.opt_bytes("ciphertext")?,
        signature: r.opt_bytes("signature")?,
        text: r.opt_string("text")?,
        deleted: r.bool("deleted")?,
    })
}

// ------------------------------------------------------------------ peers

pub(crate) fn peer_doc(p: &PeerRecord) -> Result<Document, StoreError> {
    Ok(doc! {
        "_id": bin(p.node_id.as_bytes()),
        "name": &p.name,
        "url": &p.url,
        "role": node_role_str(p.role),
        "group": &p.group,
        "direction": direction_str(p.direction),
        "spki": opt(p.spki.as_ref(), |b| bin(b.as_slice())),
        "last_seen": int("last_seen", p.last_seen)?,
    })
}

pub(crate) fn peer_of(d: &Document) -> Result<PeerRecord, StoreError> {
    let r = Reader::new(d, "peers");
    Ok(PeerRecord {
        node_id: NodeId::from_bytes(r.id16("_id")?),
        name: r.string("name")?,
        url: r.string("url")?,
        role: node_role_of(&r.string("role")?).ok_or_else(|| r.err("role"))?,
        group: r.string("group")?,
        direction: direction_of(&r.string("direction")?).ok_or_else(|| r.err("direction"))?,
        spki: r.opt_bytes("spki")?,
        last_seen: r.u64("last_seen")?,
    })
}

// ------------------------------------------------------------------ audit

pub(crate) fn audit_of(d: &Document) -> Result<AuditRecord, StoreError> {
    let r = Reader::new(d, "audit");
    let id = match d.get("_id") {
        Some(Bson::ObjectId(oid)) => oid.to_hex(),
        _ => return Err(r.err("_id")),
    };
    Ok(AuditRecord {
        id,
        at: r.u64("at")?,
        actor_id: r.opt_id16("actor_id")?.map(UserId::from_bytes),
        room_id: r.opt_id16("room_id")?.map(RoomId::from_bytes),
        action: r.string("action")?,
        detail: r.string("detail")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_documents_are_internal_errors() {
        let d = doc! { "_id": 5_i32, "name": "x" };
        let e = user_of(&d).err();
        assert!(matches!(e, Some(StoreError::Internal(_))));
        let d = doc! { "_id": bin(&[1; 16]), "name": "x", "spki": bin(&[]), "created_at": -1_i64 };
        assert!(matches!(user_of(&d), Err(StoreError::Internal(_))));
        assert!(int("x", u64::MAX).is_err());
        assert_eq!(clamp(u64::MAX), i64::MAX);
    }
}
