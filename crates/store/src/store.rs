//! The [`Store`] trait.

use async_trait::async_trait;
use peer_proto::api::{LeaveReason, StoreKind};
use peer_proto::{NodeId, RoomId, UserId};

use crate::error::StoreError;
use crate::query::{AuditQuery, Cursor, MessagePage, MessageRange, Page, RoomQuery, UserQuery};
use crate::records::{
    AuditRecord, BanRecord, EnvelopeRecord, ImportCount, InviteRecord, MemberRecord, MessageCount,
    MessageRecord, NewAudit, NewMember, NewMessage, PeerRecord, Removal, RoomRecord, RoomUpdate,
    UserRecord,
};

/// Everything a node stores, behind one async interface.
///
/// Implementations are `Send + Sync` and used as `Arc<dyn Store>`. Time
/// enters as arguments (`now`, `created_at`, ...): a store never reads the
/// clock, so behaviour is deterministic. Every method returns a typed
/// [`StoreError`]; every backend passes the same conformance suite
/// (`peer_store::conformance`, feature `conformance`), which is the
/// executable form of the contracts documented here.
///
/// Integers must fit in `i64` (`Invalid` otherwise, on every backend).
/// Limits are `1..=MAX_LIMIT` ([`crate::query::MAX_LIMIT`]).
///
/// The last two groups, **export** and **import**, exist for moving a
/// node's data between backends (`peerd migrate`): the exports list what no
/// other method lists (bans, invites, every envelope of a room, the whole
/// audit log), and the imports write records with their original fields
/// (seqs, versions, epochs, times), idempotently. They have default bodies
/// that fail with `Internal` so that wrappers and test doubles need not
/// implement them; every backend of this workspace does.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is.
    fn kind(&self) -> StoreKind;

    /// A cheap, time-bounded reachability check (`Unavailable` when the
    /// backend does not answer).
    async fn health(&self) -> Result<(), StoreError>;

    // ------------------------------------------------------------ users

    /// Registers a user. `Conflict { UserId }` when the id exists,
    /// `Conflict { UserName }` when the name exists ignoring case,
    /// `Conflict { StoreFull }` past a backend's user bound.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;

    /// A user by id, or `NotFound`.
    async fn get_user(&self, id: UserId) -> Result<UserRecord, StoreError>;

    /// A user by name, ignoring case, or `NotFound`.
    async fn get_user_by_name(&self, name: &str) -> Result<UserRecord, StoreError>;

    /// Users ordered by folded name, optionally only those whose name starts
    /// with a prefix (ignoring case).
    async fn list_users(&self, query: &UserQuery) -> Result<Page<UserRecord>, StoreError>;

    // ------------------------------------------------------------ rooms

    /// Creates a room with its owner as the first member and, for encrypted
    /// rooms, the owner's first envelope, all or nothing. The store sets
    /// `member_count` = 1, `last_seq` = 0 and `version` = 1 and returns the
    /// stored record. `owner` must be for this room and `room.owner_id`
    /// with role owner, and the envelope (if any) for this room, the room's
    /// epoch and the owner (`Invalid` otherwise). `Conflict { RoomId }` when
    /// the id exists, `Conflict { StoreFull }` past a backend's room bound.
    async fn create_room(
        &self,
        room: &RoomRecord,
        owner: &MemberRecord,
        envelope: Option<&EnvelopeRecord>,
    ) -> Result<RoomRecord, StoreError>;

    /// A room, or `NotFound`.
    async fn get_room(&self, id: RoomId) -> Result<RoomRecord, StoreError>;

    /// Rooms ordered by id.
    async fn list_rooms(&self, query: &RoomQuery) -> Result<Page<RoomRecord>, StoreError>;

    /// Changes a room's settings if its version is still `expected_version`
    /// (`Conflict { Version }` when another writer won: read again and
    /// retry). Bumps the version, sets `updated_at` = `now`, and returns the
    /// new record. `Conflict { CapacityBelowMembers }` when the new capacity
    /// is below the member count.
    async fn update_room(
        &self,
        id: RoomId,
        expected_version: u64,
        update: &RoomUpdate,
        now: u64,
    ) -> Result<RoomRecord, StoreError>;

    /// Deletes a room and everything that belongs to it: messages, members,
    /// bans, invites, envelopes. `NotFound` when it does not exist.
    async fn delete_room(&self, id: RoomId) -> Result<(), StoreError>;

    // ------------------------------------------------------------ members

    /// Adds a member, atomically with the capacity check and, when `invite`
    /// is given, with consuming one use of that invite code (checked against
    /// `member.joined_at`). The member's `join_epoch` is the room's epoch at
    /// that moment. Returns the room afterwards and the member.
    ///
    /// Errors, in the order checked: `NotFound { "room" }`,
    /// `Conflict { Banned }`, `Conflict { Member }` (already a member),
    /// invite errors as in [`Store::consume_invite`], `Conflict { Capacity }`
    /// (full). On any error nothing changed (the invite keeps its use).
    async fn add_member(
        &self,
        room_id: RoomId,
        member: &NewMember,
        invite: Option<&str>,
    ) -> Result<(RoomRecord, MemberRecord), StoreError>;

    /// A member, or `NotFound { "member" }`.
    async fn get_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
    ) -> Result<MemberRecord, StoreError>;

    /// Members of a room ordered by user id (`NotFound` for no room).
    async fn list_members(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<MemberRecord>, StoreError>;

    /// The memberships of a user ordered by room id.
    async fn list_memberships(
        &self,
        user_id: UserId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<MemberRecord>, StoreError>;

    /// Changes a member's role; returns the member. `NotFound`.
    async fn set_role(
        &self,
        room_id: RoomId,
        user_id: UserId,
        role: peer_proto::api::Role,
    ) -> Result<MemberRecord, StoreError>;

    /// Removes a member: decrements the member count, marks an encrypted
    /// room rotation-due, bumps the room's version, and with
    /// [`LeaveReason::Banned`] records a ban at `now`. `NotFound`.
    async fn remove_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
        reason: LeaveReason,
        now: u64,
    ) -> Result<Removal, StoreError>;

    /// True when the user is banned from the room.
    async fn is_banned(&self, room_id: RoomId, user_id: UserId) -> Result<bool, StoreError>;

    /// Lifts a ban; `NotFound { "ban" }` when there is none.
    async fn unban(&self, room_id: RoomId, user_id: UserId) -> Result<(), StoreError>;

    // ------------------------------------------------------------ invites

    /// Stores an invite. `NotFound { "room" }`, `Conflict { InviteCode }`.
    async fn create_invite(&self, invite: &InviteRecord) -> Result<(), StoreError>;

    /// Consumes one use of an invite, atomically: of N concurrent calls on
    /// an invite with `u` uses, exactly `min(N, u)` succeed. Returns the
    /// invite afterwards. `NotFound { "invite" }`,
    /// `Conflict { InviteExpired }` when `now >= expires_at`,
    /// `Conflict { InviteUsedUp }` when no use is left.
    async fn consume_invite(
        &self,
        room_id: RoomId,
        code: &str,
        now: u64,
    ) -> Result<InviteRecord, StoreError>;

    /// Deletes an invite; `NotFound { "invite" }`.
    async fn delete_invite(&self, room_id: RoomId, code: &str) -> Result<(), StoreError>;

    // ------------------------------------------------------------ keys

    /// Stores envelopes of the room's current or an earlier epoch (one room
    /// per call), skipping any (room, epoch, member) that already has one:
    /// the first stored envelope wins. Returns how many were new.
    /// `NotFound { "room" }`, `Invalid` for envelopes of several rooms,
    /// `Conflict { Epoch }` for an epoch above the room's.
    async fn put_envelopes(&self, envelopes: &[EnvelopeRecord]) -> Result<u32, StoreError>;

    /// One envelope, or `NotFound { "envelope" }`.
    async fn get_envelope(
        &self,
        room_id: RoomId,
        epoch: u32,
        member_id: UserId,
    ) -> Result<EnvelopeRecord, StoreError>;

    /// A member's envelopes with `epoch >= from_epoch`, ascending, at most
    /// `limit` (continue from the last epoch + 1).
    async fn list_envelopes(
        &self,
        room_id: RoomId,
        member_id: UserId,
        from_epoch: u32,
        limit: u32,
    ) -> Result<Vec<EnvelopeRecord>, StoreError>;

    /// Rotates the room key: if the room's epoch is still `current_epoch`
    /// and its version still `expected_version`, stores `envelopes` (all for
    /// epoch `current_epoch + 1`; replacing any left by an earlier failed
    /// rotation), sets the epoch to `current_epoch + 1`, clears
    /// `rotation_due`, bumps the version and `updated_at`.
    /// `Conflict { Epoch }` when another rotation won, `Conflict { Version }`
    /// when the room changed otherwise since the caller read it (a member
    /// removed meanwhile must not receive the new key: the caller reads the
    /// room and its members again and retries). Completeness of the set (one
    /// per member) is the node's check, against the members it read with
    /// that version.
    async fn rotate_epoch(
        &self,
        room_id: RoomId,
        current_epoch: u32,
        expected_version: u64,
        envelopes: &[EnvelopeRecord],
        now: u64,
    ) -> Result<RoomRecord, StoreError>;

    // ------------------------------------------------------------ messages

    /// Appends a message: the store assigns the room's next seq atomically
    /// (from 1, no gap, no duplicate under any concurrency) and returns the
    /// stored record. `NotFound { "room" }`.
    async fn append_message(
        &self,
        room_id: RoomId,
        message: &NewMessage,
    ) -> Result<MessageRecord, StoreError>;

    /// Up to `limit` messages after or before a seq (see [`MessageRange`]),
    /// with the room's last seq and whether more follow.
    /// `NotFound { "room" }`.
    async fn list_messages(
        &self,
        room_id: RoomId,
        range: MessageRange,
        limit: u32,
    ) -> Result<MessagePage, StoreError>;

    /// One message, or `NotFound { "message" }` (also when dropped).
    async fn get_message(&self, room_id: RoomId, seq: u64) -> Result<MessageRecord, StoreError>;

    /// Tombstones a message (content cleared, seq kept); idempotent.
    /// Returns the tombstone. `NotFound { "message" }`.
    async fn tombstone_message(
        &self,
        room_id: RoomId,
        seq: u64,
    ) -> Result<MessageRecord, StoreError>;

    /// How many messages the room stores and has dropped.
    async fn count_messages(&self, room_id: RoomId) -> Result<MessageCount, StoreError>;

    // ------------------------------------------------------------ peers

    /// Inserts or replaces a peer (by node id).
    async fn upsert_peer(&self, peer: &PeerRecord) -> Result<(), StoreError>;

    /// A peer, or `NotFound { "peer" }`.
    async fn get_peer(&self, node_id: NodeId) -> Result<PeerRecord, StoreError>;

    /// All known peers, ordered by node id.
    async fn list_peers(&self) -> Result<Vec<PeerRecord>, StoreError>;

    /// Forgets a peer; `NotFound { "peer" }`.
    async fn remove_peer(&self, node_id: NodeId) -> Result<(), StoreError>;

    // ------------------------------------------------------------ audit

    /// Appends an audit entry and returns it with its id.
    async fn append_audit(&self, entry: &NewAudit) -> Result<AuditRecord, StoreError>;

    /// Audit entries of a room or an actor, in append order.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, StoreError>;

    // ------------------------------------------------------------ export

    /// The bans of a room ordered by user id (cursor kind
    /// [`CursorKind::Bans`](crate::query::CursorKind::Bans)).
    /// `NotFound { "room" }`.
    async fn list_bans(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<BanRecord>, StoreError> {
        let _ = (room_id, limit, cursor);
        Err(unsupported("list_bans"))
    }

    /// The invites of a room ordered by code (bytes; cursor kind
    /// [`CursorKind::Invites`](crate::query::CursorKind::Invites)),
    /// expired and used-up ones included. `NotFound { "room" }`.
    async fn list_invites(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<InviteRecord>, StoreError> {
        let _ = (room_id, limit, cursor);
        Err(unsupported("list_invites"))
    }

    /// Every envelope of a room, of members and former members, ordered by
    /// (member id, epoch) (cursor kind
    /// [`CursorKind::Envelopes`](crate::query::CursorKind::Envelopes)).
    /// `NotFound { "room" }`.
    async fn list_room_envelopes(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<EnvelopeRecord>, StoreError> {
        let _ = (room_id, limit, cursor);
        Err(unsupported("list_room_envelopes"))
    }

    // ------------------------------------------------------------ import
    //
    // Every import takes a batch and returns how many records were new and
    // how many were already there. A record whose key is already stored
    // (user id, room id, (room, user), (room, code), (room, epoch, member),
    // (room, seq), node id, the audit entry's source id) is kept as it is
    // and counted as present, so a rerun after an interruption completes
    // without duplicates. A call is not atomic as a whole: after an error,
    // part of the batch may be stored, and a rerun completes it.

    /// Imports users. `Conflict { UserName }` when another user (another
    /// id) holds the name ignoring case.
    async fn import_users(&self, users: &[UserRecord]) -> Result<ImportCount, StoreError> {
        let _ = users;
        Err(unsupported("import_users"))
    }

    /// Imports rooms with their settings, `epoch`, `rotation_due`,
    /// `version`, `last_seq` and times as given, and no member yet
    /// (`member_count` counts the members imported afterwards; the value
    /// given is ignored). Appends after the import continue after
    /// `last_seq`. A room already present still raises its `last_seq` to
    /// the one given (so that a rerun repairs an interrupted import).
    async fn import_rooms(&self, rooms: &[RoomRecord]) -> Result<ImportCount, StoreError> {
        let _ = rooms;
        Err(unsupported("import_rooms"))
    }

    /// Imports members with their role, `join_epoch` and `joined_at`, and
    /// counts them in their room's `member_count`. `NotFound { "room" }`,
    /// `Conflict { Capacity }` when the room is full.
    async fn import_members(&self, members: &[MemberRecord]) -> Result<ImportCount, StoreError> {
        let _ = members;
        Err(unsupported("import_members"))
    }

    /// Imports bans. `NotFound { "room" }`.
    async fn import_bans(&self, bans: &[BanRecord]) -> Result<ImportCount, StoreError> {
        let _ = bans;
        Err(unsupported("import_bans"))
    }

    /// Imports invites with the uses they have left. `NotFound { "room" }`.
    async fn import_invites(&self, invites: &[InviteRecord]) -> Result<ImportCount, StoreError> {
        let _ = invites;
        Err(unsupported("import_invites"))
    }

    /// Imports envelopes (of any rooms). `NotFound { "room" }`,
    /// `Conflict { Epoch }` for an epoch above the room's.
    async fn import_envelopes(
        &self,
        envelopes: &[EnvelopeRecord],
    ) -> Result<ImportCount, StoreError> {
        let _ = envelopes;
        Err(unsupported("import_envelopes"))
    }

    /// Imports messages at their seqs, tombstones included, and raises the
    /// room's `last_seq` to the highest seq imported. Durable backends take
    /// seqs in any order, with gaps (a hole left in the source stays a
    /// hole); the memory backend keeps a room's messages dense and takes
    /// them in ascending order (`Invalid` for a seq that would leave a gap
    /// in what it holds). `NotFound { "room" }`, `Invalid` for seq 0.
    async fn import_messages(&self, messages: &[MessageRecord]) -> Result<ImportCount, StoreError> {
        let _ = messages;
        Err(unsupported("import_messages"))
    }

    /// Imports peers (a peer already known is kept as it is).
    async fn import_peers(&self, peers: &[PeerRecord]) -> Result<ImportCount, StoreError> {
        let _ = peers;
        Err(unsupported("import_peers"))
    }

    /// Imports audit entries, in the order given, after the entries already
    /// stored. Each entry's `id` is its id in the source: it identifies the
    /// entry for idempotency (an id imported before is present) and is
    /// not kept; the entry gets an id of this backend, so that the append
    /// order of the source is the list order of the target.
    async fn import_audit(&self, entries: &[AuditRecord]) -> Result<ImportCount, StoreError> {
        let _ = entries;
        Err(unsupported("import_audit"))
    }
}

/// The error of a default export or import body.
fn unsupported(method: &str) -> StoreError {
    StoreError::internal(format!("{method} is not implemented by this store"))
}
