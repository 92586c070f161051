//! The conformance suite against the memory backend, and the memory
//! backend's own bounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use peer_proto::api::StoreKind;
use peer_store::conformance::{
    T0, assert_conflict, assert_not_found, owner_of, rid, room, text_message, uid, user,
};
use peer_store::{
    AuditFilter, AuditQuery, ConflictKind, MemoryConfig, MemoryStore, MessageRange, NewAudit, Store,
};

async fn fresh() -> Option<Arc<dyn Store>> {
    Some(Arc::new(MemoryStore::default()))
}

peer_store::conformance_tests!(fresh);

fn bounded(messages: usize, rooms: usize, users: usize, audit: usize) -> MemoryStore {
    MemoryStore::new(MemoryConfig {
        max_messages_per_room: messages,
        max_rooms: rooms,
        max_users: users,
        max_audit_entries: audit,
    })
}

#[tokio::test]
async fn message_cap_drops_oldest_without_renumbering() {
    let s = bounded(5, 10, 10, 10);
    assert_eq!(s.kind(), StoreKind::Memory);
    let r = room(1, uid(1), 10);
    s.create_room(&r, &owner_of(&r), None).await.unwrap();
    for n in 1..=12 {
        assert_eq!(
            s.append_message(r.id, &text_message(n, uid(1)))
                .await
                .unwrap()
                .seq,
            n
        );
    }
    let count = s.count_messages(r.id).await.unwrap();
    assert_eq!((count.stored, count.dropped, count.last_seq), (5, 7, 12));
    // After a seq below the window: starts at the oldest retained.
    for after in [0, 3, 7] {
        let page = s
            .list_messages(r.id, MessageRange::After(after), 3)
            .await
            .unwrap();
        let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [8, 9, 10], "after {after}");
        assert!(page.more);
        assert_eq!(page.last_seq, 12);
    }
    let page = s
        .list_messages(r.id, MessageRange::After(9), 10)
        .await
        .unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [10, 11, 12]
    );
    // Before: stops at the oldest retained.
    let page = s
        .list_messages(r.id, MessageRange::Before(10), 10)
        .await
        .unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [9, 8]
    );
    assert!(!page.more);
    let page = s
        .list_messages(r.id, MessageRange::Before(5), 10)
        .await
        .unwrap();
    assert!(page.messages.is_empty());
    // Dropped messages are gone; retained ones keep their seq and content.
    assert_not_found(s.get_message(r.id, 7).await, "message");
    assert_not_found(s.tombstone_message(r.id, 1).await, "message");
    assert_eq!(
        s.get_message(r.id, 8).await.unwrap().id,
        peer_store::conformance::mid(8)
    );
}

#[tokio::test]
async fn zero_message_cap_keeps_counting() {
    let s = bounded(0, 10, 10, 10);
    let r = room(1, uid(1), 10);
    s.create_room(&r, &owner_of(&r), None).await.unwrap();
    for n in 1..=3 {
        assert_eq!(
            s.append_message(r.id, &text_message(n, uid(1)))
                .await
                .unwrap()
                .seq,
            n
        );
    }
    let page = s
        .list_messages(r.id, MessageRange::After(0), 10)
        .await
        .unwrap();
    assert!(page.messages.is_empty());
    assert_eq!(page.last_seq, 3);
    assert_eq!(s.count_messages(r.id).await.unwrap().dropped, 3);
}

#[tokio::test]
async fn room_and_user_caps() {
    let s = bounded(5, 2, 2, 10);
    for n in 1..=2 {
        let r = room(n, uid(1), 10);
        s.create_room(&r, &owner_of(&r), None).await.unwrap();
    }
    let r = room(3, uid(1), 10);
    assert_conflict(
        s.create_room(&r, &owner_of(&r), None).await,
        ConflictKind::StoreFull,
    );
    // A duplicate id is still a duplicate, not "full".
    let r = room(1, uid(1), 10);
    assert_conflict(
        s.create_room(&r, &owner_of(&r), None).await,
        ConflictKind::RoomId,
    );
    s.delete_room(rid(1)).await.unwrap();
    let r = room(3, uid(1), 10);
    s.create_room(&r, &owner_of(&r), None).await.unwrap();

    s.create_user(&user(1, "a")).await.unwrap();
    s.create_user(&user(2, "b")).await.unwrap();
    assert_conflict(s.create_user(&user(3, "c")).await, ConflictKind::StoreFull);
    assert_conflict(s.create_user(&user(4, "A")).await, ConflictKind::UserName);
}

#[tokio::test]
async fn audit_cap_drops_oldest() {
    let s = bounded(5, 2, 2, 4);
    for i in 0..10u64 {
        s.append_audit(&NewAudit {
            at: T0 + i,
            actor_id: Some(uid(1)),
            room_id: None,
            action: "a".into(),
            detail: String::new(),
        })
        .await
        .unwrap();
    }
    let page = s
        .list_audit(&AuditQuery {
            filter: AuditFilter::Actor(uid(1)),
            limit: 100,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.at - T0).collect::<Vec<_>>(),
        [6, 7, 8, 9]
    );
}

#[tokio::test]
async fn listing_after_costs_the_same_in_a_big_room() {
    // O(limit), not O(room): 200k messages, then 2000 listings must be quick
    // even in a debug build (a linear scan per listing would take minutes).
    let s = bounded(1_000_000, 10, 10, 10);
    let r = room(1, uid(1), 10);
    s.create_room(&r, &owner_of(&r), None).await.unwrap();
    for n in 1..=200_000u64 {
        s.append_message(r.id, &text_message(n, uid(1)))
            .await
            .unwrap();
    }
    let start = std::time::Instant::now();
    for i in 0..2000u64 {
        let page = s
            .list_messages(r.id, MessageRange::After(100 * i), 100)
            .await
            .unwrap();
        assert_eq!(page.messages.len(), 100);
        assert_eq!(page.messages[0].seq, 100 * i + 1);
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}
