//! The cases. Each takes a fresh, empty store and panics on a broken
//! contract.

use std::collections::BTreeSet;
use std::sync::Arc;

use peer_proto::api::{JoinRule, LeaveReason, PeerDirection, Role, StoreKind, Visibility};
use peer_proto::limits::{
    MAX_CAPACITY, MAX_CIPHERTEXT_BYTES, MAX_ROOM_NAME_CHARS, MAX_TOPIC_CHARS,
};
use peer_proto::{Bytes, UserId};

use super::fixtures::*;
use crate::error::{ConflictKind, StoreError};
use crate::query::{
    AuditFilter, AuditQuery, Cursor, CursorKind, MAX_LIMIT, MessageRange, RoomFilter, RoomQuery,
    UserQuery,
};
use crate::records::{
    AuditRecord, BanRecord, EnvelopeRecord, ImportCount, InviteRecord, MemberRecord, MessageRecord,
    NewAudit, RoomRecord, RoomUpdate, UserRecord,
};
use crate::store::Store;

type S = Arc<dyn Store>;

async fn make_room(s: &S, n: u64, capacity: u32) -> RoomRecord {
    let r = room(n, uid(1), capacity);
    s.create_room(&r, &owner_of(&r), None).await.unwrap()
}

async fn make_encrypted_room(s: &S, n: u64, capacity: u32) -> RoomRecord {
    let r = encrypted_room(n, uid(1), capacity);
    let env = envelope(r.id, 1, uid(1), 1);
    s.create_room(&r, &owner_of(&r), Some(&env)).await.unwrap()
}

async fn all_users(s: &S, prefix: Option<&str>, limit: u32) -> Vec<Vec<UserRecord>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list_users(&UserQuery {
                name_prefix: prefix.map(str::to_owned),
                limit,
                cursor: cursor.take(),
            })
            .await
            .unwrap();
        assert!(page.items.len() <= limit as usize);
        pages.push(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return pages,
        }
        assert!(pages.len() < 10_000, "pagination does not end");
    }
}

async fn all_rooms(s: &S, filter: RoomFilter, limit: u32) -> Vec<Vec<RoomRecord>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list_rooms(&RoomQuery {
                filter,
                limit,
                cursor: cursor.take(),
            })
            .await
            .unwrap();
        pages.push(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return pages,
        }
        assert!(pages.len() < 10_000, "pagination does not end");
    }
}

/// `kind` and `health`.
pub async fn health_and_kind(s: S) {
    s.health().await.unwrap();
    assert!(matches!(
        s.kind(),
        StoreKind::Memory | StoreKind::Mongodb | StoreKind::Redb
    ));
}

/// Users: create, get by id, get by name ignoring case, not found.
pub async fn users_create_and_get(s: S) {
    let alice = user(1, "Alice");
    s.create_user(&alice).await.unwrap();
    assert_eq!(s.get_user(alice.id).await.unwrap(), alice);
    for name in ["Alice", "alice", "ALICE", "aLiCe"] {
        assert_eq!(s.get_user_by_name(name).await.unwrap(), alice, "{name}");
    }
    assert_not_found(s.get_user(uid(2)).await, "user");
    assert_not_found(s.get_user_by_name("alicia").await, "user");
    assert_not_found(s.get_user_by_name("alic").await, "user");
    assert_not_found(s.get_user_by_name("").await, "user");
}

/// Users: a taken id or a name taken ignoring case is a typed conflict and
/// changes nothing.
pub async fn users_conflicts(s: S) {
    s.create_user(&user(1, "bob")).await.unwrap();
    assert_conflict(
        s.create_user(&user(1, "robert")).await,
        ConflictKind::UserId,
    );
    assert_conflict(s.create_user(&user(2, "BOB")).await, ConflictKind::UserName);
    assert_conflict(s.create_user(&user(3, "Bob")).await, ConflictKind::UserName);
    assert_not_found(s.get_user(uid(2)).await, "user");
    assert_not_found(s.get_user_by_name("robert").await, "user");
    assert_eq!(s.get_user_by_name("bob").await.unwrap().id, uid(1));
    s.create_user(&user(2, "bob2")).await.unwrap();
}

/// Users: pages in folded-name order, exact multiples, limit 1.
pub async fn users_list_pagination(s: S) {
    // Created out of order, with mixed case.
    let names: Vec<String> = (0..25u64)
        .map(|i| {
            let n = (i * 7) % 25;
            if n % 2 == 0 {
                format!("User{n:02}")
            } else {
                format!("user{n:02}")
            }
        })
        .collect();
    for (i, name) in names.iter().enumerate() {
        s.create_user(&user(i as u64 + 1, name)).await.unwrap();
    }
    let mut want: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    want.sort();

    for limit in [1u32, 5, 10, 24, 25, 26, MAX_LIMIT] {
        let pages = all_users(&s, None, limit).await;
        let got: Vec<String> = pages
            .iter()
            .flatten()
            .map(|u| u.name.to_ascii_lowercase())
            .collect();
        assert_eq!(got, want, "limit {limit}");
        let expected_pages = 25usize.div_ceil(limit as usize).max(1);
        assert_eq!(
            pages.len(),
            expected_pages,
            "limit {limit}: no empty last page"
        );
    }
    // The returned records are the stored ones.
    let first = s
        .list_users(&UserQuery {
            name_prefix: None,
            limit: 1,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(first.items[0], s.get_user(first.items[0].id).await.unwrap());
    // An empty store lists nothing, without a cursor.
    let empty = all_users(&s, Some("zzz"), 10).await;
    assert_eq!(empty, vec![Vec::<UserRecord>::new()]);
}

/// Users: the name-prefix filter ignores case and paginates.
pub async fn users_prefix_filter(s: S) {
    for (i, name) in [
        "an", "Ann", "anna", "ANNIE", "bob", "a", "andrew", "am", "ao",
    ]
    .iter()
    .enumerate()
    {
        s.create_user(&user(i as u64 + 1, name)).await.unwrap();
    }
    let names = |pages: Vec<Vec<UserRecord>>| -> Vec<String> {
        pages.into_iter().flatten().map(|u| u.name).collect()
    };
    assert_eq!(
        names(all_users(&s, Some("AN"), 2).await),
        ["an", "andrew", "Ann", "anna", "ANNIE"]
    );
    assert_eq!(
        names(all_users(&s, Some("ann"), 1).await),
        ["Ann", "anna", "ANNIE"]
    );
    assert_eq!(names(all_users(&s, Some("annie"), 10).await), ["ANNIE"]);
    assert!(names(all_users(&s, Some("annies"), 10).await).is_empty());
    assert!(names(all_users(&s, Some("c"), 10).await).is_empty());
    assert_eq!(names(all_users(&s, Some(""), 100).await).len(), 9);
    assert_eq!(names(all_users(&s, Some("b"), 10).await), ["bob"]);
}

/// Users: non-ASCII names are stored and found exactly (the node refuses
/// them at the API; the store must not corrupt them).
pub async fn users_unicode_names(s: S) {
    let names = ["Zoë", "日本語", "ÆSIR", "émile", "a\u{301}"];
    for (i, name) in names.iter().enumerate() {
        s.create_user(&user(i as u64 + 1, name)).await.unwrap();
    }
    for (i, name) in names.iter().enumerate() {
        let u = s.get_user(uid(i as u64 + 1)).await.unwrap();
        assert_eq!(u.name, *name);
        assert_eq!(s.get_user_by_name(name).await.unwrap().id, u.id);
    }
    // Folding is ASCII-only: "ZOË" folds to "zoË", not "zoë".
    assert_eq!(s.get_user_by_name("ZOë").await.unwrap().id, uid(1));
    assert_not_found(s.get_user_by_name("ZOË").await, "user");
    let page = s
        .list_users(&UserQuery {
            name_prefix: Some("日本".into()),
            limit: 10,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].name, "日本語");
}

/// Integers above `i64::MAX` are refused the same way by every backend.
pub async fn integers_beyond_i64_are_invalid(s: S) {
    let mut u = user(1, "big");
    u.created_at = u64::MAX;
    assert_invalid(s.create_user(&u).await);
    assert_not_found(s.get_user(uid(1)).await, "user");
    u.created_at = i64::MAX as u64;
    s.create_user(&u).await.unwrap();
    assert_eq!(
        s.get_user(uid(1)).await.unwrap().created_at,
        i64::MAX as u64
    );

    let mut r = room(1, uid(1), 10);
    r.created_at = u64::MAX;
    assert_invalid(s.create_room(&r, &owner_of(&r), None).await);
    assert_not_found(s.get_room(rid(1)).await, "room");
    let r = make_room(&s, 1, 10).await;
    let mut m = text_message(1, uid(1));
    m.created_at = u64::MAX;
    assert_invalid(s.append_message(r.id, &m).await);
    assert_eq!(s.count_messages(r.id).await.unwrap().last_seq, 0);
    assert_invalid(
        s.update_room(r.id, 1, &RoomUpdate::default(), u64::MAX)
            .await,
    );
    let mut p = peer(1, PeerDirection::Inbound);
    p.last_seen = u64::MAX;
    assert_invalid(s.upsert_peer(&p).await);
}

/// Rooms: every field round-trips; the store sets the counters; the owner is
/// a member and holds the first envelope.
pub async fn rooms_create_and_get(s: S) {
    let mut r = encrypted_room(1, uid(1), 256);
    r.name = "Café ☕ 日本".into();
    r.topic = "line one\nline two".into();
    r.visibility = Visibility::Private;
    r.join_rule = JoinRule::Password;
    r.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    r.rotation_due = false;
    r.member_count = 77; // ignored
    r.last_seq = 99; // ignored
    r.version = 42; // ignored
    r.created_at = T0 + 1;
    r.updated_at = T0 + 2;
    let env = envelope(r.id, 1, uid(1), 9);
    let stored = s.create_room(&r, &owner_of(&r), Some(&env)).await.unwrap();
    let want = RoomRecord {
        member_count: 1,
        last_seq: 0,
        version: 1,
        ..r.clone()
    };
    assert_eq!(stored, want);
    assert_eq!(s.get_room(r.id).await.unwrap(), want);
    let debug = format!("{stored:?}");
    assert!(!debug.contains("argon2"), "Debug must redact the hash");
    let owner = s.get_member(r.id, uid(1)).await.unwrap();
    assert_eq!(owner.role, Role::Owner);
    assert_eq!(owner.join_epoch, 1);
    assert_eq!(s.get_envelope(r.id, 1, uid(1)).await.unwrap(), env);
    let mine = s.list_memberships(uid(1), 10, None).await.unwrap();
    assert_eq!(mine.items, vec![owner]);

    // An unencrypted room without an envelope.
    let plain = make_room(&s, 2, 2).await;
    assert_eq!(plain.epoch, 0);
    assert!(!plain.encrypted);
    assert_not_found(s.get_envelope(plain.id, 0, uid(1)).await, "envelope");
}

/// Rooms: mismatched owner or envelope is invalid; a taken id conflicts and
/// leaves the first room as it was.
pub async fn rooms_create_invalid_and_duplicate(s: S) {
    let r = room(1, uid(1), 10);
    let mut wrong = owner_of(&r);
    wrong.user_id = uid(2);
    assert_invalid(s.create_room(&r, &wrong, None).await);
    let mut wrong = owner_of(&r);
    wrong.role = Role::Member;
    assert_invalid(s.create_room(&r, &wrong, None).await);
    let mut wrong = owner_of(&r);
    wrong.room_id = rid(2);
    assert_invalid(s.create_room(&r, &wrong, None).await);
    let bad_env = envelope(r.id, 5, uid(1), 1);
    assert_invalid(s.create_room(&r, &owner_of(&r), Some(&bad_env)).await);
    let mut zero = r.clone();
    zero.capacity = 0;
    assert_invalid(s.create_room(&zero, &owner_of(&zero), None).await);
    assert_not_found(s.get_room(r.id).await, "room");
    assert_not_found(s.get_member(r.id, uid(1)).await, "room");

    s.create_room(&r, &owner_of(&r), None).await.unwrap();
    s.append_message(r.id, &text_message(1, uid(1)))
        .await
        .unwrap();
    let mut other = room(1, uid(2), 99);
    other.name = "impostor".into();
    assert_conflict(
        s.create_room(&other, &owner_of(&other), None).await,
        ConflictKind::RoomId,
    );
    let kept = s.get_room(r.id).await.unwrap();
    assert_eq!(kept.name, r.name);
    assert_eq!(kept.owner_id, uid(1));
    assert_eq!(kept.member_count, 1);
    assert_eq!(kept.last_seq, 1);
    assert_not_found(s.get_member(r.id, uid(2)).await, "member");
}

/// Rooms: pages by id; public and visible-to filters.
pub async fn rooms_list_pagination_and_filters(s: S) {
    // Rooms 1..=12, created in a scrambled order; every third is private.
    for i in [5u64, 1, 12, 3, 7, 9, 2, 11, 4, 8, 10, 6] {
        let mut r = room(i, uid(1), 10);
        if i % 3 == 0 {
            r.visibility = Visibility::Private;
        }
        s.create_room(&r, &owner_of(&r), None).await.unwrap();
    }
    // User 2 is a member of private room 6 and public room 7.
    s.add_member(rid(6), &joiner(uid(2)), None).await.unwrap();
    s.add_member(rid(7), &joiner(uid(2)), None).await.unwrap();

    let ids = |pages: Vec<Vec<RoomRecord>>| -> Vec<u64> {
        pages
            .into_iter()
            .flatten()
            .map(|r| u64::from_be_bytes(r.id.as_bytes()[8..].try_into().unwrap()))
            .collect()
    };
    for limit in [1u32, 5, 12, 13] {
        assert_eq!(
            ids(all_rooms(&s, RoomFilter::All, limit).await),
            (1..=12).collect::<Vec<_>>()
        );
    }
    let public: Vec<u64> = (1..=12).filter(|i| i % 3 != 0).collect();
    for limit in [1u32, 3, 8, 100] {
        assert_eq!(ids(all_rooms(&s, RoomFilter::Public, limit).await), public);
    }
    let mut visible = public.clone();
    visible.push(6);
    visible.sort();
    for limit in [1u32, 2, 4, 9, 100] {
        assert_eq!(
            ids(all_rooms(&s, RoomFilter::VisibleTo(uid(2)), limit).await),
            visible
        );
    }
    // The owner sees all of them; a stranger only the public ones.
    assert_eq!(
        ids(all_rooms(&s, RoomFilter::VisibleTo(uid(1)), 5).await).len(),
        12
    );
    assert_eq!(
        ids(all_rooms(&s, RoomFilter::VisibleTo(uid(9)), 5).await),
        public
    );
    // Listed records carry the counters.
    let page = s
        .list_rooms(&RoomQuery {
            filter: RoomFilter::All,
            limit: 12,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(page.items[5].member_count, 2);
    assert!(page.next_cursor.is_none());
}

/// Rooms: updates with the expected version; stale versions conflict; the
/// capacity cannot go below the member count.
pub async fn rooms_update_with_version(s: S) {
    let r = make_room(&s, 1, 10).await;
    s.add_member(r.id, &joiner(uid(2)), None).await.unwrap();
    s.add_member(r.id, &joiner(uid(3)), None).await.unwrap();
    let upd = RoomUpdate {
        name: Some("renamed ✓".into()),
        topic: Some(String::new()),
        visibility: Some(Visibility::Private),
        join_rule: Some(JoinRule::Password),
        password_hash: Some(Some("$argon2id$hash".into())),
        capacity: Some(3),
        rotation_due: Some(true),
    };
    let v2 = s.update_room(r.id, 1, &upd, T0 + 50).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.name, "renamed ✓");
    assert_eq!(v2.topic, "");
    assert_eq!(v2.visibility, Visibility::Private);
    assert_eq!(v2.join_rule, JoinRule::Password);
    assert_eq!(v2.password_hash.as_deref(), Some("$argon2id$hash"));
    assert_eq!(v2.capacity, 3);
    assert!(v2.rotation_due);
    assert_eq!(v2.updated_at, T0 + 50);
    assert_eq!(v2.created_at, r.created_at);
    assert_eq!(v2.member_count, 3);
    assert_eq!(s.get_room(r.id).await.unwrap(), v2);

    // A stale version changes nothing.
    let stale = RoomUpdate {
        name: Some("lost".into()),
        ..RoomUpdate::default()
    };
    assert_conflict(
        s.update_room(r.id, 1, &stale, T0 + 51).await,
        ConflictKind::Version,
    );
    assert_conflict(
        s.update_room(r.id, 3, &stale, T0 + 51).await,
        ConflictKind::Version,
    );
    assert_eq!(s.get_room(r.id).await.unwrap().name, "renamed ✓");

    // Capacity below the member count.
    let shrink = RoomUpdate {
        capacity: Some(2),
        ..RoomUpdate::default()
    };
    assert_conflict(
        s.update_room(r.id, 2, &shrink, T0 + 52).await,
        ConflictKind::CapacityBelowMembers,
    );
    assert_eq!(s.get_room(r.id).await.unwrap().version, 2);

    // Removing the password; an empty update still bumps the version.
    let clear = RoomUpdate {
        password_hash: Some(None),
        ..RoomUpdate::default()
    };
    let v3 = s.update_room(r.id, 2, &clear, T0 + 53).await.unwrap();
    assert_eq!(v3.password_hash, None);
    assert_eq!(v3.version, 3);
    let v4 = s
        .update_room(r.id, 3, &RoomUpdate::default(), T0 + 54)
        .await
        .unwrap();
    assert_eq!(v4.version, 4);
    assert_not_found(s.update_room(rid(9), 1, &clear, T0).await, "room");
}

/// Rooms: concurrent read-modify-write loops lose no update.
pub async fn rooms_concurrent_updates_lose_nothing(s: S) {
    let r = make_room(&s, 1, 10).await;
    let writers = 6u32;
    let each = 5u32;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for i in 0..each {
                loop {
                    let cur = s.get_room(r.id).await.unwrap();
                    let topic = format!("{}[{w}.{i}]", cur.topic);
                    let upd = RoomUpdate {
                        topic: Some(topic),
                        ..RoomUpdate::default()
                    };
                    match s.update_room(r.id, cur.version, &upd, T0 + 1).await {
                        Ok(_) => break,
                        Err(StoreError::Conflict {
                            what: ConflictKind::Version,
                        }) => conflicts += 1,
                        Err(e) => panic!("update failed: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let end = s.get_room(r.id).await.unwrap();
    assert_eq!(end.version, 1 + u64::from(writers * each));
    for w in 0..writers {
        for i in 0..each {
            let mark = format!("[{w}.{i}]");
            assert_eq!(end.topic.matches(&mark).count(), 1, "update {mark} lost");
        }
    }
}

/// Rooms: deletion removes everything that belongs to the room, and only
/// that.
pub async fn rooms_delete_cascades(s: S) {
    let r = make_encrypted_room(&s, 1, 10).await;
    let keep = make_encrypted_room(&s, 2, 10).await;
    for room in [&r, &keep] {
        s.add_member(room.id, &joiner(uid(2)), None).await.unwrap();
        s.add_member(room.id, &joiner(uid(3)), None).await.unwrap();
        s.remove_member(room.id, uid(3), LeaveReason::Banned, T0 + 20)
            .await
            .unwrap();
        s.put_envelopes(&[envelope(room.id, 1, uid(2), 2)])
            .await
            .unwrap();
        s.create_invite(&invite(room.id, "code-1", 5, T0 + 1000))
            .await
            .unwrap();
        for n in 1..=5 {
            s.append_message(room.id, &sealed_message(n, uid(2), 1, 100))
                .await
                .unwrap();
        }
    }
    s.delete_room(r.id).await.unwrap();

    assert_not_found(s.get_room(r.id).await, "room");
    assert_not_found(
        s.list_messages(r.id, MessageRange::After(0), 10).await,
        "room",
    );
    assert_not_found(s.get_member(r.id, uid(2)).await, "room");
    assert_not_found(
        s.append_message(r.id, &text_message(9, uid(2))).await,
        "room",
    );
    assert_not_found(s.add_member(r.id, &joiner(uid(4)), None).await, "room");
    assert_not_found(s.delete_room(r.id).await, "room");
    let mine = s.list_memberships(uid(2), 10, None).await.unwrap();
    assert_eq!(mine.items.len(), 1);
    assert_eq!(mine.items[0].room_id, keep.id);
    let all = s
        .list_rooms(&RoomQuery {
            filter: RoomFilter::All,
            limit: 10,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);

    // The other room is untouched.
    assert_eq!(s.count_messages(keep.id).await.unwrap().stored, 5);
    assert_eq!(s.get_room(keep.id).await.unwrap().member_count, 2);
    assert!(s.is_banned(keep.id, uid(3)).await.unwrap());
    s.get_envelope(keep.id, 1, uid(2)).await.unwrap();
    assert_eq!(
        s.consume_invite(keep.id, "code-1", T0).await.unwrap().uses,
        4
    );

    // Re-creating the id gives an empty room: nothing survived.
    let again = make_encrypted_room(&s, 1, 10).await;
    assert_eq!(again.member_count, 1);
    assert_eq!(again.last_seq, 0);
    let page = s
        .list_messages(again.id, MessageRange::After(0), 10)
        .await
        .unwrap();
    assert!(page.messages.is_empty());
    assert_eq!(page.last_seq, 0);
    assert_eq!(s.count_messages(again.id).await.unwrap().stored, 0);
    assert_not_found(s.get_member(again.id, uid(2)).await, "member");
    assert!(!s.is_banned(again.id, uid(3)).await.unwrap());
    assert_not_found(s.get_envelope(again.id, 1, uid(2)).await, "envelope");
    assert_not_found(s.consume_invite(again.id, "code-1", T0).await, "invite");
    assert_eq!(
        s.append_message(again.id, &text_message(1, uid(1)))
            .await
            .unwrap()
            .seq,
        1
    );
}

/// Members: add, get, list by user id, memberships by room id.
pub async fn members_add_get_list(s: S) {
    let r = make_encrypted_room(&s, 1, 100).await;
    // Users 2..=30 join in a scrambled order.
    for i in 0..29u64 {
        let n = 2 + (i * 11) % 29;
        let (room_after, m) = s.add_member(r.id, &joiner(uid(n)), None).await.unwrap();
        assert_eq!(m.user_id, uid(n));
        assert_eq!(m.role, Role::Member);
        assert_eq!(m.join_epoch, 1);
        assert_eq!(m.joined_at, T0 + 10);
        assert_eq!(room_after.member_count, 2 + i as u32);
        assert_eq!(room_after.version, 1, "joins do not bump the version");
    }
    assert_eq!(s.get_room(r.id).await.unwrap().member_count, 30);
    assert_eq!(s.get_member(r.id, uid(17)).await.unwrap().user_id, uid(17));
    assert_not_found(s.get_member(r.id, uid(31)).await, "member");

    for limit in [1u32, 7, 30, 31] {
        let mut got = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = s.list_members(r.id, limit, cursor.as_ref()).await.unwrap();
            got.extend(page.items.iter().map(|m| m.user_id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let want: Vec<UserId> = (1..=30).map(uid).collect();
        assert_eq!(got, want, "limit {limit}");
    }

    // Memberships of user 5 across rooms, by room id.
    for n in [4u64, 2, 3] {
        let other = make_room(&s, n, 10).await;
        s.add_member(other.id, &joiner(uid(5)), None).await.unwrap();
    }
    let mut got = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = s
            .list_memberships(uid(5), 1, cursor.as_ref())
            .await
            .unwrap();
        got.extend(page.items.iter().map(|m| m.room_id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(got, vec![rid(1), rid(2), rid(3), rid(4)]);
    assert!(
        s.list_memberships(uid(99), 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // The join epoch follows the room's epoch.
    let v = s.get_room(r.id).await.unwrap().version;
    s.rotate_epoch(r.id, 1, v, &[envelope(r.id, 2, uid(1), 2)], T0 + 30)
        .await
        .unwrap();
    let (_, late) = s.add_member(r.id, &joiner(uid(40)), None).await.unwrap();
    assert_eq!(late.join_epoch, 2);
}

/// Members: typed errors for a missing room, a second join, a full room and
/// a ban; unbanning lets the user in again.
pub async fn members_errors_and_bans(s: S) {
    assert_not_found(s.add_member(rid(1), &joiner(uid(2)), None).await, "room");
    let r = make_room(&s, 1, 3).await;
    s.add_member(r.id, &joiner(uid(2)), None).await.unwrap();
    assert_conflict(
        s.add_member(r.id, &joiner(uid(2)), None).await,
        ConflictKind::Member,
    );
    assert_conflict(
        s.add_member(r.id, &joiner(uid(1)), None).await,
        ConflictKind::Member,
    );
    s.add_member(r.id, &joiner(uid(3)), None).await.unwrap();
    assert_conflict(
        s.add_member(r.id, &joiner(uid(4)), None).await,
        ConflictKind::Capacity,
    );
    assert_eq!(s.get_room(r.id).await.unwrap().member_count, 3);
    assert_not_found(s.get_member(r.id, uid(4)).await, "member");

    // Ban user 3: they leave, and cannot come back even with room to spare.
    let removal = s
        .remove_member(r.id, uid(3), LeaveReason::Banned, T0 + 20)
        .await
        .unwrap();
    assert_eq!(removal.reason, LeaveReason::Banned);
    assert_eq!(removal.member.user_id, uid(3));
    assert!(s.is_banned(r.id, uid(3)).await.unwrap());
    assert!(!s.is_banned(r.id, uid(2)).await.unwrap());
    assert_conflict(
        s.add_member(r.id, &joiner(uid(3)), None).await,
        ConflictKind::Banned,
    );
    assert_eq!(s.get_room(r.id).await.unwrap().member_count, 2);
    s.unban(r.id, uid(3)).await.unwrap();
    assert_not_found(s.unban(r.id, uid(3)).await, "ban");
    assert!(!s.is_banned(r.id, uid(3)).await.unwrap());
    s.add_member(r.id, &joiner(uid(3)), None).await.unwrap();
    // Banning a member who is not there is NotFound, and bans nobody.
    assert_not_found(
        s.remove_member(r.id, uid(8), LeaveReason::Banned, T0).await,
        "member",
    );
    assert!(!s.is_banned(r.id, uid(8)).await.unwrap());
}

/// Members: removal decrements the count, marks encrypted rooms
/// rotation-due and bumps the version; roles change.
pub async fn members_remove_and_roles(s: S) {
    let r = make_encrypted_room(&s, 1, 10).await;
    let plain = make_room(&s, 2, 10).await;
    for room in [&r, &plain] {
        s.add_member(room.id, &joiner(uid(2)), None).await.unwrap();
        s.add_member(room.id, &joiner(uid(3)), None).await.unwrap();
    }
    let m = s.set_role(r.id, uid(2), Role::Admin).await.unwrap();
    assert_eq!(m.role, Role::Admin);
    assert_eq!(s.get_member(r.id, uid(2)).await.unwrap().role, Role::Admin);
    assert_not_found(s.set_role(r.id, uid(9), Role::Admin).await, "member");

    let out = s
        .remove_member(r.id, uid(3), LeaveReason::Left, T0 + 30)
        .await
        .unwrap();
    assert_eq!(out.room.member_count, 2);
    assert!(out.room.rotation_due);
    assert_eq!(out.room.version, 2);
    assert_eq!(out.room.updated_at, T0 + 30);
    assert!(!s.is_banned(r.id, uid(3)).await.unwrap());
    assert_eq!(s.get_room(r.id).await.unwrap(), out.room);
    assert_not_found(s.get_member(r.id, uid(3)).await, "member");
    assert_not_found(
        s.remove_member(r.id, uid(3), LeaveReason::Left, T0).await,
        "member",
    );
    let kicked = s
        .remove_member(plain.id, uid(3), LeaveReason::Kicked, T0 + 31)
        .await
        .unwrap();
    assert!(!kicked.room.rotation_due, "unencrypted rooms never rotate");
    assert_eq!(kicked.room.member_count, 2);
    // The rejoin uses the freed seat.
    s.add_member(r.id, &joiner(uid(3)), None).await.unwrap();
    assert_eq!(s.get_room(r.id).await.unwrap().member_count, 3);
    let mine = s.list_memberships(uid(3), 10, None).await.unwrap();
    assert_eq!(mine.items.len(), 1);
    assert_eq!(mine.items[0].room_id, r.id);
}

/// Members: concurrent joins past capacity never exceed it.
pub async fn members_concurrent_joins_respect_capacity(s: S) {
    let r = make_room(&s, 1, 10).await;
    let mut tasks = Vec::new();
    for n in 2..=31u64 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.add_member(r.id, &joiner(uid(n)), None).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok((room, _)) => {
                assert!(room.member_count <= 10);
                ok += 1;
            }
            Err(StoreError::Conflict {
                what: ConflictKind::Capacity,
            }) => {}
            Err(e) => panic!("join failed: {e}"),
        }
    }
    assert_eq!(ok, 9);
    assert_eq!(s.get_room(r.id).await.unwrap().member_count, 10);
    assert_eq!(
        s.list_members(r.id, 100, None).await.unwrap().items.len(),
        10
    );
    // Concurrent leaves and joins keep the count exact.
    let members: Vec<UserId> = s
        .list_members(r.id, 100, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.user_id)
        .filter(|u| *u != uid(1))
        .collect();
    let mut tasks = Vec::new();
    for (i, u) in members.into_iter().enumerate().take(4) {
        let s1 = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s1.remove_member(r.id, u, LeaveReason::Left, T0)
                .await
                .map(|_| ())
        }));
        let s2 = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s2.add_member(r.id, &joiner(uid(100 + i as u64)), None)
                .await
                .map(|_| ())
        }));
    }
    for t in tasks {
        match t.await.unwrap() {
            Ok(())
            | Err(StoreError::Conflict {
                what: ConflictKind::Capacity,
            }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let count = s.get_room(r.id).await.unwrap().member_count;
    let listed = s.list_members(r.id, 100, None).await.unwrap().items.len();
    assert_eq!(count as usize, listed);
    assert!(count <= 10);
}

/// Invites: create, consume, expiry, exhaustion, duplicates, deletion.
pub async fn invites_lifecycle(s: S) {
    assert_not_found(s.create_invite(&invite(rid(1), "x", 1, T0)).await, "room");
    let r = make_room(&s, 1, 10).await;
    let inv = invite(r.id, "welcome-Ω", 2, T0 + 100);
    s.create_invite(&inv).await.unwrap();
    assert_conflict(
        s.create_invite(&invite(r.id, "welcome-Ω", 9, T0 + 999))
            .await,
        ConflictKind::InviteCode,
    );
    assert!(
        !format!("{inv:?}").contains("welcome"),
        "Debug must redact the code"
    );
    let after = s.consume_invite(r.id, "welcome-Ω", T0 + 99).await.unwrap();
    assert_eq!(after.uses, 1);
    assert_eq!(after.expires_at, T0 + 100);
    assert_eq!(after.code, "welcome-Ω");
    assert_conflict(
        s.consume_invite(r.id, "welcome-Ω", T0 + 100).await,
        ConflictKind::InviteExpired,
    );
    assert_eq!(
        s.consume_invite(r.id, "welcome-Ω", T0).await.unwrap().uses,
        0
    );
    assert_conflict(
        s.consume_invite(r.id, "welcome-Ω", T0).await,
        ConflictKind::InviteUsedUp,
    );
    assert_not_found(s.consume_invite(r.id, "WELCOME-Ω", T0).await, "invite");
    assert_not_found(s.consume_invite(rid(2), "welcome-Ω", T0).await, "room");
    // Codes are per room.
    let r2 = make_room(&s, 2, 10).await;
    s.create_invite(&invite(r2.id, "welcome-Ω", 1, T0 + 100))
        .await
        .unwrap();
    s.delete_invite(r.id, "welcome-Ω").await.unwrap();
    assert_not_found(s.delete_invite(r.id, "welcome-Ω").await, "invite");
    assert_not_found(s.consume_invite(r.id, "welcome-Ω", T0).await, "invite");
    assert_eq!(
        s.consume_invite(r2.id, "welcome-Ω", T0).await.unwrap().uses,
        0
    );
}

/// Invites: joining with an invite consumes a use, and only when the join
/// succeeds.
pub async fn invites_with_joins(s: S) {
    let r = make_room(&s, 1, 3).await;
    s.create_invite(&invite(r.id, "c", 3, T0 + 100))
        .await
        .unwrap();
    s.add_member(r.id, &joiner(uid(2)), Some("c"))
        .await
        .unwrap();
    assert_eq!(s.consume_invite(r.id, "c", T0).await.unwrap().uses, 1);
    // Already a member: no use consumed.
    assert_conflict(
        s.add_member(r.id, &joiner(uid(2)), Some("c")).await,
        ConflictKind::Member,
    );
    // Unknown and expired codes refuse the join.
    assert_not_found(
        s.add_member(r.id, &joiner(uid(3)), Some("nope")).await,
        "invite",
    );
    let mut late = joiner(uid(3));
    late.joined_at = T0 + 100;
    assert_conflict(
        s.add_member(r.id, &late, Some("c")).await,
        ConflictKind::InviteExpired,
    );
    assert_not_found(s.get_member(r.id, uid(3)).await, "member");
    s.add_member(r.id, &joiner(uid(3)), Some("c"))
        .await
        .unwrap();
    // Used up now.
    s.create_invite(&invite(r.id, "d", 1, T0 + 100))
        .await
        .unwrap();
    assert_conflict(
        s.add_member(r.id, &joiner(uid(4)), Some("c")).await,
        ConflictKind::InviteUsedUp,
    );
    // A full room keeps the invite's use.
    assert_conflict(
        s.add_member(r.id, &joiner(uid(4)), Some("d")).await,
        ConflictKind::Capacity,
    );
    s.remove_member(r.id, uid(3), LeaveReason::Banned, T0)
        .await
        .unwrap();
    // A banned user keeps it too.
    assert_conflict(
        s.add_member(r.id, &joiner(uid(3)), Some("d")).await,
        ConflictKind::Banned,
    );
    s.add_member(r.id, &joiner(uid(4)), Some("d"))
        .await
        .unwrap();
    assert_conflict(
        s.consume_invite(r.id, "d", T0).await,
        ConflictKind::InviteUsedUp,
    );
}

/// Invites: a single-use invite is consumed once under concurrency, whether
/// consumed directly or by joins.
pub async fn invites_concurrent_single_use(s: S) {
    let r = make_room(&s, 1, 100).await;
    s.create_invite(&invite(r.id, "once", 1, T0 + 100))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.consume_invite(r.id, "once", T0).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(inv) => {
                assert_eq!(inv.uses, 0);
                ok += 1;
            }
            Err(StoreError::Conflict {
                what: ConflictKind::InviteUsedUp,
            }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 1);

    s.create_invite(&invite(r.id, "three", 3, T0 + 100))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 10..22u64 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.add_member(r.id, &joiner(uid(n)), Some("three")).await
        }));
    }
    let mut joined = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => joined += 1,
            Err(StoreError::Conflict {
                what: ConflictKind::InviteUsedUp,
            }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(joined, 3);
    assert_eq!(s.get_room(r.id).await.unwrap().member_count, 4);
}

/// Envelopes: first stored wins, listing by epoch, epoch and room checks.
pub async fn envelopes_put_get_list(s: S) {
    assert_not_found(
        s.put_envelopes(&[envelope(rid(1), 1, uid(2), 1)]).await,
        "room",
    );
    let r = make_encrypted_room(&s, 1, 10).await;
    assert_eq!(s.put_envelopes(&[]).await.unwrap(), 0);
    let batch: Vec<_> = (2..=6)
        .map(|n| envelope(r.id, 1, uid(n), n as u8))
        .collect();
    assert_eq!(s.put_envelopes(&batch).await.unwrap(), 5);
    // Again, with one new one: only the new one is stored; the old ones keep
    // their first value.
    let mut again: Vec<_> = (2..=7).map(|n| envelope(r.id, 1, uid(n), 0xee)).collect();
    again.push(envelope(r.id, 1, uid(7), 0xdd)); // a duplicate inside the batch
    assert_eq!(s.put_envelopes(&again).await.unwrap(), 1);
    assert_eq!(s.get_envelope(r.id, 1, uid(3)).await.unwrap(), batch[1]);
    assert_eq!(
        s.get_envelope(r.id, 1, uid(7))
            .await
            .unwrap()
            .envelope
            .wrapped_key,
        Bytes(vec![0xee; 256])
    );
    assert_not_found(s.get_envelope(r.id, 2, uid(3)).await, "envelope");
    assert_not_found(s.get_envelope(r.id, 1, uid(9)).await, "envelope");
    // Future epochs are refused; several rooms are invalid.
    assert_conflict(
        s.put_envelopes(&[envelope(r.id, 2, uid(2), 1)]).await,
        ConflictKind::Epoch,
    );
    let r2 = make_encrypted_room(&s, 2, 10).await;
    assert_invalid(
        s.put_envelopes(&[envelope(r.id, 1, uid(8), 1), envelope(r2.id, 1, uid(8), 1)])
            .await,
    );
    assert_not_found(s.get_envelope(r.id, 1, uid(8)).await, "envelope");

    // Listing a member's envelopes over several epochs.
    for epoch in 1..=5u32 {
        let envs: Vec<_> = [1u64, 2]
            .iter()
            .map(|n| envelope(r.id, epoch + 1, uid(*n), epoch as u8))
            .collect();
        let v = s.get_room(r.id).await.unwrap().version;
        s.rotate_epoch(r.id, epoch, v, &envs, T0 + u64::from(epoch))
            .await
            .unwrap();
    }
    let epochs = |v: Vec<crate::records::EnvelopeRecord>| -> Vec<u32> {
        v.into_iter().map(|e| e.envelope.epoch).collect()
    };
    assert_eq!(
        epochs(s.list_envelopes(r.id, uid(2), 0, 100).await.unwrap()),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        epochs(s.list_envelopes(r.id, uid(2), 3, 2).await.unwrap()),
        [3, 4]
    );
    assert_eq!(
        epochs(s.list_envelopes(r.id, uid(2), 5, 2).await.unwrap()),
        [5, 6]
    );
    assert!(
        s.list_envelopes(r.id, uid(2), 7, 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        epochs(s.list_envelopes(r.id, uid(3), 0, 100).await.unwrap()),
        [1]
    );
    assert!(
        s.list_envelopes(r.id, uid(9), 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(s.list_envelopes(rid(9), uid(2), 0, 10).await, "room");
}

/// Rotation: epoch + 1 with its envelopes, flags cleared; stale epochs and
/// wrong envelopes refused; leftovers replaced.
pub async fn rotate_epoch_rules(s: S) {
    let r = make_encrypted_room(&s, 1, 10).await;
    s.add_member(r.id, &joiner(uid(2)), None).await.unwrap();
    let removal = s
        .remove_member(r.id, uid(2), LeaveReason::Kicked, T0 + 1)
        .await
        .unwrap();
    assert!(removal.room.rotation_due);
    let v = removal.room.version;
    // Envelopes of the wrong epoch or room are invalid and change nothing.
    assert_invalid(
        s.rotate_epoch(r.id, 1, v, &[envelope(r.id, 3, uid(1), 1)], T0 + 2)
            .await,
    );
    assert_invalid(
        s.rotate_epoch(r.id, 1, v, &[envelope(rid(7), 2, uid(1), 1)], T0 + 2)
            .await,
    );
    assert_conflict(
        s.rotate_epoch(r.id, 0, v, &[envelope(r.id, 1, uid(1), 1)], T0 + 2)
            .await,
        ConflictKind::Epoch,
    );
    // A rotation prepared before a member was removed is refused: the
    // removed member must not receive the new key.
    s.add_member(r.id, &joiner(uid(3)), None).await.unwrap();
    let before = s.get_room(r.id).await.unwrap().version;
    s.remove_member(r.id, uid(3), LeaveReason::Left, T0 + 2)
        .await
        .unwrap();
    assert_conflict(
        s.rotate_epoch(
            r.id,
            1,
            before,
            &[envelope(r.id, 2, uid(1), 1), envelope(r.id, 2, uid(3), 1)],
            T0 + 2,
        )
        .await,
        ConflictKind::Version,
    );
    assert_not_found(s.get_envelope(r.id, 2, uid(3)).await, "envelope");
    let v = s.get_room(r.id).await.unwrap().version;
    assert_eq!(s.get_room(r.id).await.unwrap().epoch, 1);
    let rotated = s
        .rotate_epoch(r.id, 1, v, &[envelope(r.id, 2, uid(1), 0x22)], T0 + 3)
        .await
        .unwrap();
    assert_eq!(rotated.epoch, 2);
    assert!(!rotated.rotation_due);
    assert_eq!(rotated.version, v + 1);
    assert_eq!(rotated.updated_at, T0 + 3);
    assert_eq!(s.get_room(r.id).await.unwrap(), rotated);
    assert_eq!(
        s.get_envelope(r.id, 2, uid(1))
            .await
            .unwrap()
            .envelope
            .wrapped_key,
        Bytes(vec![0x22; 256])
    );
    // The old epoch's envelopes stay (members read old messages).
    s.get_envelope(r.id, 1, uid(1)).await.unwrap();
    assert_conflict(
        s.rotate_epoch(r.id, 1, v, &[envelope(r.id, 2, uid(1), 0x33)], T0 + 4)
            .await,
        ConflictKind::Epoch,
    );
    assert_eq!(
        s.get_envelope(r.id, 2, uid(1))
            .await
            .unwrap()
            .envelope
            .wrapped_key,
        Bytes(vec![0x22; 256])
    );
    // Distributing the new epoch to a member works now.
    assert_eq!(
        s.put_envelopes(&[envelope(r.id, 2, uid(5), 1)])
            .await
            .unwrap(),
        1
    );
    assert_not_found(s.rotate_epoch(rid(9), 1, 1, &[], T0).await, "room");
}

/// Rotation: of concurrent rotations from one epoch exactly one wins, and
/// the stored envelopes are all the winner's.
pub async fn rotate_epoch_concurrent_single_winner(s: S) {
    let r = make_encrypted_room(&s, 1, 10).await;
    for n in 2..=5 {
        s.add_member(r.id, &joiner(uid(n)), None).await.unwrap();
    }
    let v = s.get_room(r.id).await.unwrap().version;
    let mut tasks = Vec::new();
    for tag in 1..=4u8 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let envs: Vec<_> = (1..=5).map(|n| envelope(r.id, 2, uid(n), tag)).collect();
            s.rotate_epoch(r.id, 1, v, &envs, T0 + 5).await.map(|_| tag)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(tag) => winners.push(tag),
            Err(StoreError::Conflict {
                what: ConflictKind::Epoch,
            }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    let tag = winners[0];
    for n in 1..=5 {
        let env = s.get_envelope(r.id, 2, uid(n)).await.unwrap();
        assert_eq!(
            env.envelope.wrapped_key,
            Bytes(vec![tag; 256]),
            "member {n}"
        );
    }
    assert_eq!(s.get_room(r.id).await.unwrap().epoch, 2);
}

/// Messages: seqs from 1; listing after and before with every edge.
pub async fn messages_append_and_list_edges(s: S) {
    let r = make_room(&s, 1, 10).await;
    let empty = s
        .list_messages(r.id, MessageRange::After(0), 10)
        .await
        .unwrap();
    assert!(empty.messages.is_empty());
    assert_eq!(empty.last_seq, 0);
    assert!(!empty.more);
    let empty = s
        .list_messages(r.id, MessageRange::Before(u64::MAX), 10)
        .await
        .unwrap();
    assert!(empty.messages.is_empty() && !empty.more);

    for n in 1..=10u64 {
        let m = s
            .append_message(r.id, &text_message(n, uid(1)))
            .await
            .unwrap();
        assert_eq!(m.seq, n);
        assert_eq!(m.room_id, r.id);
        assert_eq!(m.id, mid(n));
        assert_eq!(m.text.as_deref(), Some(format!("message {n}").as_str()));
        assert!(!m.deleted);
    }
    assert_eq!(s.get_room(r.id).await.unwrap().last_seq, 10);
    let seqs =
        |p: &crate::query::MessagePage| -> Vec<u64> { p.messages.iter().map(|m| m.seq).collect() };

    let cases: &[(MessageRange, u32, &[u64], bool)] = &[
        (MessageRange::After(0), 3, &[1, 2, 3], true),
        (
            MessageRange::After(0),
            10,
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            false,
        ),
        (
            MessageRange::After(0),
            11,
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            false,
        ),
        (MessageRange::After(7), 3, &[8, 9, 10], false),
        (MessageRange::After(8), 5, &[9, 10], false),
        (MessageRange::After(9), 1, &[10], false),
        (MessageRange::After(10), 5, &[], false),
        (MessageRange::After(u64::MAX), 5, &[], false),
        (MessageRange::Before(u64::MAX), 3, &[10, 9, 8], true),
        (
            MessageRange::Before(11),
            10,
            &[10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
            false,
        ),
        (MessageRange::Before(4), 3, &[3, 2, 1], false),
        (MessageRange::Before(4), 2, &[3, 2], true),
        (MessageRange::Before(3), 5, &[2, 1], false),
        (MessageRange::Before(1), 5, &[], false),
        (MessageRange::Before(0), 5, &[], false),
    ];
    for (range, limit, want, more) in cases {
        let page = s.list_messages(r.id, *range, *limit).await.unwrap();
        assert_eq!(seqs(&page), *want, "{range:?} limit {limit}");
        assert_eq!(page.more, *more, "{range:?} limit {limit}: more");
        assert_eq!(page.last_seq, 10);
    }
    let m = s.get_message(r.id, 4).await.unwrap();
    assert_eq!(m.seq, 4);
    assert_eq!(m.created_at, T0 + 4);
    assert_eq!(m.sender_id, uid(1));
    assert_not_found(s.get_message(r.id, 0).await, "message");
    assert_not_found(s.get_message(r.id, 11).await, "message");
    let count = s.count_messages(r.id).await.unwrap();
    assert_eq!((count.stored, count.dropped, count.last_seq), (10, 0, 10));
}

/// Messages: tombstones clear the content and keep the seq.
pub async fn messages_tombstone(s: S) {
    let r = make_encrypted_room(&s, 1, 10).await;
    for n in 1..=3 {
        s.append_message(r.id, &sealed_message(n, uid(1), 1, 64))
            .await
            .unwrap();
    }
    let t = s.tombstone_message(r.id, 2).await.unwrap();
    assert!(t.deleted);
    assert_eq!(t.seq, 2);
    assert_eq!(t.id, mid(2));
    assert_eq!(t.sender_id, uid(1));
    assert_eq!(t.epoch, Some(1));
    assert!(t.ciphertext.is_none() && t.signature.is_none() && t.text.is_none());
    assert_eq!(s.get_message(r.id, 2).await.unwrap(), t);
    assert_eq!(s.tombstone_message(r.id, 2).await.unwrap(), t, "idempotent");
    let page = s
        .list_messages(r.id, MessageRange::After(0), 10)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 3);
    assert!(page.messages[1].deleted);
    assert!(page.messages[0].ciphertext.is_some() && !page.messages[0].deleted);
    assert_eq!(s.count_messages(r.id).await.unwrap().stored, 3);
    assert_not_found(s.tombstone_message(r.id, 4).await, "message");
    assert_not_found(s.tombstone_message(r.id, 0).await, "message");
    // The next append continues after the tombstone.
    assert_eq!(
        s.append_message(r.id, &text_message(4, uid(1)))
            .await
            .unwrap()
            .seq,
        4
    );
}

/// Values at the API's size limits round-trip exactly.
pub async fn messages_values_at_size_limits(s: S) {
    let mut r = encrypted_room(1, uid(1), MAX_CAPACITY);
    r.name = "é".repeat(MAX_ROOM_NAME_CHARS - 1) + "☕";
    r.topic = "日".repeat(MAX_TOPIC_CHARS);
    let env = envelope(r.id, 1, uid(1), 1);
    let stored = s.create_room(&r, &owner_of(&r), Some(&env)).await.unwrap();
    assert_eq!(stored.name, r.name);
    assert_eq!(stored.topic, r.topic);
    assert_eq!(stored.capacity, MAX_CAPACITY);
    let got = s.get_room(r.id).await.unwrap();
    assert_eq!(got.name.chars().count(), MAX_ROOM_NAME_CHARS);
    assert_eq!(got.topic, r.topic);

    let big = sealed_message(1, uid(1), u32::MAX, MAX_CIPHERTEXT_BYTES);
    let m = s.append_message(r.id, &big).await.unwrap();
    let back = s.get_message(r.id, m.seq).await.unwrap();
    assert_eq!(back.ciphertext, big.ciphertext);
    assert_eq!(back.epoch, Some(u32::MAX));
    assert_eq!(
        back.ciphertext.as_ref().map(Bytes::len),
        Some(MAX_CIPHERTEXT_BYTES)
    );
    // 64 KiB of text in 4-byte characters.
    let mut text = text_message(2, uid(1));
    text.text = Some("😀".repeat(MAX_CIPHERTEXT_BYTES / 4));
    let m = s.append_message(r.id, &text).await.unwrap();
    assert_eq!(s.get_message(r.id, m.seq).await.unwrap().text, text.text);
    // An empty text and an empty ciphertext are values too.
    let mut empty = text_message(3, uid(1));
    empty.text = Some(String::new());
    let m = s.append_message(r.id, &empty).await.unwrap();
    assert_eq!(
        s.get_message(r.id, m.seq).await.unwrap().text.as_deref(),
        Some("")
    );
    let mut zero = sealed_message(4, uid(1), 0, 0);
    zero.signature = Some(Bytes(Vec::new()));
    let m = s.append_message(r.id, &zero).await.unwrap();
    let back = s.get_message(r.id, m.seq).await.unwrap();
    assert_eq!(back.ciphertext, Some(Bytes(Vec::new())));
    assert_eq!(back.epoch, Some(0));
    // Largest integers that fit.
    let mut u = user(1, &"n".repeat(32));
    u.created_at = i64::MAX as u64;
    u.spki = Bytes(vec![0xff; 600]);
    s.create_user(&u).await.unwrap();
    assert_eq!(s.get_user(u.id).await.unwrap(), u);
    let inv = invite(r.id, &"k".repeat(64), u32::MAX, i64::MAX as u64);
    s.create_invite(&inv).await.unwrap();
    assert_eq!(
        s.consume_invite(r.id, &inv.code, T0).await.unwrap().uses,
        u32::MAX - 1
    );
}

/// Messages: 8 tasks x 500 appends to one room give exactly the seqs
/// 1..=4000, each task's messages in its own order.
pub async fn messages_concurrent_appends_are_gapless(s: S) {
    const TASKS: u64 = 8;
    const EACH: u64 = 500;
    let r = make_room(&s, 1, 10).await;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let s = Arc::clone(&s);
        handles.push(tokio::spawn(async move {
            let mut seqs = Vec::with_capacity(EACH as usize);
            for i in 0..EACH {
                let n = t * EACH + i + 1;
                let m = s
                    .append_message(r.id, &text_message(n, uid(t + 1)))
                    .await
                    .unwrap();
                seqs.push(m.seq);
            }
            seqs
        }));
    }
    let mut all = BTreeSet::new();
    for h in handles {
        let seqs = h.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one task's seqs increase"
        );
        for q in seqs {
            assert!(all.insert(q), "seq {q} assigned twice");
        }
    }
    assert_eq!(all.len() as u64, TASKS * EACH);
    assert_eq!(all.first().copied(), Some(1));
    assert_eq!(all.last().copied(), Some(TASKS * EACH));
    // And the stored log agrees, read back in pages of 500.
    let mut next = 0u64;
    let mut after = 0u64;
    loop {
        let page = s
            .list_messages(r.id, MessageRange::After(after), 500)
            .await
            .unwrap();
        for m in &page.messages {
            next += 1;
            assert_eq!(m.seq, next);
            // Message n was sent by task (n-1)/EACH.
            let n = u64::from_be_bytes(m.id.as_bytes()[8..].try_into().unwrap());
            assert_eq!(m.sender_id, uid((n - 1) / EACH + 1));
        }
        match page.messages.last() {
            Some(m) if page.more => after = m.seq,
            _ => break,
        }
    }
    assert_eq!(next, TASKS * EACH);
    assert_eq!(s.count_messages(r.id).await.unwrap().stored, TASKS * EACH);
    assert_eq!(s.get_room(r.id).await.unwrap().last_seq, TASKS * EACH);
}

/// Messages: every room counts from 1 on its own.
pub async fn messages_rooms_are_independent(s: S) {
    let a = make_room(&s, 1, 10).await;
    let b = make_room(&s, 2, 10).await;
    for n in 1..=3 {
        assert_eq!(
            s.append_message(a.id, &text_message(n, uid(1)))
                .await
                .unwrap()
                .seq,
            n
        );
    }
    assert_eq!(
        s.append_message(b.id, &text_message(9, uid(1)))
            .await
            .unwrap()
            .seq,
        1
    );
    assert_eq!(s.get_room(b.id).await.unwrap().last_seq, 1);
    assert_eq!(s.get_room(a.id).await.unwrap().last_seq, 3);
    let page = s
        .list_messages(b.id, MessageRange::After(0), 10)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].id, mid(9));
}

/// Peers: upsert replaces, list by node id, remove.
pub async fn peers_lifecycle(s: S) {
    assert!(s.list_peers().await.unwrap().is_empty());
    for n in [3u64, 1, 2] {
        s.upsert_peer(&peer(n, PeerDirection::Discovered))
            .await
            .unwrap();
    }
    let mut p1 = peer(1, PeerDirection::Inbound);
    p1.name = "renamed".into();
    p1.spki = None;
    p1.last_seen = T0 + 500;
    s.upsert_peer(&p1).await.unwrap();
    assert_eq!(s.get_peer(p1.node_id).await.unwrap(), p1);
    let list = s.list_peers().await.unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(
        list.iter().map(|p| p.node_id).collect::<Vec<_>>(),
        [nid(1), nid(2), nid(3)]
    );
    assert_eq!(list[0], p1);
    s.remove_peer(nid(2)).await.unwrap();
    assert_not_found(s.remove_peer(nid(2)).await, "peer");
    assert_not_found(s.get_peer(nid(2)).await, "peer");
    assert_eq!(s.list_peers().await.unwrap().len(), 2);
}

/// Audit: append order, filters by room and actor, pagination.
pub async fn audit_append_and_list(s: S) {
    let mut ids = Vec::new();
    for i in 0..30u64 {
        let e = NewAudit {
            at: T0 + i,
            actor_id: Some(uid(i % 3)),
            room_id: (i % 2 == 0).then(|| rid(1)),
            action: format!("action.{i}"),
            detail: format!("détail {i}"),
        };
        let rec = s.append_audit(&e).await.unwrap();
        assert_eq!(rec.at, e.at);
        assert_eq!(rec.action, e.action);
        assert_eq!(rec.detail, e.detail);
        ids.push(rec.id);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "ids increase in append order");

    let collect = |filter: AuditFilter, limit: u32| {
        let s = Arc::clone(&s);
        async move {
            let mut out = Vec::new();
            let mut cursor = None;
            loop {
                let page = s
                    .list_audit(&AuditQuery {
                        filter,
                        limit,
                        cursor: cursor.take(),
                    })
                    .await
                    .unwrap();
                out.extend(page.items.into_iter().map(|r| r.at - T0));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return out,
                }
            }
        }
    };
    let evens: Vec<u64> = (0..30).filter(|i| i % 2 == 0).collect();
    assert_eq!(collect(AuditFilter::Room(rid(1)), 4).await, evens);
    assert_eq!(collect(AuditFilter::Room(rid(1)), 15).await, evens);
    let ones: Vec<u64> = (0..30).filter(|i| i % 3 == 1).collect();
    assert_eq!(collect(AuditFilter::Actor(uid(1)), 3).await, ones);
    assert!(collect(AuditFilter::Room(rid(2)), 3).await.is_empty());
    assert!(collect(AuditFilter::Actor(uid(7)), 3).await.is_empty());
    let all: Vec<u64> = (0..30).collect();
    assert_eq!(collect(AuditFilter::All, 7).await, all);
    assert_eq!(collect(AuditFilter::All, 30).await, all);
}

/// Every room-scoped method says `NotFound { "room" }` for a missing room.
pub async fn unknown_room_is_not_found_everywhere(s: S) {
    let r = rid(404);
    assert_not_found(s.get_room(r).await, "room");
    assert_not_found(
        s.update_room(r, 1, &RoomUpdate::default(), T0).await,
        "room",
    );
    assert_not_found(s.delete_room(r).await, "room");
    assert_not_found(s.add_member(r, &joiner(uid(2)), None).await, "room");
    assert_not_found(s.add_member(r, &joiner(uid(2)), Some("c")).await, "room");
    assert_not_found(s.get_member(r, uid(2)).await, "room");
    assert_not_found(s.list_members(r, 10, None).await, "room");
    assert_not_found(s.set_role(r, uid(2), Role::Admin).await, "room");
    assert_not_found(
        s.remove_member(r, uid(2), LeaveReason::Left, T0).await,
        "room",
    );
    assert_not_found(s.is_banned(r, uid(2)).await, "room");
    assert_not_found(s.unban(r, uid(2)).await, "room");
    assert_not_found(s.create_invite(&invite(r, "c", 1, T0 + 9)).await, "room");
    assert_not_found(s.consume_invite(r, "c", T0).await, "room");
    assert_not_found(s.delete_invite(r, "c").await, "room");
    assert_not_found(s.put_envelopes(&[envelope(r, 1, uid(2), 1)]).await, "room");
    assert_not_found(s.get_envelope(r, 1, uid(2)).await, "room");
    assert_not_found(s.list_envelopes(r, uid(2), 0, 10).await, "room");
    assert_not_found(
        s.rotate_epoch(r, 1, 1, &[envelope(r, 2, uid(1), 1)], T0)
            .await,
        "room",
    );
    assert_not_found(s.append_message(r, &text_message(1, uid(1))).await, "room");
    assert_not_found(s.list_messages(r, MessageRange::After(0), 10).await, "room");
    assert_not_found(
        s.list_messages(r, MessageRange::Before(9), 10).await,
        "room",
    );
    assert_not_found(s.get_message(r, 1).await, "room");
    assert_not_found(s.tombstone_message(r, 1).await, "room");
    assert_not_found(s.count_messages(r).await, "room");
    // Nothing was created on the way.
    let all = s
        .list_rooms(&RoomQuery {
            filter: RoomFilter::All,
            limit: 10,
            cursor: None,
        })
        .await
        .unwrap();
    assert!(all.items.is_empty());
}

/// Limits of 0 or above `MAX_LIMIT`, malformed cursors and cursors of
/// another list are invalid.
pub async fn bad_limits_and_cursors_are_invalid(s: S) {
    let r = make_room(&s, 1, 10).await;
    s.create_user(&user(1, "u")).await.unwrap();
    for limit in [0, MAX_LIMIT + 1] {
        assert_invalid(
            s.list_users(&UserQuery {
                name_prefix: None,
                limit,
                cursor: None,
            })
            .await,
        );
        assert_invalid(
            s.list_rooms(&RoomQuery {
                filter: RoomFilter::All,
                limit,
                cursor: None,
            })
            .await,
        );
        assert_invalid(s.list_members(r.id, limit, None).await);
        assert_invalid(s.list_memberships(uid(1), limit, None).await);
        assert_invalid(s.list_messages(r.id, MessageRange::After(0), limit).await);
        assert_invalid(s.list_envelopes(r.id, uid(1), 0, limit).await);
        assert_invalid(
            s.list_audit(&AuditQuery {
                filter: AuditFilter::Room(r.id),
                limit,
                cursor: None,
            })
            .await,
        );
    }
    let garbage = Cursor::from_text("not a cursor!");
    let rooms_cursor = Cursor::room(CursorKind::Rooms, r.id);
    for c in [garbage, rooms_cursor.clone(), Cursor::from_text("")] {
        assert_invalid(
            s.list_users(&UserQuery {
                name_prefix: None,
                limit: 5,
                cursor: Some(c.clone()),
            })
            .await,
        );
        assert_invalid(s.list_members(r.id, 5, Some(&c)).await);
        assert_invalid(s.list_memberships(uid(1), 5, Some(&c)).await);
        assert_invalid(
            s.list_audit(&AuditQuery {
                filter: AuditFilter::Room(r.id),
                limit: 5,
                cursor: Some(c.clone()),
            })
            .await,
        );
    }
    assert_invalid(
        s.list_rooms(&RoomQuery {
            filter: RoomFilter::All,
            limit: 5,
            cursor: Some(Cursor::user(CursorKind::Members, uid(1))),
        })
        .await,
    );
    // A valid cursor past the end gives an empty last page.
    let page = s
        .list_rooms(&RoomQuery {
            filter: RoomFilter::All,
            limit: 5,
            cursor: Some(Cursor::room(CursorKind::Rooms, rid(u64::MAX))),
        })
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.next_cursor.is_none());
}

/// `n` records all new (`inserted`), or all already there (`present`).
fn fresh(n: u64) -> ImportCount {
    ImportCount {
        inserted: n,
        present: 0,
    }
}

fn again(n: u64) -> ImportCount {
    ImportCount {
        inserted: 0,
        present: n,
    }
}

/// Export: bans, invites and every envelope of a room, paginated, in key
/// order; typed errors for a missing room and foreign cursors.
pub async fn export_lists_of_a_room(s: S) {
    let r = make_encrypted_room(&s, 1, 50).await;
    let other = make_encrypted_room(&s, 2, 50).await;
    // Users 2..=13 join; the odd ones are banned (scrambled order).
    for n in 2..=13u64 {
        s.add_member(r.id, &joiner(uid(n)), None).await.unwrap();
        s.add_member(other.id, &joiner(uid(n)), None).await.unwrap();
    }
    for n in [9u64, 3, 13, 5, 11, 7] {
        s.remove_member(r.id, uid(n), LeaveReason::Banned, T0 + n)
            .await
            .unwrap();
    }
    s.remove_member(other.id, uid(2), LeaveReason::Banned, T0)
        .await
        .unwrap();
    for code in ["zeta", "alpha", "Ωmega", "beta-2", "beta", "A"] {
        s.create_invite(&invite(r.id, code, 3, T0 + 100))
            .await
            .unwrap();
    }
    s.create_invite(&invite(other.id, "elsewhere", 1, T0 + 100))
        .await
        .unwrap();
    s.consume_invite(r.id, "beta", T0).await.unwrap();
    // Envelopes: epoch 1 for members 2..=6, then two rotations, so former
    // members keep envelopes of the epochs they had.
    let batch: Vec<_> = (2..=6)
        .map(|n| envelope(r.id, 1, uid(n), n as u8))
        .collect();
    s.put_envelopes(&batch).await.unwrap();
    for epoch in 1..=2u32 {
        let v = s.get_room(r.id).await.unwrap().version;
        let envs = [
            envelope(r.id, epoch + 1, uid(1), 0x10),
            envelope(r.id, epoch + 1, uid(4), 0x11),
        ];
        s.rotate_epoch(r.id, epoch, v, &envs, T0 + 50)
            .await
            .unwrap();
    }

    let want_bans: Vec<UserId> = [3u64, 5, 7, 9, 11, 13].map(uid).to_vec();
    let mut want_codes: Vec<&str> = vec!["zeta", "alpha", "Ωmega", "beta-2", "beta", "A"];
    want_codes.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut want_envs: Vec<(UserId, u32)> = vec![(uid(1), 1), (uid(1), 2), (uid(1), 3)];
    want_envs.extend((2..=6).map(|n| (uid(n), 1)));
    want_envs.extend([(uid(4), 2), (uid(4), 3)]);
    want_envs.sort();

    for limit in [1u32, 2, 5, 6, 7, 100] {
        let mut bans: Vec<BanRecord> = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = s.list_bans(r.id, limit, cursor.as_ref()).await.unwrap();
            assert!(page.items.len() <= limit as usize);
            bans.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(
            bans.iter().map(|b| b.user_id).collect::<Vec<_>>(),
            want_bans,
            "limit {limit}"
        );
        assert!(bans.iter().all(|b| b.room_id == r.id));
        assert_eq!(bans[0].banned_at, T0 + 3);

        let mut invites: Vec<InviteRecord> = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = s.list_invites(r.id, limit, cursor.as_ref()).await.unwrap();
            invites.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let codes: Vec<&str> = invites.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, want_codes, "limit {limit}");
        let beta = invites.iter().find(|i| i.code == "beta").unwrap();
        assert_eq!(
            (beta.uses, beta.expires_at, beta.created_by),
            (2, T0 + 100, uid(1))
        );

        let mut envs: Vec<EnvelopeRecord> = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = s
                .list_room_envelopes(r.id, limit, cursor.as_ref())
                .await
                .unwrap();
            envs.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let keys: Vec<(UserId, u32)> = envs
            .iter()
            .map(|e| (e.envelope.member_id, e.envelope.epoch))
            .collect();
        assert_eq!(keys, want_envs, "limit {limit}");
        assert_eq!(envs[3], batch[0], "the records are the stored ones");
    }
    // The other room's lists are its own.
    let b = s.list_bans(other.id, 10, None).await.unwrap();
    assert_eq!(b.items.len(), 1);
    let i = s.list_invites(other.id, 10, None).await.unwrap();
    assert_eq!(i.items.len(), 1);
    assert_eq!(
        s.list_room_envelopes(other.id, 10, None)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // A room without any: empty pages.
    let plain = make_room(&s, 3, 5).await;
    assert!(
        s.list_bans(plain.id, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        s.list_invites(plain.id, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        s.list_room_envelopes(plain.id, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Errors.
    assert_not_found(s.list_bans(rid(9), 10, None).await, "room");
    assert_not_found(s.list_invites(rid(9), 10, None).await, "room");
    assert_not_found(s.list_room_envelopes(rid(9), 10, None).await, "room");
    let foreign = Cursor::user(CursorKind::Members, uid(3));
    assert_invalid(s.list_bans(r.id, 10, Some(&foreign)).await);
    assert_invalid(s.list_invites(r.id, 10, Some(&foreign)).await);
    assert_invalid(s.list_room_envelopes(r.id, 10, Some(&foreign)).await);
    assert_invalid(s.list_bans(r.id, 0, None).await);
    assert_invalid(s.list_invites(r.id, MAX_LIMIT + 1, None).await);
    assert_invalid(s.list_room_envelopes(r.id, 0, None).await);
}

/// A room's worth of records as another store holds them: version 7,
/// epoch 3, rotation due, messages 1..=12 with a tombstone, former members'
/// envelopes, a ban, invites.
struct Dump {
    users: Vec<UserRecord>,
    room: RoomRecord,
    members: Vec<MemberRecord>,
    bans: Vec<BanRecord>,
    invites: Vec<InviteRecord>,
    envelopes: Vec<EnvelopeRecord>,
    messages: Vec<MessageRecord>,
    peers: Vec<crate::records::PeerRecord>,
    audit: Vec<AuditRecord>,
}

fn dump() -> Dump {
    let mut room = encrypted_room(1, uid(1), 5);
    room.version = 7;
    room.epoch = 3;
    room.rotation_due = true;
    room.last_seq = 12;
    room.member_count = 99; // ignored
    room.created_at = T0 + 1;
    room.updated_at = T0 + 70;
    room.password_hash = Some("$argon2id$imported".into());
    let members = vec![
        MemberRecord {
            room_id: room.id,
            user_id: uid(1),
            role: Role::Owner,
            join_epoch: 1,
            joined_at: T0 + 1,
        },
        MemberRecord {
            room_id: room.id,
            user_id: uid(2),
            role: Role::Admin,
            join_epoch: 2,
            joined_at: T0 + 20,
        },
        MemberRecord {
            room_id: room.id,
            user_id: uid(3),
            role: Role::Member,
            join_epoch: 3,
            joined_at: T0 + 30,
        },
    ];
    let mut envelopes = Vec::new();
    for epoch in 1..=3u32 {
        envelopes.push(envelope(room.id, epoch, uid(1), epoch as u8));
        envelopes.push(envelope(room.id, epoch, uid(4), 0x40 + epoch as u8)); // a former member
    }
    let messages = (1..=12u64)
        .map(|n| {
            let mut m =
                MessageRecord::from_new(room.id, n, sealed_message(n, uid(1 + n % 3), 3, 40));
            if n == 5 {
                m.tombstone();
            }
            m
        })
        .collect();
    let audit = (1..=4u64)
        .map(|n| AuditRecord {
            id: format!("source-{n:03}"),
            at: T0 + n,
            actor_id: Some(uid(n)),
            room_id: Some(room.id),
            action: format!("imported.{n}"),
            detail: "from another store".into(),
        })
        .collect();
    Dump {
        users: (1..=4).map(|n| user(n, &format!("User{n}"))).collect(),
        members,
        bans: vec![BanRecord {
            room_id: room.id,
            user_id: uid(4),
            banned_at: T0 + 60,
        }],
        invites: vec![
            invite(room.id, "imported", 2, T0 + 1000),
            invite(room.id, "spent", 0, T0 + 9),
        ],
        envelopes,
        messages,
        peers: vec![
            peer(1, PeerDirection::Inbound),
            peer(2, PeerDirection::Discovered),
        ],
        audit,
        room,
    }
}

async fn import_all(s: &S, d: &Dump) -> Vec<ImportCount> {
    vec![
        s.import_users(&d.users).await.unwrap(),
        s.import_rooms(std::slice::from_ref(&d.room)).await.unwrap(),
        s.import_members(&d.members).await.unwrap(),
        s.import_bans(&d.bans).await.unwrap(),
        s.import_invites(&d.invites).await.unwrap(),
        s.import_envelopes(&d.envelopes).await.unwrap(),
        s.import_messages(&d.messages).await.unwrap(),
        s.import_peers(&d.peers).await.unwrap(),
        s.import_audit(&d.audit).await.unwrap(),
    ]
}

/// Import: every record keeps its fields (seqs, version, epochs, times,
/// tombstones); a second run finds everything present and changes
/// nothing; the store then carries on from the imported state.
pub async fn import_keeps_fields_and_is_idempotent(s: S) {
    // An audit entry of the target's own comes first.
    s.append_audit(&NewAudit {
        at: T0,
        actor_id: None,
        room_id: Some(rid(1)),
        action: "local".into(),
        detail: String::new(),
    })
    .await
    .unwrap();
    let d = dump();
    let counts = import_all(&s, &d).await;
    assert_eq!(
        counts,
        [
            fresh(4),
            fresh(1),
            fresh(3),
            fresh(1),
            fresh(2),
            fresh(6),
            fresh(12),
            fresh(2),
            fresh(4)
        ]
    );

    for u in &d.users {
        assert_eq!(&s.get_user(u.id).await.unwrap(), u);
    }
    assert_eq!(s.get_user_by_name("user3").await.unwrap().id, uid(3));
    let room = s.get_room(d.room.id).await.unwrap();
    assert_eq!(
        room,
        RoomRecord {
            member_count: 3,
            ..d.room.clone()
        }
    );
    for m in &d.members {
        assert_eq!(&s.get_member(m.room_id, m.user_id).await.unwrap(), m);
    }
    assert_eq!(
        s.list_memberships(uid(2), 10, None).await.unwrap().items,
        vec![d.members[1].clone()]
    );
    assert!(s.is_banned(d.room.id, uid(4)).await.unwrap());
    assert_eq!(
        s.list_bans(d.room.id, 10, None).await.unwrap().items,
        d.bans
    );
    let invites = s.list_invites(d.room.id, 10, None).await.unwrap().items;
    assert_eq!(invites, d.invites);
    for e in &d.envelopes {
        let got = s
            .get_envelope(e.envelope.room_id, e.envelope.epoch, e.envelope.member_id)
            .await
            .unwrap();
        assert_eq!(&got, e);
    }
    let page = s
        .list_messages(d.room.id, MessageRange::After(0), 100)
        .await
        .unwrap();
    assert_eq!(page.messages, d.messages);
    assert_eq!(page.last_seq, 12);
    assert!(s.get_message(d.room.id, 5).await.unwrap().deleted);
    let count = s.count_messages(d.room.id).await.unwrap();
    assert_eq!((count.stored, count.dropped, count.last_seq), (12, 0, 12));
    assert_eq!(s.get_peer(nid(1)).await.unwrap(), d.peers[0]);
    let audit = s
        .list_audit(&AuditQuery {
            filter: AuditFilter::Room(rid(1)),
            limit: 100,
            cursor: None,
        })
        .await
        .unwrap()
        .items;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "local",
            "imported.1",
            "imported.2",
            "imported.3",
            "imported.4"
        ]
    );
    assert_eq!((audit[2].at, audit[2].actor_id), (T0 + 2, Some(uid(2))));

    // A rerun: everything is present, nothing doubled.
    let counts = import_all(&s, &d).await;
    assert_eq!(
        counts,
        [
            again(4),
            again(1),
            again(3),
            again(1),
            again(2),
            again(6),
            again(12),
            again(2),
            again(4)
        ]
    );
    assert_eq!(s.get_room(d.room.id).await.unwrap().member_count, 3);
    assert_eq!(s.count_messages(d.room.id).await.unwrap().stored, 12);
    let all = s
        .list_audit(&AuditQuery {
            filter: AuditFilter::All,
            limit: 100,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 5);

    // The store carries on from the imported state.
    let m = s
        .append_message(d.room.id, &text_message(13, uid(1)))
        .await
        .unwrap();
    assert_eq!(m.seq, 13);
    assert_conflict(
        s.update_room(d.room.id, 6, &RoomUpdate::default(), T0 + 80)
            .await,
        ConflictKind::Version,
    );
    let v8 = s
        .update_room(d.room.id, 7, &RoomUpdate::default(), T0 + 80)
        .await
        .unwrap();
    assert_eq!(v8.version, 8);
    let (after, joined) = s
        .add_member(d.room.id, &joiner(uid(5)), Some("imported"))
        .await
        .unwrap();
    assert_eq!(after.member_count, 4);
    assert_eq!(joined.join_epoch, 3);
    assert_conflict(
        s.add_member(d.room.id, &joiner(uid(6)), Some("spent"))
            .await,
        ConflictKind::InviteExpired,
    );
    let rotated = s
        .rotate_epoch(
            d.room.id,
            3,
            8,
            &[envelope(d.room.id, 4, uid(1), 9)],
            T0 + 90,
        )
        .await
        .unwrap();
    assert_eq!(
        (rotated.epoch, rotated.version, rotated.rotation_due),
        (4, 9, false)
    );
    s.delete_room(d.room.id).await.unwrap();
    assert!(
        s.list_memberships(uid(2), 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// Import: an interrupted run completes; a present room raises its
/// `last_seq`; the conflicts and refusals are typed.
pub async fn import_resumes_and_refuses(s: S) {
    let d = dump();
    // The first run stopped after half the messages (and before the room's
    // counter was raised, as a non-transactional backend may).
    let mut low = d.room.clone();
    low.last_seq = 0;
    assert_eq!(s.import_rooms(&[low]).await.unwrap(), fresh(1));
    s.import_users(&d.users).await.unwrap();
    s.import_members(&d.members[..1]).await.unwrap();
    assert_eq!(s.import_messages(&d.messages[..6]).await.unwrap(), fresh(6));
    assert_eq!(s.get_room(d.room.id).await.unwrap().last_seq, 6);
    // The rerun.
    assert_eq!(
        s.import_rooms(std::slice::from_ref(&d.room)).await.unwrap(),
        again(1)
    );
    assert_eq!(s.get_room(d.room.id).await.unwrap().last_seq, 12);
    assert_eq!(
        s.import_members(&d.members).await.unwrap(),
        ImportCount {
            inserted: 2,
            present: 1
        }
    );
    assert_eq!(
        s.import_messages(&d.messages).await.unwrap(),
        ImportCount {
            inserted: 6,
            present: 6
        }
    );
    let page = s
        .list_messages(d.room.id, MessageRange::After(0), 100)
        .await
        .unwrap();
    assert_eq!(page.messages, d.messages);
    assert_eq!(s.get_room(d.room.id).await.unwrap().member_count, 3);

    // A room imported without its messages carries on after its last seq.
    let mut bare = room(2, uid(1), 10);
    bare.last_seq = 40;
    s.import_rooms(&[bare.clone()]).await.unwrap();
    assert_eq!(s.get_room(bare.id).await.unwrap().last_seq, 40);
    assert_eq!(
        s.append_message(bare.id, &text_message(1, uid(1)))
            .await
            .unwrap()
            .seq,
        41
    );
    assert_eq!(s.get_message(bare.id, 41).await.unwrap().id, mid(1));

    // Refusals.
    assert_conflict(
        s.import_users(&[user(9, "USER1")]).await,
        ConflictKind::UserName,
    );
    assert_not_found(s.get_user(uid(9)).await, "user");
    let mut stray = d.members[1].clone();
    stray.room_id = rid(9);
    assert_not_found(s.import_members(&[stray]).await, "room");
    let mut small = room(3, uid(1), 2);
    small.last_seq = 0;
    s.import_rooms(&[small.clone()]).await.unwrap();
    let seats: Vec<MemberRecord> = (1..=3u64)
        .map(|n| MemberRecord {
            room_id: small.id,
            user_id: uid(n),
            role: Role::Member,
            join_epoch: 0,
            joined_at: T0,
        })
        .collect();
    assert_conflict(s.import_members(&seats).await, ConflictKind::Capacity);
    assert_eq!(s.get_room(small.id).await.unwrap().member_count, 2);
    assert_conflict(
        s.import_envelopes(&[envelope(d.room.id, 4, uid(1), 1)])
            .await,
        ConflictKind::Epoch,
    );
    let mut zero = d.messages[0].clone();
    zero.seq = 0;
    assert_invalid(s.import_messages(&[zero]).await);
    let mut stray = d.messages[0].clone();
    stray.room_id = rid(9);
    assert_not_found(s.import_messages(&[stray]).await, "room");
    let mut huge = d.room.clone();
    huge.id = rid(5);
    huge.version = u64::MAX;
    assert_invalid(s.import_rooms(&[huge]).await);
    assert_not_found(s.get_room(rid(5)).await, "room");
    let mut nameless = d.audit[0].clone();
    nameless.id = String::new();
    assert_invalid(s.import_audit(&[nameless]).await);
    // Empty batches are no-ops.
    assert_eq!(
        s.import_messages(&[]).await.unwrap(),
        ImportCount::default()
    );
    assert_eq!(s.import_audit(&[]).await.unwrap(), ImportCount::default());
}
