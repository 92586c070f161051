//! The memory backend: volatile, bounded, fast.
//!
//! - **Volatile**: everything lives in this process's memory and is gone
//!   when the [`MemoryStore`] is dropped or the process exits. Nothing ever
//!   touches disk.
//! - **Bounded** ([`MemoryConfig`]): at most `max_messages_per_room`
//!   messages are retained per room, the oldest dropped first (seqs are
//!   never renumbered; [`MessageCount::dropped`] counts them); at most
//!   `max_rooms` rooms, `max_users` users (then `Conflict { StoreFull }`)
//!   and `max_audit_entries` audit entries (the oldest dropped).
//! - **Fast**: a room's messages are a `VecDeque` indexed by
//!   `seq - first_seq`, so a listing after a seq costs O(1 + limit)
//!   whatever the room's size, and an append is O(1).
//!
//! Locks: one `RwLock` over the maps of users and rooms, one `Mutex` per
//! room (appends to different rooms do not contend), and small mutexes for
//! the membership index, peers and audit, always taken in that order. All
//! are `std::sync` locks held for short, synchronous sections only (never
//! across an `.await`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use peer_proto::api::{LeaveReason, Role, StoreKind, Visibility};
use peer_proto::limits::fold_user_name;
use peer_proto::{NodeId, RoomId, UserId};

use crate::error::{ConflictKind, StoreError};
use crate::query::{
    AuditFilter, AuditQuery, Cursor, CursorKind, MessagePage, MessageRange, Page, RoomFilter,
    RoomQuery, UserQuery, check_i64, check_limit, decode_envelope_cursor, envelope_cursor,
};
use crate::records::{
    AuditRecord, BanRecord, EnvelopeRecord, ImportCount, InviteRecord, MemberRecord, MessageCount,
    MessageRecord, NewAudit, NewMember, NewMessage, PeerRecord, Removal, RoomRecord, RoomUpdate,
    UserRecord,
};
use crate::store::Store;
use crate::validate;

/// The bounds of a [`MemoryStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Messages retained per room; older ones are dropped (default 10,000).
    pub max_messages_per_room: usize,
    /// Rooms at most (default 10,000).
    pub max_rooms: usize,
    /// Users at most (default 100,000).
    pub max_users: usize,
    /// Audit entries retained; older ones are dropped (default 100,000).
    pub max_audit_entries: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            max_messages_per_room: 10_000,
            max_rooms: 10_000,
            max_users: 100_000,
            max_audit_entries: 100_000,
        }
    }
}

/// The volatile, bounded, in-process [`Store`].
///
/// ```
/// use peer_store::{MemoryStore, Store, RoomRecord, MemberRecord, NewMessage, MessageRange};
/// use peer_proto::api::{JoinRule, Role, Visibility};
/// use peer_proto::{MessageId, RoomId, UserId};
///
/// # tokio_test_block_on(async {
/// let store = MemoryStore::default();
/// let owner = UserId::from_bytes([1; 16]);
/// let room = RoomRecord {
///     id: RoomId::from_bytes([2; 16]),
///     name: "lobby".into(),
///     topic: String::new(),
///     visibility: Visibility::Public,
///     join_rule: JoinRule::Open,
///     password_hash: None,
///     capacity: 256,
///     encrypted: false,
///     owner_id: owner,
///     epoch: 0,
///     rotation_due: false,
///     member_count: 0,
///     last_seq: 0,
///     created_at: 1_700_000_000,
///     updated_at: 1_700_000_000,
///     version: 0,
/// };
/// let member = MemberRecord {
///     room_id: room.id,
///     user_id: owner,
///     role: Role::Owner,
///     join_epoch: 0,
///     joined_at: 1_700_000_000,
/// };
/// store.create_room(&room, &member, None).await?;
/// let msg = NewMessage {
///     id: MessageId::from_bytes([3; 16]),
///     sender_id: owner,
///     created_at: 1_700_000_001,
///     epoch: None,
///     ciphertext: None,
///     signature: None,
///     text: Some("hello".into()),
/// };
/// assert_eq!(store.append_message(room.id, &msg).await?.seq, 1);
/// let page = store.list_messages(room.id, MessageRange::After(0), 100).await?;
/// assert_eq!(page.messages.len(), 1);
/// assert_eq!(page.last_seq, 1);
/// # Ok::<(), peer_store::StoreError>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    config: MemoryConfig,
    maps: RwLock<Maps>,
    memberships: Mutex<BTreeSet<(UserId, RoomId)>>,
    peers: Mutex<BTreeMap<NodeId, PeerRecord>>,
    audit: Mutex<AuditLog>,
}

#[derive(Debug, Default)]
struct Maps {
    users: HashMap<UserId, UserRecord>,
    by_name: BTreeMap<String, UserId>,
    rooms: BTreeMap<RoomId, Arc<Mutex<RoomState>>>,
}

#[derive(Debug)]
struct RoomState {
    room: RoomRecord,
    /// Set by `delete_room`: a task that fetched the `Arc` before the
    /// deletion sees the room as gone.
    deleted: bool,
    members: BTreeMap<UserId, MemberRecord>,
    bans: BTreeMap<UserId, BanRecord>,
    invites: HashMap<String, InviteRecord>,
    envelopes: BTreeMap<(UserId, u32), EnvelopeRecord>,
    /// `messages[i]` has seq `first_seq + i`.
    messages: VecDeque<MessageRecord>,
    first_seq: u64,
    dropped: u64,
}

#[derive(Debug, Default)]
struct AuditLog {
    next_id: u64,
    entries: VecDeque<(u64, AuditRecord)>,
    /// The source ids of imported entries (`import_audit`).
    imported: HashSet<String>,
}

impl AuditLog {
    /// Appends an entry and drops the oldest past `max`.
    fn push(&mut self, entry: &NewAudit, max: usize) -> AuditRecord {
        self.next_id += 1;
        let n = self.next_id;
        // Fixed width so the text sorts like the number.
        let record = AuditRecord {
            id: format!("{n:020}"),
            at: entry.at,
            actor_id: entry.actor_id,
            room_id: entry.room_id,
            action: entry.action.clone(),
            detail: entry.detail.clone(),
        };
        self.entries.push_back((n, record.clone()));
        while self.entries.len() > max {
            self.entries.pop_front();
        }
        record
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code path panics while holding a lock; should one ever, the data
    // it guards is still structurally valid, so recover it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(MemoryConfig::default())
    }
}

impl MemoryStore {
    /// An empty store with these bounds.
    pub fn new(config: MemoryConfig) -> Self {
        MemoryStore {
            config,
            maps: RwLock::new(Maps::default()),
            memberships: Mutex::new(BTreeSet::new()),
            peers: Mutex::new(BTreeMap::new()),
            audit: Mutex::new(AuditLog::default()),
        }
    }

    /// The bounds in force.
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    fn read(&self) -> RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn room_slot(&self, id: RoomId) -> Result<Arc<Mutex<RoomState>>, StoreError> {
        self.read()
            .rooms
            .get(&id)
            .cloned()
            .ok_or(StoreError::not_found("room"))
    }

    /// Runs `f` on a live room under its lock.
    fn with_room<T>(
        &self,
        id: RoomId,
        f: impl FnOnce(&mut RoomState) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let slot = self.room_slot(id)?;
        let mut state = lock(&slot);
        if state.deleted {
            return Err(StoreError::not_found("room"));
        }
        f(&mut state)
    }
}

impl RoomState {
    fn record(&self) -> RoomRecord {
        let mut r = self.room.clone();
        r.member_count = u32::try_from(self.members.len()).unwrap_or(u32::MAX);
        r
    }

    /// Drops the oldest messages past `cap`; seqs before the window count
    /// as dropped.
    fn trim(&mut self, cap: usize) {
        while self.messages.len() > cap {
            self.messages.pop_front();
            self.first_seq += 1;
        }
        self.dropped = self.first_seq - 1;
    }

    /// Stores an imported message where it fits the dense window; false
    /// when its seq is already accounted for.
    fn import_message(&mut self, m: &MessageRecord, cap: usize) -> Result<bool, StoreError> {
        let len = self.messages.len() as u64;
        let end = self.first_seq + len;
        let inserted = if len == 0 {
            self.first_seq = m.seq;
            self.messages.push_back(m.clone());
            true
        } else if m.seq == end {
            self.messages.push_back(m.clone());
            true
        } else if m.seq + 1 == self.first_seq {
            self.messages.push_front(m.clone());
            self.first_seq = m.seq;
            true
        } else if m.seq < end {
            // Held, or before the window (dropped by the cap).
            false
        } else {
            return Err(StoreError::invalid(
                "seq",
                "the memory store keeps a room's messages without gaps: import them in seq order",
            ));
        };
        self.room.last_seq = self.room.last_seq.max(m.seq);
        self.trim(cap);
        if self.messages.is_empty() {
            self.first_seq = self.room.last_seq + 1;
            self.dropped = self.room.last_seq;
        }
        Ok(inserted)
    }

    fn message_index(&self, seq: u64) -> Option<usize> {
        let off = seq.checked_sub(self.first_seq)?;
        let idx = usize::try_from(off).ok()?;
        (idx < self.messages.len()).then_some(idx)
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }

    async fn health(&self) -> Result<(), StoreError> {
        drop(self.read());
        Ok(())
    }

    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        validate::user(user)?;
        let folded = fold_user_name(&user.name);
        let mut maps = self.write();
        if maps.users.contains_key(&user.id) {
            return Err(StoreError::conflict(ConflictKind::UserId));
        }
        if maps.by_name.contains_key(&folded) {
            return Err(StoreError::conflict(ConflictKind::UserName));
        }
        if maps.users.len() >= self.config.max_users {
            return Err(StoreError::conflict(ConflictKind::StoreFull));
        }
        maps.by_name.insert(folded, user.id);
        maps.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<UserRecord, StoreError> {
        self.read()
            .users
            .get(&id)
            .cloned()
            .ok_or(StoreError::not_found("user"))
    }

    async fn get_user_by_name(&self, name: &str) -> Result<UserRecord, StoreError> {
        let maps = self.read();
        maps.by_name
            .get(&fold_user_name(name))
            .and_then(|id| maps.users.get(id))
            .cloned()
            .ok_or(StoreError::not_found("user"))
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Page<UserRecord>, StoreError> {
        let (prefix, after) = query.folded()?;
        let maps = self.read();
        let range = match &after {
            Some(a) => maps
                .by_name
                .range::<String, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => maps.by_name.range::<String, _>(&prefix..),
        };
        let fetched: Vec<UserRecord> = range
            .skip_while(|(name, _)| name.as_str() < prefix.as_str())
            .take_while(|(name, _)| name.starts_with(prefix.as_str()))
            .take(query.limit as usize + 1)
            .filter_map(|(_, id)| maps.users.get(id).cloned())
            .collect();
        Ok(Page::from_fetched(fetched, query.limit, |u| {
            Cursor::encode(CursorKind::Users, fold_user_name(&u.name).as_bytes())
        }))
    }

    async fn create_room(
        &self,
        room: &RoomRecord,
        owner: &MemberRecord,
        envelope: Option<&EnvelopeRecord>,
    ) -> Result<RoomRecord, StoreError> {
        validate::new_room(room, owner, envelope)?;
        let mut maps = self.write();
        if maps.rooms.contains_key(&room.id) {
            return Err(StoreError::conflict(ConflictKind::RoomId));
        }
        if maps.rooms.len() >= self.config.max_rooms {
            return Err(StoreError::conflict(ConflictKind::StoreFull));
        }
        let mut record = room.clone();
        record.member_count = 1;
        record.last_seq = 0;
        record.version = 1;
        let mut state = RoomState {
            room: record.clone(),
            deleted: false,
            members: BTreeMap::new(),
            bans: BTreeMap::new(),
            invites: HashMap::new(),
            envelopes: BTreeMap::new(),
            messages: VecDeque::new(),
            first_seq: 1,
            dropped: 0,
        };
        state.members.insert(owner.user_id, owner.clone());
        if let Some(e) = envelope {
            state
                .envelopes
                .insert((e.envelope.member_id, e.envelope.epoch), e.clone());
        }
        maps.rooms.insert(room.id, Arc::new(Mutex::new(state)));
        lock(&self.memberships).insert((owner.user_id, room.id));
        Ok(record)
    }

    async fn get_room(&self, id: RoomId) -> Result<RoomRecord, StoreError> {
        self.with_room(id, |s| Ok(s.record()))
    }

    async fn list_rooms(&self, query: &RoomQuery) -> Result<Page<RoomRecord>, StoreError> {
        check_limit(query.limit)?;
        let after = query
            .cursor
            .as_ref()
            .map(|c| c.decode_room(CursorKind::Rooms))
            .transpose()?;
        let maps = self.read();
        let range = match after {
            Some(a) => maps
                .rooms
                .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => maps.rooms.range(..),
        };
        let want = query.limit as usize + 1;
        let mut fetched = Vec::new();
        for (id, slot) in range {
            if fetched.len() >= want {
                break;
            }
            let state = lock(slot);
            if state.deleted {
                continue;
            }
            let keep = match query.filter {
                RoomFilter::All => true,
                RoomFilter::Public => state.room.visibility == Visibility::Public,
                RoomFilter::VisibleTo(user) => {
                    state.room.visibility == Visibility::Public
                        || lock(&self.memberships).contains(&(user, *id))
                }
            };
            if keep {
                fetched.push(state.record());
            }
        }
        Ok(Page::from_fetched(fetched, query.limit, |r| {
            Cursor::room(CursorKind::Rooms, r.id)
        }))
    }

    async fn update_room(
        &self,
        id: RoomId,
        expected_version: u64,
        update: &RoomUpdate,
        now: u64,
    ) -> Result<RoomRecord, StoreError> {
        check_i64("now", now)?;
        check_i64("expected_version", expected_version)?;
        self.with_room(id, |s| {
            if s.room.version != expected_version {
                return Err(StoreError::conflict(ConflictKind::Version));
            }
            if let Some(cap) = update.capacity {
                if cap == 0 {
                    return Err(StoreError::invalid("capacity", "must be at least 1"));
                }
                if (cap as usize) < s.members.len() {
                    return Err(StoreError::conflict(ConflictKind::CapacityBelowMembers));
                }
            }
            update.apply_to(&mut s.room);
            s.room.version += 1;
            s.room.updated_at = now;
            Ok(s.record())
        })
    }

    async fn delete_room(&self, id: RoomId) -> Result<(), StoreError> {
        let slot = self
            .write()
            .rooms
            .remove(&id)
            .ok_or(StoreError::not_found("room"))?;
        let mut state = lock(&slot);
        state.deleted = true;
        let mut memberships = lock(&self.memberships);
        for user in state.members.keys() {
            memberships.remove(&(*user, id));
        }
        drop(memberships);
        // Free the memory now, even if another task still holds the Arc.
        state.members.clear();
        state.bans.clear();
        state.invites.clear();
        state.envelopes.clear();
        state.messages = VecDeque::new();
        Ok(())
    }

    async fn add_member(
        &self,
        room_id: RoomId,
        member: &NewMember,
        invite: Option<&str>,
    ) -> Result<(RoomRecord, MemberRecord), StoreError> {
        validate::new_member(member)?;
        self.with_room(room_id, |s| {
            if s.bans.contains_key(&member.user_id) {
                return Err(StoreError::conflict(ConflictKind::Banned));
            }
            if s.members.contains_key(&member.user_id) {
                return Err(StoreError::conflict(ConflictKind::Member));
            }
            if let Some(code) = invite {
                check_invite(s, code, member.joined_at)?;
            }
            if s.members.len() >= s.room.capacity as usize {
                return Err(StoreError::conflict(ConflictKind::Capacity));
            }
            if let Some(code) = invite
                && let Some(inv) = s.invites.get_mut(code)
            {
                inv.uses -= 1; // ok: check_invite saw uses > 0 under this lock
            }
            let record = MemberRecord {
                room_id,
                user_id: member.user_id,
                role: member.role,
                join_epoch: s.room.epoch,
                joined_at: member.joined_at,
            };
            s.members.insert(member.user_id, record.clone());
            lock(&self.memberships).insert((member.user_id, room_id));
            Ok((s.record(), record))
        })
    }

    async fn get_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
    ) -> Result<MemberRecord, StoreError> {
        self.with_room(room_id, |s| {
            s.members
                .get(&user_id)
                .cloned()
                .ok_or(StoreError::not_found("member"))
        })
    }

    async fn list_members(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<MemberRecord>, StoreError> {
        check_limit(limit)?;
        let after = cursor
            .map(|c| c.decode_user(CursorKind::Members))
            .transpose()?;
        self.with_room(room_id, |s| {
            Ok(page_by_user(
                &s.members,
                after,
                limit,
                CursorKind::Members,
                |m| m.user_id,
            ))
        })
    }

    async fn list_memberships(
        &self,
        user_id: UserId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<MemberRecord>, StoreError> {
        check_limit(limit)?;
        let after = cursor
            .map(|c| c.decode_room(CursorKind::Memberships))
            .transpose()?;
        let start = after.unwrap_or(RoomId::from_bytes([0; 16]));
        let rooms: Vec<RoomId> = lock(&self.memberships)
            .range((user_id, start)..)
            .take_while(|(u, _)| *u == user_id)
            .map(|(_, r)| *r)
            .filter(|r| after != Some(*r))
            .take(limit as usize + 1)
            .collect();
        let mut fetched = Vec::with_capacity(rooms.len());
        for room in rooms {
            // A room deleted since the index was read is skipped.
            if let Ok(m) = self.with_room(room, |s| {
                s.members
                    .get(&user_id)
                    .cloned()
                    .ok_or(StoreError::not_found("member"))
            }) {
                fetched.push(m);
            }
        }
        Ok(Page::from_fetched(fetched, limit, |m| {
            Cursor::room(CursorKind::Memberships, m.room_id)
        }))
    }

    async fn set_role(
        &self,
        room_id: RoomId,
        user_id: UserId,
        role: Role,
    ) -> Result<MemberRecord, StoreError> {
        self.with_room(room_id, |s| {
            let m = s
                .members
                .get_mut(&user_id)
                .ok_or(StoreError::not_found("member"))?;
            m.role = role;
            Ok(m.clone())
        })
    }

    async fn remove_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
        reason: LeaveReason,
        now: u64,
    ) -> Result<Removal, StoreError> {
        check_i64("now", now)?;
        self.with_room(room_id, |s| {
            let member = s
                .members
                .remove(&user_id)
                .ok_or(StoreError::not_found("member"))?;
            lock(&self.memberships).remove(&(user_id, room_id));
            if reason == LeaveReason::Banned {
                s.bans.insert(
                    user_id,
                    BanRecord {
                        room_id,
                        user_id,
                        banned_at: now,
                    },
                );
            }
            if s.room.encrypted {
                s.room.rotation_due = true;
            }
            s.room.version += 1;
            s.room.updated_at = now;
            Ok(Removal {
                room: s.record(),
                member,
                reason,
            })
        })
    }

    async fn is_banned(&self, room_id: RoomId, user_id: UserId) -> Result<bool, StoreError> {
        self.with_room(room_id, |s| Ok(s.bans.contains_key(&user_id)))
    }

    async fn unban(&self, room_id: RoomId, user_id: UserId) -> Result<(), StoreError> {
        self.with_room(room_id, |s| {
            s.bans
                .remove(&user_id)
                .map(|_| ())
                .ok_or(StoreError::not_found("ban"))
        })
    }

    async fn create_invite(&self, invite: &InviteRecord) -> Result<(), StoreError> {
        validate::invite(invite)?;
        self.with_room(invite.room_id, |s| {
            if s.invites.contains_key(&invite.code) {
                return Err(StoreError::conflict(ConflictKind::InviteCode));
            }
            s.invites.insert(invite.code.clone(), invite.clone());
            Ok(())
        })
    }

    async fn consume_invite(
        &self,
        room_id: RoomId,
        code: &str,
        now: u64,
    ) -> Result<InviteRecord, StoreError> {
        self.with_room(room_id, |s| {
            check_invite(s, code, now)?;
            let inv = s
                .invites
                .get_mut(code)
                .ok_or(StoreError::not_found("invite"))?;
            inv.uses -= 1; // ok: check_invite saw uses > 0 under this lock
            Ok(inv.clone())
        })
    }

    async fn delete_invite(&self, room_id: RoomId, code: &str) -> Result<(), StoreError> {
        self.with_room(room_id, |s| {
            s.invites
                .remove(code)
                .map(|_| ())
                .ok_or(StoreError::not_found("invite"))
        })
    }

    async fn put_envelopes(&self, envelopes: &[EnvelopeRecord]) -> Result<u32, StoreError> {
        let Some(room_id) = validate::envelopes(envelopes, None)? else {
            return Ok(0);
        };
        self.with_room(room_id, |s| {
            if envelopes.iter().any(|e| e.envelope.epoch > s.room.epoch) {
                return Err(StoreError::conflict(ConflictKind::Epoch));
            }
            let mut stored = 0u32;
            for e in envelopes {
                let key = (e.envelope.member_id, e.envelope.epoch);
                if let std::collections::btree_map::Entry::Vacant(v) = s.envelopes.entry(key) {
                    v.insert(e.clone());
                    stored = stored.saturating_add(1);
                }
            }
            Ok(stored)
        })
    }

    async fn get_envelope(
        &self,
        room_id: RoomId,
        epoch: u32,
        member_id: UserId,
    ) -> Result<EnvelopeRecord, StoreError> {
        self.with_room(room_id, |s| {
            s.envelopes
                .get(&(member_id, epoch))
                .cloned()
                .ok_or(StoreError::not_found("envelope"))
        })
    }

    async fn list_envelopes(
        &self,
        room_id: RoomId,
        member_id: UserId,
        from_epoch: u32,
        limit: u32,
    ) -> Result<Vec<EnvelopeRecord>, StoreError> {
        check_limit(limit)?;
        self.with_room(room_id, |s| {
            Ok(s.envelopes
                .range((member_id, from_epoch)..=(member_id, u32::MAX))
                .take(limit as usize)
                .map(|(_, e)| e.clone())
                .collect())
        })
    }

    async fn rotate_epoch(
        &self,
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
        self.with_room(room_id, |s| {
            if s.room.epoch != current_epoch {
                return Err(StoreError::conflict(ConflictKind::Epoch));
            }
            if s.room.version != expected_version {
                return Err(StoreError::conflict(ConflictKind::Version));
            }
            s.envelopes.retain(|(_, epoch), _| *epoch < next);
            for e in envelopes {
                s.envelopes
                    .insert((e.envelope.member_id, e.envelope.epoch), e.clone());
            }
            s.room.epoch = next;
            s.room.rotation_due = false;
            s.room.version += 1;
            s.room.updated_at = now;
            Ok(s.record())
        })
    }

    async fn append_message(
        &self,
        room_id: RoomId,
        message: &NewMessage,
    ) -> Result<MessageRecord, StoreError> {
        validate::new_message(message)?;
        let cap = self.config.max_messages_per_room;
        self.with_room(room_id, |s| {
            let seq = s.room.last_seq + 1;
            check_i64("seq", seq)?;
            let record = MessageRecord::from_new(room_id, seq, message.clone());
            s.room.last_seq = seq;
            if s.first_seq + s.messages.len() as u64 != seq {
                // Only after an import that left seqs out: what is held
                // stays dense by starting the window here.
                s.messages.clear();
                s.first_seq = seq;
            }
            s.messages.push_back(record.clone());
            s.trim(cap);
            if s.messages.is_empty() {
                // A cap of 0 retains nothing: the window starts after seq.
                s.first_seq = seq + 1;
                s.dropped = seq;
            }
            Ok(record)
        })
    }

    async fn list_messages(
        &self,
        room_id: RoomId,
        range: MessageRange,
        limit: u32,
    ) -> Result<MessagePage, StoreError> {
        check_limit(limit)?;
        let limit = limit as usize;
        self.with_room(room_id, |s| {
            let len = s.messages.len();
            let (messages, more) = match range {
                MessageRange::After(after) => {
                    let start = after.saturating_add(1).max(s.first_seq) - s.first_seq;
                    let start = usize::try_from(start).unwrap_or(usize::MAX).min(len);
                    let end = start.saturating_add(limit).min(len);
                    let page: Vec<_> = s.messages.range(start..end).cloned().collect();
                    (page, end < len)
                }
                MessageRange::Before(before) => {
                    // Indexes below `end` hold seqs below `before`.
                    let end = before.saturating_sub(s.first_seq);
                    let end = usize::try_from(end).unwrap_or(usize::MAX).min(len);
                    let start = end.saturating_sub(limit);
                    let page: Vec<_> = s.messages.range(start..end).rev().cloned().collect();
                    (page, start > 0)
                }
            };
            Ok(MessagePage {
                messages,
                last_seq: s.room.last_seq,
                more,
            })
        })
    }

    async fn get_message(&self, room_id: RoomId, seq: u64) -> Result<MessageRecord, StoreError> {
        self.with_room(room_id, |s| {
            s.message_index(seq)
                .and_then(|i| s.messages.get(i))
                .cloned()
                .ok_or(StoreError::not_found("message"))
        })
    }

    async fn tombstone_message(
        &self,
        room_id: RoomId,
        seq: u64,
    ) -> Result<MessageRecord, StoreError> {
        self.with_room(room_id, |s| {
            let idx = s
                .message_index(seq)
                .ok_or(StoreError::not_found("message"))?;
            let m = s
                .messages
                .get_mut(idx)
                .ok_or(StoreError::not_found("message"))?;
            m.tombstone();
            Ok(m.clone())
        })
    }

    async fn count_messages(&self, room_id: RoomId) -> Result<MessageCount, StoreError> {
        self.with_room(room_id, |s| {
            Ok(MessageCount {
                stored: s.messages.len() as u64,
                dropped: s.dropped,
                last_seq: s.room.last_seq,
            })
        })
    }

    async fn upsert_peer(&self, peer: &PeerRecord) -> Result<(), StoreError> {
        validate::peer(peer)?;
        lock(&self.peers).insert(peer.node_id, peer.clone());
        Ok(())
    }

    async fn get_peer(&self, node_id: NodeId) -> Result<PeerRecord, StoreError> {
        lock(&self.peers)
            .get(&node_id)
            .cloned()
            .ok_or(StoreError::not_found("peer"))
    }

    async fn list_peers(&self) -> Result<Vec<PeerRecord>, StoreError> {
        Ok(lock(&self.peers).values().cloned().collect())
    }

    async fn remove_peer(&self, node_id: NodeId) -> Result<(), StoreError> {
        lock(&self.peers)
            .remove(&node_id)
            .map(|_| ())
            .ok_or(StoreError::not_found("peer"))
    }

    async fn append_audit(&self, entry: &NewAudit) -> Result<AuditRecord, StoreError> {
        validate::audit(entry)?;
        Ok(lock(&self.audit).push(entry, self.config.max_audit_entries))
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
        check_limit(query.limit)?;
        let after = match &query.cursor {
            Some(c) => {
                let text = c.decode_text(CursorKind::Audit)?;
                text.parse::<u64>()
                    .map_err(|_| StoreError::invalid("cursor", "not a cursor of this list"))?
            }
            None => 0,
        };
        let log = lock(&self.audit);
        // Entries are in id order: binary search for the start.
        let start = log.entries.partition_point(|(n, _)| *n <= after);
        let fetched: Vec<AuditRecord> = log
            .entries
            .range(start..)
            .filter(|(_, r)| match query.filter {
                AuditFilter::Room(room) => r.room_id == Some(room),
                AuditFilter::Actor(user) => r.actor_id == Some(user),
                AuditFilter::All => true,
            })
            .take(query.limit as usize + 1)
            .map(|(_, r)| r.clone())
            .collect();
        Ok(Page::from_fetched(fetched, query.limit, |r| {
            Cursor::encode(CursorKind::Audit, r.id.as_bytes())
        }))
    }

    async fn list_bans(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<BanRecord>, StoreError> {
        check_limit(limit)?;
        let after = cursor
            .map(|c| c.decode_user(CursorKind::Bans))
            .transpose()?;
        self.with_room(room_id, |s| {
            Ok(page_by_user(&s.bans, after, limit, CursorKind::Bans, |b| {
                b.user_id
            }))
        })
    }

    async fn list_invites(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<InviteRecord>, StoreError> {
        check_limit(limit)?;
        let after = cursor.map(|c| c.decode(CursorKind::Invites)).transpose()?;
        self.with_room(room_id, |s| {
            let mut codes: Vec<&String> = s
                .invites
                .keys()
                .filter(|c| after.as_deref().is_none_or(|a| c.as_bytes() > a))
                .collect();
            codes.sort_unstable();
            let fetched = codes
                .into_iter()
                .take(limit as usize + 1)
                .filter_map(|c| s.invites.get(c).cloned())
                .collect();
            Ok(Page::from_fetched(fetched, limit, |i| {
                Cursor::encode(CursorKind::Invites, i.code.as_bytes())
            }))
        })
    }

    async fn list_room_envelopes(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<EnvelopeRecord>, StoreError> {
        check_limit(limit)?;
        let after = cursor.map(decode_envelope_cursor).transpose()?;
        self.with_room(room_id, |s| {
            let range = match after {
                Some(a) => s
                    .envelopes
                    .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
                None => s.envelopes.range(..),
            };
            let fetched = range
                .take(limit as usize + 1)
                .map(|(_, e)| e.clone())
                .collect();
            Ok(Page::from_fetched(fetched, limit, envelope_cursor))
        })
    }

    async fn import_users(&self, users: &[UserRecord]) -> Result<ImportCount, StoreError> {
        let mut count = ImportCount::default();
        let mut maps = self.write();
        for user in users {
            validate::user(user)?;
            if maps.users.contains_key(&user.id) {
                count.count(false);
                continue;
            }
            let folded = fold_user_name(&user.name);
            if maps.by_name.contains_key(&folded) {
                return Err(StoreError::conflict(ConflictKind::UserName));
            }
            if maps.users.len() >= self.config.max_users {
                return Err(StoreError::conflict(ConflictKind::StoreFull));
            }
            maps.by_name.insert(folded, user.id);
            maps.users.insert(user.id, user.clone());
            count.count(true);
        }
        Ok(count)
    }

    async fn import_rooms(&self, rooms: &[RoomRecord]) -> Result<ImportCount, StoreError> {
        let mut count = ImportCount::default();
        let mut maps = self.write();
        for room in rooms {
            validate::import_room(room)?;
            if let Some(slot) = maps.rooms.get(&room.id) {
                let mut state = lock(slot);
                if state.room.last_seq < room.last_seq && state.messages.is_empty() {
                    state.first_seq = room.last_seq + 1;
                    state.dropped = room.last_seq;
                }
                state.room.last_seq = state.room.last_seq.max(room.last_seq);
                count.count(false);
                continue;
            }
            if maps.rooms.len() >= self.config.max_rooms {
                return Err(StoreError::conflict(ConflictKind::StoreFull));
            }
            let mut record = room.clone();
            record.member_count = 0;
            let state = RoomState {
                room: record,
                deleted: false,
                members: BTreeMap::new(),
                bans: BTreeMap::new(),
                invites: HashMap::new(),
                envelopes: BTreeMap::new(),
                messages: VecDeque::new(),
                first_seq: room.last_seq + 1,
                dropped: room.last_seq,
            };
            maps.rooms.insert(room.id, Arc::new(Mutex::new(state)));
            count.count(true);
        }
        Ok(count)
    }

    async fn import_members(&self, members: &[MemberRecord]) -> Result<ImportCount, StoreError> {
        ImportCount::each(members, |member| {
            validate::import_member(member)?;
            self.with_room(member.room_id, |s| {
                if s.members.contains_key(&member.user_id) {
                    return Ok(false);
                }
                if s.members.len() >= s.room.capacity as usize {
                    return Err(StoreError::conflict(ConflictKind::Capacity));
                }
                s.members.insert(member.user_id, member.clone());
                lock(&self.memberships).insert((member.user_id, member.room_id));
                Ok(true)
            })
        })
    }

    async fn import_bans(&self, bans: &[BanRecord]) -> Result<ImportCount, StoreError> {
        ImportCount::each(bans, |ban| {
            validate::import_ban(ban)?;
            self.with_room(ban.room_id, |s| {
                Ok(match s.bans.entry(ban.user_id) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(ban.clone());
                        true
                    }
                    std::collections::btree_map::Entry::Occupied(_) => false,
                })
            })
        })
    }

    async fn import_invites(&self, invites: &[InviteRecord]) -> Result<ImportCount, StoreError> {
        ImportCount::each(invites, |invite| {
            validate::invite(invite)?;
            self.with_room(invite.room_id, |s| {
                Ok(match s.invites.entry(invite.code.clone()) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(invite.clone());
                        true
                    }
                    std::collections::hash_map::Entry::Occupied(_) => false,
                })
            })
        })
    }

    async fn import_envelopes(
        &self,
        envelopes: &[EnvelopeRecord],
    ) -> Result<ImportCount, StoreError> {
        ImportCount::each(envelopes, |e| {
            check_i64("stored_at", e.stored_at)?;
            self.with_room(e.envelope.room_id, |s| {
                if e.envelope.epoch > s.room.epoch {
                    return Err(StoreError::conflict(ConflictKind::Epoch));
                }
                let key = (e.envelope.member_id, e.envelope.epoch);
                Ok(match s.envelopes.entry(key) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(e.clone());
                        true
                    }
                    std::collections::btree_map::Entry::Occupied(_) => false,
                })
            })
        })
    }

    async fn import_messages(&self, messages: &[MessageRecord]) -> Result<ImportCount, StoreError> {
        let mut count = ImportCount::default();
        let cap = self.config.max_messages_per_room;
        for m in messages {
            validate::import_message(m)?;
            let inserted = self.with_room(m.room_id, |s| s.import_message(m, cap))?;
            count.count(inserted);
        }
        Ok(count)
    }

    async fn import_peers(&self, peers: &[PeerRecord]) -> Result<ImportCount, StoreError> {
        let mut count = ImportCount::default();
        let mut known = lock(&self.peers);
        for peer in peers {
            validate::peer(peer)?;
            let inserted = match known.entry(peer.node_id) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(peer.clone());
                    true
                }
                std::collections::btree_map::Entry::Occupied(_) => false,
            };
            count.count(inserted);
        }
        Ok(count)
    }

    async fn import_audit(&self, entries: &[AuditRecord]) -> Result<ImportCount, StoreError> {
        let mut count = ImportCount::default();
        let mut log = lock(&self.audit);
        for entry in entries {
            validate::import_audit(entry)?;
            if log.imported.contains(&entry.id) {
                count.count(false);
                continue;
            }
            let new = NewAudit {
                at: entry.at,
                actor_id: entry.actor_id,
                room_id: entry.room_id,
                action: entry.action.clone(),
                detail: entry.detail.clone(),
            };
            log.push(&new, self.config.max_audit_entries);
            log.imported.insert(entry.id.clone());
            count.count(true);
        }
        Ok(count)
    }
}

/// Checks that an invite can be used now (under the room's lock).
fn check_invite(s: &RoomState, code: &str, now: u64) -> Result<(), StoreError> {
    let inv = s.invites.get(code).ok_or(StoreError::not_found("invite"))?;
    if now >= inv.expires_at {
        return Err(StoreError::conflict(ConflictKind::InviteExpired));
    }
    if inv.uses == 0 {
        return Err(StoreError::conflict(ConflictKind::InviteUsedUp));
    }
    Ok(())
}

/// One page of a room's table keyed by user (members, bans): the entries
/// after `after`, in user id order, O(log n + limit).
fn page_by_user<V: Clone>(
    table: &BTreeMap<UserId, V>,
    after: Option<UserId>,
    limit: u32,
    kind: CursorKind,
    user_of: impl Fn(&V) -> UserId,
) -> Page<V> {
    let range = match after {
        Some(a) => table.range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
        None => table.range(..),
    };
    let fetched = range
        .take(limit as usize + 1)
        .map(|(_, v)| v.clone())
        .collect();
    Page::from_fetched(fetched, limit, |v| Cursor::user(kind, user_of(v)))
}
