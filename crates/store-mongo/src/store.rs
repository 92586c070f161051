//! [`MongoStore`]: the [`Store`] trait over the official driver.

use core::fmt;
use core::future::Future;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{Error as DriverError, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument, WriteConcern};
use mongodb::{Client, ClientSession, Collection, Cursor as DriverCursor, Database, IndexModel};
use peer_proto::api::{LeaveReason, Role, StoreKind};
use peer_proto::limits::fold_user_name;
use peer_proto::{NodeId, RoomId, UserId};
use peer_store::query::{check_i64, check_limit};
use peer_store::{
    AuditFilter, AuditQuery, AuditRecord, BanRecord, ConflictKind, Cursor, CursorKind,
    EnvelopeRecord, ImportCount, InviteRecord, MemberRecord, MessageCount, MessagePage,
    MessageRange, MessageRecord, NewAudit, NewMember, NewMessage, Page, PeerRecord, Removal,
    RoomFilter, RoomQuery, RoomRecord, RoomUpdate, Store, StoreError, UserQuery, UserRecord,
    validate,
};

use crate::codec::{self, bin, clamp, int};

mod transfer;
use crate::config::{MongoConfig, TransactionMode};
use crate::error::{is_duplicate, is_transient_tx, is_unreachable, map_err, map_err_id};

/// The outcome of a step that talks to the server: the outer error is the
/// driver's (retried inside transactions when transient), the inner one the
/// domain's answer (which aborts a transaction).
type Step<T> = Result<Result<T, StoreError>, DriverError>;

/// Returns early from a [`Step`] body with a domain error.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

/// Runs a driver action inside the session when there is one.
macro_rules! exec {
    ($sess:expr, $action:expr) => {
        match $sess.as_mut() {
            Some(s) => $action.session(s).await,
            None => $action.await,
        }
    };
}

/// Runs `$body` (a [`Step`] using `$sess`) in a transaction, retried while
/// it fails transiently, when the store uses transactions; else once with
/// no session (the body compensates its own partial writes).
macro_rules! transact {
    ($store:expr, |$sess:ident| $body:expr) => {{
        let store = $store;
        if store.tx {
            let started = tokio::time::Instant::now();
            let mut backoff = Duration::from_millis(2);
            loop {
                let mut $sess: Option<ClientSession> = match store.begin().await {
                    Ok(s) => Some(s),
                    Err(e) => break Err(map_err(e)),
                };
                let outcome: Step<_> = $body;
                let Some(mut session) = $sess.take() else {
                    break Err(StoreError::internal("transaction session lost"));
                };
                let retry_err = match outcome {
                    Ok(Ok(v)) => match commit(&mut session).await {
                        Ok(()) => break Ok(v),
                        Err(e) => e,
                    },
                    Ok(Err(domain)) => {
                        // Nothing was committed; a failed abort times out
                        // on the server by itself.
                        let _ = session.abort_transaction().await;
                        break Err(domain);
                    }
                    Err(e) => e,
                };
                // Dropping the session aborts the transaction.
                drop(session);
                if !(is_transient_tx(&retry_err) && started.elapsed() < store.cfg.op_timeout) {
                    break Err(map_err(retry_err));
                }
                let jitter =
                    Duration::from_micros(u64::from(started.elapsed().subsec_nanos() % 2000));
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(Duration::from_millis(50));
            }
        } else {
            let mut $sess: Option<ClientSession> = None;
            let outcome: Step<_> = $body;
            match outcome {
                Ok(r) => r,
                Err(e) => Err(map_err(e)),
            }
        }
    }};
}

async fn commit(session: &mut ClientSession) -> Result<(), DriverError> {
    let mut tries = 0;
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) && tries < 2 => {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads a whole (bounded) cursor.
async fn collect(mut cursor: DriverCursor<Document>) -> Result<Vec<Document>, DriverError> {
    let mut out = Vec::new();
    while cursor.advance().await? {
        out.push(Document::try_from(cursor.current())?);
    }
    Ok(out)
}

/// The filter of a live room (not being created or deleted).
fn live(id: RoomId) -> Document {
    doc! { "_id": bin(id.as_bytes()), "state": { "$exists": false } }
}

fn room_key(id: RoomId) -> Document {
    doc! { "room_id": bin(id.as_bytes()) }
}

/// A store on a MongoDB deployment (see the crate docs).
pub struct MongoStore {
    client: Client,
    db: Database,
    cfg: MongoConfig,
    tx: bool,
    users: Collection<Document>,
    rooms: Collection<Document>,
    counters: Collection<Document>,
    members: Collection<Document>,
    bans: Collection<Document>,
    invites: Collection<Document>,
    envelopes: Collection<Document>,
    messages: Collection<Document>,
    peers: Collection<Document>,
    audit: Collection<Document>,
    /// Seqs allocated by appends whose insert failed: filled with
    /// tombstones by the next append to the room, so the log has no gap.
    holes: Mutex<Vec<MessageRecord>>,
}

impl fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStore")
            .field("config", &self.cfg)
            .field("transactions", &self.tx)
            .finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Connects, checks the server answers, detects transaction support and
    /// creates the indexes (idempotently). Fails with `Unavailable` when no
    /// server answers within `connect_timeout`, `Invalid` for a malformed
    /// URI.
    pub async fn connect(cfg: MongoConfig) -> Result<Self, StoreError> {
        let limit = cfg.op_timeout.max(cfg.connect_timeout) + cfg.connect_timeout;
        match tokio::time::timeout(limit, Self::connect_inner(cfg)).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::unavailable("connect timed out")),
        }
    }

    async fn connect_inner(cfg: MongoConfig) -> Result<Self, StoreError> {
        let mut opts = ClientOptions::parse(&cfg.uri).await.map_err(|e| {
            if matches!(*e.kind, mongodb::error::ErrorKind::DnsResolve { .. }) {
                map_err(e)
            } else {
                StoreError::invalid("uri", "not a valid MongoDB connection string")
            }
        })?;
        opts.server_selection_timeout = Some(cfg.connect_timeout);
        opts.connect_timeout = Some(cfg.connect_timeout);
        opts.app_name.get_or_insert_with(|| "peergroup".to_owned());
        let mut wc = WriteConcern::majority();
        wc.journal = cfg.journal.then_some(true);
        wc.w_timeout = Some(cfg.op_timeout);
        opts.write_concern = Some(wc);
        let client = Client::with_options(opts).map_err(map_err)?;
        let db = client.database(&cfg.database);

        let hello = db.run_command(doc! { "hello": 1 }).await.map_err(map_err)?;
        let replica_set = hello.get_str("setName").is_ok();
        let mongos = hello.get_str("msg").is_ok_and(|m| m == "isdbgrid");
        let sessions = hello.get("logicalSessionTimeoutMinutes").is_some();
        let can_tx = (replica_set || mongos) && sessions;
        let tx = match cfg.transactions {
            TransactionMode::Auto => can_tx,
            TransactionMode::Always if can_tx => true,
            TransactionMode::Always => {
                return Err(StoreError::invalid(
                    "transactions",
                    "the deployment does not support transactions (not a replica set)",
                ));
            }
            TransactionMode::Never => false,
        };
        tracing::info!(
            database = %cfg.database,
            transactions = tx,
            replica_set,
            "mongodb store connected"
        );
        let store = MongoStore {
            users: db.collection("users"),
            rooms: db.collection("rooms"),
            counters: db.collection("counters"),
            members: db.collection("members"),
            bans: db.collection("bans"),
            invites: db.collection("invites"),
            envelopes: db.collection("envelopes"),
            messages: db.collection("messages"),
            peers: db.collection("peers"),
            audit: db.collection("audit"),
            client,
            db,
            cfg,
            tx,
            holes: Mutex::new(Vec::new()),
        };
        store.ensure_indexes().await?;
        Ok(store)
    }

    /// True when multi-document operations run in transactions.
    pub fn uses_transactions(&self) -> bool {
        self.tx
    }

    /// The database handle (for tests and tools).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Drops the whole database: every collection of this store. For tests
    /// and `peerd` tooling; irreversible.
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        self.bounded(async { self.db.drop().await.map_err(map_err) })
            .await
    }

    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let idx = |keys: Document, name: &str, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .name(name.to_owned())
                        .unique(unique.then_some(true))
                        .build(),
                )
                .build()
        };
        let plan: [(&Collection<Document>, IndexModel); 12] = [
            (
                &self.users,
                idx(doc! { "name_folded": 1 }, codec::IDX_USER_NAME, true),
            ),
            (
                &self.rooms,
                idx(
                    doc! { "visibility": 1, "_id": 1 },
                    codec::IDX_ROOM_VISIBILITY,
                    false,
                ),
            ),
            (
                &self.members,
                idx(doc! { "room_id": 1, "user_id": 1 }, codec::IDX_MEMBER, true),
            ),
            (
                &self.members,
                idx(
                    doc! { "user_id": 1, "room_id": 1 },
                    codec::IDX_MEMBER_BY_USER,
                    false,
                ),
            ),
            (
                &self.bans,
                idx(doc! { "room_id": 1, "user_id": 1 }, codec::IDX_BAN, true),
            ),
            (
                &self.invites,
                idx(doc! { "room_id": 1, "code": 1 }, codec::IDX_INVITE, true),
            ),
            (
                &self.envelopes,
                idx(
                    doc! { "room_id": 1, "epoch": 1, "member_id": 1 },
                    codec::IDX_ENVELOPE,
                    true,
                ),
            ),
            (
                &self.envelopes,
                idx(
                    doc! { "room_id": 1, "member_id": 1, "epoch": 1 },
                    codec::IDX_ENVELOPE_BY_MEMBER,
                    false,
                ),
            ),
            (
                &self.messages,
                idx(doc! { "room_id": 1, "seq": 1 }, codec::IDX_MESSAGE, true),
            ),
            (
                &self.audit,
                idx(
                    doc! { "room_id": 1, "_id": 1 },
                    codec::IDX_AUDIT_ROOM,
                    false,
                ),
            ),
            (
                &self.audit,
                idx(
                    doc! { "actor_id": 1, "_id": 1 },
                    codec::IDX_AUDIT_ACTOR,
                    false,
                ),
            ),
            (
                &self.audit,
                idx(doc! { "source_id": 1 }, codec::IDX_AUDIT_SOURCE, false),
            ),
        ];
        for (coll, model) in plan {
            coll.create_index(model).await.map_err(map_err)?;
        }
        Ok(())
    }

    async fn begin(&self) -> Result<ClientSession, DriverError> {
        let mut s = self.client.start_session().await?;
        s.start_transaction().await?;
        Ok(s)
    }

    /// Bounds a whole call by `op_timeout`: never a hang.
    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.cfg.op_timeout, fut).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(timeout = ?self.cfg.op_timeout, "mongodb call timed out");
                Err(StoreError::unavailable("store call timed out"))
            }
        }
    }

    // -------------------------------------------------------------- helpers

    async fn live_room_doc(
        &self,
        sess: &mut Option<ClientSession>,
        id: RoomId,
    ) -> Result<Option<Document>, DriverError> {
        exec!(sess, self.rooms.find_one(live(id)))
    }

    async fn room_exists(&self, id: RoomId) -> Result<bool, StoreError> {
        let d = self
            .rooms
            .find_one(live(id))
            .projection(doc! { "_id": 1 })
            .await
            .map_err(map_err)?;
        Ok(d.is_some())
    }

    /// `NotFound { "room" }` unless the room is live.
    async fn require_room(&self, id: RoomId) -> Result<(), StoreError> {
        if self.room_exists(id).await? {
            Ok(())
        } else {
            Err(StoreError::not_found("room"))
        }
    }

    /// One page of a room's collection keyed by user (members, bans): the
    /// documents after the cursor's user, in user id order (the unique
    /// (room, user) index), `NotFound { "room" }` for an unknown room.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn page_by_user<T>(
        &self,
        collection: &Collection<Document>,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
        kind: CursorKind,
        decode: impl Fn(&Document) -> Result<T, StoreError>,
        user_of: impl Fn(&T) -> UserId,
    ) -> Result<Page<T>, StoreError> {
        check_limit(limit)?;
        let after = cursor.map(|c| c.decode_user(kind)).transpose()?;
        let mut filter = room_key(room_id);
        if let Some(a) = after {
            filter.insert("user_id", doc! { "$gt": bin(a.as_bytes()) });
        }
        self.bounded(async {
            self.require_room(room_id).await?;
            let docs = collect(
                collection
                    .find(filter)
                    .sort(doc! { "room_id": 1, "user_id": 1 })
                    .limit(i64::from(limit) + 1)
                    .await
                    .map_err(map_err)?,
            )
            .await
            .map_err(map_err)?;
            let items = docs.iter().map(&decode).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_fetched(items, limit, |v| {
                Cursor::user(kind, user_of(v))
            }))
        })
        .await
    }

    /// The room's last seq, or `NotFound { "room" }` (no counter).
    async fn last_seq(&self, id: RoomId) -> Result<u64, StoreError> {
        let d = self
            .counters
            .find_one(doc! { "_id": bin(id.as_bytes()) })
            .await
            .map_err(map_err)?
            .ok_or(StoreError::not_found("room"))?;
        codec::Reader::new(&d, "counters").u64("seq")
    }

    /// The room's last seq, 0 when its counter is gone (deleted meanwhile).
    async fn last_seq_or_zero(&self, id: RoomId) -> Result<u64, StoreError> {
        match self.last_seq(id).await {
            Err(StoreError::NotFound { .. }) => Ok(0),
            other => other,
        }
    }

    /// Last seqs of several rooms (missing counters read as 0).
    async fn last_seqs(&self, ids: &[RoomId]) -> Result<BTreeMap<RoomId, u64>, StoreError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let list: Vec<Bson> = ids.iter().map(|i| bin(i.as_bytes())).collect();
        let docs = collect(
            self.counters
                .find(doc! { "_id": { "$in": list } })
                .await
                .map_err(map_err)?,
        )
        .await
        .map_err(map_err)?;
        let mut out = BTreeMap::new();
        for d in &docs {
            let r = codec::Reader::new(d, "counters");
            out.insert(RoomId::from_bytes(r.id16("_id")?), r.u64("seq")?);
        }
        Ok(out)
    }

    async fn rooms_with_seqs(&self, docs: Vec<Document>) -> Result<Vec<RoomRecord>, StoreError> {
        let mut rooms = Vec::with_capacity(docs.len());
        for d in &docs {
            rooms.push(codec::room_of(d, 0)?);
        }
        let ids: Vec<RoomId> = rooms.iter().map(|r| r.id).collect();
        let seqs = self.last_seqs(&ids).await?;
        for r in &mut rooms {
            r.last_seq = seqs.get(&r.id).copied().unwrap_or(0);
        }
        Ok(rooms)
    }

    /// Deletes everything that belongs to a room except the room document.
    async fn delete_children(
        &self,
        sess: &mut Option<ClientSession>,
        id: RoomId,
    ) -> Result<(), DriverError> {
        exec!(
            sess,
            self.counters.delete_one(doc! { "_id": bin(id.as_bytes()) })
        )?;
        exec!(sess, self.members.delete_many(room_key(id)))?;
        exec!(sess, self.invites.delete_many(room_key(id)))?;
        exec!(sess, self.envelopes.delete_many(room_key(id)))?;
        exec!(sess, self.bans.delete_many(room_key(id)))?;
        exec!(sess, self.messages.delete_many(room_key(id)))?;
        Ok(())
    }

    /// Why a conditional invite update matched nothing.
    async fn invite_refusal(&self, room: RoomId, code: &str, now: u64) -> StoreError {
        let found = self
            .invites
            .find_one(doc! { "room_id": bin(room.as_bytes()), "code": code })
            .await;
        match found {
            Err(e) => map_err(e),
            Ok(None) => match self.room_exists(room).await {
                Ok(true) => StoreError::not_found("invite"),
                Ok(false) => StoreError::not_found("room"),
                Err(e) => e,
            },
            Ok(Some(d)) => match codec::invite_of(&d) {
                Err(e) => e,
                Ok(inv) if now >= inv.expires_at => {
                    StoreError::conflict(ConflictKind::InviteExpired)
                }
                Ok(inv) if inv.uses == 0 => StoreError::conflict(ConflictKind::InviteUsedUp),
                // It became usable again meanwhile (a use was given back).
                Ok(_) => StoreError::conflict(ConflictKind::InviteUsedUp),
            },
        }
    }

    /// Fills seqs left by failed appends with tombstones.
    async fn fill_holes(&self) {
        let pending: Vec<MessageRecord> = {
            let mut holes = self
                .holes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::take(&mut *holes)
        };
        let mut left = Vec::new();
        for hole in pending {
            let Ok(d) = codec::message_doc(&hole) else {
                continue;
            };
            // Only while the room lives (a deleted room keeps no hole).
            match self.last_seq(hole.room_id).await {
                Ok(last) if last >= hole.seq => {}
                Ok(_) | Err(StoreError::NotFound { .. }) => continue,
                Err(_) => {
                    left.push(hole);
                    continue;
                }
            }
            match self.messages.insert_one(d).await {
                Ok(_) => tracing::info!(
                    seq = hole.seq,
                    "filled a message seq left by a failed append"
                ),
                Err(e) if is_duplicate(&e) => {} // the first insert did land
                Err(_) => left.push(hole),
            }
        }
        if !left.is_empty() {
            self.holes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(left);
        }
    }

    fn has_holes(&self) -> bool {
        !self
            .holes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty()
    }

    // ------------------------------------------------------ multi-doc bodies

    async fn create_room_body(
        &self,
        sess: &mut Option<ClientSession>,
        record: &RoomRecord,
        owner: &MemberRecord,
        envelope: Option<&EnvelopeRecord>,
    ) -> Step<()> {
        let id = record.id;
        let tx = sess.is_some();
        // Without a transaction the room is hidden ("creating") until all
        // its parts exist; with one, all appear at commit.
        let room_doc = tri!(codec::room_doc(record, (!tx).then_some("creating")));
        let member = tri!(codec::member_doc(owner));
        let env = match envelope {
            Some(e) => Some(tri!(codec::envelope_doc(e))),
            None => None,
        };
        if let Err(e) = exec!(sess, self.rooms.insert_one(room_doc)) {
            if is_duplicate(&e) {
                return Ok(Err(StoreError::conflict(ConflictKind::RoomId)));
            }
            return Err(e);
        }
        let rest: Result<(), DriverError> = async {
            // Leftovers of an interrupted deletion of the same id.
            self.delete_children(sess, id).await?;
            exec!(sess, self.members.insert_one(member))?;
            if let Some(env) = env {
                exec!(sess, self.envelopes.insert_one(env))?;
            }
            exec!(
                sess,
                self.counters
                    .insert_one(doc! { "_id": bin(id.as_bytes()), "seq": 0_i64 })
            )?;
            if !tx {
                self.rooms
                    .update_one(
                        doc! { "_id": bin(id.as_bytes()), "state": "creating" },
                        doc! { "$unset": { "state": "" } },
                    )
                    .await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = rest {
            if !tx && !is_unreachable(&e) {
                // Undo what was written; the room was never visible.
                let mut none = None;
                let _ = self.delete_children(&mut none, id).await;
                let _ = self
                    .rooms
                    .delete_one(doc! { "_id": bin(id.as_bytes()), "state": "creating" })
                    .await;
            }
            return Err(e);
        }
        Ok(Ok(()))
    }

    async fn add_member_body(
        &self,
        sess: &mut Option<ClientSession>,
        room_id: RoomId,
        member: &NewMember,
        invite: Option<&str>,
    ) -> Step<(RoomRecord, MemberRecord)> {
        let tx = sess.is_some();
        let rkey = bin(room_id.as_bytes());
        let ukey = bin(member.user_id.as_bytes());
        let Some(room_doc) = self.live_room_doc(sess, room_id).await? else {
            return Ok(Err(StoreError::not_found("room")));
        };
        let mut room = tri!(codec::room_of(&room_doc, 0));
        let pair = doc! { "room_id": rkey.clone(), "user_id": ukey.clone() };
        if exec!(sess, self.bans.find_one(pair.clone()))?.is_some() {
            return Ok(Err(StoreError::conflict(ConflictKind::Banned)));
        }
        if exec!(sess, self.members.find_one(pair.clone()))?.is_some() {
            return Ok(Err(StoreError::conflict(ConflictKind::Member)));
        }
        let now = member.joined_at;
        let now_i = tri!(check_i64("joined_at", now));
        // One use of the invite.
        if let Some(code) = invite {
            let taken = exec!(
                sess,
                self.invites.update_one(
                    doc! {
                        "room_id": rkey.clone(), "code": code,
                        "uses": { "$gt": 0_i64 }, "expires_at": { "$gt": now_i },
                    },
                    doc! { "$inc": { "uses": -1_i64 } },
                )
            )?;
            if taken.modified_count == 0 {
                return Ok(Err(self.invite_refusal(room_id, code, now).await));
            }
        }
        let give_back = |code: Option<&str>| {
            let invites = self.invites.clone();
            let rkey = rkey.clone();
            let code = code.map(str::to_owned);
            async move {
                if let Some(code) = code {
                    let _ = invites
                        .update_one(
                            doc! { "room_id": rkey, "code": code },
                            doc! { "$inc": { "uses": 1_i64 } },
                        )
                        .await;
                }
            }
        };
        // A seat, guarded by the count in the filter. A concurrent capacity
        // change makes the filter miss: read again and retry.
        let mut seated = None;
        for _ in 0..8 {
            let cap = i64::from(room.capacity);
            let r = exec!(
                sess,
                self.rooms
                    .find_one_and_update(
                        doc! {
                            "_id": rkey.clone(), "state": { "$exists": false },
                            "capacity": cap, "member_count": { "$lt": cap },
                        },
                        doc! { "$inc": { "member_count": 1_i64 } },
                    )
                    .return_document(ReturnDocument::After)
            );
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    if !tx && !is_unreachable(&e) {
                        give_back(invite).await;
                    }
                    return Err(e);
                }
            };
            if let Some(d) = r {
                seated = Some(d);
                break;
            }
            let again = match self.live_room_doc(sess, room_id).await {
                Ok(d) => d,
                Err(e) => {
                    if !tx && !is_unreachable(&e) {
                        give_back(invite).await;
                    }
                    return Err(e);
                }
            };
            let refusal = match again.as_ref().map(|d| codec::room_of(d, 0)) {
                None => Some(StoreError::not_found("room")),
                Some(Err(e)) => Some(e),
                Some(Ok(r)) if r.member_count >= r.capacity => {
                    Some(StoreError::conflict(ConflictKind::Capacity))
                }
                Some(Ok(r)) => {
                    room = r;
                    None
                }
            };
            if let Some(refusal) = refusal {
                if !tx {
                    give_back(invite).await;
                }
                return Ok(Err(refusal));
            }
        }
        let Some(seated) = seated else {
            if !tx {
                give_back(invite).await;
            }
            return Ok(Err(StoreError::unavailable("room capacity kept changing")));
        };
        let after = tri!(codec::room_of(&seated, 0));
        let record = MemberRecord {
            room_id,
            user_id: member.user_id,
            role: member.role,
            join_epoch: after.epoch,
            joined_at: now,
        };
        let mdoc = tri!(codec::member_doc(&record));
        if let Err(e) = exec!(sess, self.members.insert_one(mdoc)) {
            if !tx && !is_unreachable(&e) {
                let _ = self
                    .rooms
                    .update_one(
                        doc! { "_id": rkey.clone() },
                        doc! { "$inc": { "member_count": -1_i64 } },
                    )
                    .await;
                give_back(invite).await;
            }
            if is_duplicate(&e) {
                return Ok(Err(StoreError::conflict(ConflictKind::Member)));
            }
            return Err(e);
        }
        Ok(Ok((after, record)))
    }

    async fn remove_member_body(
        &self,
        sess: &mut Option<ClientSession>,
        room_id: RoomId,
        user_id: UserId,
        reason: LeaveReason,
        now: u64,
    ) -> Step<(Document, MemberRecord)> {
        let rkey = bin(room_id.as_bytes());
        let pair = doc! { "room_id": rkey.clone(), "user_id": bin(user_id.as_bytes()) };
        let now_i = tri!(check_i64("now", now));
        let Some(room_doc) = self.live_room_doc(sess, room_id).await? else {
            return Ok(Err(StoreError::not_found("room")));
        };
        let room = tri!(codec::room_of(&room_doc, 0));
        let Some(gone) = exec!(sess, self.members.find_one_and_delete(pair.clone()))? else {
            return Ok(Err(StoreError::not_found("member")));
        };
        let member = tri!(codec::member_of(&gone));
        if reason == LeaveReason::Banned {
            exec!(
                sess,
                self.bans
                    .update_one(pair.clone(), doc! { "$set": { "banned_at": now_i } },)
                    .upsert(true)
            )?;
        }
        let mut set = doc! { "updated_at": now_i };
        if room.encrypted {
            set.insert("rotation_due", true);
        }
        let after = exec!(
            sess,
            self.rooms
                .find_one_and_update(
                    doc! { "_id": rkey },
                    doc! { "$set": set, "$inc": { "member_count": -1_i64, "version": 1_i64 } },
                )
                .return_document(ReturnDocument::After)
        )?;
        match after {
            Some(d) => Ok(Ok((d, member))),
            None => Ok(Err(StoreError::not_found("room"))),
        }
    }

    async fn rotate_body(
        &self,
        sess: &mut Option<ClientSession>,
        room_id: RoomId,
        current: u32,
        version: i64,
        envelopes: &[EnvelopeRecord],
        now: u64,
    ) -> Step<Document> {
        let tx = sess.is_some();
        let rkey = bin(room_id.as_bytes());
        let next = i64::from(current) + 1;
        let now_i = tri!(check_i64("now", now));
        let mut docs = Vec::with_capacity(envelopes.len());
        for e in envelopes {
            docs.push(tri!(codec::envelope_doc(e)));
        }
        let token = ObjectId::new();
        if tx {
            let Some(room_doc) = self.live_room_doc(sess, room_id).await? else {
                return Ok(Err(StoreError::not_found("room")));
            };
            let room = tri!(codec::room_of(&room_doc, 0));
            if room.epoch != current {
                return Ok(Err(StoreError::conflict(ConflictKind::Epoch)));
            }
            if i64::try_from(room.version).ok() != Some(version) {
                return Ok(Err(StoreError::conflict(ConflictKind::Version)));
            }
        } else {
            // Claim the rotation: one claimant per epoch; a claim older than
            // a minute (a crashed rotator) may be taken over.
            let stale = now_i.saturating_sub(60);
            let claimed = self
                .rooms
                .update_one(
                    doc! {
                        "_id": rkey.clone(), "state": { "$exists": false },
                        "epoch": i64::from(current), "version": version,
                        "$or": [
                            { "rotating": { "$exists": false } },
                            { "rotating.since": { "$lt": stale } },
                        ],
                    },
                    doc! { "$set": { "rotating": { "token": token, "since": now_i } } },
                )
                .await?;
            if claimed.modified_count == 0 {
                return Ok(Err(self.rotation_refusal(room_id, current, version).await));
            }
        }
        let work: Result<Option<Document>, DriverError> = async {
            // Envelopes left by an earlier failed rotation to this epoch.
            exec!(
                sess,
                self.envelopes
                    .delete_many(doc! { "room_id": rkey.clone(), "epoch": next })
            )?;
            if !docs.is_empty() {
                exec!(sess, self.envelopes.insert_many(docs.clone()))?;
            }
            let mut filter =
                doc! { "_id": rkey.clone(), "epoch": i64::from(current), "version": version };
            if !tx {
                filter.insert("rotating.token", token);
            }
            exec!(
                sess,
                self.rooms
                    .find_one_and_update(
                        filter,
                        doc! {
                            "$set": { "epoch": next, "rotation_due": false, "updated_at": now_i },
                            "$unset": { "rotating": "" },
                            "$inc": { "version": 1_i64 },
                        },
                    )
                    .return_document(ReturnDocument::After)
            )
        }
        .await;
        let release = || async {
            if !tx {
                let _ = self
                    .rooms
                    .update_one(
                        doc! { "_id": rkey.clone(), "rotating.token": token },
                        doc! { "$unset": { "rotating": "" } },
                    )
                    .await;
            }
        };
        match work {
            Ok(Some(d)) => Ok(Ok(d)),
            Ok(None) => {
                release().await;
                Ok(Err(self.rotation_refusal(room_id, current, version).await))
            }
            Err(e) => {
                if !is_unreachable(&e) {
                    release().await;
                }
                Err(e)
            }
        }
    }

    /// Why a rotation's conditional update matched nothing: the room is
    /// gone, another rotation won or holds the claim (epoch), or the room
    /// changed otherwise since the caller read it (version).
    async fn rotation_refusal(&self, id: RoomId, current: u32, version: i64) -> StoreError {
        let found = self
            .rooms
            .find_one(live(id))
            .projection(doc! { "epoch": 1, "version": 1, "rotating": 1 })
            .await
            .map_err(map_err);
        let int = |d: &Document, k: &str| {
            d.get_i64(k)
                .ok()
                .or_else(|| d.get_i32(k).ok().map(i64::from))
        };
        match found {
            Ok(None) => StoreError::not_found("room"),
            Ok(Some(d)) => {
                if int(&d, "epoch") != Some(i64::from(current)) || d.contains_key("rotating") {
                    StoreError::conflict(ConflictKind::Epoch)
                } else if int(&d, "version") != Some(version) {
                    StoreError::conflict(ConflictKind::Version)
                } else {
                    // Nothing differs any more: a rotation that claimed and
                    // gave up meanwhile. The caller retries like any conflict.
                    StoreError::conflict(ConflictKind::Epoch)
                }
            }
            Err(e) => e,
        }
    }

    async fn delete_room_tx(&self, id: RoomId) -> Result<(), StoreError> {
        transact!(self, |sess| async {
            if self.live_room_doc(&mut sess, id).await?.is_none() {
                return Ok(Err(StoreError::not_found("room")));
            }
            self.delete_children(&mut sess, id).await?;
            exec!(
                sess,
                self.rooms.delete_one(doc! { "_id": bin(id.as_bytes()) })
            )?;
            Ok(Ok(()))
        }
        .await)
    }

    /// Deletion without a transaction, in an order that never shows an
    /// orphan: hide the room, stop appends (counter), remove the children,
    /// remove the room, then sweep what in-flight writers added meanwhile.
    async fn delete_room_ordered(&self, id: RoomId) -> Result<(), StoreError> {
        let hidden = self
            .rooms
            .update_one(
                // Live, or left hidden by an interrupted creation or
                // deletion: finish it.
                doc! { "_id": bin(id.as_bytes()) },
                doc! { "$set": { "state": "deleting" } },
            )
            .await
            .map_err(map_err)?;
        if hidden.matched_count == 0 {
            return Err(StoreError::not_found("room"));
        }
        let mut none = None;
        self.delete_children(&mut none, id).await.map_err(map_err)?;
        self.rooms
            .delete_one(doc! { "_id": bin(id.as_bytes()) })
            .await
            .map_err(map_err)?;
        self.delete_children(&mut none, id).await.map_err(map_err)?;
        Ok(())
    }
}

#[async_trait]
impl Store for MongoStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Mongodb
    }

    async fn health(&self) -> Result<(), StoreError> {
        let limit = self.cfg.connect_timeout + Duration::from_millis(500);
        match tokio::time::timeout(limit, self.db.run_command(doc! { "ping": 1 })).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(map_err(e)),
            Err(_) => Err(StoreError::unavailable("ping timed out")),
        }
    }

    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        validate::user(user)?;
        let d = codec::user_doc(user)?;
        self.bounded(async {
            self.users
                .insert_one(d)
                .await
                .map(|_| ())
                .map_err(|e| map_err_id(e, ConflictKind::UserId))
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> Result<UserRecord, StoreError> {
        self.bounded(async {
            let d = self
                .users
                .find_one(doc! { "_id": bin(id.as_bytes()) })
                .await
                .map_err(map_err)?
                .ok_or(StoreError::not_found("user"))?;
            codec::user_of(&d)
        })
        .await
    }

    async fn get_user_by_name(&self, name: &str) -> Result<UserRecord, StoreError> {
        self.bounded(async {
            let d = self
                .users
                .find_one(doc! { "name_folded": fold_user_name(name) })
                .await
                .map_err(map_err)?
                .ok_or(StoreError::not_found("user"))?;
            codec::user_of(&d)
        })
        .await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Page<UserRecord>, StoreError> {
        let (prefix, after) = query.folded()?;
        let filter = match &after {
            Some(a) if a.as_str() >= prefix.as_str() => doc! { "name_folded": { "$gt": a } },
            _ => doc! { "name_folded": { "$gte": &prefix } },
        };
        self.bounded(async {
            let docs = collect(
                self.users
                    .find(filter)
                    .sort(doc! { "name_folded": 1 })
                    .limit(i64::from(query.limit) + 1)
                    .await
                    .map_err(map_err)?,
            )
            .await
            .map_err(map_err)?;
            let mut users = Vec::with_capacity(docs.len());
            for d in &docs {
                let u = codec::user_of(d)?;
                if !fold_user_name(&u.name).starts_with(prefix.as_str()) {
                    break; // sorted: no later name has the prefix
                }
                users.push(u);
            }
            Ok(Page::from_fetched(users, query.limit, |u| {
                Cursor::encode(CursorKind::Users, fold_user_name(&u.name).as_bytes())
            }))
        })
        .await
    }

    async fn create_room(
        &self,
        room: &RoomRecord,
        owner: &MemberRecord,
        envelope: Option<&EnvelopeRecord>,
    ) -> Result<RoomRecord, StoreError> {
        validate::new_room(room, owner, envelope)?;
        let mut record = room.clone();
        record.member_count = 1;
        record.last_seq = 0;
        record.version = 1;
        self.bounded(async {
            transact!(self, |sess| self
                .create_room_body(&mut sess, &record, owner, envelope)
                .await)?;
            Ok(record.clone())
        })
        .await
    }

    async fn get_room(&self, id: RoomId) -> Result<RoomRecord, StoreError> {
        self.bounded(async {
            let d = self
                .rooms
                .find_one(live(id))
                .await
                .map_err(map_err)?
                .ok_or(StoreError::not_found("room"))?;
            let seq = match self.last_seq(id).await {
                Ok(s) => s,
                // Deleted between the two reads.
                Err(StoreError::NotFound { .. }) => return Err(StoreError::not_found("room")),
                Err(e) => return Err(e),
            };
            codec::room_of(&d, seq)
        })
        .await
    }

    async fn list_rooms(&self, query: &RoomQuery) -> Result<Page<RoomRecord>, StoreError> {
        check_limit(query.limit)?;
        let after = query
            .cursor
            .as_ref()
            .map(|c| c.decode_room(CursorKind::Rooms))
            .transpose()?;
        let want = i64::from(query.limit) + 1;
        let mut filter = doc! { "state": { "$exists": false } };
        if let Some(a) = after {
            filter.insert("_id", doc! { "$gt": bin(a.as_bytes()) });
        }
        self.bounded(async {
            match query.filter {
                RoomFilter::All | RoomFilter::Public => {
                    if query.filter == RoomFilter::Public {
                        filter.insert("visibility", "public");
                    }
                    let docs = collect(
                        self.rooms
                            .find(filter)
                            .sort(doc! { "_id": 1 })
                            .limit(want)
                            .await
                            .map_err(map_err)?,
                    )
                    .await
                    .map_err(map_err)?;
                    let rooms = self.rooms_with_seqs(docs).await?;
                    Ok(Page::from_fetched(rooms, query.limit, |r| {
                        Cursor::room(CursorKind::Rooms, r.id)
                    }))
                }
                RoomFilter::VisibleTo(user) => {
                    // Merge two key-ordered streams: public rooms, and the
                    // user's memberships; both from the same cursor.
                    filter.insert("visibility", "public");
                    let public = collect(
                        self.rooms
                            .find(filter)
                            .sort(doc! { "_id": 1 })
                            .limit(want)
                            .await
                            .map_err(map_err)?,
                    )
                    .await
                    .map_err(map_err)?;
                    let mut mfilter = doc! { "user_id": bin(user.as_bytes()) };
                    if let Some(a) = after {
                        mfilter.insert("room_id", doc! { "$gt": bin(a.as_bytes()) });
                    }
                    let mine = collect(
                        self.members
                            .find(mfilter)
                            .sort(doc! { "room_id": 1 })
                            .limit(want)
                            .await
                            .map_err(map_err)?,
                    )
                    .await
                    .map_err(map_err)?;
                    let mut by_id: BTreeMap<RoomId, Option<Document>> = BTreeMap::new();
                    for d in public {
                        let id = RoomId::from_bytes(codec::Reader::new(&d, "rooms").id16("_id")?);
                        by_id.insert(id, Some(d));
                    }
                    for d in &mine {
                        let id = RoomId::from_bytes(codec::Reader::new(d, "members").id16("room_id")?);
                        by_id.entry(id).or_insert(None);
                    }
                    let more = by_id.len() > query.limit as usize;
                    let chosen: Vec<(RoomId, Option<Document>)> =
                        by_id.into_iter().take(query.limit as usize).collect();
                    let missing: Vec<Bson> = chosen
                        .iter()
                        .filter(|(_, d)| d.is_none())
                        .map(|(id, _)| bin(id.as_bytes()))
                        .collect();
                    let mut fetched: BTreeMap<RoomId, Document> = BTreeMap::new();
                    if !missing.is_empty() {
                        let docs = collect(
                            self.rooms
                                .find(doc! { "_id": { "$in": missing }, "state": { "$exists": false } })
                                .await
                                .map_err(map_err)?,
                        )
                        .await
                        .map_err(map_err)?;
                        for d in docs {
                            let id = RoomId::from_bytes(codec::Reader::new(&d, "rooms").id16("_id")?);
                            fetched.insert(id, d);
                        }
                    }
                    let last_id = chosen.last().map(|(id, _)| *id);
                    let docs: Vec<Document> = chosen
                        .into_iter()
                        .filter_map(|(id, d)| d.or_else(|| fetched.remove(&id)))
                        .collect();
                    let rooms = self.rooms_with_seqs(docs).await?;
                    Ok(Page {
                        items: rooms,
                        next_cursor: match (more, last_id) {
                            (true, Some(id)) => Some(Cursor::room(CursorKind::Rooms, id)),
                            _ => None,
                        },
                    })
                }
            }
        })
        .await
    }

    async fn update_room(
        &self,
        id: RoomId,
        expected_version: u64,
        update: &RoomUpdate,
        now: u64,
    ) -> Result<RoomRecord, StoreError> {
        let now_i = check_i64("now", now)?;
        let version = check_i64("expected_version", expected_version)?;
        let mut filter = live(id);
        filter.insert("version", version);
        let mut set = doc! { "updated_at": now_i };
        if let Some(v) = &update.name {
            set.insert("name", v.as_str());
        }
        if let Some(v) = &update.topic {
            set.insert("topic", v.as_str());
        }
        if let Some(v) = update.visibility {
            set.insert("visibility", codec::visibility_str(v));
        }
        if let Some(v) = update.join_rule {
            set.insert("join_rule", codec::join_rule_str(v));
        }
        if let Some(v) = &update.password_hash {
            set.insert("password_hash", v.clone().map_or(Bson::Null, Bson::String));
        }
        if let Some(v) = update.capacity {
            if v == 0 {
                return Err(StoreError::invalid("capacity", "must be at least 1"));
            }
            set.insert("capacity", i64::from(v));
            filter.insert("member_count", doc! { "$lte": i64::from(v) });
        }
        if let Some(v) = update.rotation_due {
            set.insert("rotation_due", v);
        }
        self.bounded(async {
            let after = self
                .rooms
                .find_one_and_update(filter, doc! { "$set": set, "$inc": { "version": 1_i64 } })
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?;
            match after {
                Some(d) => {
                    let seq = self.last_seq_or_zero(id).await?;
                    codec::room_of(&d, seq)
                }
                None => {
                    let cur = self
                        .rooms
                        .find_one(live(id))
                        .await
                        .map_err(map_err)?
                        .ok_or(StoreError::not_found("room"))?;
                    let cur = codec::room_of(&cur, 0)?;
                    if cur.version != expected_version {
                        Err(StoreError::conflict(ConflictKind::Version))
                    } else {
                        Err(StoreError::conflict(ConflictKind::CapacityBelowMembers))
                    }
                }
            }
        })
        .await
    }

    async fn delete_room(&self, id: RoomId) -> Result<(), StoreError> {
        self.bounded(async {
            if self.tx {
                match self.delete_room_tx(id).await {
                    Err(StoreError::Internal(msg)) => {
                        // Too big for one transaction, say: fall back.
                        tracing::warn!(error = %msg, "room deletion transaction failed; deleting in order");
                        self.delete_room_ordered(id).await
                    }
                    other => other,
                }
            } else {
                self.delete_room_ordered(id).await
            }
        })
        .await
    }

    async fn add_member(
        &self,
        room_id: RoomId,
        member: &NewMember,
        invite: Option<&str>,
    ) -> Result<(RoomRecord, MemberRecord), StoreError> {
        validate::new_member(member)?;
        self.bounded(async {
            let (mut room, m) = transact!(self, |sess| self
                .add_member_body(&mut sess, room_id, member, invite)
                .await)?;
            room.last_seq = self.last_seq_or_zero(room_id).await?;
            Ok((room, m))
        })
        .await
    }

    async fn get_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
    ) -> Result<MemberRecord, StoreError> {
        self.bounded(async {
            let found = self
                .members
                .find_one(
                    doc! { "room_id": bin(room_id.as_bytes()), "user_id": bin(user_id.as_bytes()) },
                )
                .await
                .map_err(map_err)?;
            match found {
                Some(d) => codec::member_of(&d),
                None => {
                    self.require_room(room_id).await?;
                    Err(StoreError::not_found("member"))
                }
            }
        })
        .await
    }

    async fn list_members(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<MemberRecord>, StoreError> {
        self.page_by_user(
            &self.members,
            room_id,
            limit,
            cursor,
            CursorKind::Members,
            codec::member_of,
            |m| m.user_id,
        )
        .await
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
        let mut filter = doc! { "user_id": bin(user_id.as_bytes()) };
        if let Some(a) = after {
            filter.insert("room_id", doc! { "$gt": bin(a.as_bytes()) });
        }
        self.bounded(async {
            let docs = collect(
                self.members
                    .find(filter)
                    .sort(doc! { "user_id": 1, "room_id": 1 })
                    .limit(i64::from(limit) + 1)
                    .await
                    .map_err(map_err)?,
            )
            .await
            .map_err(map_err)?;
            let members = docs
                .iter()
                .map(codec::member_of)
                .collect::<Result<Vec<_>, _>>()?;
            let more = members.len() > limit as usize;
            let members: Vec<MemberRecord> = members.into_iter().take(limit as usize).collect();
            let last = members.last().map(|m| m.room_id);
            // Hide memberships of rooms being created or deleted.
            let ids: Vec<Bson> = members.iter().map(|m| bin(m.room_id.as_bytes())).collect();
            let live_ids: BTreeSet<RoomId> = if ids.is_empty() {
                BTreeSet::new()
            } else {
                let docs = collect(
                    self.rooms
                        .find(doc! { "_id": { "$in": ids }, "state": { "$exists": false } })
                        .projection(doc! { "_id": 1 })
                        .await
                        .map_err(map_err)?,
                )
                .await
                .map_err(map_err)?;
                docs.iter()
                    .map(|d| {
                        codec::Reader::new(d, "rooms")
                            .id16("_id")
                            .map(RoomId::from_bytes)
                    })
                    .collect::<Result<_, _>>()?
            };
            Ok(Page {
                items: members
                    .into_iter()
                    .filter(|m| live_ids.contains(&m.room_id))
                    .collect(),
                next_cursor: match (more, last) {
                    (true, Some(id)) => Some(Cursor::room(CursorKind::Memberships, id)),
                    _ => None,
                },
            })
        })
        .await
    }

    async fn set_role(
        &self,
        room_id: RoomId,
        user_id: UserId,
        role: Role,
    ) -> Result<MemberRecord, StoreError> {
        self.bounded(async {
            let after = self
                .members
                .find_one_and_update(
                    doc! { "room_id": bin(room_id.as_bytes()), "user_id": bin(user_id.as_bytes()) },
                    doc! { "$set": { "role": codec::role_str(role) } },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?;
            match after {
                Some(d) => codec::member_of(&d),
                None => {
                    self.require_room(room_id).await?;
                    Err(StoreError::not_found("member"))
                }
            }
        })
        .await
    }

    async fn remove_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
        reason: LeaveReason,
        now: u64,
    ) -> Result<Removal, StoreError> {
        check_i64("now", now)?;
        self.bounded(async {
            let (d, member) = transact!(self, |sess| self
                .remove_member_body(&mut sess, room_id, user_id, reason, now)
                .await)?;
            let seq = self.last_seq_or_zero(room_id).await?;
            Ok(Removal {
                room: codec::room_of(&d, seq)?,
                member,
                reason,
            })
        })
        .await
    }

    async fn is_banned(&self, room_id: RoomId, user_id: UserId) -> Result<bool, StoreError> {
        self.bounded(async {
            let found = self
                .bans
                .find_one(
                    doc! { "room_id": bin(room_id.as_bytes()), "user_id": bin(user_id.as_bytes()) },
                )
                .await
                .map_err(map_err)?;
            if found.is_some() {
                return Ok(true);
            }
            self.require_room(room_id).await?;
            Ok(false)
        })
        .await
    }

    async fn unban(&self, room_id: RoomId, user_id: UserId) -> Result<(), StoreError> {
        self.bounded(async {
            let r = self
                .bans
                .delete_one(
                    doc! { "room_id": bin(room_id.as_bytes()), "user_id": bin(user_id.as_bytes()) },
                )
                .await
                .map_err(map_err)?;
            if r.deleted_count == 1 {
                return Ok(());
            }
            self.require_room(room_id).await?;
            Err(StoreError::not_found("ban"))
        })
        .await
    }

    async fn create_invite(&self, invite: &InviteRecord) -> Result<(), StoreError> {
        validate::invite(invite)?;
        let d = codec::invite_doc(invite)?;
        self.bounded(async {
            self.require_room(invite.room_id).await?;
            self.invites
                .insert_one(d)
                .await
                .map(|_| ())
                .map_err(|e| map_err_id(e, ConflictKind::InviteCode))
        })
        .await
    }

    async fn consume_invite(
        &self,
        room_id: RoomId,
        code: &str,
        now: u64,
    ) -> Result<InviteRecord, StoreError> {
        let now_i = clamp(now);
        self.bounded(async {
            let after = self
                .invites
                .find_one_and_update(
                    doc! {
                        "room_id": bin(room_id.as_bytes()), "code": code,
                        "uses": { "$gt": 0_i64 }, "expires_at": { "$gt": now_i },
                    },
                    doc! { "$inc": { "uses": -1_i64 } },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?;
            match after {
                Some(d) => {
                    // A deleted room's invite is no invite.
                    self.require_room(room_id).await?;
                    codec::invite_of(&d)
                }
                None => Err(self.invite_refusal(room_id, code, now).await),
            }
        })
        .await
    }

    async fn delete_invite(&self, room_id: RoomId, code: &str) -> Result<(), StoreError> {
        self.bounded(async {
            let r = self
                .invites
                .delete_one(doc! { "room_id": bin(room_id.as_bytes()), "code": code })
                .await
                .map_err(map_err)?;
            if r.deleted_count == 1 {
                return Ok(());
            }
            self.require_room(room_id).await?;
            Err(StoreError::not_found("invite"))
        })
        .await
    }

    async fn put_envelopes(&self, envelopes: &[EnvelopeRecord]) -> Result<u32, StoreError> {
        let Some(room_id) = validate::envelopes(envelopes, None)? else {
            return Ok(0);
        };
        // The first envelope of a (room, epoch, member) in the batch wins.
        let mut seen = BTreeSet::new();
        let mut docs = Vec::new();
        for e in envelopes {
            if seen.insert((e.envelope.epoch, e.envelope.member_id)) {
                docs.push(codec::envelope_doc(e)?);
            }
        }
        self.bounded(async {
            let room = self
                .rooms
                .find_one(live(room_id))
                .await
                .map_err(map_err)?
                .ok_or(StoreError::not_found("room"))?;
            let room = codec::room_of(&room, 0)?;
            if envelopes.iter().any(|e| e.envelope.epoch > room.epoch) {
                return Err(StoreError::conflict(ConflictKind::Epoch));
            }
            let total = u32::try_from(docs.len()).unwrap_or(u32::MAX);
            match self.envelopes.insert_many(docs).ordered(false).await {
                Ok(r) => Ok(u32::try_from(r.inserted_ids.len()).unwrap_or(u32::MAX)),
                Err(e) => match &*e.kind {
                    mongodb::error::ErrorKind::InsertMany(ime)
                        if ime.write_concern_error.is_none()
                            && ime.write_errors.as_ref().is_some_and(|w| {
                                w.iter().all(|w| w.code == crate::error::DUPLICATE_KEY)
                            }) =>
                    {
                        let dups = ime.write_errors.as_ref().map_or(0, Vec::len);
                        Ok(total.saturating_sub(u32::try_from(dups).unwrap_or(u32::MAX)))
                    }
                    _ => Err(map_err(e)),
                },
            }
        })
        .await
    }

    async fn get_envelope(
        &self,
        room_id: RoomId,
        epoch: u32,
        member_id: UserId,
    ) -> Result<EnvelopeRecord, StoreError> {
        self.bounded(async {
            let found = self
                .envelopes
                .find_one(doc! {
                    "room_id": bin(room_id.as_bytes()),
                    "epoch": i64::from(epoch),
                    "member_id": bin(member_id.as_bytes()),
                })
                .await
                .map_err(map_err)?;
            match found {
                Some(d) => codec::envelope_of(&d),
                None => {
                    self.require_room(room_id).await?;
                    Err(StoreError::not_found("envelope"))
                }
            }
        })
        .await
    }

    async fn list_envelopes(
        &self,
        room_id: RoomId,
        member_id: UserId,
        from_epoch: u32,
        limit: u32,
    ) -> Result<Vec<EnvelopeRecord>, StoreError> {
        check_limit(limit)?;
        self.bounded(async {
            self.require_room(room_id).await?;
            let docs = collect(
                self.envelopes
                    .find(doc! {
                        "room_id": bin(room_id.as_bytes()),
                        "member_id": bin(member_id.as_bytes()),
                        "epoch": { "$gte": i64::from(from_epoch) },
                    })
                    .sort(doc! { "room_id": 1, "member_id": 1, "epoch": 1 })
                    .limit(i64::from(limit))
                    .await
                    .map_err(map_err)?,
            )
            .await
            .map_err(map_err)?;
            docs.iter().map(codec::envelope_of).collect()
        })
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
        check_i64("now", now)?;
        let version = check_i64("expected_version", expected_version)?;
        let next = current_epoch
            .checked_add(1)
            .ok_or_else(|| StoreError::invalid("current_epoch", "no epoch after it"))?;
        if let Some(r) = validate::envelopes(envelopes, Some(next))?
            && r != room_id
        {
            return Err(StoreError::invalid("envelopes", "must be for this room"));
        }
        self.bounded(async {
            let d = transact!(self, |sess| self
                .rotate_body(&mut sess, room_id, current_epoch, version, envelopes, now)
                .await)?;
            let seq = self.last_seq_or_zero(room_id).await?;
            codec::room_of(&d, seq)
        })
        .await
    }

    async fn append_message(
        &self,
        room_id: RoomId,
        message: &NewMessage,
    ) -> Result<MessageRecord, StoreError> {
        validate::new_message(message)?;
        self.bounded(async {
            // The seq: an atomic increment of the room's counter document.
            let counter = self
                .counters
                .find_one_and_update(
                    doc! { "_id": bin(room_id.as_bytes()) },
                    doc! { "$inc": { "seq": 1_i64 } },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?
                .ok_or(StoreError::not_found("room"))?;
            let seq = codec::Reader::new(&counter, "counters").u64("seq")?;
            // The server answered: a good moment to fill seqs left by
            // earlier failed appends (never while it is unreachable).
            if self.has_holes() {
                self.fill_holes().await;
            }
            let record = MessageRecord::from_new(room_id, seq, message.clone());
            let d = codec::message_doc(&record)?;
            // The unique (room, seq) index guards against any duplicate.
            match self.messages.insert_one(d).await {
                Ok(_) => Ok(record),
                Err(e) if is_duplicate(&e) => {
                    // A retried insert whose first attempt landed (a server
                    // without retryable-write bookkeeping answers "duplicate"
                    // to the retry): ours if it carries our message id.
                    let existing = self
                        .messages
                        .find_one(doc! { "room_id": bin(room_id.as_bytes()), "seq": clamp(seq) })
                        .await
                        .map_err(map_err)?;
                    match existing.map(|d| codec::message_of(&d)).transpose()? {
                        Some(m) if m.id == record.id && m.sender_id == record.sender_id => {
                            Ok(record)
                        }
                        _ => Err(StoreError::conflict(ConflictKind::MessageSeq)),
                    }
                }
                Err(e) => {
                    let mapped = map_err_id(e, ConflictKind::MessageSeq);
                    if !matches!(mapped, StoreError::Conflict { .. }) {
                        // The seq is spent: fill it with a tombstone later.
                        let mut hole = record;
                        hole.tombstone();
                        self.holes
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(hole);
                    }
                    Err(mapped)
                }
            }
        })
        .await
    }

    async fn list_messages(
        &self,
        room_id: RoomId,
        range: MessageRange,
        limit: u32,
    ) -> Result<MessagePage, StoreError> {
        check_limit(limit)?;
        let lim = u64::from(limit);
        self.bounded(async {
            let last_seq = self.last_seq(room_id).await?;
            // Seqs are dense (1..=last_seq, holes filled with tombstones),
            // so a page is a bounded window of seqs: an index range with both
            // ends, which every server serves without scanning past the page
            // (SecantusDB, the test server, does not stop a sorted scan at
            // the limit).
            let (lo, hi, sort, more) = match range {
                MessageRange::After(a) => {
                    let lo = a.saturating_add(1);
                    let hi = a.saturating_add(lim).min(last_seq);
                    (lo, hi, 1, hi < last_seq)
                }
                MessageRange::Before(b) => {
                    let hi = b.saturating_sub(1).min(last_seq);
                    let lo = hi.saturating_sub(lim - 1).max(1);
                    (lo, hi, -1, lo > 1)
                }
            };
            if lo > hi || hi == 0 {
                return Ok(MessagePage {
                    messages: Vec::new(),
                    last_seq,
                    more: false,
                });
            }
            let docs = collect(
                self.messages
                    .find(doc! {
                        "room_id": bin(room_id.as_bytes()),
                        "seq": { "$gte": clamp(lo), "$lte": clamp(hi) },
                    })
                    .sort(doc! { "room_id": sort, "seq": sort })
                    .limit(i64::from(limit))
                    .await
                    .map_err(map_err)?,
            )
            .await
            .map_err(map_err)?;
            let messages = docs
                .iter()
                .map(codec::message_of)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(MessagePage {
                messages,
                last_seq,
                more,
            })
        })
        .await
    }

    async fn get_message(&self, room_id: RoomId, seq: u64) -> Result<MessageRecord, StoreError> {
        self.bounded(async {
            self.last_seq(room_id).await?;
            let d = self
                .messages
                .find_one(doc! { "room_id": bin(room_id.as_bytes()), "seq": clamp(seq) })
                .await
                .map_err(map_err)?
                .ok_or(StoreError::not_found("message"))?;
            codec::message_of(&d)
        })
        .await
    }

    async fn tombstone_message(
        &self,
        room_id: RoomId,
        seq: u64,
    ) -> Result<MessageRecord, StoreError> {
        self.bounded(async {
            self.last_seq(room_id).await?;
            let d = self
                .messages
                .find_one_and_update(
                    doc! { "room_id": bin(room_id.as_bytes()), "seq": clamp(seq) },
                    doc! {
                        "$set": { "deleted": true, "ciphertext": Bson::Null, "signature": Bson::Null, "text": Bson::Null },
                    },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?
                .ok_or(StoreError::not_found("message"))?;
            codec::message_of(&d)
        })
        .await
    }

    async fn count_messages(&self, room_id: RoomId) -> Result<MessageCount, StoreError> {
        self.bounded(async {
            let last_seq = self.last_seq(room_id).await?;
            let stored = self
                .messages
                .count_documents(room_key(room_id))
                .await
                .map_err(map_err)?;
            Ok(MessageCount {
                stored,
                dropped: 0,
                last_seq,
            })
        })
        .await
    }

    async fn upsert_peer(&self, peer: &PeerRecord) -> Result<(), StoreError> {
        validate::peer(peer)?;
        let d = codec::peer_doc(peer)?;
        self.bounded(async {
            self.peers
                .replace_one(doc! { "_id": bin(peer.node_id.as_bytes()) }, d)
                .upsert(true)
                .await
                .map(|_| ())
                .map_err(map_err)
        })
        .await
    }

    async fn get_peer(&self, node_id: NodeId) -> Result<PeerRecord, StoreError> {
        self.bounded(async {
            let d = self
                .peers
                .find_one(doc! { "_id": bin(node_id.as_bytes()) })
                .await
                .map_err(map_err)?
                .ok_or(StoreError::not_found("peer"))?;
            codec::peer_of(&d)
        })
        .await
    }

    async fn list_peers(&self) -> Result<Vec<PeerRecord>, StoreError> {
        self.bounded(async {
            let docs = collect(
                self.peers
                    .find(doc! {})
                    .sort(doc! { "_id": 1 })
                    .await
                    .map_err(map_err)?,
            )
            .await
            .map_err(map_err)?;
            docs.iter().map(codec::peer_of).collect()
        })
        .await
    }

    async fn remove_peer(&self, node_id: NodeId) -> Result<(), StoreError> {
        self.bounded(async {
            let r = self
                .peers
                .delete_one(doc! { "_id": bin(node_id.as_bytes()) })
                .await
                .map_err(map_err)?;
            if r.deleted_count == 1 {
                Ok(())
            } else {
                Err(StoreError::not_found("peer"))
            }
        })
        .await
    }

    async fn append_audit(&self, entry: &NewAudit) -> Result<AuditRecord, StoreError> {
        validate::audit(entry)?;
        let id = ObjectId::new();
        let d = doc! {
            "_id": id,
            "at": int("at", entry.at)?,
            "actor_id": entry.actor_id.map_or(Bson::Null, |u| bin(u.as_bytes())),
            "room_id": entry.room_id.map_or(Bson::Null, |r| bin(r.as_bytes())),
            "action": &entry.action,
            "detail": &entry.detail,
        };
        self.bounded(async {
            self.audit.insert_one(d).await.map_err(map_err)?;
            Ok(AuditRecord {
                id: id.to_hex(),
                at: entry.at,
                actor_id: entry.actor_id,
                room_id: entry.room_id,
                action: entry.action.clone(),
                detail: entry.detail.clone(),
            })
        })
        .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
        check_limit(query.limit)?;
        let mut filter = match query.filter {
            AuditFilter::Room(r) => doc! { "room_id": bin(r.as_bytes()) },
            AuditFilter::Actor(u) => doc! { "actor_id": bin(u.as_bytes()) },
            AuditFilter::All => doc! {},
        };
        if let Some(c) = &query.cursor {
            let text = c.decode_text(CursorKind::Audit)?;
            let oid = ObjectId::parse_str(&text)
                .map_err(|_| StoreError::invalid("cursor", "not a cursor of this list"))?;
            filter.insert("_id", doc! { "$gt": oid });
        }
        let sort = match query.filter {
            AuditFilter::Room(_) => doc! { "room_id": 1, "_id": 1 },
            AuditFilter::Actor(_) => doc! { "actor_id": 1, "_id": 1 },
            AuditFilter::All => doc! { "_id": 1 },
        };
        self.bounded(async {
            let docs = collect(
                self.audit
                    .find(filter)
                    .sort(sort)
                    .limit(i64::from(query.limit) + 1)
                    .await
                    .map_err(map_err)?,
            )
            .await
            .map_err(map_err)?;
            let records = docs
                .iter()
                .map(codec::audit_of)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_fetched(records, query.limit, |r| {
                Cursor::encode(CursorKind::Audit, r.id.as_bytes())
            }))
        })
        .await
    }

    async fn list_bans(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<BanRecord>, StoreError> {
        self.export_bans(room_id, limit, cursor).await
    }

    async fn list_invites(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<InviteRecord>, StoreError> {
        self.export_invites(room_id, limit, cursor).await
    }

    async fn list_room_envelopes(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<EnvelopeRecord>, StoreError> {
        self.export_room_envelopes(room_id, limit, cursor).await
    }

    async fn import_users(&self, users: &[UserRecord]) -> Result<ImportCount, StoreError> {
        self.bounded(self.import_users_in(users)).await
    }

    async fn import_rooms(&self, rooms: &[RoomRecord]) -> Result<ImportCount, StoreError> {
        self.bounded(self.import_rooms_in(rooms)).await
    }

    async fn import_members(&self, members: &[MemberRecord]) -> Result<ImportCount, StoreError> {
        self.bounded(self.import_members_in(members)).await
    }

    async fn import_bans(&self, bans: &[BanRecord]) -> Result<ImportCount, StoreError> {
        self.bounded(self.import_bans_in(bans)).await
    }

    async fn import_invites(&self, invites: &[InviteRecord]) -> Result<ImportCount, StoreError> {
        self.bounded(self.import_invites_in(invites)).await
    }

    async fn import_envelopes(
        &self,
        envelopes: &[EnvelopeRecord],
    ) -> Result<ImportCount, StoreError> {
        self.bounded(self.import_envelopes_in(envelopes)).await
    }

    async fn import_messages(&self, messages: &[MessageRecord]) -> Result<ImportCount, StoreError> {
        self.bounded(self.import_messages_in(messages)).await
    }

    async fn import_peers(&self, peers: &[PeerRecord]) -> Result<ImportCount, StoreError> {
        self.bounded(self.import_peers_in(peers)).await
    }

    async fn import_audit(&self, entries: &[AuditRecord]) -> Result<ImportCount, StoreError> {
        self.bounded(self.import_audit_in(entries)).await
    }
}
