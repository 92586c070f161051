//! Serde round trips of every wire type, and JSON shape tests that pin the
//! documented field names (api.md). A renamed field fails here first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use peer_proto::api::*;
use peer_proto::discovery::{Datagram, DatagramKind};
use peer_proto::error::{ApiError, ErrorBody, ErrorCode};
use peer_proto::event::{Event, EventKind};
use peer_proto::signed::MessageBody;
use peer_proto::{Bytes, Bytes32, MessageId, NodeId, RoomId, SessionId, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn uid(b: u8) -> UserId {
    UserId::from_bytes([b; 16])
}
fn rid(b: u8) -> RoomId {
    RoomId::from_bytes([b; 16])
}
fn nid(b: u8) -> NodeId {
    NodeId::from_bytes([b; 16])
}
fn b64(bytes: &[u8]) -> String {
    peer_proto::bytes::encode_b64(bytes)
}

/// JSON round trip, and the JSON value equals `expected` exactly.
fn pin<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T, expected: Value) {
    let json = serde_json::to_value(value).unwrap();
    assert_eq!(json, expected, "JSON shape of {value:?}");
    let back: T = serde_json::from_value(json).unwrap();
    assert_eq!(&back, value);
    // Text form too (the form on the wire).
    let text = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, value);
}

/// Postcard round trip (types that travel inside signed tuples or datagrams).
fn postcard_round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let bytes = postcard::to_allocvec(value).unwrap();
    let back: T = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(&back, value);
}

fn envelope() -> Envelope {
    Envelope {
        room_id: rid(1),
        epoch: 3,
        member_id: uid(2),
        wrapped_key: Bytes(vec![4; 8]),
        distributor_id: uid(5),
        signature: Bytes(vec![6; 8]),
    }
}

fn envelope_json() -> Value {
    json!({
        "room_id": rid(1).to_string(),
        "epoch": 3,
        "member_id": uid(2).to_string(),
        "wrapped_key": b64(&[4; 8]),
        "distributor_id": uid(5).to_string(),
        "signature": b64(&[6; 8]),
    })
}

fn room() -> Room {
    Room {
        id: rid(1),
        name: "général".into(),
        topic: "t".into(),
        visibility: Visibility::Private,
        join_rule: JoinRule::Password,
        capacity: 10,
        encrypted: true,
        owner_id: uid(2),
        epoch: 4,
        rotation_due: true,
        member_count: 3,
        last_seq: 99,
        created_at: 1_700_000_000,
        my_role: Some(Role::Admin),
        members: Some(vec![Member {
            user_id: uid(2),
            name: "alice".into(),
            role: Role::Owner,
            join_epoch: 1,
            joined_at: 1_700_000_001,
        }]),
    }
}

fn room_json() -> Value {
    json!({
        "id": rid(1).to_string(),
        "name": "général",
        "topic": "t",
        "visibility": "private",
        "join_rule": "password",
        "capacity": 10,
        "encrypted": true,
        "owner_id": uid(2).to_string(),
        "epoch": 4,
        "rotation_due": true,
        "member_count": 3,
        "last_seq": 99,
        "created_at": 1_700_000_000u64,
        "my_role": "admin",
        "members": [{
            "user_id": uid(2).to_string(),
            "name": "alice",
            "role": "owner",
            "join_epoch": 1,
            "joined_at": 1_700_000_001u64,
        }],
    })
}

#[test]
fn users() {
    pin(
        &RegisterUser {
            name: "alice".into(),
            spki: Bytes(vec![1, 2, 3]),
            timestamp: 5,
            signature: Bytes(vec![9]),
        },
        json!({"name": "alice", "spki": "AQID", "timestamp": 5, "signature": "CQ"}),
    );
    let user = User {
        id: uid(1),
        name: "alice".into(),
        spki: Bytes(vec![1]),
        created_at: 7,
    };
    let user_json =
        json!({"id": uid(1).to_string(), "name": "alice", "spki": "AQ", "created_at": 7});
    pin(&user, user_json.clone());
    pin(
        &UserList {
            users: vec![user.clone()],
            next_cursor: Some("c".into()),
        },
        json!({"users": [user_json.clone()], "next_cursor": "c"}),
    );
    pin(
        &UserList {
            users: vec![],
            next_cursor: None,
        },
        json!({"users": []}),
    );
    pin(
        &UserQuery {
            name: Some("al".into()),
            limit: Some(5),
            cursor: None,
        },
        json!({"name": "al", "limit": 5}),
    );
}

#[test]
fn handshake() {
    let hello = Hello {
        version: 1,
        kex: Kex::EcdhP256,
        user_id: uid(1),
        client_eph: Some(Bytes(vec![4; 65])),
        client_nonce: Bytes32([7; 32]),
        timestamp: 100,
        node_id: nid(2),
        signature: Bytes(vec![8; 4]),
    };
    pin(
        &hello,
        json!({
            "version": 1,
            "kex": "ecdh-p256",
            "user_id": uid(1).to_string(),
            "client_eph": b64(&[4; 65]),
            "client_nonce": b64(&[7; 32]),
            "timestamp": 100,
            "node_id": nid(2).to_string(),
            "signature": b64(&[8; 4]),
        }),
    );
    let rsa_hello = Hello {
        kex: Kex::RsaOaep,
        client_eph: None,
        ..hello
    };
    let v = serde_json::to_value(&rsa_hello).unwrap();
    assert_eq!(v["kex"], "rsa-oaep");
    assert!(v.get("client_eph").is_none());
    pin(&rsa_hello, v);

    let reply = HelloReply {
        session_id: SessionId::from_bytes([3; 16]),
        server_eph: Some(Bytes(vec![4; 65])),
        wrapped_secret: None,
        server_nonce: Bytes32([5; 32]),
        expires_at: 200,
        sealed_auth_key: Bytes(vec![6; 80]),
        node_signature: Bytes(vec![7; 4]),
    };
    pin(
        &reply,
        json!({
            "session_id": SessionId::from_bytes([3; 16]).to_string(),
            "server_eph": b64(&[4; 65]),
            "server_nonce": b64(&[5; 32]),
            "expires_at": 200,
            "sealed_auth_key": b64(&[6; 80]),
            "node_signature": b64(&[7; 4]),
        }),
    );
    pin(
        &TokenRequest { ttl_secs: Some(60) },
        json!({"ttl_secs": 60}),
    );
    pin(&TokenRequest::default(), json!({}));
    let token = TokenResponse {
        token: "secret-token".into(),
        expires_at: 9,
    };
    pin(&token, json!({"token": "secret-token", "expires_at": 9}));
    assert!(!format!("{token:?}").contains("secret-token"));
}

#[test]
fn rooms() {
    let create = CreateRoom {
        id: rid(1),
        name: "r".into(),
        topic: String::new(),
        visibility: Visibility::Public,
        join_rule: JoinRule::Password,
        password: Some("hunter2".into()),
        capacity: Some(5),
        encrypted: true,
        envelope: Some(envelope()),
    };
    pin(
        &create,
        json!({
            "id": rid(1).to_string(),
            "name": "r",
            "topic": "",
            "visibility": "public",
            "join_rule": "password",
            "password": "hunter2",
            "capacity": 5,
            "encrypted": true,
            "envelope": envelope_json(),
        }),
    );
    assert!(!format!("{create:?}").contains("hunter2"));
    // Defaults: public, open, encrypted.
    let minimal: CreateRoom =
        serde_json::from_value(json!({"id": rid(1).to_string(), "name": "r"})).unwrap();
    assert_eq!(minimal.visibility, Visibility::Public);
    assert_eq!(minimal.join_rule, JoinRule::Open);
    assert!(minimal.encrypted);
    assert!(minimal.envelope.is_none());

    pin(&room(), room_json());
    pin(
        &RoomList {
            rooms: vec![room()],
            next_cursor: None,
        },
        json!({"rooms": [room_json()]}),
    );
    let update = UpdateRoom {
        name: Some("n".into()),
        password: Some("pw".into()),
        ..Default::default()
    };
    pin(&update, json!({"name": "n", "password": "pw"}));
    assert!(!format!("{update:?}").contains("pw\""));
    let join = JoinRoom {
        password: Some("pw1".into()),
        invite: Some("code1".into()),
    };
    pin(&join, json!({"password": "pw1", "invite": "code1"}));
    let dbg = format!("{join:?}");
    assert!(!dbg.contains("pw1") && !dbg.contains("code1"));
    pin(
        &Joined {
            room: room(),
            key_pending: true,
        },
        json!({"room": room_json(), "key_pending": true}),
    );
    pin(
        &Kick {
            user_id: uid(3),
            ban: true,
        },
        json!({"user_id": uid(3).to_string(), "ban": true}),
    );
    pin(
        &SetRole {
            user_id: uid(3),
            role: Role::Admin,
        },
        json!({"user_id": uid(3).to_string(), "role": "admin"}),
    );
    pin(
        &CreateInvite {
            uses: Some(2),
            expires_in_secs: Some(60),
        },
        json!({"uses": 2, "expires_in_secs": 60}),
    );
    let invite = Invite {
        room_id: rid(1),
        code: "abc-code".into(),
        uses: 2,
        expires_at: 9,
    };
    pin(
        &invite,
        json!({"room_id": rid(1).to_string(), "code": "abc-code", "uses": 2, "expires_at": 9}),
    );
    assert!(!format!("{invite:?}").contains("abc-code"));
    pin(
        &Removed {
            room_id: rid(1),
            user_id: uid(2),
            reason: LeaveReason::Banned,
        },
        json!({"room_id": rid(1).to_string(), "user_id": uid(2).to_string(), "reason": "banned"}),
    );
    pin(&RoomQuery::default(), json!({}));
}

#[test]
fn keys() {
    pin(&envelope(), envelope_json());
    pin(
        &KeyList {
            current_epoch: 3,
            envelopes: vec![envelope()],
        },
        json!({"current_epoch": 3, "envelopes": [envelope_json()]}),
    );
    pin(
        &PostKeys {
            epoch: 3,
            envelopes: vec![envelope()],
            rotate: false,
        },
        json!({"epoch": 3, "envelopes": [envelope_json()]}),
    );
    pin(
        &PostKeys {
            epoch: 4,
            envelopes: vec![envelope()],
            rotate: true,
        },
        json!({"epoch": 4, "envelopes": [envelope_json()], "rotate": true}),
    );
    pin(
        &KeysPosted {
            current_epoch: 4,
            stored: 2,
            rotated: true,
        },
        json!({"current_epoch": 4, "stored": 2, "rotated": true}),
    );
}

#[test]
fn messages() {
    let encrypted = PostMessage {
        epoch: Some(2),
        ciphertext: Some(Bytes(vec![1; 4])),
        signature: Some(Bytes(vec![2; 4])),
        text: None,
    };
    pin(
        &encrypted,
        json!({"epoch": 2, "ciphertext": b64(&[1; 4]), "signature": b64(&[2; 4])}),
    );
    let plain = PostMessage {
        epoch: None,
        ciphertext: None,
        signature: None,
        text: Some("hi".into()),
    };
    pin(&plain, json!({"text": "hi"}));
    pin(
        &Posted {
            seq: 4,
            id: MessageId::from_bytes([9; 16]),
            created_at: 5,
        },
        json!({"seq": 4, "id": MessageId::from_bytes([9; 16]).to_string(), "created_at": 5}),
    );
    let msg = Message {
        room_id: rid(1),
        seq: 4,
        id: MessageId::from_bytes([9; 16]),
        sender_id: uid(2),
        created_at: 5,
        epoch: None,
        ciphertext: None,
        signature: None,
        text: Some("hi".into()),
        deleted: false,
    };
    let msg_json = json!({
        "room_id": rid(1).to_string(),
        "seq": 4,
        "id": MessageId::from_bytes([9; 16]).to_string(),
        "sender_id": uid(2).to_string(),
        "created_at": 5,
        "text": "hi",
        "deleted": false,
    });
    pin(&msg, msg_json.clone());
    pin(
        &MessageList {
            messages: vec![msg],
            last_seq: 4,
            more: false,
        },
        json!({"messages": [msg_json], "last_seq": 4, "more": false}),
    );
    pin(
        &MessageQuery {
            after: Some(3),
            before: None,
            limit: Some(10),
            wait: Some(30),
        },
        json!({"after": 3, "limit": 10, "wait": 30}),
    );
    let body = MessageBody {
        text: "héllo".into(),
        sent_at: 1_700_000_000,
        reply_to: Some(3),
    };
    postcard_round_trip(&body);
    pin(
        &body,
        json!({"text": "héllo", "sent_at": 1_700_000_000u64, "reply_to": 3}),
    );
}

#[test]
fn node_and_peers() {
    let info = NodeInfo {
        node_id: nid(1),
        name: "n".into(),
        spki: Bytes(vec![1]),
        version: "0.1.0".into(),
        protocol_version: 1,
        role: NodeRole::Follower,
        group: "default".into(),
        store: StoreKind::Memory,
        uptime_secs: 3,
        registration_open: true,
        bearer_tokens: true,
        main_peer: Some(MainPeerStatus {
            node_id: nid(2),
            url: "http://127.0.0.1:1".into(),
            spki: Bytes(vec![2]),
            reachable: false,
            last_seen: 4,
        }),
    };
    pin(
        &info,
        json!({
            "node_id": nid(1).to_string(),
            "name": "n",
            "spki": "AQ",
            "version": "0.1.0",
            "protocol_version": 1,
            "role": "follower",
            "group": "default",
            "store": "memory",
            "uptime_secs": 3,
            "registration_open": true,
            "bearer_tokens": true,
            "main_peer": {
                "node_id": nid(2).to_string(),
                "url": "http://127.0.0.1:1",
                "spki": "Ag",
                "reachable": false,
                "last_seen": 4,
            },
        }),
    );
    pin(
        &Health {
            status: HealthStatus::Degraded,
            store_ok: false,
            main_peer_ok: None,
        },
        json!({"status": "degraded", "store_ok": false}),
    );
    let peer = PeerInfo {
        node_id: nid(3),
        name: "p".into(),
        url: "http://127.0.0.1:2".into(),
        role: NodeRole::Main,
        group: "g".into(),
        direction: PeerDirection::Outbound,
        online: true,
        last_seen: 6,
    };
    pin(
        &PeerList { peers: vec![peer] },
        json!({"peers": [{
            "node_id": nid(3).to_string(),
            "name": "p",
            "url": "http://127.0.0.1:2",
            "role": "main",
            "group": "g",
            "direction": "outbound",
            "online": true,
            "last_seen": 6,
        }]}),
    );
    pin(
        &PeerQuery {
            role: Some(NodeRole::Standalone),
            online: Some(true),
        },
        json!({"role": "standalone", "online": true}),
    );
    pin(
        &RegisterPeer {
            node_id: nid(3),
            name: "p".into(),
            spki: Bytes(vec![1]),
            group: "g".into(),
            url: "http://127.0.0.1:2".into(),
            timestamp: 7,
            nonce: Bytes32([1; 32]),
            signature: Bytes(vec![2]),
        },
        json!({
            "node_id": nid(3).to_string(),
            "name": "p",
            "spki": "AQ",
            "group": "g",
            "url": "http://127.0.0.1:2",
            "timestamp": 7,
            "nonce": b64(&[1; 32]),
            "signature": "Ag",
        }),
    );
    pin(
        &PeerLeave {
            timestamp: 7,
            nonce: Bytes32([1; 32]),
            signature: Bytes(vec![2]),
        },
        json!({"timestamp": 7, "nonce": b64(&[1; 32]), "signature": "Ag"}),
    );
    let event = Event {
        id: 1,
        at: 2,
        kind: EventKind::RoomDeleted { room_id: rid(1) },
    };
    pin(
        &Notify {
            from: nid(3),
            events: vec![event],
        },
        json!({"from": nid(3).to_string(), "events": [
            {"id": 1, "at": 2, "type": "room_deleted", "room_id": rid(1).to_string()}
        ]}),
    );
}

#[test]
fn every_event_kind() {
    let cases = [
        (
            EventKind::Message {
                room_id: rid(1),
                seq: 5,
                sender_id: uid(2),
            },
            json!({"type": "message", "room_id": rid(1).to_string(), "seq": 5, "sender_id": uid(2).to_string()}),
        ),
        (
            EventKind::MessageDeleted {
                room_id: rid(1),
                seq: 5,
            },
            json!({"type": "message_deleted", "room_id": rid(1).to_string(), "seq": 5}),
        ),
        (
            EventKind::MemberJoined {
                room_id: rid(1),
                user_id: uid(2),
                join_epoch: 3,
            },
            json!({"type": "member_joined", "room_id": rid(1).to_string(), "user_id": uid(2).to_string(), "join_epoch": 3}),
        ),
        (
            EventKind::MemberLeft {
                room_id: rid(1),
                user_id: uid(2),
                reason: LeaveReason::Kicked,
            },
            json!({"type": "member_left", "room_id": rid(1).to_string(), "user_id": uid(2).to_string(), "reason": "kicked"}),
        ),
        (
            EventKind::KeyRequest {
                room_id: rid(1),
                user_id: uid(2),
                epoch: 3,
            },
            json!({"type": "key_request", "room_id": rid(1).to_string(), "user_id": uid(2).to_string(), "epoch": 3}),
        ),
        (
            EventKind::KeyGranted {
                room_id: rid(1),
                user_id: uid(2),
                epoch: 3,
            },
            json!({"type": "key_granted", "room_id": rid(1).to_string(), "user_id": uid(2).to_string(), "epoch": 3}),
        ),
        (
            EventKind::KeyRotated {
                room_id: rid(1),
                epoch: 3,
            },
            json!({"type": "key_rotated", "room_id": rid(1).to_string(), "epoch": 3}),
        ),
        (
            EventKind::RoomUpdated { room_id: rid(1) },
            json!({"type": "room_updated", "room_id": rid(1).to_string()}),
        ),
        (
            EventKind::RoomDeleted { room_id: rid(1) },
            json!({"type": "room_deleted", "room_id": rid(1).to_string()}),
        ),
        (
            EventKind::Error {
                code: ErrorCode::RateLimited,
                message: "slow".into(),
            },
            json!({"type": "error", "code": "rate_limited", "message": "slow"}),
        ),
    ];
    for (kind, mut expected) in cases {
        assert_eq!(expected["type"], kind.name());
        expected["id"] = json!(9);
        expected["at"] = json!(10);
        pin(
            &Event {
                id: 9,
                at: 10,
                kind,
            },
            expected,
        );
    }
}

#[test]
fn errors() {
    for &code in ErrorCode::ALL {
        pin(
            &ErrorBody::from(ApiError::new(code, "m")),
            json!({"error": {"code": code.as_str(), "message": "m"}}),
        );
    }
}

#[test]
fn request_bodies_refuse_unknown_fields() {
    let err = serde_json::from_value::<RegisterUser>(json!({
        "name": "a", "spki": "AQ", "timestamp": 1, "signature": "AQ", "admin": true
    }))
    .unwrap_err();
    assert!(err.to_string().contains("admin"), "{err}");
    assert!(
        serde_json::from_value::<Kick>(json!({"user_id": uid(1).to_string(), "bann": true}))
            .is_err()
    );
    assert!(serde_json::from_value::<PostMessage>(json!({"txt": "hi"})).is_err());
    assert!(serde_json::from_value::<TokenRequest>(json!({"ttl": 5})).is_err());
    assert!(serde_json::from_value::<MessageQuery>(json!({"aftr": 5})).is_err());
}

#[test]
fn discovery_datagram_round_trip_and_refusals() {
    let mut d = Datagram::new(
        DatagramKind::Query,
        nid(1),
        Bytes32([2; 32]),
        "name".into(),
        "group".into(),
        NodeRole::Standalone,
        8080,
        1_700_000_000,
        Bytes32([3; 32]),
    );
    d.signature = Bytes(vec![4; 256]);
    let wire = d.encode().unwrap();
    assert!(wire.len() <= peer_proto::discovery::MAX_DATAGRAM_BYTES);
    assert_eq!(&wire[..4], b"PGRP");
    assert_eq!(Datagram::decode(&wire).unwrap(), d);
    postcard_round_trip(&d);

    use peer_proto::discovery::DatagramError as E;
    let mut trailing = wire.clone();
    trailing.push(0);
    assert_eq!(Datagram::decode(&trailing), Err(E::Malformed));
    assert_eq!(Datagram::decode(&wire[..wire.len() - 1]), Err(E::Malformed));
    assert_eq!(Datagram::decode(&vec![0; 1201]), Err(E::Oversized));
    let mut magic = wire.clone();
    magic[0] = b'X';
    assert_eq!(Datagram::decode(&magic), Err(E::BadMagic));
    let mut v2 = d.clone();
    v2.version = 2;
    let v2 = postcard::to_allocvec(&v2).unwrap();
    assert_eq!(Datagram::decode(&v2), Err(E::UnsupportedVersion));
    let mut long = d.clone();
    long.name = "x".repeat(65);
    assert_eq!(long.encode(), Err(E::FieldBounds));
    // The signed bytes cover every field but the signature.
    let mut other = d.clone();
    other.signature = Bytes(vec![5; 256]);
    assert_eq!(d.signed_bytes().unwrap(), other.signed_bytes().unwrap());
    other.http_port = 8081;
    assert_ne!(d.signed_bytes().unwrap(), other.signed_bytes().unwrap());
}

#[test]
fn ids_in_json_are_22_char_strings() {
    for v in [
        serde_json::to_value(uid(1)).unwrap(),
        serde_json::to_value(rid(1)).unwrap(),
        serde_json::to_value(nid(1)).unwrap(),
        serde_json::to_value(SessionId::from_bytes([1; 16])).unwrap(),
        serde_json::to_value(MessageId::from_bytes([1; 16])).unwrap(),
    ] {
        assert_eq!(v.as_str().unwrap().len(), 22);
    }
}
