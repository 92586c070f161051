//! Argument checks every backend applies the same way, so that the
//! conformance suite sees the same errors from each. For backends; the node
//! applies the API limits (`peer_proto::limits`) before calling a store.

use peer_proto::api::Role;

use crate::error::StoreError;
use crate::query::check_i64;
use crate::records::{
    AuditRecord, BanRecord, EnvelopeRecord, InviteRecord, MemberRecord, MessageRecord, NewAudit,
    NewMember, NewMessage, PeerRecord, RoomRecord, UserRecord,
};

/// Checks a user to create.
pub fn user(user: &UserRecord) -> Result<(), StoreError> {
    check_i64("created_at", user.created_at)?;
    Ok(())
}

/// Checks the arguments of `create_room`.
pub fn new_room(
    room: &RoomRecord,
    owner: &MemberRecord,
    envelope: Option<&EnvelopeRecord>,
) -> Result<(), StoreError> {
    check_i64("created_at", room.created_at)?;
    check_i64("updated_at", room.updated_at)?;
    check_i64("joined_at", owner.joined_at)?;
    if room.capacity == 0 {
        return Err(StoreError::invalid("capacity", "must be at least 1"));
    }
    if owner.room_id != room.id || owner.user_id != room.owner_id || owner.role != Role::Owner {
        return Err(StoreError::invalid(
            "owner",
            "must be the room's owner_id, in this room, with role owner",
        ));
    }
    if let Some(e) = envelope {
        check_i64("stored_at", e.stored_at)?;
        let env = &e.envelope;
        if env.room_id != room.id || env.member_id != room.owner_id || env.epoch != room.epoch {
            return Err(StoreError::invalid(
                "envelope",
                "must be for this room, its epoch and its owner",
            ));
        }
    }
    Ok(())
}

/// Checks a member to add.
pub fn new_member(member: &NewMember) -> Result<(), StoreError> {
    check_i64("joined_at", member.joined_at)?;
    Ok(())
}

/// Checks an invite to create.
pub fn invite(invite: &InviteRecord) -> Result<(), StoreError> {
    check_i64("expires_at", invite.expires_at)?;
    check_i64("created_at", invite.created_at)?;
    Ok(())
}

/// Checks envelopes to store: one room, and returns it (`None` when the
/// slice is empty). With `epoch`, every envelope must be of that epoch.
pub fn envelopes(
    envelopes: &[EnvelopeRecord],
    epoch: Option<u32>,
) -> Result<Option<peer_proto::RoomId>, StoreError> {
    let Some(first) = envelopes.first() else {
        return Ok(None);
    };
    let room = first.envelope.room_id;
    for e in envelopes {
        check_i64("stored_at", e.stored_at)?;
        if e.envelope.room_id != room {
            return Err(StoreError::invalid("envelopes", "must all be for one room"));
        }
        if epoch.is_some_and(|want| want != e.envelope.epoch) {
            return Err(StoreError::invalid(
                "envelopes",
                "must all be of the new epoch",
            ));
        }
    }
    Ok(Some(room))
}

/// Checks a message to append.
pub fn new_message(message: &NewMessage) -> Result<(), StoreError> {
    check_i64("created_at", message.created_at)?;
    Ok(())
}

/// Checks a peer to store.
pub fn peer(peer: &PeerRecord) -> Result<(), StoreError> {
    check_i64("last_seen", peer.last_seen)?;
    Ok(())
}

/// Checks an audit entry to append.
pub fn audit(entry: &NewAudit) -> Result<(), StoreError> {
    check_i64("at", entry.at)?;
    Ok(())
}

/// Checks a room to import.
pub fn import_room(room: &RoomRecord) -> Result<(), StoreError> {
    check_i64("created_at", room.created_at)?;
    check_i64("updated_at", room.updated_at)?;
    check_i64("version", room.version)?;
    check_i64("last_seq", room.last_seq)?;
    if room.capacity == 0 {
        return Err(StoreError::invalid("capacity", "must be at least 1"));
    }
    Ok(())
}

/// Checks a member to import.
pub fn import_member(member: &MemberRecord) -> Result<(), StoreError> {
    check_i64("joined_at", member.joined_at)?;
    Ok(())
}

/// Checks a ban to import.
pub fn import_ban(ban: &BanRecord) -> Result<(), StoreError> {
    check_i64("banned_at", ban.banned_at)?;
    Ok(())
}

/// Checks a message to import: a seq from 1, integers that fit.
pub fn import_message(message: &MessageRecord) -> Result<(), StoreError> {
    if message.seq == 0 {
        return Err(StoreError::invalid("seq", "seqs start at 1"));
    }
    check_i64("seq", message.seq)?;
    check_i64("created_at", message.created_at)?;
    Ok(())
}

/// Checks an audit entry to import.
pub fn import_audit(entry: &AuditRecord) -> Result<(), StoreError> {
    check_i64("at", entry.at)?;
    if entry.id.is_empty() {
        return Err(StoreError::invalid("id", "the source's id is needed"));
    }
    Ok(())
}
