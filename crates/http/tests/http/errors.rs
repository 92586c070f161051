//! Every error code the HTTP API can produce, reached through a socket and
//! asserted (status, code, JSON shape, `Retry-After`, `Peer-Auth`).

use std::collections::BTreeSet;
use std::sync::Arc;

use peer_http::server::ServerConfig;
use peer_node::NodeConfig;
use peer_node::ratelimit::Rate;
use peer_proto::ErrorCode;
use peer_proto::api::Kex;
use peer_store::{MemoryConfig, MemoryStore};
use peer_testkit::keys;
use peer_testkit::node::{RawRequest, RawResponse, TestNode, send};
use peer_testkit::tamper;
use serde_json::json;

use crate::common::{
    Checked, FlakyStore, User, assert_error, hello_raw, now, register_raw, room_id,
};

/// Codes reached by other tests of this suite (named), not repeated here.
const ELSEWHERE: &[(&str, &str)] = &[
    (
        "rate_limited",
        "limits::session_rate_limit_answers_429_with_retry_after_and_peer_auth",
    ),
    (
        "body_too_large",
        "limits::body_too_large_by_content_length_and_by_stream",
    ),
    ("headers_too_large", "limits::header_limits_answer_431"),
    ("too_many_streams", "events::streams_per_user_are_limited"),
];

/// Codes no request to this node can produce, and why.
const UNREACHABLE: &[(&str, &str)] = &[
    ("internal", "a bug by definition: no input leads to it"),
    (
        "peer_not_found",
        "only a race: a peer's record removed between its handshake and its push \
         (a leave of an unknown node is unknown_identity)",
    ),
    (
        "main_peer_unavailable",
        "needs a follower with its main peer gone: peer-mesh tests/follow.rs \
         and peerd's mesh tests reach it",
    ),
];

#[derive(Default)]
struct Reached(BTreeSet<String>);

impl Reached {
    #[track_caller]
    fn raw(&mut self, resp: &RawResponse, code: &str) {
        assert_error(resp, code);
        self.0.insert(code.to_owned());
    }

    #[track_caller]
    fn checked(&mut self, c: &Checked, code: &str) {
        c.expect_error(code);
        assert!(c.raw.header("peer-auth").is_some());
        self.0.insert(code.to_owned());
    }
}

#[tokio::test]
async fn every_reachable_error_code() {
    let mut got = Reached::default();
    // Many hellos below: lift the per-address handshake limit (its own test
    // is limits::handshakes_per_address_are_limited).
    let relaxed = NodeConfig {
        handshake_rate: Rate {
            per_sec: 1000,
            burst: 1000,
        },
        ..NodeConfig::default()
    };
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        relaxed,
        ServerConfig::default(),
    )
    .await;
    let addr = node.addr();
    let alice = User::new(&node, keys::alice(), "alice").await;
    let bob = User::new(&node, keys::bob(), "bob").await;
    let carol = User::new(&node, keys::carol(), "carol").await;
    let token = alice.token().await;
    let get = |p: &str| RawRequest::get(p).bearer(&token);
    let post = |p: &str, body: String| RawRequest::post(p).bearer(&token).json(body);

    // 400
    let resp = send(addr, post("/api/v1/rooms", "{".into())).await.unwrap();
    got.raw(&resp, "invalid_body");
    let resp = send(addr, get("/api/v1/rooms/not-an-id")).await.unwrap();
    got.raw(&resp, "invalid_field");
    assert!(resp.text().contains("room_id"), "{}", resp.text());
    let resp = send(addr, get("/api/v1/rooms?limit=many")).await.unwrap();
    got.raw(&resp, "invalid_query");
    let (req, _) = alice.prepare("GET", "/api/v1/rooms", b"", false);
    let resp = send(addr, req.bearer(&token)).await.unwrap();
    got.raw(&resp, "invalid_header");
    // A valid authenticator over a body that is not sealed, labelled sealed.
    // The authenticator verified, so the refusal is authenticated (and
    // sealed, as the request claimed to be).
    let (mut req, verifier) = alice.prepare("POST", "/api/v1/rooms", b"{}", false);
    req.headers.retain(|(k, _)| k != "content-type");
    let req = req.header("content-type", peer_crypto::SEALED_CONTENT_TYPE);
    let resp = send(addr, req).await.unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.header("content-type"),
        Some(peer_crypto::SEALED_CONTENT_TYPE)
    );
    let tag = resp.header("peer-auth").expect("an authenticated refusal");
    verifier
        .verify(400, Some(tag), &resp.body)
        .expect("the refusal's Peer-Auth verifies");
    got.0.insert("invalid_sealed_body".to_owned());

    // 401
    let resp = send(addr, RawRequest::get("/api/v1/rooms")).await.unwrap();
    got.raw(&resp, "unauthenticated");
    assert!(resp.header("peer-auth").is_none());
    let mut rng = peer_crypto::rng::system_rng();
    let node_id = node.node().node_id();
    let hello = |key, at| {
        let mut rng = peer_crypto::rng::system_rng();
        peer_crypto::handshake::start(&mut rng, key, node_id, Kex::EcdhP256, at)
            .unwrap()
            .1
    };
    let mut h = hello(keys::alice(), now());
    h.version = 2;
    got.raw(&hello_raw(&node, &h).await, "unsupported_version");
    let h = hello(keys::alice(), now() - 1000);
    got.raw(&hello_raw(&node, &h).await, "stale_timestamp");
    let h = hello(keys::alice(), now());
    assert_eq!(hello_raw(&node, &h).await.status, 200);
    got.raw(&hello_raw(&node, &h).await, "replayed_nonce");
    let h = hello(keys::user_key(3), now());
    got.raw(&hello_raw(&node, &h).await, "unknown_identity");
    let mut h = hello(keys::alice(), now());
    h.signature = peer_proto::Bytes(tamper::flip_byte(h.signature.as_slice(), 9));
    got.raw(&hello_raw(&node, &h).await, "bad_signature");
    let mut h = hello(keys::alice(), now());
    h.node_id = keys::node_key(1).node_id();
    got.raw(&hello_raw(&node, &h).await, "wrong_node");
    let (req, _) = alice.prepare("GET", "/api/v1/rooms", b"", false);
    let tampered = RawRequest {
        headers: req
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if k == "Peer-Auth" {
                    tamper::flip_b64_byte(v, 0)
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect(),
        ..req
    };
    let resp = send(addr, tampered).await.unwrap();
    got.raw(&resp, "bad_authenticator");
    assert!(resp.header("peer-auth").is_none());
    let (req, _) = alice.prepare("GET", "/api/v1/rooms", b"", false);
    assert_eq!(send(addr, req.clone()).await.unwrap().status, 200);
    got.raw(&send(addr, req).await.unwrap(), "replayed_request");
    let resp = send(addr, RawRequest::get("/api/v1/rooms").bearer("AAAA"))
        .await
        .unwrap();
    got.raw(&resp, "invalid_token");
    let dave = User::new(&node, keys::user_key(3), "dave").await;
    dave.call("DELETE", "/api/v1/session", None)
        .await
        .expect(200);
    let (req, _) = dave.prepare("GET", "/api/v1/rooms", b"", false);
    got.raw(&send(addr, req).await.unwrap(), "session_expired");

    // 403, 409, 422 around rooms.
    let (room, key) = alice.encrypted_room("r", json!({"capacity": 3})).await;
    let r = |p: &str| format!("/api/v1/rooms/{room}{p}");
    bob.call("POST", &r("/join"), None).await.expect(200);
    got.checked(&bob.call("DELETE", &r(""), None).await, "forbidden");
    got.checked(
        &carol.call("GET", &r("/messages"), None).await,
        "not_member",
    );
    got.checked(&bob.call("POST", &r("/join"), None).await, "already_member");
    let c = alice
        .call(
            "POST",
            &r("/keys"),
            Some(json!({"epoch": 7, "envelopes": alice.envelopes(room, 7, &key, &[bob.public()])})),
        )
        .await;
    got.checked(&c, "wrong_epoch");
    let wrong_room = alice.envelopes(room_id(), 1, &key, &[bob.public()]);
    let c = alice
        .call(
            "POST",
            &r("/keys"),
            Some(json!({"epoch": 1, "envelopes": wrong_room})),
        )
        .await;
    got.checked(&c, "invalid_envelope");
    let forged = bob.envelopes(room, 1, &key, &[bob.public()]);
    let c = alice
        .call(
            "POST",
            &r("/keys"),
            Some(json!({"epoch": 1, "envelopes": forged})),
        )
        .await;
    got.checked(&c, "invalid_envelope");
    let c = alice
        .call(
            "POST",
            &r("/keys"),
            Some(
                json!({"epoch": 2, "envelopes": alice.envelopes(room, 2, &key, &[alice.public()])}),
            ),
        )
        .await;
    got.checked(&c, "incomplete_envelopes");
    got.checked(&alice.post_cipher(room, 2).await, "wrong_epoch");
    let c = alice
        .call(
            "POST",
            &r("/kick"),
            Some(json!({"user_id": bob.id, "ban": true})),
        )
        .await;
    assert_eq!(c.expect(200)["reason"], "banned");
    got.checked(&bob.call("POST", &r("/join"), None).await, "banned");
    got.checked(&alice.post_cipher(room, 1).await, "rotation_pending");
    let complete = alice.envelopes(room, 2, &key, &[alice.public()]);
    alice
        .call(
            "POST",
            &r("/keys"),
            Some(json!({"epoch": 2, "envelopes": complete})),
        )
        .await
        .expect(200);
    got.checked(&alice.post_cipher(room, 1).await, "epoch_outdated");
    let c = alice
        .call(
            "POST",
            "/api/v1/rooms",
            Some(json!({"id": room, "name": "again", "encrypted": false})),
        )
        .await;
    got.checked(&c, "room_exists");
    let small = alice.plain_room("small").await;
    alice
        .call(
            "PATCH",
            &format!("/api/v1/rooms/{small}"),
            Some(json!({"capacity": 2})),
        )
        .await
        .expect(200);
    bob.call("POST", &format!("/api/v1/rooms/{small}/join"), None)
        .await
        .expect(200);
    got.checked(
        &carol
            .call("POST", &format!("/api/v1/rooms/{small}/join"), None)
            .await,
        "room_full",
    );
    let pw = alice.plain_room("pw").await;
    alice
        .call(
            "PATCH",
            &format!("/api/v1/rooms/{pw}"),
            Some(json!({"join_rule": "password", "password": "opensesame"})),
        )
        .await
        .expect(200);
    let c = carol
        .call(
            "POST",
            &format!("/api/v1/rooms/{pw}/join"),
            Some(json!({"password": "nope"})),
        )
        .await;
    got.checked(&c, "wrong_password");
    carol
        .call(
            "POST",
            &format!("/api/v1/rooms/{pw}/join"),
            Some(json!({"password": "opensesame"})),
        )
        .await
        .expect(200);
    let inv = alice.plain_room("inv").await;
    alice
        .call(
            "PATCH",
            &format!("/api/v1/rooms/{inv}"),
            Some(json!({"join_rule": "invite"})),
        )
        .await
        .expect(200);
    let c = carol
        .call(
            "POST",
            &format!("/api/v1/rooms/{inv}/join"),
            Some(json!({"invite": "bogus"})),
        )
        .await;
    got.checked(&c, "invalid_invite");
    let code = alice
        .call(
            "POST",
            &format!("/api/v1/rooms/{inv}/invites"),
            Some(json!({"uses": 1})),
        )
        .await
        .expect(201)["code"]
        .as_str()
        .unwrap()
        .to_owned();
    carol
        .call(
            "POST",
            &format!("/api/v1/rooms/{inv}/join"),
            Some(json!({"invite": code})),
        )
        .await
        .expect(200);
    let resp = register_raw(&node, keys::user_key(3), "Alice").await;
    got.raw(&resp, "name_taken");

    // 404, 405, 415
    got.raw(
        &send(addr, RawRequest::get("/api/v1/nope")).await.unwrap(),
        "not_found",
    );
    let c = alice
        .call("GET", &format!("/api/v1/users/{}", room_id()), None)
        .await;
    got.checked(&c, "user_not_found");
    got.checked(
        &alice
            .call("GET", &format!("/api/v1/rooms/{}", room_id()), None)
            .await,
        "room_not_found",
    );
    got.checked(
        &alice.call("DELETE", &r("/messages/99"), None).await,
        "message_not_found",
    );
    let resp = send(addr, RawRequest::new("PUT", "/api/v1/rooms"))
        .await
        .unwrap();
    got.raw(&resp, "method_not_allowed");
    assert_eq!(resp.header("allow"), Some("GET, POST"));
    let resp = send(
        addr,
        RawRequest::post("/api/v1/rooms")
            .bearer(&token)
            .header("content-type", "text/plain")
            .body("hello"),
    )
    .await
    .unwrap();
    got.raw(&resp, "unsupported_media_type");
    node.stop().await;

    // Node settings: closed registration, no bearer tokens, a full store.
    let closed = NodeConfig {
        registration_open: false,
        ..NodeConfig::default()
    };
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        closed,
        ServerConfig::default(),
    )
    .await;
    got.raw(
        &register_raw(&node, keys::alice(), "alice").await,
        "registration_closed",
    );
    node.stop().await;
    let no_tokens = NodeConfig {
        bearer_tokens: false,
        ..NodeConfig::default()
    };
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        no_tokens,
        ServerConfig::default(),
    )
    .await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    got.checked(
        &alice.call("POST", "/api/v1/tokens", None).await,
        "tokens_disabled",
    );
    let resp = send(node.addr(), RawRequest::get("/api/v1/rooms").bearer("AAAA"))
        .await
        .unwrap();
    got.raw(&resp, "tokens_disabled");
    node.stop().await;
    let tiny = MemoryStore::new(MemoryConfig {
        max_rooms: 1,
        ..MemoryConfig::default()
    });
    let node = TestNode::start_with(
        Arc::new(tiny),
        NodeConfig::default(),
        ServerConfig::default(),
    )
    .await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    alice.plain_room("one").await;
    let c = alice
        .call(
            "POST",
            "/api/v1/rooms",
            Some(json!({"id": room_id(), "name": "two", "encrypted": false})),
        )
        .await;
    got.checked(&c, "conflict");
    node.stop().await;

    // 503: the store is down.
    let store = FlakyStore::new();
    let node = TestNode::start_with(
        store.clone(),
        NodeConfig::default(),
        ServerConfig::default(),
    )
    .await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    store.set_down(true);
    let c = alice.call("GET", "/api/v1/rooms", None).await;
    got.checked(&c, "store_unavailable");
    assert_eq!(c.raw.header("retry-after"), Some("3"), "2.5 s rounds up");
    let resp = send(node.addr(), RawRequest::get("/healthz"))
        .await
        .unwrap();
    assert_eq!(resp.status, 503);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&resp.body).unwrap()["store_ok"],
        false
    );
    let metrics = send(node.addr(), RawRequest::get("/metrics"))
        .await
        .unwrap()
        .text();
    assert!(
        metrics.contains("peergroup_store_errors_total 1"),
        "{metrics}"
    );
    store.set_down(false);
    assert_eq!(
        send(node.addr(), RawRequest::get("/healthz"))
            .await
            .unwrap()
            .status,
        200
    );
    node.stop().await;

    // Every code is accounted for.
    let mut all: BTreeSet<String> = got.0.clone();
    for (code, test) in ELSEWHERE.iter().chain(UNREACHABLE) {
        assert!(
            all.insert((*code).to_owned()),
            "{code} listed twice ({test})"
        );
    }
    let expected: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_eq!(all, expected, "reached here: {:?}", got.0);
    let _ = &mut rng;
}
