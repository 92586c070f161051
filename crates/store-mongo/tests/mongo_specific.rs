//! What only the MongoDB backend has: indexes, connection failures, seq
//! holes, transaction modes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};
use peer_proto::Bytes;
use peer_store::conformance::{owner_of, room, sealed_message, text_message, uid};
use peer_store::{MessageRange, Store, StoreError};
use peer_store_mongo::{MongoConfig, MongoStore, TransactionMode};

#[tokio::test]
async fn indexes_are_created_once_and_unique_where_they_must_be() {
    let Some(f) = common::fresh_with(TransactionMode::Auto).await else {
        return;
    };
    // Connecting again to the same database is fine (idempotent).
    let uri = common::uri().unwrap();
    let again = MongoStore::connect(MongoConfig::new(uri, f.store.database().name()))
        .await
        .unwrap();
    again.health().await.unwrap();
    let db = f.store.database();
    let mut unique = Vec::new();
    for coll in [
        "users",
        "members",
        "bans",
        "invites",
        "envelopes",
        "messages",
    ] {
        let mut cursor = db
            .collection::<Document>(coll)
            .list_indexes()
            .await
            .unwrap();
        while cursor.advance().await.unwrap() {
            let ix = cursor.deserialize_current().unwrap();
            if ix.options.as_ref().and_then(|o| o.unique) == Some(true) {
                unique.push((coll, ix.keys.keys().cloned().collect::<Vec<_>>()));
            }
        }
    }
    unique.sort();
    assert_eq!(
        unique,
        vec![
            ("bans", vec!["room_id".to_string(), "user_id".into()]),
            (
                "envelopes",
                vec!["room_id".into(), "epoch".into(), "member_id".into()]
            ),
            ("invites", vec!["room_id".into(), "code".into()]),
            ("members", vec!["room_id".into(), "user_id".into()]),
            ("messages", vec!["room_id".into(), "seq".into()]),
            ("users", vec!["name_folded".into()]),
        ]
    );
    f.store.drop_database().await.unwrap();
}

#[tokio::test]
async fn numbers_are_int64_and_ids_binary() {
    let Some(f) = common::fresh_with(TransactionMode::Auto).await else {
        return;
    };
    let r = room(1, uid(1), 10);
    f.store.create_room(&r, &owner_of(&r), None).await.unwrap();
    f.store
        .append_message(r.id, &text_message(1, uid(1)))
        .await
        .unwrap();
    let m = f
        .store
        .database()
        .collection::<Document>("messages")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert!(m.get_i64("seq").is_ok());
    assert!(m.get_binary_generic("room_id").is_ok_and(|b| b.len() == 16));
    f.store.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_seq_spent_by_a_failed_append_becomes_a_tombstone() {
    let Some(f) = common::fresh_with(TransactionMode::Auto).await else {
        return;
    };
    let s = &f.store;
    let r = room(1, uid(1), 10);
    s.create_room(&r, &owner_of(&r), None).await.unwrap();
    s.append_message(r.id, &text_message(1, uid(1)))
        .await
        .unwrap();
    // Larger than a BSON document may be: the seq is allocated, the insert
    // fails.
    let mut huge = sealed_message(2, uid(1), 1, 0);
    huge.ciphertext = Some(Bytes(vec![0; 17 * 1024 * 1024]));
    let err = s.append_message(r.id, &huge).await.unwrap_err();
    assert!(!matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let next = s
        .append_message(r.id, &text_message(3, uid(1)))
        .await
        .unwrap();
    assert_eq!(next.seq, 3);
    let page = s
        .list_messages(r.id, MessageRange::After(0), 10)
        .await
        .unwrap();
    let seqs: Vec<(u64, bool)> = page.messages.iter().map(|m| (m.seq, m.deleted)).collect();
    assert_eq!(seqs, [(1, false), (2, true), (3, false)]);
    f.store.drop_database().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_the_timeout() {
    if common::uri().is_none() {
        return;
    }
    // A loopback port where nothing listens.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = MongoConfig::new(
        format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        "nowhere",
    );
    cfg.connect_timeout = Duration::from_millis(500);
    let t = Instant::now();
    let err = MongoStore::connect(cfg).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_malformed_uri_is_invalid() {
    let err = MongoStore::connect(MongoConfig::new("postgres://nope", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid { field: "uri", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn transaction_modes() {
    let Some(auto) = common::fresh_with(TransactionMode::Auto).await else {
        return;
    };
    // Auto uses them exactly when the deployment has them (the test server
    // is a one-member replica set: it has); Always then agrees or refuses.
    let has = auto.store.uses_transactions();
    auto.store.drop_database().await.unwrap();
    let mut cfg = MongoConfig::new(common::uri().unwrap(), common::db_name("pgtest"));
    cfg.transactions = TransactionMode::Always;
    match MongoStore::connect(cfg).await {
        Ok(always) => {
            assert!(has && always.uses_transactions());
            always.drop_database().await.unwrap();
        }
        Err(e) => assert!(!has && matches!(e, StoreError::Invalid { .. }), "{e:?}"),
    }
    let never = common::fresh_with(TransactionMode::Never).await.unwrap();
    assert!(!never.store.uses_transactions());
    never.store.drop_database().await.unwrap();
}
