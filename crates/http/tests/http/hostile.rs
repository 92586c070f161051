//! Hostile clients (issue 8): one test per attack, each asserting the exact
//! refusal (status and api.md error code) and that nothing changed. Tests of
//! the same attacks that live elsewhere (the per-code table of `errors.rs`,
//! the limits of `limits.rs`, the whole client flow of peer-client) are
//! listed next to these in `docs/security.md`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use peer_http::server::ServerConfig;
use peer_node::NodeConfig;
use peer_node::ratelimit::Rate;
use peer_proto::api::{Kex, Message, MessageList};
use peer_proto::signed::MessageBody;
use peer_proto::{ErrorCode, RoomId};
use peer_store::MemoryStore;
use peer_testkit::keys;
use peer_testkit::node::{RawRequest, TestNode, open, send};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpSocket;

use crate::common::{PATIENCE, User, assert_error, code_of, hello_raw, now, register_raw, room_id};
use crate::flows::next_event;

/// The stored messages of `room`: (count, last seq).
async fn messages(node: &TestNode, room: RoomId) -> (u64, u64) {
    let c = node.node().store().count_messages(room).await.unwrap();
    (c.stored, c.last_seq)
}

/// Rooms in the store, all of them.
async fn rooms(node: &TestNode) -> usize {
    let q = peer_store::query::RoomQuery {
        filter: peer_store::query::RoomFilter::All,
        limit: 500,
        cursor: None,
    };
    node.node()
        .store()
        .list_rooms(&q)
        .await
        .unwrap()
        .items
        .len()
}

/// A post of `text` in an encrypted room, sealed with `key` at `epoch` and
/// signed by `signer`.
fn sealed_post(
    room: RoomId,
    key: &peer_crypto::RoomKey,
    epoch: u32,
    signer: &peer_crypto::IdentityKey,
    text: &str,
) -> Value {
    let mut rng = peer_crypto::rng::system_rng();
    let post = key
        .epoch_key(room, epoch)
        .encrypt(
            &mut rng,
            signer,
            &MessageBody {
                text: text.into(),
                sent_at: now(),
                reply_to: None,
            },
        )
        .unwrap()
        .to_post();
    serde_json::to_value(post).unwrap()
}

/// Sends raw bytes as one request (the connection closes after it) from
/// `from` (a loopback address) and returns the status and the whole
/// response text (0 and "" when the node closed without answering).
async fn raw_from(from: Option<IpAddr>, to: SocketAddr, bytes: &[u8]) -> (u16, String) {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(ip) = from {
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
    }
    let mut s = socket.connect(to).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The api.md error code of a raw response text ("" if none).
fn code_in(text: &str) -> String {
    text.split_once("\r\n\r\n")
        .map(|(_, body)| code_of(body.as_bytes()))
        .unwrap_or_default()
}

#[tokio::test]
async fn captured_requests_replayed_are_refused_and_change_nothing() {
    let node = TestNode::start().await;
    let addr = node.addr();
    let alice = User::new(&node, keys::alice(), "alice").await;
    let a = alice.plain_room("a").await;
    let b = alice.plain_room("b").await;
    let body = serde_json::to_vec(&json!({"text": "once"})).unwrap();

    // A captured post: it was served once...
    let (req, _) = alice.prepare("POST", &format!("/api/v1/rooms/{a}/messages"), &body, false);
    assert_eq!(send(addr, req.clone()).await.unwrap().status, 201);
    assert_eq!(messages(&node, a).await, (1, 1));
    // ...and replayed as it was: refused, nothing stored twice.
    let resp = send(addr, req.clone()).await.unwrap();
    assert_error(&resp, "replayed_request");
    assert!(
        resp.header("peer-auth").is_none(),
        "a refused authenticator gets no Peer-Auth"
    );
    // Replayed to another room, or to another path of the same room: the
    // authenticator covers the target, so it does not verify.
    let to_b = RawRequest {
        target: format!("/api/v1/rooms/{b}/messages"),
        ..req.clone()
    };
    assert_error(&send(addr, to_b).await.unwrap(), "bad_authenticator");
    let to_path = RawRequest {
        target: format!("/api/v1/rooms/{a}/leave"),
        ..req.clone()
    };
    assert_error(&send(addr, to_path).await.unwrap(), "bad_authenticator");
    // Its authenticator over another body: the body hash is covered.
    let other_body = RawRequest {
        body: serde_json::to_vec(&json!({"text": "twice"})).unwrap(),
        ..req.clone()
    };
    assert_error(&send(addr, other_body).await.unwrap(), "bad_authenticator");
    assert_eq!(messages(&node, a).await, (1, 1));
    assert_eq!(messages(&node, b).await, (0, 0));

    // A captured request not yet served, replayed after a fresh one of the
    // same session: its seq is still inside the window, so it is served
    // exactly once, then refused.
    let (first, _) = alice.prepare("POST", &format!("/api/v1/rooms/{a}/messages"), &body, false);
    let (second, _) = alice.prepare("POST", &format!("/api/v1/rooms/{a}/messages"), &body, false);
    assert_eq!(send(addr, second).await.unwrap().status, 201);
    assert_eq!(send(addr, first.clone()).await.unwrap().status, 201);
    assert_error(&send(addr, first).await.unwrap(), "replayed_request");
    assert_eq!(messages(&node, a).await, (3, 3));

    // A captured hello: the node answers it once; replayed, it is refused
    // and opens no second session.
    let mut rng = peer_crypto::rng::system_rng();
    let (_, hello) = peer_crypto::handshake::start(
        &mut rng,
        keys::alice(),
        node.node().node_id(),
        Kex::EcdhP256,
        now(),
    )
    .unwrap();
    assert_eq!(hello_raw(&node, &hello).await.status, 200);
    let sessions = node.node().stats().sessions;
    assert_error(&hello_raw(&node, &hello).await, "replayed_nonce");
    assert_eq!(node.node().stats().sessions, sessions);

    // A captured registration replayed: the name is taken, the user
    // unchanged.
    let mut rng = peer_crypto::rng::system_rng();
    let reg = peer_crypto::register::register_user(
        &mut rng,
        keys::bob(),
        node.node().node_id(),
        "bob",
        now(),
    )
    .unwrap();
    let req = RawRequest::post("/api/v1/users").json(serde_json::to_vec(&reg).unwrap());
    assert_eq!(send(addr, req.clone()).await.unwrap().status, 201);
    assert_error(&send(addr, req).await.unwrap(), "name_taken");
    node.stop().await;
}

#[tokio::test]
async fn a_handshake_flood_from_one_address_is_limited_and_others_are_not() {
    let config = NodeConfig {
        handshake_rate: Rate {
            per_sec: 1,
            burst: 3,
        },
        ..NodeConfig::default()
    };
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        config,
        ServerConfig::default(),
    )
    .await;
    let addr = node.addr();
    // Alice registers and opens her session before the flood (2 of 3).
    assert_eq!(
        register_raw(&node, keys::alice(), "alice").await.status,
        201
    );
    let alice = User::login(&node, keys::alice()).await;
    let room = alice.plain_room("during-the-flood").await;

    // The flood from 127.0.0.1: a burst's worth of hellos, then 429.
    let hello = || {
        let mut rng = peer_crypto::rng::system_rng();
        let (_, h) = peer_crypto::handshake::start(
            &mut rng,
            keys::alice(),
            node.node().node_id(),
            Kex::EcdhP256,
            now(),
        )
        .unwrap();
        serde_json::to_vec(&h).unwrap()
    };
    let mut limited = None;
    for _ in 0..20 {
        let resp = send(addr, RawRequest::post("/api/v1/handshake").json(hello()))
            .await
            .unwrap();
        if resp.status == 429 {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    let resp = limited.expect("the flood is limited within 20 hellos");
    assert_error(&resp, "rate_limited"); // with Retry-After >= 1
    let sessions = node.node().stats().sessions;
    // Registrations from the flooding address are limited as well.
    assert_error(
        &register_raw(&node, keys::carol(), "carol").await,
        "rate_limited",
    );

    // Another address is unaffected: a hello from 127.0.0.2 is answered.
    let body = hello();
    let head = format!(
        "POST /api/v1/handshake HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let (status, text) = raw_from(Some(other), addr, &[head.as_bytes(), &body].concat()).await;
    assert_eq!(status, 200, "{text}");
    // An established session is unaffected too.
    alice
        .call(
            "POST",
            &format!("/api/v1/rooms/{room}/messages"),
            Some(json!({"text": "still here"})),
        )
        .await
        .expect(201);
    // Refused hellos opened no session (the one from 127.0.0.2 did).
    assert_eq!(node.node().stats().sessions, sessions + 1);
    node.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_at_the_limit_plus_one() {
    let node = TestNode::start().await;
    let addr = node.addr();
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let max = peer_proto::limits::MAX_BODY_BYTES;
    let before = rooms(&node).await;

    // A valid room creation padded with whitespace to exactly the limit is
    // served; one byte more is 413, sent in full, with a bearer token...
    let padded = |len: usize| {
        let mut b =
            serde_json::to_vec(&json!({"id": room_id(), "name": "big", "encrypted": false}))
                .unwrap();
        b.resize(len, b' ');
        b
    };
    let at_limit = RawRequest::post("/api/v1/rooms")
        .bearer(&token)
        .json(padded(max));
    assert_eq!(send(addr, at_limit).await.unwrap().status, 201);
    let over = RawRequest::post("/api/v1/rooms")
        .bearer(&token)
        .json(padded(max + 1));
    assert_error(&send(addr, over).await.unwrap(), "body_too_large");
    // ...and with a per-request authenticator over that body.
    let (req, _) = alice.prepare("POST", "/api/v1/rooms", &padded(max + 1), false);
    assert_error(&send(addr, req).await.unwrap(), "body_too_large");
    assert_eq!(rooms(&node).await, before + 1, "only the one at the limit");

    // A ciphertext one byte over its own limit (64 KiB) in a body well
    // under 1 MiB: 400 naming the field, nothing stored.
    let (room, _) = alice.encrypted_room("e", json!({})).await;
    let limit = peer_proto::limits::MAX_CIPHERTEXT_BYTES;
    for (len, ok) in [(limit, true), (limit + 1, false)] {
        let c = alice
            .call(
                "POST",
                &format!("/api/v1/rooms/{room}/messages"),
                Some(json!({
                    "epoch": 1,
                    "ciphertext": peer_proto::Bytes(vec![7; len]),
                    "signature": peer_proto::Bytes(vec![1; 256]),
                })),
            )
            .await;
        if ok {
            c.expect(201);
        } else {
            c.expect_error("invalid_field");
            assert!(c.raw.text().contains("ciphertext"), "{}", c.raw.text());
        }
    }
    assert_eq!(messages(&node, room).await, (1, 1));
    node.stop().await;
}

#[tokio::test]
async fn deeply_nested_bodies_are_400_and_change_nothing() {
    let node = TestNode::start().await;
    let addr = node.addr();
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let room = alice.plain_room("r").await;
    let before = rooms(&node).await;
    let deep = 100_000; // 200 KB of brackets: under the body limit
    let arrays = format!("{}{}", "[".repeat(deep), "]".repeat(deep));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(deep), "}".repeat(deep));
    let in_a_field = format!(
        r#"{{"id":"{}","name":{},"encrypted":false}}"#,
        room_id(),
        arrays
    );
    let unclosed = "[".repeat(deep);
    for (path, body) in [
        ("/api/v1/rooms".to_owned(), arrays.clone()),
        ("/api/v1/rooms".to_owned(), objects.clone()),
        ("/api/v1/rooms".to_owned(), in_a_field.clone()),
        ("/api/v1/rooms".to_owned(), unclosed),
        (format!("/api/v1/rooms/{room}/messages"), objects.clone()),
        ("/api/v1/handshake".to_owned(), arrays.clone()),
        ("/api/v1/users".to_owned(), objects.clone()),
    ] {
        let resp = send(addr, RawRequest::post(&path).bearer(&token).json(body))
            .await
            .unwrap();
        assert_error(&resp, "invalid_body");
    }
    // Through a session, sealed: the same refusal, sealed and authentic.
    let c = alice
        .call_bytes("POST", "/api/v1/rooms", in_a_field.as_bytes(), true)
        .await;
    c.expect_error("invalid_body");
    assert_eq!(rooms(&node).await, before);
    assert_eq!(messages(&node, room).await, (0, 0));
    assert_eq!(
        send(addr, RawRequest::get("/healthz"))
            .await
            .unwrap()
            .status,
        200
    );
    node.stop().await;
}

#[tokio::test]
async fn invalid_utf8_in_bodies_headers_and_paths_is_refused() {
    let node = TestNode::start().await;
    let addr = node.addr();
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let room = alice.plain_room("r").await;
    let before = rooms(&node).await;

    // Bodies: a JSON string with bytes that are not UTF-8.
    let mut body = br#"{"text":"caf"#.to_vec();
    body.extend_from_slice(&[0xc3, 0x28, 0xff]);
    body.extend_from_slice(br#""}"#);
    let resp = send(
        addr,
        RawRequest::post(&format!("/api/v1/rooms/{room}/messages"))
            .bearer(&token)
            .json(body.clone()),
    )
    .await
    .unwrap();
    assert_error(&resp, "invalid_body");
    // The same through a session (the authenticator verifies; the body is
    // refused, authentically).
    let c = alice
        .call_bytes(
            "POST",
            &format!("/api/v1/rooms/{room}/messages"),
            &body,
            false,
        )
        .await;
    c.expect_error("invalid_body");
    let mut create = format!(r#"{{"id":"{}","name":"x"#, room_id()).into_bytes();
    create.extend_from_slice(&[0xed, 0xa0, 0x80]); // a UTF-16 surrogate
    create.extend_from_slice(br#"","encrypted":false}"#);
    let resp = send(
        addr,
        RawRequest::post("/api/v1/rooms")
            .bearer(&token)
            .json(create),
    )
    .await
    .unwrap();
    assert_error(&resp, "invalid_body");

    // Headers: an authenticator header, a bearer token or a Last-Event-ID
    // that is not text. hyper accepts such bytes as an opaque value; the
    // node refuses each, naming it: a malformed authenticator header is
    // 401 `bad_authenticator` (protocol.md), the others 400
    // `invalid_header` (api.md). Each is the request's only credential
    // header but for Last-Event-ID, which rides on a valid bearer token.
    for (name, value, want) in [
        ("Peer-Session", &b"\xff\xfe"[..], (401, "bad_authenticator")),
        ("Authorization", b"Bearer \xc3\x28", (400, "invalid_header")),
        ("Last-Event-ID", b"\xff", (400, "invalid_header")),
    ] {
        let mut head = b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_vec();
        if name == "Last-Event-ID" {
            head.extend_from_slice(format!("Authorization: Bearer {token}\r\n").as_bytes());
        }
        head.extend_from_slice(format!("{name}: ").as_bytes());
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n\r\n");
        let (status, text) = raw_from(None, addr, &head).await;
        let code = code_in(&text);
        assert_eq!((status, code.as_str()), want, "{name}: {text}");
        assert!(text.contains(name), "{name} is named: {text}");
    }

    // Paths: raw bytes that are not UTF-8 are refused by the HTTP parser
    // (a bare 400); percent-encoded ones reach the router and are not ids.
    let (status, text) = raw_from(
        None,
        addr,
        b"GET /api/v1/rooms/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    for target in [
        "/api/v1/rooms/%FF%FE".to_owned(),
        "/api/v1/rooms/%C3%28".to_owned(),
        format!("/api/v1/rooms/{room}/messages/%FF"),
    ] {
        let req = RawRequest::get(&target).bearer(&token);
        let method = if target.contains("/messages/") {
            "DELETE"
        } else {
            "GET"
        };
        let req = RawRequest {
            method: method.into(),
            ..req
        };
        assert_error(&send(addr, req).await.unwrap(), "invalid_field");
    }
    assert_eq!(rooms(&node).await, before);
    assert_eq!(messages(&node, room).await, (0, 0));
    node.stop().await;
}

#[tokio::test]
async fn ids_with_path_characters_are_refused_on_every_route() {
    let node = TestNode::start().await;
    let addr = node.addr();
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let room = alice.plain_room("r").await;
    alice
        .call(
            "POST",
            &format!("/api/v1/rooms/{room}/messages"),
            Some(json!({"text": "keep me"})),
        )
        .await
        .expect(201);
    let before = rooms(&node).await;
    // Each id-taking route, with `{}` where the id goes.
    let routes = [
        ("GET", "/api/v1/users/{}"),
        ("GET", "/api/v1/rooms/{}"),
        ("PATCH", "/api/v1/rooms/{}"),
        ("DELETE", "/api/v1/rooms/{}"),
        ("POST", "/api/v1/rooms/{}/join"),
        ("POST", "/api/v1/rooms/{}/leave"),
        ("POST", "/api/v1/rooms/{}/kick"),
        ("POST", "/api/v1/rooms/{}/roles"),
        ("POST", "/api/v1/rooms/{}/invites"),
        ("GET", "/api/v1/rooms/{}/keys"),
        ("POST", "/api/v1/rooms/{}/keys"),
        ("GET", "/api/v1/rooms/{}/messages"),
        ("POST", "/api/v1/rooms/{}/messages"),
        ("DELETE", "/api/v1/rooms/ROOM/messages/{}"),
        ("DELETE", "/api/v1/rooms/{}/messages/1"),
    ];
    // Segments that stay one segment: refused as the id they are not.
    let one_segment = [
        "..",
        ".",
        "%2F",
        "%2f..%2f",
        "..%2F..%2Fetc%2Fpasswd",
        "%5C",
        "..%5C..",
        "%00",
        "AAAAAAAAAAAAAAAAAAAA%00",
        "%2E%2E",
        "~",
        "*",
    ];
    for (method, pattern) in routes {
        for bad in one_segment {
            let target = pattern
                .replace("ROOM", &room.to_string())
                .replace("{}", bad);
            let req = RawRequest::new(method, &target).bearer(&token);
            let req = if method == "GET" || method == "DELETE" {
                req
            } else {
                req.json("{}")
            };
            let resp = send(addr, req).await.unwrap();
            assert_eq!(
                (resp.status, code_of(&resp.body).as_str()),
                (400, "invalid_field"),
                "{method} {target}: {}",
                resp.text()
            );
        }
    }
    // A node id on the peers route: the id is checked before the caller
    // (the route wants a node's session, and this is a user's token).
    for bad in one_segment {
        let resp = send(
            addr,
            RawRequest::new("DELETE", &format!("/api/v1/peers/{bad}")).bearer(&token),
        )
        .await
        .unwrap();
        assert_eq!(
            (resp.status, code_of(&resp.body).as_str()),
            (400, "invalid_field"),
            "DELETE /api/v1/peers/{bad}: {}",
            resp.text()
        );
    }
    // Raw `/` and `\` and NUL: more segments than any route (404), or bytes
    // the HTTP parser refuses (a bare 400).
    for target in [
        format!("/api/v1/rooms/{room}/../{room}"),
        format!("/api/v1/rooms/../../rooms/{room}/messages"),
        format!("/api/v1/rooms/{room}/messages/1/.."),
        "/api/v1/users/a/b".to_owned(),
    ] {
        let resp = send(addr, RawRequest::get(&target).bearer(&token))
            .await
            .unwrap();
        assert_error(&resp, "not_found");
    }
    for raw in [
        &b"/api/v1/rooms/a\\b"[..],
        b"/api/v1/rooms/\\..\\x",
        b"/api/v1/rooms/a\0b",
    ] {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(raw);
        req.extend_from_slice(
            format!(
                " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        let (status, text) = raw_from(None, addr, &req).await;
        assert_eq!(status, 400, "{}: {text}", String::from_utf8_lossy(raw));
    }
    // Ids inside bodies are checked the same way.
    for bad in ["..", "../../x", "a/b", "a\\b", "\u{0}"] {
        let c = alice
            .call(
                "POST",
                &format!("/api/v1/rooms/{room}/kick"),
                Some(json!({"user_id": bad})),
            )
            .await;
        c.expect_error("invalid_body");
        let c = alice
            .call(
                "POST",
                "/api/v1/rooms",
                Some(json!({"id": bad, "name": "x", "encrypted": false})),
            )
            .await;
        c.expect_error("invalid_body");
    }
    // Nothing changed: the room, its member and its message are there.
    assert_eq!(rooms(&node).await, before);
    assert_eq!(messages(&node, room).await, (1, 1));
    let v = alice
        .call("GET", &format!("/api/v1/rooms/{room}"), None)
        .await
        .expect(200);
    assert_eq!(v["name"], "r");
    node.stop().await;
}

#[tokio::test]
async fn a_member_posting_under_an_outdated_epoch_is_refused() {
    let node = TestNode::start().await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let bob = User::new(&node, keys::bob(), "bob").await;
    let (room, key) = alice.encrypted_room("r", json!({})).await;
    let r = |p: &str| format!("/api/v1/rooms/{room}{p}");
    bob.call("POST", &r("/join"), None).await.expect(200);
    let envs = alice.envelopes(room, 1, &key, &[bob.public()]);
    alice
        .call(
            "POST",
            &r("/keys"),
            Some(json!({"epoch": 1, "envelopes": envs})),
        )
        .await
        .expect(200);
    bob.call(
        "POST",
        &r("/messages"),
        Some(sealed_post(room, &key, 1, keys::bob(), "epoch 1")),
    )
    .await
    .expect(201);
    // Rotate to epoch 2 (a new key; both members get it).
    let key2 = peer_crypto::RoomKey::generate(&mut peer_crypto::rng::system_rng());
    let envs = alice.envelopes(room, 2, &key2, &[alice.public(), bob.public()]);
    alice
        .call(
            "POST",
            &r("/keys"),
            Some(json!({"epoch": 2, "envelopes": envs})),
        )
        .await
        .expect(200);
    let before = messages(&node, room).await;
    assert_eq!(before, (1, 1));

    // Bob posts under epoch 1 after the rotation: 409 epoch_outdated.
    let c = bob
        .call(
            "POST",
            &r("/messages"),
            Some(sealed_post(room, &key, 1, keys::bob(), "stale")),
        )
        .await;
    c.expect_error("epoch_outdated");
    assert_eq!(c.status, ErrorCode::EpochOutdated.status());
    // Under an epoch that does not exist yet: 409 wrong_epoch.
    bob.call(
        "POST",
        &r("/messages"),
        Some(sealed_post(room, &key2, 3, keys::bob(), "future")),
    )
    .await
    .expect_error("wrong_epoch");
    // Under epoch 0 (before the first): outdated as well.
    bob.call(
        "POST",
        &r("/messages"),
        Some(sealed_post(room, &key, 0, keys::bob(), "zero")),
    )
    .await
    .expect_error("epoch_outdated");
    assert_eq!(messages(&node, room).await, before, "nothing stored");
    // The current epoch works.
    bob.call(
        "POST",
        &r("/messages"),
        Some(sealed_post(room, &key2, 2, keys::bob(), "epoch 2")),
    )
    .await
    .expect(201);
    node.stop().await;
}

#[tokio::test]
async fn a_non_member_reads_nothing_of_a_room() {
    let node = TestNode::start().await;
    let addr = node.addr();
    let alice = User::new(&node, keys::alice(), "alice").await;
    let mallory = User::new(&node, keys::user_key(3), "mallory").await;
    let mallory_token = mallory.token().await;
    let (room, key) = alice.encrypted_room("secret", json!({})).await;
    let private = alice
        .encrypted_room("hidden", json!({"visibility": "private"}))
        .await
        .0;
    let mine = mallory.plain_room("mallorys").await;
    let r = |p: &str| format!("/api/v1/rooms/{room}{p}");

    // Messages, keys, long-polls: 403 not_member, by session or token.
    for target in [
        r("/messages"),
        r("/messages?after=0&limit=500"),
        r("/messages?wait=1"),
        r("/keys"),
    ] {
        mallory
            .call("GET", &target, None)
            .await
            .expect_error("not_member");
        let resp = send(addr, RawRequest::get(&target).bearer(&mallory_token))
            .await
            .unwrap();
        assert_error(&resp, "not_member");
    }
    // The public room's details, without its members.
    let v = mallory.call("GET", &r(""), None).await.expect(200);
    assert!(
        v.get("members").is_none_or(Value::is_null),
        "members shown to a non-member: {v}"
    );
    // A private room does not exist for a non-member.
    mallory
        .call("GET", &format!("/api/v1/rooms/{private}"), None)
        .await
        .expect_error("room_not_found");
    mallory
        .call("GET", &format!("/api/v1/rooms/{private}/messages"), None)
        .await
        .expect_error("room_not_found");
    // Deleting, editing or tombstoning is not reading either.
    alice
        .call(
            "POST",
            &r("/messages"),
            Some(sealed_post(room, &key, 1, keys::alice(), "for members")),
        )
        .await
        .expect(201);
    mallory
        .call("DELETE", &r("/messages/1"), None)
        .await
        .expect_error("not_member");
    assert_eq!(messages(&node, room).await, (1, 1));

    // The event stream: a member's stream sees the post, the non-member's
    // never does; its next message event is one of its own room's.
    let alice_token = alice.token().await;
    let mut alice_events = open(addr, RawRequest::get("/api/v1/events").bearer(&alice_token))
        .await
        .unwrap();
    let mut mallory_events = open(
        addr,
        RawRequest::get("/api/v1/events").bearer(&mallory_token),
    )
    .await
    .unwrap();
    alice
        .call(
            "POST",
            &r("/messages"),
            Some(sealed_post(
                room,
                &key,
                1,
                keys::alice(),
                "still for members",
            )),
        )
        .await
        .expect(201);
    let (_, kind, data) = next_event(&mut alice_events).await;
    assert_eq!((kind.as_str(), &data["room_id"]), ("message", &json!(room)));
    mallory
        .call(
            "POST",
            &format!("/api/v1/rooms/{mine}/messages"),
            Some(json!({"text": "marker"})),
        )
        .await
        .expect(201);
    loop {
        let (_, kind, data) = next_event(&mut mallory_events).await;
        assert_ne!(data["room_id"], json!(room), "{kind}: {data}");
        if kind == "message" {
            assert_eq!(data["room_id"], json!(mine));
            break;
        }
    }
    node.stop().await;
}

#[tokio::test]
async fn a_member_forging_another_members_signature_is_exposed() {
    let node = TestNode::start().await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let bob = User::new(&node, keys::bob(), "bob").await;
    let (room, key) = alice.encrypted_room("r", json!({})).await;
    let r = |p: &str| format!("/api/v1/rooms/{room}{p}");
    bob.call("POST", &r("/join"), None).await.expect(200);

    // Claiming another sender in the body: there is no such field, so the
    // post is refused naming it, and nothing is stored.
    let mut claim = sealed_post(room, &key, 1, keys::alice(), "from alice?");
    claim["sender_id"] = json!(alice.id);
    let c = bob.call("POST", &r("/messages"), Some(claim)).await;
    c.expect_error("invalid_body");
    assert!(c.raw.text().contains("sender_id"), "{}", c.raw.text());
    assert_eq!(messages(&node, room).await, (0, 0));

    // Signed with alice's key, posted by bob. The node cannot open the
    // ciphertext and does not judge the signature (protocol.md: receivers
    // verify it); it stores the post under the sender it authenticated.
    let forged = sealed_post(room, &key, 1, keys::alice(), "alice never wrote this");
    let posted = bob
        .call("POST", &r("/messages"), Some(forged))
        .await
        .expect(201);
    let seq = posted["seq"].as_u64().unwrap();
    let list: MessageList = serde_json::from_value(
        alice
            .call("GET", &r("/messages?after=0"), None)
            .await
            .expect(200),
    )
    .unwrap();
    let m: &Message = list.messages.iter().find(|m| m.seq == seq).unwrap();
    assert_eq!(m.sender_id, bob.id, "stored under the authenticated sender");
    // A receiver verifies against the stored sender's key: refused as a
    // bad signature (peer-client then shows it as Failed/BadSignature,
    // without text: crates/client/tests/common/flow.rs).
    let err = key
        .epoch_key(room, 1)
        .decrypt_message(m, keys::bob().public())
        .unwrap_err();
    assert!(
        matches!(
            err.as_peer(),
            Some(peer_crypto::PeerMisbehaved::BadSignature)
        ),
        "{err:?}"
    );
    // Nor does it pass as alice's: the message's aad names bob as sender,
    // so even alice's valid signature does not make it alice's message.
    assert!(
        key.epoch_key(room, 1)
            .decrypt_message(m, keys::alice().public())
            .is_err()
    );
    // A post signed with a key that is no member's at all: same.
    let stranger = sealed_post(room, &key, 1, keys::node_key(1), "whoever");
    let seq = bob
        .call("POST", &r("/messages"), Some(stranger))
        .await
        .expect(201)["seq"]
        .as_u64()
        .unwrap();
    let list: MessageList = serde_json::from_value(
        alice
            .call("GET", &r(&format!("/messages?after={}", seq - 1)), None)
            .await
            .expect(200),
    )
    .unwrap();
    let m = list.messages.first().unwrap();
    assert!(
        key.epoch_key(room, 1)
            .decrypt_message(m, keys::bob().public())
            .is_err()
    );
    // Bob's own, honestly signed post verifies: the check can pass.
    let seq = bob
        .call(
            "POST",
            &r("/messages"),
            Some(sealed_post(room, &key, 1, keys::bob(), "bob wrote this")),
        )
        .await
        .expect(201)["seq"]
        .as_u64()
        .unwrap();
    let list: MessageList = serde_json::from_value(
        alice
            .call("GET", &r(&format!("/messages?after={}", seq - 1)), None)
            .await
            .expect(200),
    )
    .unwrap();
    let body = key
        .epoch_key(room, 1)
        .decrypt_message(list.messages.first().unwrap(), keys::bob().public())
        .unwrap();
    assert_eq!(body.text, "bob wrote this");
    node.stop().await;
}
