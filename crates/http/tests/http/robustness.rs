//! Bad input is answered 4xx, never 5xx; responses are authentic and
//! sealed when asked; tampering is detected by the client's verifier.

use peer_proto::api::Kex;
use peer_testkit::keys;
use peer_testkit::node::{RawRequest, TestNode, send};
use peer_testkit::tamper;
use proptest::prelude::*;
use serde_json::json;

use crate::common::{User, assert_error, handshake, room_id};

#[tokio::test]
async fn malformed_input_is_a_4xx_naming_the_problem() {
    let node = TestNode::start().await;
    let addr = node.addr();
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let room = alice.plain_room("r").await;
    let post = |p: &str, body: &str| RawRequest::post(p).bearer(&token).json(body.to_owned());

    // An unknown field is named.
    let resp = send(
        addr,
        post(
            "/api/v1/rooms",
            &json!({"id": room_id(), "nmae": "typo"}).to_string(),
        ),
    )
    .await
    .unwrap();
    assert_error(&resp, "invalid_body");
    assert!(resp.text().contains("nmae"), "{}", resp.text());
    // A nested field's path is named.
    let resp = send(
        addr,
        post(
            &format!("/api/v1/rooms/{room}/keys"),
            &json!({"epoch": 1, "envelopes": [{"room_id": room, "epoch": 1, "member_id": room,
                "wrapped_key": "@@@", "distributor_id": room, "signature": "AA"}]})
            .to_string(),
        ),
    )
    .await
    .unwrap();
    assert_error(&resp, "invalid_body");
    assert!(
        resp.text().contains("envelopes[0].wrapped_key"),
        "{}",
        resp.text()
    );
    for (path, body) in [
        ("/api/v1/rooms", "{"),
        ("/api/v1/rooms", "[]"),
        ("/api/v1/rooms", r#"{"id":"short","name":"x"}"#),
        (
            "/api/v1/rooms",
            r#"{"id":"AAAAAAAAAAAAAAAAAAAAAA","name":"x"} trailing"#,
        ),
        ("/api/v1/rooms", "\u{0}\u{1}"),
        ("/api/v1/tokens", r#"{"ttl_secs":-1}"#),
        ("/api/v1/handshake", r#"{"version":1}"#),
        (
            "/api/v1/users",
            r#"{"name":"x","spki":"!!","timestamp":1,"signature":""}"#,
        ),
    ] {
        let resp = send(addr, post(path, body)).await.unwrap();
        assert_error(&resp, "invalid_body");
    }
    // Ids in paths.
    for p in [
        "/api/v1/rooms/AAAA".to_owned(),
        "/api/v1/rooms/%41%41".to_owned(),
        format!("/api/v1/rooms/{room}x"),
        "/api/v1/users/!!!!!!!!!!!!!!!!!!!!!!".to_owned(),
    ] {
        let resp = send(addr, RawRequest::get(&p).bearer(&token))
            .await
            .unwrap();
        assert_error(&resp, "invalid_field");
    }
    let resp = send(
        addr,
        RawRequest::new("DELETE", &format!("/api/v1/rooms/{room}/messages/-1")).bearer(&token),
    )
    .await
    .unwrap();
    assert_error(&resp, "invalid_field");
    // Bytes that decode but are not what they claim: a hello whose
    // ephemeral key is not a P-256 point, a registration whose key is not
    // an RSA key.
    let mut rng = peer_crypto::rng::system_rng();
    let (_, mut hello) = peer_crypto::handshake::start(
        &mut rng,
        keys::alice(),
        node.node().node_id(),
        Kex::EcdhP256,
        crate::common::now(),
    )
    .unwrap();
    hello.client_eph = Some(peer_proto::Bytes(vec![4; 65]));
    let resp = crate::common::hello_raw(&node, &hello).await;
    assert!(
        (400..500).contains(&resp.status),
        "{} {}",
        resp.status,
        resp.text()
    );
    let resp = send(
        addr,
        RawRequest::post("/api/v1/users").json(
            json!({"name": "mallory", "spki": peer_proto::Bytes(vec![0x30, 3, 1, 2, 3]),
                   "timestamp": crate::common::now(), "signature": peer_proto::Bytes(vec![1; 256])})
            .to_string(),
        ),
    )
    .await
    .unwrap();
    assert!(
        (400..500).contains(&resp.status),
        "{} {}",
        resp.status,
        resp.text()
    );
    // Wrong content types.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonp",
    ] {
        let resp = send(
            addr,
            RawRequest::post("/api/v1/rooms")
                .bearer(&token)
                .header("content-type", ct)
                .body("{}"),
        )
        .await
        .unwrap();
        assert_error(&resp, "unsupported_media_type");
    }
    let resp = send(
        addr,
        RawRequest::post("/api/v1/rooms")
            .bearer(&token)
            .header("content-type", peer_crypto::SEALED_CONTENT_TYPE)
            .body("{}"),
    )
    .await
    .unwrap();
    assert_error(&resp, "unsupported_media_type");
    let resp = send(
        addr,
        RawRequest::post("/api/v1/rooms")
            .bearer(&token)
            .header("content-type", "application/json; charset=utf-8")
            .body(json!({"id": room_id(), "name": "charset", "encrypted": false}).to_string()),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 201, "{}", resp.text());
    node.stop().await;
}

#[test]
fn random_bodies_never_cause_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (node, token, room) = rt.block_on(async {
        let node = TestNode::start().await;
        let alice = User::new(&node, keys::alice(), "alice").await;
        let token = alice.token().await;
        let room = alice.plain_room("fuzz").await;
        (node, token, room)
    });
    let paths = [
        "/api/v1/users".to_owned(),
        "/api/v1/handshake".to_owned(),
        "/api/v1/rooms".to_owned(),
        format!("/api/v1/rooms/{room}"),
        format!("/api/v1/rooms/{room}/messages"),
        format!("/api/v1/rooms/{room}/keys"),
        format!("/api/v1/rooms/{room}/kick"),
        format!("/api/v1/rooms/{room}/join"),
    ];
    let json_like = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        "[{}\\[\\]\":,a-z0-9 .-]{0,200}".prop_map(String::into_bytes),
        (
            prop::sample::select(vec![
                "id",
                "name",
                "epoch",
                "envelopes",
                "text",
                "ciphertext",
                "user_id",
                "ban",
                "role",
                "password",
                "version",
                "kex",
                "spki"
            ]),
            "[a-zA-Z0-9_-]{0,40}",
            any::<i64>()
        )
            .prop_map(|(k, s, n)| format!(r#"{{"{k}":"{s}","x{n}":{n}}}"#).into_bytes()),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(
                0..paths.len(),
                json_like,
                prop::sample::select(vec!["POST", "PATCH"]),
            ),
            |(i, body, method)| {
                let status = rt.block_on(async {
                    send(
                        node.addr(),
                        RawRequest::new(method, &paths[i]).bearer(&token).json(body),
                    )
                    .await
                    .unwrap()
                    .status
                });
                prop_assert!(status < 500, "{method} {} answered {status}", paths[i]);
                Ok(())
            },
        )
        .unwrap();
    rt.block_on(node.stop());
}

#[tokio::test]
async fn sealed_round_trip_and_rsa_sessions() {
    let node = TestNode::start().await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let room = room_id();
    let c = alice
        .call_sealed(
            "POST",
            "/api/v1/rooms",
            Some(json!({"id": room, "name": "sealed", "encrypted": false})),
        )
        .await;
    assert_eq!(c.expect(201)["name"], "sealed");
    assert!(!c.raw.text().contains("sealed"), "the wire body is sealed");
    let c = alice
        .call_sealed("GET", &format!("/api/v1/rooms/{room}"), None)
        .await;
    assert_eq!(c.expect(200)["id"], json!(room));
    // Errors to sealed requests are sealed and authenticated too.
    let c = alice
        .call_sealed("POST", "/api/v1/rooms", Some(json!({"bogus": 1})))
        .await;
    c.expect_error("invalid_body");
    // Sealed event streams are refused (streams are never sealed).
    let c = alice.call_sealed("GET", "/api/v1/events", None).await;
    c.expect_error("unsupported_media_type");

    // An rsa-oaep session works the same way.
    let rsa = User {
        session: handshake(&node, keys::alice(), Kex::RsaOaep).await,
        ..User::login(&node, keys::alice()).await
    };
    let c = rsa
        .call_sealed("GET", &format!("/api/v1/rooms/{room}"), None)
        .await;
    assert_eq!(c.expect(200)["id"], json!(room));
    assert_eq!(rsa.call("GET", "/api/v1/rooms", None).await.status, 200);
    node.stop().await;
}

#[tokio::test]
async fn tampered_responses_are_detected_by_the_client() {
    let node = TestNode::start().await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    alice.plain_room("t").await;
    for sealed in [false, true] {
        // The body flipped in flight.
        let (req, verifier) = alice.prepare("GET", "/api/v1/rooms", b"", sealed);
        let raw = send(node.addr(), req).await.unwrap();
        let tag = raw.header("peer-auth").unwrap().to_owned();
        let flipped = tamper::flip_byte(&raw.body, raw.body.len() / 2);
        assert!(verifier.verify(raw.status, Some(&tag), &flipped).is_err());
        // Peer-Auth flipped.
        let (req, verifier) = alice.prepare("GET", "/api/v1/rooms", b"", sealed);
        let raw = send(node.addr(), req).await.unwrap();
        let tag = tamper::flip_b64_byte(raw.header("peer-auth").unwrap(), 3);
        assert!(verifier.verify(raw.status, Some(&tag), &raw.body).is_err());
        // The status changed.
        let (req, verifier) = alice.prepare("GET", "/api/v1/rooms", b"", sealed);
        let raw = send(node.addr(), req).await.unwrap();
        let tag = raw.header("peer-auth").unwrap().to_owned();
        assert!(verifier.verify(201, Some(&tag), &raw.body).is_err());
        // Untouched: it verifies.
        let (req, verifier) = alice.prepare("GET", "/api/v1/rooms", b"", sealed);
        let raw = send(node.addr(), req).await.unwrap();
        assert!(
            verifier
                .verify(raw.status, raw.header("peer-auth"), &raw.body)
                .is_ok()
        );
    }
    // The request target is covered exactly as sent.
    let (mut req, _) = alice.prepare("GET", "/api/v1/rooms?limit=5", b"", false);
    req.target = "/api/v1/rooms?limit=6".into();
    assert_error(&send(node.addr(), req).await.unwrap(), "bad_authenticator");
    node.stop().await;
}
