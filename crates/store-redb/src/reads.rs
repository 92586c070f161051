//! The read side: each query runs in one read transaction (a consistent
//! snapshot that never blocks the writer).

use std::ops::Bound;

use peer_proto::limits::fold_user_name;
use peer_proto::{NodeId, RoomId, UserId};
use peer_store::query::{check_limit, decode_envelope_cursor, envelope_cursor};
use peer_store::{
    AuditFilter, AuditQuery, AuditRecord, BanRecord, Cursor, CursorKind, EnvelopeRecord,
    InviteRecord, MemberRecord, MessageCount, MessagePage, MessageRange, MessageRecord, Page,
    PeerRecord, RoomFilter, RoomQuery, RoomRecord, StoreError, UserQuery, UserRecord,
};
use redb::{ReadOnlyTable, ReadTransaction};

use crate::access::{Entries, Tbl, exists, get, scan, scan_back};
use crate::codec::{
    AuditV, BanV, EnvelopeV, InviteV, MemberV, MessageV, PeerV, RoomV, UserV, decode, id16,
};
use crate::error::{corrupt, storage};
use crate::tables::{self, Def, id_at, id_num, pair, u32_at, u64_at};

type RTable = ReadOnlyTable<&'static [u8], &'static [u8]>;

fn open(txn: &ReadTransaction, def: Def) -> Result<RTable, StoreError> {
    txn.open_table(def).map_err(storage)
}

/// A room's stored value, or `NotFound { "room" }`.
pub(crate) fn room_v(rooms: &impl Tbl, id: &[u8; 16]) -> Result<RoomV, StoreError> {
    get(rooms, id, "room")?.ok_or(StoreError::not_found("room"))
}

fn require_room(txn: &ReadTransaction, id: RoomId) -> Result<RoomV, StoreError> {
    room_v(&open(txn, tables::ROOMS)?, id.as_bytes())
}

pub(crate) fn user(txn: &ReadTransaction, id: UserId) -> Result<UserRecord, StoreError> {
    let v: UserV = get(&open(txn, tables::USERS)?, id.as_bytes(), "user")?
        .ok_or(StoreError::not_found("user"))?;
    Ok(v.record(id.to_bytes()))
}

pub(crate) fn user_by_name(txn: &ReadTransaction, name: &str) -> Result<UserRecord, StoreError> {
    let names = open(txn, tables::USER_NAMES)?;
    let id = match names
        .get(fold_user_name(name).as_bytes())
        .map_err(storage)?
    {
        Some(v) => id16(v.value(), "user name")?,
        None => return Err(StoreError::not_found("user")),
    };
    user(txn, UserId::from_bytes(id))
}

pub(crate) fn list_users(
    txn: &ReadTransaction,
    query: &UserQuery,
) -> Result<Page<UserRecord>, StoreError> {
    let (prefix, after) = query.folded()?;
    let start = match &after {
        Some(a) if a.as_str() >= prefix.as_str() => Bound::Excluded(a.as_bytes()),
        _ => Bound::Included(prefix.as_bytes()),
    };
    let names = open(txn, tables::USER_NAMES)?;
    let users = open(txn, tables::USERS)?;
    let mut fetched = Vec::new();
    for (_, id) in scan(&names, prefix.as_bytes(), start, query.limit as usize + 1)? {
        let id = id16(&id, "user name")?;
        let v: UserV = get(&users, &id, "user")?.ok_or_else(|| corrupt("user name index"))?;
        fetched.push(v.record(id));
    }
    Ok(Page::from_fetched(fetched, query.limit, |u| {
        Cursor::encode(CursorKind::Users, fold_user_name(&u.name).as_bytes())
    }))
}

pub(crate) fn room(txn: &ReadTransaction, id: RoomId) -> Result<RoomRecord, StoreError> {
    require_room(txn, id)?.record(id.to_bytes())
}

/// Room ids in ascending order from an index keyed by (prefix, room id).
fn index_ids(
    t: &impl Tbl,
    prefix: &[u8],
    after: Option<RoomId>,
    limit: usize,
) -> Result<Vec<[u8; 16]>, StoreError> {
    let mut start_key = prefix.to_vec();
    let start = match after {
        Some(a) => {
            start_key.extend_from_slice(a.as_bytes());
            Bound::Excluded(start_key.as_slice())
        }
        None => Bound::Included(prefix),
    };
    scan(t, prefix, start, limit)?
        .into_iter()
        .map(|(k, _)| id_at(&k, prefix.len()).ok_or_else(|| corrupt("room index")))
        .collect()
}

pub(crate) fn list_rooms(
    txn: &ReadTransaction,
    query: &RoomQuery,
) -> Result<Page<RoomRecord>, StoreError> {
    check_limit(query.limit)?;
    let after = query
        .cursor
        .as_ref()
        .map(|c| c.decode_room(CursorKind::Rooms))
        .transpose()?;
    let want = query.limit as usize + 1;
    let rooms = open(txn, tables::ROOMS)?;
    let ids: Vec<[u8; 16]> = match query.filter {
        RoomFilter::All => index_ids(&rooms, &[], after, want)?,
        RoomFilter::Public => index_ids(&open(txn, tables::PUBLIC_ROOMS)?, &[], after, want)?,
        RoomFilter::VisibleTo(user) => {
            // Both lists are in room id order: merge them.
            let public = index_ids(&open(txn, tables::PUBLIC_ROOMS)?, &[], after, want)?;
            let mine = index_ids(
                &open(txn, tables::MEMBERSHIPS)?,
                user.as_bytes(),
                after,
                want,
            )?;
            let mut ids: Vec<[u8; 16]> = public.into_iter().chain(mine).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.truncate(want);
            ids
        }
    };
    let mut fetched = Vec::with_capacity(ids.len());
    for id in ids {
        fetched.push(room_v(&rooms, &id)?.record(id)?);
    }
    Ok(Page::from_fetched(fetched, query.limit, |r| {
        Cursor::room(CursorKind::Rooms, r.id)
    }))
}

pub(crate) fn member(
    txn: &ReadTransaction,
    room_id: RoomId,
    user_id: UserId,
) -> Result<MemberRecord, StoreError> {
    require_room(txn, room_id)?;
    let key = pair(room_id.as_bytes(), user_id.as_bytes());
    let v: MemberV = get(&open(txn, tables::MEMBERS)?, &key, "member")?
        .ok_or(StoreError::not_found("member"))?;
    v.record(room_id.to_bytes(), user_id.to_bytes())
}

/// Up to `limit + 1` entries of a room-prefixed table after a 16-byte key.
fn room_entries(
    t: &impl Tbl,
    room: &[u8; 16],
    after: Option<&[u8]>,
    limit: u32,
) -> Result<Entries, StoreError> {
    let mut start_key = room.to_vec();
    let start = match after {
        Some(a) => {
            start_key.extend_from_slice(a);
            Bound::Excluded(start_key.as_slice())
        }
        None => Bound::Included(room.as_slice()),
    };
    scan(t, room, start, limit as usize + 1)
}

pub(crate) fn list_members(
    txn: &ReadTransaction,
    room_id: RoomId,
    limit: u32,
    cursor: Option<&Cursor>,
) -> Result<Page<MemberRecord>, StoreError> {
    check_limit(limit)?;
    let after = cursor
        .map(|c| c.decode_user(CursorKind::Members))
        .transpose()?;
    require_room(txn, room_id)?;
    let members = open(txn, tables::MEMBERS)?;
    let room = room_id.to_bytes();
    let fetched = room_entries(
        &members,
        &room,
        after.as_ref().map(|u| &u.as_bytes()[..]),
        limit,
    )?
    .into_iter()
    .map(|(k, v)| {
        let user = id_at(&k, 16).ok_or_else(|| corrupt("member key"))?;
        decode::<MemberV>(&v, "member")?.record(room, user)
    })
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_fetched(fetched, limit, |m| {
        Cursor::user(CursorKind::Members, m.user_id)
    }))
}

pub(crate) fn list_memberships(
    txn: &ReadTransaction,
    user_id: UserId,
    limit: u32,
    cursor: Option<&Cursor>,
) -> Result<Page<MemberRecord>, StoreError> {
    check_limit(limit)?;
    let after = cursor
        .map(|c| c.decode_room(CursorKind::Memberships))
        .transpose()?;
    let rooms = index_ids(
        &open(txn, tables::MEMBERSHIPS)?,
        user_id.as_bytes(),
        after,
        limit as usize + 1,
    )?;
    let members = open(txn, tables::MEMBERS)?;
    let mut fetched = Vec::with_capacity(rooms.len());
    for room in rooms {
        let v: MemberV = get(&members, &pair(&room, user_id.as_bytes()), "member")?
            .ok_or_else(|| corrupt("membership index"))?;
        fetched.push(v.record(room, user_id.to_bytes())?);
    }
    Ok(Page::from_fetched(fetched, limit, |m| {
        Cursor::room(CursorKind::Memberships, m.room_id)
    }))
}

pub(crate) fn is_banned(
    txn: &ReadTransaction,
    room_id: RoomId,
    user_id: UserId,
) -> Result<bool, StoreError> {
    require_room(txn, room_id)?;
    exists(
        &open(txn, tables::BANS)?,
        &pair(room_id.as_bytes(), user_id.as_bytes()),
    )
}

pub(crate) fn envelope(
    txn: &ReadTransaction,
    room_id: RoomId,
    epoch: u32,
    member_id: UserId,
) -> Result<EnvelopeRecord, StoreError> {
    require_room(txn, room_id)?;
    let key = tables::envelope(room_id.as_bytes(), member_id.as_bytes(), epoch);
    let v: EnvelopeV = get(&open(txn, tables::ENVELOPES)?, &key, "envelope")?
        .ok_or(StoreError::not_found("envelope"))?;
    Ok(v.record(room_id.to_bytes(), member_id.to_bytes(), epoch))
}

pub(crate) fn list_envelopes(
    txn: &ReadTransaction,
    room_id: RoomId,
    member_id: UserId,
    from_epoch: u32,
    limit: u32,
) -> Result<Vec<EnvelopeRecord>, StoreError> {
    check_limit(limit)?;
    require_room(txn, room_id)?;
    let prefix = pair(room_id.as_bytes(), member_id.as_bytes());
    let start = tables::envelope(room_id.as_bytes(), member_id.as_bytes(), from_epoch);
    scan(
        &open(txn, tables::ENVELOPES)?,
        &prefix,
        Bound::Included(&start),
        limit as usize,
    )?
    .into_iter()
    .map(|(k, v)| envelope_from(&k, &v))
    .collect()
}

fn envelope_from(key: &[u8], value: &[u8]) -> Result<EnvelopeRecord, StoreError> {
    let bad = || corrupt("envelope key");
    let room = id_at(key, 0).ok_or_else(bad)?;
    let member = id_at(key, 16).ok_or_else(bad)?;
    let epoch = u32_at(key, 32).ok_or_else(bad)?;
    Ok(decode::<EnvelopeV>(value, "envelope")?.record(room, member, epoch))
}

fn message_from(key: &[u8], value: &[u8]) -> Result<MessageRecord, StoreError> {
    let bad = || corrupt("message key");
    let room = id_at(key, 0).ok_or_else(bad)?;
    let seq = u64_at(key, 16).ok_or_else(bad)?;
    Ok(decode::<MessageV>(value, "message")?.record(room, seq))
}

pub(crate) fn list_messages(
    txn: &ReadTransaction,
    room_id: RoomId,
    range: MessageRange,
    limit: u32,
) -> Result<MessagePage, StoreError> {
    check_limit(limit)?;
    let room = require_room(txn, room_id)?;
    let messages = open(txn, tables::MESSAGES)?;
    let id = room_id.as_bytes();
    let want = limit as usize + 1;
    let mut fetched = match range {
        MessageRange::After(after) => {
            let start = id_num(id, after.saturating_add(1));
            scan(&messages, id, Bound::Included(&start), want)?
        }
        MessageRange::Before(before) => scan_back(&messages, id, &id_num(id, before), want)?,
    };
    let more = fetched.len() > limit as usize;
    fetched.truncate(limit as usize);
    let messages = fetched
        .iter()
        .map(|(k, v)| message_from(k, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MessagePage {
        messages,
        last_seq: room.last_seq,
        more,
    })
}

pub(crate) fn message(
    txn: &ReadTransaction,
    room_id: RoomId,
    seq: u64,
) -> Result<MessageRecord, StoreError> {
    require_room(txn, room_id)?;
    let key = id_num(room_id.as_bytes(), seq);
    let v: MessageV = get(&open(txn, tables::MESSAGES)?, &key, "message")?
        .ok_or(StoreError::not_found("message"))?;
    Ok(v.record(room_id.to_bytes(), seq))
}

pub(crate) fn count_messages(
    txn: &ReadTransaction,
    room_id: RoomId,
) -> Result<MessageCount, StoreError> {
    let room = require_room(txn, room_id)?;
    Ok(MessageCount {
        stored: room.message_count,
        dropped: 0,
        last_seq: room.last_seq,
    })
}

pub(crate) fn peer(txn: &ReadTransaction, node_id: NodeId) -> Result<PeerRecord, StoreError> {
    let v: PeerV = get(&open(txn, tables::PEERS)?, node_id.as_bytes(), "peer")?
        .ok_or(StoreError::not_found("peer"))?;
    v.record(node_id.to_bytes())
}

pub(crate) fn list_peers(txn: &ReadTransaction) -> Result<Vec<PeerRecord>, StoreError> {
    scan(
        &open(txn, tables::PEERS)?,
        &[],
        Bound::Unbounded,
        usize::MAX,
    )?
    .into_iter()
    .map(|(k, v)| {
        let id = id16(&k, "peer key")?;
        decode::<PeerV>(&v, "peer")?.record(id)
    })
    .collect()
}

/// An audit cursor's id.
fn audit_after(cursor: Option<&Cursor>) -> Result<u64, StoreError> {
    match cursor {
        Some(c) => c
            .decode_text(CursorKind::Audit)?
            .parse::<u64>()
            .map_err(|_| StoreError::invalid("cursor", "not a cursor of this list")),
        None => Ok(0),
    }
}

pub(crate) fn list_audit(
    txn: &ReadTransaction,
    query: &AuditQuery,
) -> Result<Page<AuditRecord>, StoreError> {
    check_limit(query.limit)?;
    let after = audit_after(query.cursor.as_ref())?;
    let want = query.limit as usize + 1;
    let audit = open(txn, tables::AUDIT)?;
    let ids: Vec<u64> = match query.filter {
        AuditFilter::All => {
            let start = after.saturating_add(1).to_be_bytes();
            scan(&audit, &[], Bound::Included(&start), want)?
                .into_iter()
                .map(|(k, _)| u64_at(&k, 0).ok_or_else(|| corrupt("audit key")))
                .collect::<Result<_, _>>()?
        }
        AuditFilter::Room(room) => audit_index(
            &open(txn, tables::AUDIT_BY_ROOM)?,
            room.as_bytes(),
            after,
            want,
        )?,
        AuditFilter::Actor(user) => audit_index(
            &open(txn, tables::AUDIT_BY_ACTOR)?,
            user.as_bytes(),
            after,
            want,
        )?,
    };
    let mut fetched = Vec::with_capacity(ids.len());
    for id in ids {
        let v: AuditV =
            get(&audit, &id.to_be_bytes(), "audit entry")?.ok_or_else(|| corrupt("audit index"))?;
        fetched.push(v.record(id));
    }
    Ok(Page::from_fetched(fetched, query.limit, |r| {
        Cursor::encode(CursorKind::Audit, r.id.as_bytes())
    }))
}

fn audit_index(
    t: &impl Tbl,
    owner: &[u8; 16],
    after: u64,
    want: usize,
) -> Result<Vec<u64>, StoreError> {
    let start = id_num(owner, after.saturating_add(1));
    scan(t, owner, Bound::Included(&start), want)?
        .into_iter()
        .map(|(k, _)| u64_at(&k, 16).ok_or_else(|| corrupt("audit index")))
        .collect()
}

pub(crate) fn list_bans(
    txn: &ReadTransaction,
    room_id: RoomId,
    limit: u32,
    cursor: Option<&Cursor>,
) -> Result<Page<BanRecord>, StoreError> {
    check_limit(limit)?;
    let after = cursor
        .map(|c| c.decode_user(CursorKind::Bans))
        .transpose()?;
    require_room(txn, room_id)?;
    let room = room_id.to_bytes();
    let fetched = room_entries(
        &open(txn, tables::BANS)?,
        &room,
        after.as_ref().map(|u| &u.as_bytes()[..]),
        limit,
    )?
    .into_iter()
    .map(|(k, v)| {
        let user = id_at(&k, 16).ok_or_else(|| corrupt("ban key"))?;
        Ok(decode::<BanV>(&v, "ban")?.record(room, user))
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page::from_fetched(fetched, limit, |b| {
        Cursor::user(CursorKind::Bans, b.user_id)
    }))
}

pub(crate) fn list_invites(
    txn: &ReadTransaction,
    room_id: RoomId,
    limit: u32,
    cursor: Option<&Cursor>,
) -> Result<Page<InviteRecord>, StoreError> {
    check_limit(limit)?;
    let after = cursor.map(|c| c.decode(CursorKind::Invites)).transpose()?;
    require_room(txn, room_id)?;
    let room = room_id.to_bytes();
    let fetched = room_entries(&open(txn, tables::INVITES)?, &room, after.as_deref(), limit)?
        .into_iter()
        .map(|(k, v)| {
            let code = k
                .get(16..)
                .and_then(|c| String::from_utf8(c.to_vec()).ok())
                .ok_or_else(|| corrupt("invite key"))?;
            Ok(decode::<InviteV>(&v, "invite")?.record(room, code))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page::from_fetched(fetched, limit, |i| {
        Cursor::encode(CursorKind::Invites, i.code.as_bytes())
    }))
}

pub(crate) fn list_room_envelopes(
    txn: &ReadTransaction,
    room_id: RoomId,
    limit: u32,
    cursor: Option<&Cursor>,
) -> Result<Page<EnvelopeRecord>, StoreError> {
    check_limit(limit)?;
    let after = cursor.map(decode_envelope_cursor).transpose()?;
    require_room(txn, room_id)?;
    let room = room_id.to_bytes();
    let after_key = after.map(|(member, epoch)| {
        let mut k = member.as_bytes().to_vec();
        k.extend_from_slice(&epoch.to_be_bytes());
        k
    });
    let fetched = room_entries(
        &open(txn, tables::ENVELOPES)?,
        &room,
        after_key.as_deref(),
        limit,
    )?
    .into_iter()
    .map(|(k, v)| envelope_from(&k, &v))
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_fetched(fetched, limit, envelope_cursor))
}
