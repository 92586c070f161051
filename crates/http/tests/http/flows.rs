//! The core flows, run against every store backend (memory here, MongoDB in
//! `mongo.rs`): rooms, messages and the key rules; the curl path; events.

use std::time::Duration;

use peer_testkit::keys;
use peer_testkit::node::{RawRequest, SseItem, TestNode, open, send};
use serde_json::{Value, json};

use crate::common::{PATIENCE, User};

/// Rooms, members, key distribution and rotation, messages, at HTTP level.
pub async fn rooms_messages_and_keys(node: &TestNode) {
    let alice = User::new(node, keys::alice(), "alice").await;
    let bob = User::new(node, keys::bob(), "bob").await;
    let carol = User::new(node, keys::carol(), "carol").await;
    let (room, key) = alice.encrypted_room("secret", json!({})).await;
    let r = |p: &str| format!("/api/v1/rooms/{room}{p}");

    for u in [&bob, &carol] {
        let v = u.call("POST", &r("/join"), None).await.expect(200);
        assert_eq!(v["key_pending"], true);
    }
    // Hand epoch 1 to the new members.
    let envs = alice.envelopes(room, 1, &key, &[bob.public(), carol.public()]);
    let v = alice
        .call(
            "POST",
            &r("/keys"),
            Some(json!({"epoch": 1, "envelopes": envs})),
        )
        .await
        .expect(200);
    assert_eq!(
        (v["stored"].as_u64(), v["rotated"].as_bool()),
        (Some(2), Some(false))
    );
    let v = bob.call("GET", &r("/keys"), None).await.expect(200);
    assert_eq!(v["current_epoch"], 1);
    assert_eq!(v["envelopes"].as_array().unwrap().len(), 1);
    assert_eq!(v["envelopes"][0]["member_id"], json!(bob.id));

    let v = alice.post_cipher(room, 1).await.expect(201);
    assert_eq!(v["seq"], 1);
    let v = bob
        .call("GET", &r("/messages?after=0"), None)
        .await
        .expect(200);
    assert_eq!(v["messages"].as_array().unwrap().len(), 1);
    assert_eq!(v["messages"][0]["epoch"], 1);

    // Bob leaves: nobody posts until the key is rotated.
    let v = bob.call("POST", &r("/leave"), None).await.expect(200);
    assert_eq!(v["reason"], "left");
    alice
        .post_cipher(room, 1)
        .await
        .expect_error("rotation_pending");
    let v = carol.call("GET", &r(""), None).await.expect(200);
    assert_eq!(v["rotation_due"], true);

    // Rotation must cover exactly the current members.
    let new_key = peer_crypto::RoomKey::generate(&mut peer_crypto::rng::system_rng());
    let only_alice = alice.envelopes(room, 2, &new_key, &[alice.public()]);
    alice
        .call(
            "POST",
            &r("/keys"),
            Some(json!({"epoch": 2, "envelopes": only_alice})),
        )
        .await
        .expect_error("incomplete_envelopes");
    let with_bob = alice.envelopes(
        room,
        2,
        &new_key,
        &[alice.public(), bob.public(), carol.public()],
    );
    alice
        .call(
            "POST",
            &r("/keys"),
            Some(json!({"epoch": 2, "envelopes": with_bob})),
        )
        .await
        .expect_error("incomplete_envelopes");
    let complete = alice.envelopes(room, 2, &new_key, &[alice.public(), carol.public()]);
    let v = alice
        .call(
            "POST",
            &r("/keys"),
            Some(json!({"epoch": 2, "envelopes": complete})),
        )
        .await
        .expect(200);
    assert_eq!(
        (v["current_epoch"].as_u64(), v["rotated"].as_bool()),
        (Some(2), Some(true))
    );

    carol
        .post_cipher(room, 1)
        .await
        .expect_error("epoch_outdated");
    carol.post_cipher(room, 3).await.expect_error("wrong_epoch");
    let v = carol.post_cipher(room, 2).await.expect(201);
    assert_eq!(v["seq"], 2);
    let v = carol.call("GET", &r("/keys"), None).await.expect(200);
    assert_eq!(v["current_epoch"], 2);
    assert_eq!(v["envelopes"].as_array().unwrap().len(), 2);

    // A former member reads nothing.
    bob.call("GET", &r("/messages"), None)
        .await
        .expect_error("not_member");
    bob.call("GET", &r("/keys"), None)
        .await
        .expect_error("not_member");

    // Tombstones: the sender may; the room shows the message as deleted.
    carol
        .call("DELETE", &r("/messages/2"), None)
        .await
        .expect(200);
    let v = alice
        .call("GET", &r("/messages?after=1"), None)
        .await
        .expect(200);
    assert_eq!(v["messages"][0]["deleted"], true);
    assert!(v["messages"][0].get("ciphertext").is_none());

    let v = alice.call("GET", &r(""), None).await.expect(200);
    assert_eq!(v["members"].as_array().unwrap().len(), 2);
    assert_eq!(v["epoch"], 2);
}

/// The curl path: a plain HTTP client with a bearer token in an
/// unencrypted room.
pub async fn curl_path(node: &TestNode) {
    let alice = User::new(node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let addr = node.addr();
    let room = crate::common::room_id();
    let resp = send(
        addr,
        RawRequest::post("/api/v1/rooms")
            .bearer(&token)
            .json(json!({"id": room, "name": "lobby", "encrypted": false}).to_string()),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert!(
        resp.header("peer-auth").is_none(),
        "bearer answers carry no Peer-Auth"
    );
    let resp = send(
        addr,
        RawRequest::post(&format!("/api/v1/rooms/{room}/messages"))
            .bearer(&token)
            .json(r#"{"text":"hello from curl"}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 201, "{}", resp.text());
    let resp = send(
        addr,
        RawRequest::get(&format!("/api/v1/rooms/{room}/messages?after=0&limit=10")).bearer(&token),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["messages"][0]["text"], "hello from curl");
    assert_eq!(v["messages"][0]["sender_id"], json!(alice.id));
    assert_eq!(v["last_seq"], 1);
    // Listings show the room as unencrypted.
    let resp = send(addr, RawRequest::get("/api/v1/rooms").bearer(&token))
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["rooms"][0]["encrypted"], false);
}

/// Reads SSE items until an event (skipping comments and `retry:`).
pub async fn next_event(s: &mut peer_testkit::node::RawStream) -> (Option<String>, String, Value) {
    loop {
        let item = tokio::time::timeout(PATIENCE, s.next_sse())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the stream goes on");
        if let SseItem::Event { id, event, data } = item {
            return (id, event, serde_json::from_str(&data).unwrap());
        }
    }
}

/// Events: delivery, ids, resume with `Last-Event-ID`, and the
/// authenticated head of a session stream.
pub async fn events(node: &TestNode) {
    let alice = User::new(node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let addr = node.addr();
    let room = alice.plain_room("events").await;
    let post = |text: &'static str| {
        let token = token.clone();
        async move {
            let resp = send(
                addr,
                RawRequest::post(&format!("/api/v1/rooms/{room}/messages"))
                    .bearer(&token)
                    .json(json!({ "text": text }).to_string()),
            )
            .await
            .unwrap();
            assert_eq!(resp.status, 201);
        }
    };

    let mut s = open(addr, RawRequest::get("/api/v1/events").bearer(&token))
        .await
        .unwrap();
    assert_eq!(s.status, 200);
    assert_eq!(s.headers.get("content-type").unwrap(), "text/event-stream");
    post("one").await;
    let (id1, kind, data) = next_event(&mut s).await;
    assert_eq!(kind, "message");
    assert_eq!(data["type"], "message");
    assert_eq!(data["seq"], 1);
    assert_eq!(data["room_id"], json!(room));
    let id1: u64 = id1.unwrap().parse().unwrap();
    assert_eq!(data["id"], id1);
    post("two").await;
    let (id2, _, data) = next_event(&mut s).await;
    assert_eq!(data["seq"], 2);
    let id2: u64 = id2.unwrap().parse().unwrap();
    assert!(id2 > id1);
    drop(s);

    // Missed while away: replayed after Last-Event-ID.
    post("three").await;
    let mut s = open(
        addr,
        RawRequest::get("/api/v1/events")
            .bearer(&token)
            .header("last-event-id", &id2.to_string()),
    )
    .await
    .unwrap();
    let (id3, _, data) = next_event(&mut s).await;
    assert_eq!(data["seq"], 3);
    assert!(id3.unwrap().parse::<u64>().unwrap() > id2);
    drop(s);

    // A session stream: Peer-Auth covers 200 and an empty body.
    let (req, verifier) = alice.prepare("GET", "/api/v1/events", b"", false);
    let mut s = open(addr, req).await.unwrap();
    assert_eq!(s.status, 200);
    let tag = s
        .headers
        .get("peer-auth")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    verifier.verify(200, Some(&tag), b"").unwrap();
    post("four").await;
    let (_, _, data) = next_event(&mut s).await;
    assert_eq!(data["seq"], 4);
    tokio::time::sleep(Duration::from_millis(1)).await;
}
