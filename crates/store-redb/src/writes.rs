//! The write side: each function runs inside a batch's write transaction
//! (see [`crate::writer`]). Every function checks everything first and
//! changes tables only once it will succeed, so a refusal leaves the
//! transaction untouched for the other writes of its batch. Imports are
//! the exception the trait allows: they check and store record by record,
//! so a refusal keeps the records of the call stored before it (each
//! complete), and a rerun goes on from there.

use std::ops::Bound;

use peer_proto::api::{LeaveReason, Role};
use peer_proto::limits::fold_user_name;
use peer_proto::{NodeId, RoomId, UserId};
use peer_store::query::check_i64;
use peer_store::validate;
use peer_store::{
    AuditRecord, BanRecord, ConflictKind, EnvelopeRecord, ImportCount, InviteRecord, MemberRecord,
    MessageRecord, NewAudit, NewMember, NewMessage, PeerRecord, Removal, RoomRecord, RoomUpdate,
    StoreError, UserRecord,
};
use redb::ReadableTable as _;

use crate::access::{exists, get, prefix_end, scan};
use crate::codec::{
    AuditV, BanV, EnvelopeV, InviteV, MemberV, MessageV, PeerV, RoomV, UserV, audit_id_text,
    encode, join_rule_code, visibility_code,
};
use crate::error::{corrupt, storage};
use crate::reads::room_v;
use crate::tables::{self, id_at, id_num, pair, u64_at};
use crate::writer::{WTable, WriteTables};

fn put(t: &mut WTable<'_>, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    t.insert(key, value).map(drop).map_err(storage)
}

fn put_v<V: serde::Serialize>(t: &mut WTable<'_>, key: &[u8], value: &V) -> Result<(), StoreError> {
    put(t, key, &encode(value)?)
}

fn remove(t: &mut WTable<'_>, key: &[u8]) -> Result<bool, StoreError> {
    Ok(t.remove(key).map_err(storage)?.is_some())
}

/// Removes every key starting with `prefix`.
fn remove_prefix(t: &mut WTable<'_>, prefix: &[u8]) -> Result<(), StoreError> {
    let end = prefix_end(prefix);
    let upper = match &end {
        Some(e) => Bound::Excluded(e.as_slice()),
        None => Bound::Unbounded,
    };
    t.retain_in::<&[u8], _>((Bound::Included(prefix), upper), |_, _| false)
        .map_err(storage)
}

/// Stores a room's value and keeps the public index in step.
fn put_room(t: &mut WriteTables<'_>, id: &[u8; 16], room: &RoomV) -> Result<(), StoreError> {
    put_v(&mut t.rooms, id, room)?;
    if room.is_public() {
        put(&mut t.public_rooms, id, &[])
    } else {
        remove(&mut t.public_rooms, id).map(drop)
    }
}

// ------------------------------------------------------------ users

pub(crate) fn create_user(t: &mut WriteTables<'_>, user: &UserRecord) -> Result<bool, StoreError> {
    validate::user(user)?;
    if exists(&t.users, user.id.as_bytes())? {
        return Err(StoreError::conflict(ConflictKind::UserId));
    }
    let folded = fold_user_name(&user.name);
    if exists(&t.user_names, folded.as_bytes())? {
        return Err(StoreError::conflict(ConflictKind::UserName));
    }
    put_v(&mut t.users, user.id.as_bytes(), &UserV::from_record(user))?;
    put(&mut t.user_names, folded.as_bytes(), user.id.as_bytes())?;
    Ok(true)
}

// ------------------------------------------------------------ rooms

pub(crate) fn create_room(
    t: &mut WriteTables<'_>,
    room: &RoomRecord,
    owner: &MemberRecord,
    envelope: Option<&EnvelopeRecord>,
) -> Result<RoomRecord, StoreError> {
    validate::new_room(room, owner, envelope)?;
    let id = room.id.to_bytes();
    if exists(&t.rooms, &id)? {
        return Err(StoreError::conflict(ConflictKind::RoomId));
    }
    let mut v = RoomV::from_record(room);
    v.member_count = 1;
    v.last_seq = 0;
    v.version = 1;
    put_room(t, &id, &v)?;
    insert_member(t, owner)?;
    if let Some(e) = envelope {
        put_envelope(t, e)?;
    }
    v.record(id)
}

pub(crate) fn update_room(
    t: &mut WriteTables<'_>,
    id: RoomId,
    expected_version: u64,
    update: &RoomUpdate,
    now: u64,
) -> Result<RoomRecord, StoreError> {
    check_i64("now", now)?;
    check_i64("expected_version", expected_version)?;
    let key = id.to_bytes();
    let v = room_v(&t.rooms, &key)?;
    if v.version != expected_version {
        return Err(StoreError::conflict(ConflictKind::Version));
    }
    if let Some(cap) = update.capacity {
        if cap == 0 {
            return Err(StoreError::invalid("capacity", "must be at least 1"));
        }
        if cap < v.member_count {
            return Err(StoreError::conflict(ConflictKind::CapacityBelowMembers));
        }
    }
    let mut record = v.record(key)?;
    update.apply_to(&mut record);
    let mut next = v;
    next.name = record.name;
    next.topic = record.topic;
    next.visibility = visibility_code(record.visibility);
    next.join_rule = join_rule_code(record.join_rule);
    next.password_hash = record.password_hash;
    next.capacity = record.capacity;
    next.rotation_due = record.rotation_due;
    next.version += 1;
    next.updated_at = now;
    put_room(t, &key, &next)?;
    next.record(key)
}

pub(crate) fn delete_room(t: &mut WriteTables<'_>, id: RoomId) -> Result<(), StoreError> {
    let key = id.to_bytes();
    room_v(&t.rooms, &key)?;
    let users: Vec<[u8; 16]> = scan(&t.members, &key, Bound::Included(&key), usize::MAX)?
        .iter()
        .map(|(k, _)| id_at(k, 16).ok_or_else(|| corrupt("member key")))
        .collect::<Result<_, _>>()?;
    for user in &users {
        remove(&mut t.memberships, &pair(user, &key))?;
    }
    remove(&mut t.rooms, &key)?;
    remove(&mut t.public_rooms, &key)?;
    remove_prefix(&mut t.members, &key)?;
    remove_prefix(&mut t.bans, &key)?;
    remove_prefix(&mut t.invites, &key)?;
    remove_prefix(&mut t.envelopes, &key)?;
    remove_prefix(&mut t.messages, &key)
}

// ------------------------------------------------------------ members

fn insert_member(t: &mut WriteTables<'_>, m: &MemberRecord) -> Result<(), StoreError> {
    let (room, user) = (m.room_id.to_bytes(), m.user_id.to_bytes());
    put_v(
        &mut t.members,
        &pair(&room, &user),
        &MemberV::from_record(m),
    )?;
    put(&mut t.memberships, &pair(&user, &room), &[])
}

/// An invite that can be used at `now`, or why not.
fn usable_invite(t: &WriteTables<'_>, key: &[u8], now: u64) -> Result<InviteV, StoreError> {
    let inv: InviteV = get(&t.invites, key, "invite")?.ok_or(StoreError::not_found("invite"))?;
    if now >= inv.expires_at {
        return Err(StoreError::conflict(ConflictKind::InviteExpired));
    }
    if inv.uses == 0 {
        return Err(StoreError::conflict(ConflictKind::InviteUsedUp));
    }
    Ok(inv)
}

pub(crate) fn add_member(
    t: &mut WriteTables<'_>,
    room_id: RoomId,
    member: &NewMember,
    invite: Option<&str>,
) -> Result<(RoomRecord, MemberRecord), StoreError> {
    validate::new_member(member)?;
    let room = room_id.to_bytes();
    let mut v = room_v(&t.rooms, &room)?;
    let key = pair(&room, member.user_id.as_bytes());
    if exists(&t.bans, &key)? {
        return Err(StoreError::conflict(ConflictKind::Banned));
    }
    if exists(&t.members, &key)? {
        return Err(StoreError::conflict(ConflictKind::Member));
    }
    let used = match invite {
        Some(code) => {
            let ikey = tables::invite(&room, code);
            Some((usable_invite(t, &ikey, member.joined_at)?, ikey))
        }
        None => None,
    };
    if v.member_count >= v.capacity {
        return Err(StoreError::conflict(ConflictKind::Capacity));
    }
    if let Some((mut inv, ikey)) = used {
        inv.uses -= 1; // ok: usable_invite saw uses > 0 in this transaction
        put_v(&mut t.invites, &ikey, &inv)?;
    }
    let record = MemberRecord {
        room_id,
        user_id: member.user_id,
        role: member.role,
        join_epoch: v.epoch,
        joined_at: member.joined_at,
    };
    insert_member(t, &record)?;
    v.member_count += 1;
    put_v(&mut t.rooms, &room, &v)?;
    Ok((v.record(room)?, record))
}

pub(crate) fn set_role(
    t: &mut WriteTables<'_>,
    room_id: RoomId,
    user_id: UserId,
    role: Role,
) -> Result<MemberRecord, StoreError> {
    let room = room_id.to_bytes();
    room_v(&t.rooms, &room)?;
    let key = pair(&room, user_id.as_bytes());
    let v: MemberV = get(&t.members, &key, "member")?.ok_or(StoreError::not_found("member"))?;
    let mut m = v.record(room, user_id.to_bytes())?;
    m.role = role;
    put_v(&mut t.members, &key, &MemberV::from_record(&m))?;
    Ok(m)
}

pub(crate) fn remove_member(
    t: &mut WriteTables<'_>,
    room_id: RoomId,
    user_id: UserId,
    reason: LeaveReason,
    now: u64,
) -> Result<Removal, StoreError> {
    check_i64("now", now)?;
    let room = room_id.to_bytes();
    let mut v = room_v(&t.rooms, &room)?;
    let key = pair(&room, user_id.as_bytes());
    let m: MemberV = get(&t.members, &key, "member")?.ok_or(StoreError::not_found("member"))?;
    let member = m.record(room, user_id.to_bytes())?;
    remove(&mut t.members, &key)?;
    remove(&mut t.memberships, &pair(user_id.as_bytes(), &room))?;
    if reason == LeaveReason::Banned {
        put_v(&mut t.bans, &key, &BanV { banned_at: now })?;
    }
    v.member_count = v.member_count.saturating_sub(1);
    if v.encrypted {
        v.rotation_due = true;
    }
    v.version += 1;
    v.updated_at = now;
    put_v(&mut t.rooms, &room, &v)?;
    Ok(Removal {
        room: v.record(room)?,
        member,
        reason,
    })
}

pub(crate) fn unban(
    t: &mut WriteTables<'_>,
    room_id: RoomId,
    user_id: UserId,
) -> Result<(), StoreError> {
    room_v(&t.rooms, room_id.as_bytes())?;
    if remove(&mut t.bans, &pair(room_id.as_bytes(), user_id.as_bytes()))? {
        Ok(())
    } else {
        Err(StoreError::not_found("ban"))
    }
}

// ------------------------------------------------------------ invites

pub(crate) fn create_invite(
    t: &mut WriteTables<'_>,
    invite: &InviteRecord,
) -> Result<(), StoreError> {
    validate::invite(invite)?;
    room_v(&t.rooms, invite.room_id.as_bytes())?;
    let key = tables::invite(invite.room_id.as_bytes(), &invite.code);
    if exists(&t.invites, &key)? {
        return Err(StoreError::conflict(ConflictKind::InviteCode));
    }
    put_v(&mut t.invites, &key, &InviteV::from_record(invite))
}

pub(crate) fn consume_invite(
    t: &mut WriteTables<'_>,
    room_id: RoomId,
    code: &str,
    now: u64,
) -> Result<InviteRecord, StoreError> {
    room_v(&t.rooms, room_id.as_bytes())?;
    let key = tables::invite(room_id.as_bytes(), code);
    let mut inv = usable_invite(t, &key, now)?;
    inv.uses -= 1; // ok: usable_invite saw uses > 0 in this transaction
    put_v(&mut t.invites, &key, &inv)?;
    Ok(inv.record(room_id.to_bytes(), code.to_owned()))
}

pub(crate) fn delete_invite(
    t: &mut WriteTables<'_>,
    room_id: RoomId,
    code: &str,
) -> Result<(), StoreError> {
    room_v(&t.rooms, room_id.as_bytes())?;
    if remove(&mut t.invites, &tables::invite(room_id.as_bytes(), code))? {
        Ok(())
    } else {
        Err(StoreError::not_found("invite"))
    }
}

// ------------------------------------------------------------ keys

fn envelope_key(e: &EnvelopeRecord) -> [u8; 36] {
    tables::envelope(
        e.envelope.room_id.as_bytes(),
        e.envelope.member_id.as_bytes(),
        e.envelope.epoch,
    )
}

fn put_envelope(t: &mut WriteTables<'_>, e: &EnvelopeRecord) -> Result<(), StoreError> {
    put_v(
        &mut t.envelopes,
        &envelope_key(e),
        &EnvelopeV::from_record(e),
    )
}

/// Stores the envelopes that are new (first stored wins); how many.
fn put_new_envelopes(
    t: &mut WriteTables<'_>,
    envelopes: &[EnvelopeRecord],
) -> Result<u64, StoreError> {
    let mut stored = 0;
    for e in envelopes {
        if !exists(&t.envelopes, &envelope_key(e))? {
            put_envelope(t, e)?;
            stored += 1;
        }
    }
    Ok(stored)
}

pub(crate) fn put_envelopes(
    t: &mut WriteTables<'_>,
    envelopes: &[EnvelopeRecord],
) -> Result<u32, StoreError> {
    let Some(room) = validate::envelopes(envelopes, None)? else {
        return Ok(0);
    };
    let v = room_v(&t.rooms, room.as_bytes())?;
    if envelopes.iter().any(|e| e.envelope.epoch > v.epoch) {
        return Err(StoreError::conflict(ConflictKind::Epoch));
    }
    Ok(u32::try_from(put_new_envelopes(t, envelopes)?).unwrap_or(u32::MAX))
}

pub(crate) fn rotate_epoch(
    t: &mut WriteTables<'_>,
    room_id: RoomId,
    current_epoch: u32,
    expected_version: u64,
    envelopes: &[EnvelopeRecord],
    now: u64,
) -> Result<RoomRecord, StoreError> {
    check_i64("now", now)?;
    let next = current_epoch
        .checked_add(1)
        .ok_or_else(|| StoreError::invalid("current_epoch", "no epoch after it"))?;
    if let Some(r) = validate::envelopes(envelopes, Some(next))?
        && r != room_id
    {
        return Err(StoreError::invalid("envelopes", "must be for this room"));
    }
    let room = room_id.to_bytes();
    let mut v = room_v(&t.rooms, &room)?;
    if v.epoch != current_epoch {
        return Err(StoreError::conflict(ConflictKind::Epoch));
    }
    if v.version != expected_version {
        return Err(StoreError::conflict(ConflictKind::Version));
    }
    // No envelope above the room's epoch is ever stored here (every writer
    // checks, and a rotation is one transaction), so there are no leftovers
    // of a failed rotation to replace: the new epoch's envelopes are new.
    for e in envelopes {
        put_envelope(t, e)?;
    }
    v.epoch = next;
    v.rotation_due = false;
    v.version += 1;
    v.updated_at = now;
    put_v(&mut t.rooms, &room, &v)?;
    v.record(room)
}

// ------------------------------------------------------------ messages

pub(crate) fn append_message(
    t: &mut WriteTables<'_>,
    room_id: RoomId,
    message: &NewMessage,
) -> Result<MessageRecord, StoreError> {
    validate::new_message(message)?;
    let room = room_id.to_bytes();
    let mut v = room_v(&t.rooms, &room)?;
    let seq = v.last_seq + 1;
    check_i64("seq", seq)?;
    let record = MessageRecord::from_new(room_id, seq, message.clone());
    put_v(
        &mut t.messages,
        &id_num(&room, seq),
        &MessageV::from_record(&record),
    )?;
    v.last_seq = seq;
    v.message_count += 1;
    put_v(&mut t.rooms, &room, &v)?;
    Ok(record)
}

pub(crate) fn tombstone_message(
    t: &mut WriteTables<'_>,
    room_id: RoomId,
    seq: u64,
) -> Result<MessageRecord, StoreError> {
    let room = room_id.to_bytes();
    room_v(&t.rooms, &room)?;
    let key = id_num(&room, seq);
    let v: MessageV = get(&t.messages, &key, "message")?.ok_or(StoreError::not_found("message"))?;
    let mut m = v.record(room, seq);
    m.tombstone();
    put_v(&mut t.messages, &key, &MessageV::from_record(&m))?;
    Ok(m)
}

// ------------------------------------------------------------ peers

pub(crate) fn upsert_peer(t: &mut WriteTables<'_>, peer: &PeerRecord) -> Result<(), StoreError> {
    validate::peer(peer)?;
    put_v(
        &mut t.peers,
        peer.node_id.as_bytes(),
        &PeerV::from_record(peer),
    )
}

pub(crate) fn remove_peer(t: &mut WriteTables<'_>, node_id: NodeId) -> Result<(), StoreError> {
    if remove(&mut t.peers, node_id.as_bytes())? {
        Ok(())
    } else {
        Err(StoreError::not_found("peer"))
    }
}

// ------------------------------------------------------------ audit

pub(crate) fn append_audit(
    t: &mut WriteTables<'_>,
    entry: &NewAudit,
) -> Result<AuditRecord, StoreError> {
    validate::audit(entry)?;
    let last = match t.audit.last().map_err(storage)? {
        Some((k, _)) => u64_at(k.value(), 0).ok_or_else(|| corrupt("audit key"))?,
        None => 0,
    };
    let id = last + 1;
    let v = AuditV {
        at: entry.at,
        actor_id: entry.actor_id.map(UserId::to_bytes),
        room_id: entry.room_id.map(RoomId::to_bytes),
        action: entry.action.clone(),
        detail: entry.detail.clone(),
    };
    put_v(&mut t.audit, &id.to_be_bytes(), &v)?;
    if let Some(room) = &v.room_id {
        put(&mut t.audit_by_room, &id_num(room, id), &[])?;
    }
    if let Some(actor) = &v.actor_id {
        put(&mut t.audit_by_actor, &id_num(actor, id), &[])?;
    }
    Ok(AuditRecord {
        id: audit_id_text(id),
        at: v.at,
        actor_id: entry.actor_id,
        room_id: entry.room_id,
        action: v.action,
        detail: v.detail,
    })
}

// ------------------------------------------------------------ imports

pub(crate) fn import_users(
    t: &mut WriteTables<'_>,
    users: &[UserRecord],
) -> Result<ImportCount, StoreError> {
    ImportCount::each(users, |u| {
        validate::user(u)?;
        let present = exists(&t.users, u.id.as_bytes())?;
        if !present {
            create_user(t, u)?;
        }
        Ok(!present)
    })
}

pub(crate) fn import_rooms(
    t: &mut WriteTables<'_>,
    rooms: &[RoomRecord],
) -> Result<ImportCount, StoreError> {
    let mut count = ImportCount::default();
    for r in rooms {
        validate::import_room(r)?;
        let id = r.id.to_bytes();
        match get::<RoomV>(&t.rooms, &id, "room")? {
            Some(mut v) => {
                if v.last_seq < r.last_seq {
                    v.last_seq = r.last_seq;
                    put_v(&mut t.rooms, &id, &v)?;
                }
                count.count(false);
            }
            None => {
                let mut v = RoomV::from_record(r);
                v.member_count = 0;
                put_room(t, &id, &v)?;
                count.count(true);
            }
        }
    }
    Ok(count)
}

pub(crate) fn import_members(
    t: &mut WriteTables<'_>,
    members: &[MemberRecord],
) -> Result<ImportCount, StoreError> {
    let mut count = ImportCount::default();
    for m in members {
        validate::import_member(m)?;
        let room = m.room_id.to_bytes();
        let mut v = room_v(&t.rooms, &room)?;
        if exists(&t.members, &pair(&room, m.user_id.as_bytes()))? {
            count.count(false);
            continue;
        }
        if v.member_count >= v.capacity {
            return Err(StoreError::conflict(ConflictKind::Capacity));
        }
        insert_member(t, m)?;
        v.member_count += 1;
        put_v(&mut t.rooms, &room, &v)?;
        count.count(true);
    }
    Ok(count)
}

pub(crate) fn import_bans(
    t: &mut WriteTables<'_>,
    bans: &[BanRecord],
) -> Result<ImportCount, StoreError> {
    ImportCount::each(bans, |b| {
        validate::import_ban(b)?;
        room_v(&t.rooms, b.room_id.as_bytes())?;
        let key = pair(b.room_id.as_bytes(), b.user_id.as_bytes());
        let present = exists(&t.bans, &key)?;
        if !present {
            put_v(
                &mut t.bans,
                &key,
                &BanV {
                    banned_at: b.banned_at,
                },
            )?;
        }
        Ok(!present)
    })
}

pub(crate) fn import_invites(
    t: &mut WriteTables<'_>,
    invites: &[InviteRecord],
) -> Result<ImportCount, StoreError> {
    ImportCount::each(invites, |i| {
        validate::invite(i)?;
        room_v(&t.rooms, i.room_id.as_bytes())?;
        let key = tables::invite(i.room_id.as_bytes(), &i.code);
        let present = exists(&t.invites, &key)?;
        if !present {
            put_v(&mut t.invites, &key, &InviteV::from_record(i))?;
        }
        Ok(!present)
    })
}

pub(crate) fn import_envelopes(
    t: &mut WriteTables<'_>,
    envelopes: &[EnvelopeRecord],
) -> Result<ImportCount, StoreError> {
    ImportCount::each(envelopes, |e| {
        check_i64("stored_at", e.stored_at)?;
        let v = room_v(&t.rooms, e.envelope.room_id.as_bytes())?;
        if e.envelope.epoch > v.epoch {
            return Err(StoreError::conflict(ConflictKind::Epoch));
        }
        Ok(put_new_envelopes(t, std::slice::from_ref(e))? == 1)
    })
}

pub(crate) fn import_messages(
    t: &mut WriteTables<'_>,
    messages: &[MessageRecord],
) -> Result<ImportCount, StoreError> {
    ImportCount::each(messages, |m| {
        validate::import_message(m)?;
        let room = m.room_id.to_bytes();
        let mut v = room_v(&t.rooms, &room)?;
        let key = id_num(&room, m.seq);
        let present = exists(&t.messages, &key)?;
        if !present {
            put_v(&mut t.messages, &key, &MessageV::from_record(m))?;
            v.message_count += 1;
        }
        if !present || v.last_seq < m.seq {
            v.last_seq = v.last_seq.max(m.seq);
            put_v(&mut t.rooms, &room, &v)?;
        }
        Ok(!present)
    })
}

pub(crate) fn import_peers(
    t: &mut WriteTables<'_>,
    peers: &[PeerRecord],
) -> Result<ImportCount, StoreError> {
    ImportCount::each(peers, |p| {
        validate::peer(p)?;
        let present = exists(&t.peers, p.node_id.as_bytes())?;
        if !present {
            upsert_peer(t, p)?;
        }
        Ok(!present)
    })
}

pub(crate) fn import_audit(
    t: &mut WriteTables<'_>,
    entries: &[AuditRecord],
) -> Result<ImportCount, StoreError> {
    let mut count = ImportCount::default();
    for e in entries {
        validate::import_audit(e)?;
        if exists(&t.audit_sources, e.id.as_bytes())? {
            count.count(false);
            continue;
        }
        let stored = append_audit(
            t,
            &NewAudit {
                at: e.at,
                actor_id: e.actor_id,
                room_id: e.room_id,
                action: e.action.clone(),
                detail: e.detail.clone(),
            },
        )?;
        let local = stored.id.parse::<u64>().map_err(|_| corrupt("audit id"))?;
        put(&mut t.audit_sources, e.id.as_bytes(), &local.to_be_bytes())?;
        count.count(true);
    }
    Ok(count)
}

/// Decodes a stored schema version (for the open check).
pub(crate) fn schema_of(meta: &impl crate::access::Tbl) -> Result<Option<u8>, StoreError> {
    Ok(crate::access::get_raw(meta, tables::SCHEMA_KEY)?.and_then(|v| v.first().copied()))
}
