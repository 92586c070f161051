//! Snapshots (`peerd backup`): taken while writers append, a snapshot is
//! one consistent state (every room's messages exactly 1..=last_seq, the
//! counters matching), it opens as a store of its own, and it replaces an
//! older file at the destination whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use peer_proto::{MessageId, RoomId, UserId};
use peer_store::conformance as fixtures;
use peer_store::{MemberRecord, MessageRange, NewMessage, RoomRecord, Store};
use peer_store_redb::{RedbConfig, RedbStore, SnapshotStats};

const ROOMS: u8 = 3;
const WRITERS: u64 = 6;

fn owner() -> UserId {
    UserId::from_bytes([0x11; 16])
}

fn room(n: u8) -> (RoomRecord, MemberRecord) {
    let room = RoomRecord {
        id: RoomId::from_bytes([n; 16]),
        ..fixtures::room(u64::from(n), owner(), 10)
    };
    let member = fixtures::owner_of(&room);
    (room, member)
}

fn message(w: u64, i: u64) -> NewMessage {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&w.to_be_bytes());
    id[8..].copy_from_slice(&i.to_be_bytes());
    NewMessage {
        id: MessageId::from_bytes(id),
        sender_id: owner(),
        created_at: 1_700_000_000 + i,
        epoch: None,
        ciphertext: None,
        signature: None,
        text: Some(format!("writer {w} message {i}")),
    }
}

/// Checks that every room of `store` holds exactly 1..=last_seq; returns
/// the number of messages.
async fn check_dense(store: &RedbStore) -> u64 {
    let mut total = 0;
    for n in 1..=ROOMS {
        let id = RoomId::from_bytes([n; 16]);
        let count = store.count_messages(id).await.unwrap();
        assert_eq!(count.stored, count.last_seq, "room {n}: counters agree");
        let mut after = 0;
        loop {
            let page = store
                .list_messages(id, MessageRange::After(after), 500)
                .await
                .unwrap();
            for m in &page.messages {
                assert_eq!(m.seq, after + 1, "room {n}: no gap");
                after = m.seq;
            }
            if !page.more {
                break;
            }
        }
        assert_eq!(
            after, count.last_seq,
            "room {n}: the messages end at last_seq"
        );
        total += after;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_taken_during_appends_is_consistent_and_opens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        RedbStore::open_async(RedbConfig::new(dir.path().join("live.redb")))
            .await
            .unwrap(),
    );
    for n in 1..=ROOMS {
        let (r, m) = room(n);
        store.create_room(&r, &m, None).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        let stop = Arc::clone(&stop);
        writers.push(tokio::spawn(async move {
            let id = RoomId::from_bytes([(w % u64::from(ROOMS)) as u8 + 1; 16]);
            let mut i = 0;
            // Bounded in count as well as by the flag.
            while !stop.load(Ordering::Relaxed) && i < 50_000 {
                store.append_message(id, &message(w, i)).await.unwrap();
                i += 1;
            }
            i
        }));
    }
    // Wait until the writers are well under way (a generous bound for a
    // loaded machine).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let c = store
            .count_messages(RoomId::from_bytes([1; 16]))
            .await
            .unwrap();
        if c.stored >= 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the writers do not progress"
        );
        tokio::task::yield_now().await;
    }
    let dest = dir.path().join("backup.redb");
    // An older file at the destination is replaced.
    std::fs::write(&dest, b"an older backup").unwrap();
    let first = store.snapshot_to_async(dest.clone()).await.unwrap();
    let second_dest = dir.path().join("backup2.redb");
    let second = store.snapshot_to_async(second_dest.clone()).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut appended = 0;
    for w in writers {
        appended += w.await.unwrap();
    }
    assert!(first.messages >= 200, "{first:?}");
    assert!(second.messages >= first.messages, "{first:?} {second:?}");
    assert_eq!(first.rooms, u64::from(ROOMS));
    assert_eq!(first.members, u64::from(ROOMS));
    assert!(!dir.path().join("backup.redb.partial").exists());
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the snapshot is private");

    // The live store has everything that was acknowledged.
    assert_eq!(check_dense(&store).await, appended);
    store.close();

    // Each snapshot is a store of its own, dense in every room, with the
    // counts the snapshot reported.
    assert_eq!(
        SnapshotStats::of_file(&dest).unwrap().messages,
        first.messages
    );
    let copy = RedbStore::open_async(RedbConfig::new(&dest)).await.unwrap();
    assert_eq!(check_dense(&copy).await, first.messages);
    // It takes writes: the next seq follows its own last one.
    let id = RoomId::from_bytes([1; 16]);
    let last = copy.count_messages(id).await.unwrap().last_seq;
    let m = copy.append_message(id, &message(99, 0)).await.unwrap();
    assert_eq!(m.seq, last + 1);
    copy.close();
    let copy = RedbStore::open_async(RedbConfig::new(&second_dest))
        .await
        .unwrap();
    assert_eq!(check_dense(&copy).await, second.messages);
    copy.close();
}
