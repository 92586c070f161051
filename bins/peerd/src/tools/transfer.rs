//! Copying everything one store holds into another, through the `Store`
//! trait: users, rooms (settings, counters, versions, epochs), and per
//! room its members, bans, invites, envelopes and messages (at their
//! seqs), then peers and the audit log. Every write is an import, which
//! keeps what the target already has: a second run after an interruption
//! completes the copy without duplicates.

use std::fmt;

use peer_store::{
    AuditFilter, AuditQuery, Cursor, ImportCount, MessageRange, Page, RoomFilter, RoomQuery, Store,
    StoreError, UserQuery,
};

/// What is copied, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Entity {
    Users,
    Rooms,
    Members,
    Bans,
    Invites,
    Envelopes,
    Messages,
    Peers,
    Audit,
}

impl Entity {
    /// Every entity, in copy order.
    pub(crate) const ALL: [Entity; 9] = [
        Entity::Users,
        Entity::Rooms,
        Entity::Members,
        Entity::Bans,
        Entity::Invites,
        Entity::Envelopes,
        Entity::Messages,
        Entity::Peers,
        Entity::Audit,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Users => "users",
            Entity::Rooms => "rooms",
            Entity::Members => "members",
            Entity::Bans => "bans",
            Entity::Invites => "invites",
            Entity::Envelopes => "envelopes",
            Entity::Messages => "messages",
            Entity::Peers => "peers",
            Entity::Audit => "audit entries",
        })
    }
}

/// The counts per entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals([ImportCount; 9]);

impl Totals {
    /// The counts of one entity.
    pub(crate) fn of(&self, e: Entity) -> ImportCount {
        self.0[e.index()]
    }

    fn add(&mut self, e: Entity, c: ImportCount) {
        self.0[e.index()].add(c);
    }
}

/// Why a copy stopped.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// Reading the source failed.
    Source(StoreError),
    /// Writing the target failed.
    Target(StoreError),
    /// The progress callback asked to stop.
    Stopped,
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::Source(e) => write!(f, "reading the source failed: {e}"),
            CopyError::Target(e) => write!(f, "writing the target failed: {e}"),
            CopyError::Stopped => f.write_str("stopped"),
        }
    }
}

/// Called after every batch with the entity and its running totals;
/// `false` stops the copy.
pub(crate) type Progress<'a> = dyn FnMut(Entity, ImportCount) -> bool + Send + 'a;

struct Copier<'a> {
    from: &'a dyn Store,
    to: &'a dyn Store,
    batch: u32,
    totals: Totals,
    progress: &'a mut Progress<'a>,
}

impl Copier<'_> {
    fn record(&mut self, e: Entity, c: ImportCount) -> Result<(), CopyError> {
        self.totals.add(e, c);
        if (self.progress)(e, self.totals.of(e)) {
            Ok(())
        } else {
            Err(CopyError::Stopped)
        }
    }
}

macro_rules! src {
    ($e:expr) => {
        $e.await.map_err(CopyError::Source)?
    };
}

macro_rules! dst {
    ($e:expr) => {
        $e.await.map_err(CopyError::Target)?
    };
}

/// Copies everything `from` holds into `to`, `batch` records per call.
pub(crate) async fn copy_all(
    from: &dyn Store,
    to: &dyn Store,
    batch: u32,
    progress: &mut Progress<'_>,
) -> Result<Totals, CopyError> {
    let mut c = Copier {
        from,
        to,
        batch,
        totals: Totals::default(),
        progress,
    };
    // Users.
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = src!(c.from.list_users(&UserQuery {
            name_prefix: None,
            limit: c.batch,
            cursor: cursor.take(),
        }));
        let n = dst!(c.to.import_users(&page.items));
        c.record(Entity::Users, n)?;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // Rooms, then what belongs to each.
    let mut rooms = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = src!(c.from.list_rooms(&RoomQuery {
            filter: RoomFilter::All,
            limit: c.batch,
            cursor: cursor.take(),
        }));
        let n = dst!(c.to.import_rooms(&page.items));
        c.record(Entity::Rooms, n)?;
        rooms.extend(page.items.iter().map(|r| r.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    for room in rooms {
        copy_room(&mut c, room).await?;
    }
    // Peers (one list), in batches.
    let peers = src!(c.from.list_peers());
    for chunk in peers.chunks(c.batch as usize) {
        let n = dst!(c.to.import_peers(chunk));
        c.record(Entity::Peers, n)?;
    }
    // The audit log, in append order.
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = src!(c.from.list_audit(&AuditQuery {
            filter: AuditFilter::All,
            limit: c.batch,
            cursor: cursor.take(),
        }));
        let n = dst!(c.to.import_audit(&page.items));
        c.record(Entity::Audit, n)?;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(c.totals)
}

/// Pages of a room-scoped list, each imported as it comes.
macro_rules! pages {
    ($c:ident, $entity:expr, |$cursor:ident| $list:expr, |$items:ident| $import:expr) => {{
        let mut $cursor: Option<Cursor> = None;
        loop {
            let page: Page<_> = src!($list);
            let $items = &page.items;
            let n = dst!($import);
            $c.record($entity, n)?;
            match page.next_cursor {
                Some(next) => $cursor = Some(next),
                None => break,
            }
        }
    }};
}

async fn copy_room(c: &mut Copier<'_>, room: peer_proto::RoomId) -> Result<(), CopyError> {
    let (from, to, batch) = (c.from, c.to, c.batch);
    pages!(
        c,
        Entity::Members,
        |cursor| from.list_members(room, batch, cursor.as_ref()),
        |items| to.import_members(items)
    );
    pages!(
        c,
        Entity::Bans,
        |cursor| from.list_bans(room, batch, cursor.as_ref()),
        |items| to.import_bans(items)
    );
    pages!(
        c,
        Entity::Invites,
        |cursor| from.list_invites(room, batch, cursor.as_ref()),
        |items| to.import_invites(items)
    );
    pages!(
        c,
        Entity::Envelopes,
        |cursor| from.list_room_envelopes(room, batch, cursor.as_ref()),
        |items| to.import_envelopes(items)
    );
    let mut after = 0;
    loop {
        let page = src!(from.list_messages(room, MessageRange::After(after), batch));
        let n = dst!(to.import_messages(&page.messages));
        c.record(Entity::Messages, n)?;
        match page.messages.last() {
            Some(m) if page.more => after = m.seq,
            _ => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use peer_proto::api::{LeaveReason, PeerDirection};
    use peer_store::conformance::{
        T0, encrypted_room, envelope, invite, joiner, owner_of, peer, room, sealed_message,
        text_message, uid, user,
    };
    use peer_store::{MemoryStore, NewAudit};
    use peer_store_redb::{RedbConfig, RedbStore};

    use super::*;

    /// A source with something of every kind: 30 users, 3 rooms (one
    /// encrypted and rotated twice), members, a ban, invites, 1,234
    /// messages with a tombstone, peers and audit entries.
    async fn source() -> MemoryStore {
        let s = MemoryStore::default();
        for n in 1..=30 {
            s.create_user(&user(n, &format!("user{n}"))).await.unwrap();
        }
        let enc = encrypted_room(1, uid(1), 50);
        s.create_room(&enc, &owner_of(&enc), Some(&envelope(enc.id, 1, uid(1), 1)))
            .await
            .unwrap();
        for n in 2..=3 {
            let r = room(n, uid(1), 20);
            s.create_room(&r, &owner_of(&r), None).await.unwrap();
        }
        for n in 2..=20 {
            s.add_member(enc.id, &joiner(uid(n)), None).await.unwrap();
        }
        s.remove_member(enc.id, uid(7), LeaveReason::Banned, T0 + 5)
            .await
            .unwrap();
        for epoch in 1..=2 {
            let v = s.get_room(enc.id).await.unwrap().version;
            let envs: Vec<_> = [1, 2, 3]
                .iter()
                .map(|n| envelope(enc.id, epoch + 1, uid(*n), epoch as u8))
                .collect();
            s.rotate_epoch(enc.id, epoch, v, &envs, T0 + 9)
                .await
                .unwrap();
        }
        s.create_invite(&invite(enc.id, "one", 2, T0 + 99))
            .await
            .unwrap();
        s.create_invite(&invite(room(2, uid(1), 1).id, "two", 1, T0 + 99))
            .await
            .unwrap();
        for n in 1..=1000 {
            s.append_message(enc.id, &sealed_message(n, uid(1 + n % 5), 3, 64))
                .await
                .unwrap();
        }
        s.tombstone_message(enc.id, 500).await.unwrap();
        for n in 1..=234 {
            s.append_message(room(2, uid(1), 1).id, &text_message(n, uid(1)))
                .await
                .unwrap();
        }
        for n in 1..=3 {
            s.upsert_peer(&peer(n, PeerDirection::Discovered))
                .await
                .unwrap();
        }
        for n in 0..25 {
            s.append_audit(&NewAudit {
                at: T0 + n,
                actor_id: Some(uid(1)),
                room_id: Some(enc.id),
                action: format!("a.{n}"),
                detail: String::new(),
            })
            .await
            .unwrap();
        }
        s
    }

    /// Everything a store holds, as comparable text (audit ids are each
    /// store's own, so they are left out).
    async fn dump(s: &dyn Store) -> String {
        let mut out = String::new();
        let mut stop = |_: Entity, _: ImportCount| true;
        let sink = MemoryStore::default();
        // Copying into a fresh memory store walks every list; its totals
        // and the records read back describe the store.
        let totals = copy_all(s, &sink, 100, &mut stop).await.unwrap();
        out.push_str(&format!("{totals:?}\n"));
        let users = s
            .list_users(&UserQuery {
                name_prefix: None,
                limit: 1000,
                cursor: None,
            })
            .await
            .unwrap();
        out.push_str(&format!("{:?}\n", users.items));
        let rooms = s
            .list_rooms(&RoomQuery {
                filter: RoomFilter::All,
                limit: 100,
                cursor: None,
            })
            .await
            .unwrap();
        for r in rooms.items {
            out.push_str(&format!("{r:?}\n"));
            let m = s.list_members(r.id, 1000, None).await.unwrap();
            out.push_str(&format!("{:?}\n", m.items));
            out.push_str(&format!(
                "{:?}\n",
                s.list_bans(r.id, 100, None).await.unwrap().items
            ));
            out.push_str(&format!(
                "{:?}\n",
                s.list_invites(r.id, 100, None).await.unwrap().items
            ));
            out.push_str(&format!(
                "{:?}\n",
                s.list_room_envelopes(r.id, 100, None).await.unwrap().items
            ));
            let page = s
                .list_messages(r.id, MessageRange::After(0), 5000)
                .await
                .unwrap();
            out.push_str(&format!("{:?} {}\n", page.messages, page.last_seq));
        }
        out.push_str(&format!("{:?}\n", s.list_peers().await.unwrap()));
        let audit = s
            .list_audit(&AuditQuery {
                filter: AuditFilter::All,
                limit: 100,
                cursor: None,
            })
            .await
            .unwrap();
        for a in audit.items {
            out.push_str(&format!(
                "{} {} {:?} {:?} {}\n",
                a.at, a.action, a.actor_id, a.room_id, a.detail
            ));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_interrupted_copy_completes_on_rerun_without_duplicates() {
        let from = source().await;
        let dir = tempfile::tempdir().unwrap();
        let to = Arc::new(
            RedbStore::open_async(RedbConfig::new(dir.path().join("t.redb")))
                .await
                .unwrap(),
        );
        // Stop after the 12th batch: in the middle of the messages.
        let mut calls = 0;
        let mut stop_early = |_: Entity, _: ImportCount| {
            calls += 1;
            calls < 12
        };
        let first = copy_all(&from, &*to, 100, &mut stop_early).await;
        assert!(matches!(first, Err(CopyError::Stopped)), "{first:?}");
        let partial = to
            .count_messages(room(1, uid(1), 1).id)
            .await
            .unwrap()
            .stored;
        assert!(partial > 0 && partial < 1000, "stopped mid-way: {partial}");

        let mut go_on = |_: Entity, _: ImportCount| true;
        let second = copy_all(&from, &*to, 100, &mut go_on).await.unwrap();
        assert_eq!(
            second.of(Entity::Users),
            ImportCount {
                inserted: 0,
                present: 30
            }
        );
        assert_eq!(second.of(Entity::Rooms).present, 3);
        let msgs = second.of(Entity::Messages);
        assert_eq!(msgs.inserted + msgs.present, 1234);
        assert_eq!(msgs.present, partial);
        assert_eq!(
            second.of(Entity::Members).inserted + second.of(Entity::Members).present,
            21
        );
        assert_eq!(second.of(Entity::Audit).inserted, 25);
        assert_eq!(dump(&from).await, dump(&*to).await);

        // A third run changes nothing.
        let third = copy_all(&from, &*to, 100, &mut go_on).await.unwrap();
        for e in Entity::ALL {
            assert_eq!(third.of(e).inserted, 0, "{e}");
        }
        assert_eq!(dump(&from).await, dump(&*to).await);
        // And the copy carries on: the next append follows the last seq.
        let next = to
            .append_message(room(1, uid(1), 1).id, &text_message(9999, uid(1)))
            .await
            .unwrap();
        assert_eq!(next.seq, 1001);
    }
}
