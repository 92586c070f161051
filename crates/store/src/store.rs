//! The [`Store`] trait.

use async_trait::async_trait;
use peer_proto::api::{LeaveReason, StoreKind};
use peer_proto::{NodeId, RoomId, UserId};

use crate::error::StoreError;
use crate::query::{AuditQuery, Cursor, MessagePage, MessageRange, Page, RoomQuery, UserQuery};
use crate::records::{
    AuditRecord, EnvelopeRecord, InviteRecord, MemberRecord, MessageCount, MessageRecord, NewAudit,
    NewMember, NewMessage, PeerRecord, Removal, RoomRecord, RoomUpdate, UserRecord,
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
}
