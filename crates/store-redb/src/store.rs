//! [`RedbStore`]: opening the file, the [`Store`] implementation, closing.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use peer_proto::api::{LeaveReason, Role, StoreKind};
use peer_proto::{NodeId, RoomId, UserId};
use peer_store::{
    AuditQuery, AuditRecord, BanRecord, Cursor, EnvelopeRecord, ImportCount, InviteRecord,
    MemberRecord, MessageCount, MessagePage, MessageRange, MessageRecord, NewAudit, NewMember,
    NewMessage, Page, PeerRecord, Removal, RoomQuery, RoomRecord, RoomUpdate, Store, StoreError,
    UserQuery, UserRecord,
};
use redb::{Database, DatabaseError, ReadTransaction, ReadableDatabase as _};

use crate::config::RedbConfig;
use crate::error::{OpenError, storage};
use crate::writer::{WriteTables, Writer};
use crate::{reads, tables, writes};

/// The durable, embedded [`Store`]: one redb file. See the crate docs.
pub struct RedbStore {
    db: Arc<Database>,
    writer: Writer,
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish()
    }
}

impl RedbStore {
    /// Opens the file (creating it, mode 0600, when absent), checks its
    /// schema, and starts the writer thread. Blocking: after a crash, redb
    /// repairs the file here, which reads all of it; call it from a
    /// blocking context or with [`RedbStore::open_async`].
    pub fn open(config: RedbConfig) -> Result<RedbStore, OpenError> {
        let path = config.path.clone();
        let cannot = |reason: String| OpenError::Cannot {
            path: path.clone(),
            reason,
        };
        // Create the file private before redb opens it: it holds messages.
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| cannot(e.to_string()))?;
        let db = redb::Builder::new()
            .set_cache_size(config.cache_bytes)
            .create(&path)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen => OpenError::InUse { path: path.clone() },
                other => cannot(other.to_string()),
            })?;
        init(&db, &path)?;
        let db = Arc::new(db);
        let writer = Writer::start(Arc::clone(&db), &config).map_err(|e| cannot(e.to_string()))?;
        Ok(RedbStore { db, writer, path })
    }

    /// [`RedbStore::open`] on a blocking thread of the tokio runtime.
    pub async fn open_async(config: RedbConfig) -> Result<RedbStore, OpenError> {
        let path = config.path.clone();
        tokio::task::spawn_blocking(move || RedbStore::open(config))
            .await
            .unwrap_or_else(|e| {
                Err(OpenError::Cannot {
                    path,
                    reason: format!("the opening task failed: {e}"),
                })
            })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops taking writes, waits for the queued ones to commit and the
    /// writer thread to end. Later writes fail with `Unavailable`; reads
    /// still work. The file is closed (cleanly: no repair at the next open)
    /// when the last handle is dropped.
    pub fn close(&self) {
        self.writer.stop();
    }

    /// The database, for snapshots.
    pub(crate) fn database(&self) -> &Arc<Database> {
        &self.db
    }

    async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<R, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(storage)?;
            f(&txn)
        })
        .await
        .map_err(|e| StoreError::internal(format!("a read task failed: {e}")))?
    }

    async fn write<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnMut(&mut WriteTables<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        self.writer.write(op).await
    }
}

/// Creates the tables and records the schema on a new file; refuses a file
/// of a newer schema.
fn init(db: &Database, path: &Path) -> Result<(), OpenError> {
    let cannot = |e: StoreError| OpenError::Cannot {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let txn = db.begin_write().map_err(|e| cannot(storage(e)))?;
    {
        let mut t = WriteTables::open(&txn).map_err(cannot)?;
        match writes::schema_of(&t.meta).map_err(cannot)? {
            Some(found) if found > tables::SCHEMA => {
                return Err(OpenError::NewerSchema {
                    path: path.to_path_buf(),
                    found,
                    known: tables::SCHEMA,
                });
            }
            Some(_) => {}
            None => {
                t.meta
                    .insert(tables::SCHEMA_KEY, [tables::SCHEMA].as_slice())
                    .map_err(|e| cannot(storage(e)))?;
            }
        }
    }
    txn.commit().map_err(|e| cannot(storage(e)))
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        self.writer.stop();
    }
}

/// Clones of the arguments a write captures: a write may run twice (see
/// the writer), so it keeps its own copies.
macro_rules! write_with {
    ($self:ident, |$t:ident| $body:expr, $($arg:ident),*) => {{
        $(let $arg = $arg.to_owned();)*
        $self.write(move |$t| $body).await
    }};
}

#[async_trait]
impl Store for RedbStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Redb
    }

    async fn health(&self) -> Result<(), StoreError> {
        if !self.writer.is_running() {
            return Err(StoreError::unavailable("the writer is not running"));
        }
        self.read(|_| Ok(())).await
    }

    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        write_with!(self, |t| writes::create_user(t, &user).map(drop), user)
    }

    async fn get_user(&self, id: UserId) -> Result<UserRecord, StoreError> {
        self.read(move |txn| reads::user(txn, id)).await
    }

    async fn get_user_by_name(&self, name: &str) -> Result<UserRecord, StoreError> {
        let name = name.to_owned();
        self.read(move |txn| reads::user_by_name(txn, &name)).await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Page<UserRecord>, StoreError> {
        let query = query.clone();
        self.read(move |txn| reads::list_users(txn, &query)).await
    }

    async fn create_room(
        &self,
        room: &RoomRecord,
        owner: &MemberRecord,
        envelope: Option<&EnvelopeRecord>,
    ) -> Result<RoomRecord, StoreError> {
        let envelope = envelope.cloned();
        write_with!(
            self,
            |t| writes::create_room(t, &room, &owner, envelope.as_ref()),
            room,
            owner
        )
    }

    async fn get_room(&self, id: RoomId) -> Result<RoomRecord, StoreError> {
        self.read(move |txn| reads::room(txn, id)).await
    }

    async fn list_rooms(&self, query: &RoomQuery) -> Result<Page<RoomRecord>, StoreError> {
        let query = query.clone();
        self.read(move |txn| reads::list_rooms(txn, &query)).await
    }

    async fn update_room(
        &self,
        id: RoomId,
        expected_version: u64,
        update: &RoomUpdate,
        now: u64,
    ) -> Result<RoomRecord, StoreError> {
        write_with!(
            self,
            |t| writes::update_room(t, id, expected_version, &update, now),
            update
        )
    }

    async fn delete_room(&self, id: RoomId) -> Result<(), StoreError> {
        self.write(move |t| writes::delete_room(t, id)).await
    }

    async fn add_member(
        &self,
        room_id: RoomId,
        member: &NewMember,
        invite: Option<&str>,
    ) -> Result<(RoomRecord, MemberRecord), StoreError> {
        let invite = invite.map(str::to_owned);
        write_with!(
            self,
            |t| writes::add_member(t, room_id, &member, invite.as_deref()),
            member
        )
    }

    async fn get_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
    ) -> Result<MemberRecord, StoreError> {
        self.read(move |txn| reads::member(txn, room_id, user_id))
            .await
    }

    async fn list_members(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<MemberRecord>, StoreError> {
        let cursor = cursor.cloned();
        self.read(move |txn| reads::list_members(txn, room_id, limit, cursor.as_ref()))
            .await
    }

    async fn list_memberships(
        &self,
        user_id: UserId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<MemberRecord>, StoreError> {
        let cursor = cursor.cloned();
        self.read(move |txn| reads::list_memberships(txn, user_id, limit, cursor.as_ref()))
            .await
    }

    async fn set_role(
        &self,
        room_id: RoomId,
        user_id: UserId,
        role: Role,
    ) -> Result<MemberRecord, StoreError> {
        self.write(move |t| writes::set_role(t, room_id, user_id, role))
            .await
    }

    async fn remove_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
        reason: LeaveReason,
        now: u64,
    ) -> Result<Removal, StoreError> {
        self.write(move |t| writes::remove_member(t, room_id, user_id, reason, now))
            .await
    }

    async fn is_banned(&self, room_id: RoomId, user_id: UserId) -> Result<bool, StoreError> {
        self.read(move |txn| reads::is_banned(txn, room_id, user_id))
            .await
    }

    async fn unban(&self, room_id: RoomId, user_id: UserId) -> Result<(), StoreError> {
        self.write(move |t| writes::unban(t, room_id, user_id))
            .await
    }

    async fn create_invite(&self, invite: &InviteRecord) -> Result<(), StoreError> {
        write_with!(self, |t| writes::create_invite(t, &invite), invite)
    }

    async fn consume_invite(
        &self,
        room_id: RoomId,
        code: &str,
        now: u64,
    ) -> Result<InviteRecord, StoreError> {
        write_with!(
            self,
            |t| writes::consume_invite(t, room_id, &code, now),
            code
        )
    }

    async fn delete_invite(&self, room_id: RoomId, code: &str) -> Result<(), StoreError> {
        write_with!(self, |t| writes::delete_invite(t, room_id, &code), code)
    }

    async fn put_envelopes(&self, envelopes: &[EnvelopeRecord]) -> Result<u32, StoreError> {
        write_with!(self, |t| writes::put_envelopes(t, &envelopes), envelopes)
    }

    async fn get_envelope(
        &self,
        room_id: RoomId,
        epoch: u32,
        member_id: UserId,
    ) -> Result<EnvelopeRecord, StoreError> {
        self.read(move |txn| reads::envelope(txn, room_id, epoch, member_id))
            .await
    }

    async fn list_envelopes(
        &self,
        room_id: RoomId,
        member_id: UserId,
        from_epoch: u32,
        limit: u32,
    ) -> Result<Vec<EnvelopeRecord>, StoreError> {
        self.read(move |txn| reads::list_envelopes(txn, room_id, member_id, from_epoch, limit))
            .await
    }

    async fn rotate_epoch(
        &self,
        room_id: RoomId,
        current_epoch: u32,
        expected_version: u64,
        envelopes: &[EnvelopeRecord],
        now: u64,
    ) -> Result<RoomRecord, StoreError> {
        write_with!(
            self,
            |t| writes::rotate_epoch(t, room_id, current_epoch, expected_version, &envelopes, now),
            envelopes
        )
    }

    async fn append_message(
        &self,
        room_id: RoomId,
        message: &NewMessage,
    ) -> Result<MessageRecord, StoreError> {
        write_with!(
            self,
            |t| writes::append_message(t, room_id, &message),
            message
        )
    }

    async fn list_messages(
        &self,
        room_id: RoomId,
        range: MessageRange,
        limit: u32,
    ) -> Result<MessagePage, StoreError> {
        self.read(move |txn| reads::list_messages(txn, room_id, range, limit))
            .await
    }

    async fn get_message(&self, room_id: RoomId, seq: u64) -> Result<MessageRecord, StoreError> {
        self.read(move |txn| reads::message(txn, room_id, seq))
            .await
    }

    async fn tombstone_message(
        &self,
        room_id: RoomId,
        seq: u64,
    ) -> Result<MessageRecord, StoreError> {
        self.write(move |t| writes::tombstone_message(t, room_id, seq))
            .await
    }

    async fn count_messages(&self, room_id: RoomId) -> Result<MessageCount, StoreError> {
        self.read(move |txn| reads::count_messages(txn, room_id))
            .await
    }

    async fn upsert_peer(&self, peer: &PeerRecord) -> Result<(), StoreError> {
        write_with!(self, |t| writes::upsert_peer(t, &peer), peer)
    }

    async fn get_peer(&self, node_id: NodeId) -> Result<PeerRecord, StoreError> {
        self.read(move |txn| reads::peer(txn, node_id)).await
    }

    async fn list_peers(&self) -> Result<Vec<PeerRecord>, StoreError> {
        self.read(reads::list_peers).await
    }

    async fn remove_peer(&self, node_id: NodeId) -> Result<(), StoreError> {
        self.write(move |t| writes::remove_peer(t, node_id)).await
    }

    async fn append_audit(&self, entry: &NewAudit) -> Result<AuditRecord, StoreError> {
        write_with!(self, |t| writes::append_audit(t, &entry), entry)
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
        let query = query.clone();
        self.read(move |txn| reads::list_audit(txn, &query)).await
    }

    async fn list_bans(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<BanRecord>, StoreError> {
        let cursor = cursor.cloned();
        self.read(move |txn| reads::list_bans(txn, room_id, limit, cursor.as_ref()))
            .await
    }

    async fn list_invites(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<InviteRecord>, StoreError> {
        let cursor = cursor.cloned();
        self.read(move |txn| reads::list_invites(txn, room_id, limit, cursor.as_ref()))
            .await
    }

    async fn list_room_envelopes(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<EnvelopeRecord>, StoreError> {
        let cursor = cursor.cloned();
        self.read(move |txn| reads::list_room_envelopes(txn, room_id, limit, cursor.as_ref()))
            .await
    }

    async fn import_users(&self, users: &[UserRecord]) -> Result<ImportCount, StoreError> {
        write_with!(self, |t| writes::import_users(t, &users), users)
    }

    async fn import_rooms(&self, rooms: &[RoomRecord]) -> Result<ImportCount, StoreError> {
        write_with!(self, |t| writes::import_rooms(t, &rooms), rooms)
    }

    async fn import_members(&self, members: &[MemberRecord]) -> Result<ImportCount, StoreError> {
        write_with!(self, |t| writes::import_members(t, &members), members)
    }

    async fn import_bans(&self, bans: &[BanRecord]) -> Result<ImportCount, StoreError> {
        write_with!(self, |t| writes::import_bans(t, &bans), bans)
    }

    async fn import_invites(&self, invites: &[InviteRecord]) -> Result<ImportCount, StoreError> {
        write_with!(self, |t| writes::import_invites(t, &invites), invites)
    }

    async fn import_envelopes(
        &self,
        envelopes: &[EnvelopeRecord],
    ) -> Result<ImportCount, StoreError> {
        write_with!(self, |t| writes::import_envelopes(t, &envelopes), envelopes)
    }

    async fn import_messages(&self, messages: &[MessageRecord]) -> Result<ImportCount, StoreError> {
        write_with!(self, |t| writes::import_messages(t, &messages), messages)
    }

    async fn import_peers(&self, peers: &[PeerRecord]) -> Result<ImportCount, StoreError> {
        write_with!(self, |t| writes::import_peers(t, &peers), peers)
    }

    async fn import_audit(&self, entries: &[AuditRecord]) -> Result<ImportCount, StoreError> {
        write_with!(self, |t| writes::import_audit(t, &entries), entries)
    }
}
