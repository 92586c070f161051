//! The canonical encoding: exact bytes for the layouts protocol.md fixes,
//! and property tests (deterministic; distinct values encode distinctly).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use peer_proto::api::Kex;
use peer_proto::signed::{EnvelopeTbs, HelloTbs, RequestTbs, ResponseTbs};
use peer_proto::{NodeId, RoomId, UserId, canonical, labels};
use proptest::prelude::*;

fn label_prefix(label: &str) -> Vec<u8> {
    let mut v = vec![label.len() as u8];
    v.extend_from_slice(label.as_bytes());
    v
}

#[test]
fn hello_layout_is_field_by_field() {
    let eph = [4u8; 65];
    let nonce = [7u8; 32];
    let tbs = HelloTbs {
        version: 1,
        kex: Kex::RsaOaep,
        user_id: UserId::from_bytes([1; 16]),
        client_eph: Some(&eph),
        client_nonce: &nonce,
        timestamp: 300,
        node_id: NodeId::from_bytes([2; 16]),
    };
    let mut expected = label_prefix(labels::HANDSHAKE_HELLO);
    expected.push(1); // version varint
    expected.push(1); // kex: rsa-oaep = 1
    expected.extend_from_slice(&[1; 16]); // user_id raw
    expected.push(1); // Some
    expected.push(65); // length
    expected.extend_from_slice(&eph);
    expected.extend_from_slice(&nonce); // raw 32
    expected.extend_from_slice(&[0xac, 0x02]); // 300 varint
    expected.extend_from_slice(&[2; 16]);
    assert_eq!(canonical(labels::HANDSHAKE_HELLO, &tbs).unwrap(), expected);

    let none = HelloTbs {
        client_eph: None,
        kex: Kex::EcdhP256,
        ..tbs
    };
    let enc = canonical(labels::HANDSHAKE_HELLO, &none).unwrap();
    let at = label_prefix(labels::HANDSHAKE_HELLO).len();
    assert_eq!(enc[at + 1], 0, "ecdh-p256 is variant 0");
    assert_eq!(enc[at + 2 + 16], 0, "None is 0x00");
}

#[test]
fn request_response_and_envelope_layouts() {
    let h = [9u8; 32];
    let req = canonical(
        labels::REQUEST,
        &RequestTbs {
            method: "POST",
            path_and_query: "/api/v1/rooms?x=1",
            seq: 1,
            body_hash: &h,
        },
    )
    .unwrap();
    let mut expected = label_prefix(labels::REQUEST);
    expected.push(4);
    expected.extend_from_slice(b"POST");
    expected.push(17);
    expected.extend_from_slice(b"/api/v1/rooms?x=1");
    expected.push(1);
    expected.extend_from_slice(&h);
    assert_eq!(req, expected);

    let resp = canonical(
        labels::RESPONSE,
        &ResponseTbs {
            status: 200,
            seq: 128,
            body_hash: &h,
        },
    )
    .unwrap();
    let mut expected = label_prefix(labels::RESPONSE);
    expected.extend_from_slice(&[0xc8, 0x01, 0x80, 0x01]);
    expected.extend_from_slice(&h);
    assert_eq!(resp, expected);

    let wrapped = [3u8; 256];
    let env = canonical(
        labels::ENVELOPE,
        &EnvelopeTbs {
            room_id: RoomId::from_bytes([1; 16]),
            epoch: 2,
            member_id: UserId::from_bytes([5; 16]),
            wrapped_key: &wrapped,
            distributor_id: UserId::from_bytes([6; 16]),
        },
    )
    .unwrap();
    let mut expected = label_prefix(labels::ENVELOPE);
    expected.extend_from_slice(&[1; 16]);
    expected.push(2);
    expected.extend_from_slice(&[5; 16]);
    expected.extend_from_slice(&[0x80, 0x02]); // 256 varint
    expected.extend_from_slice(&wrapped);
    expected.extend_from_slice(&[6; 16]);
    assert_eq!(env, expected);
}

proptest! {
    #[test]
    fn canonical_is_deterministic_and_injective(
        m1 in "[A-Z]{1,7}", p1 in "/[ -~]{0,40}", s1 in any::<u64>(), h1 in any::<[u8; 32]>(),
        m2 in "[A-Z]{1,7}", p2 in "/[ -~]{0,40}", s2 in any::<u64>(), h2 in any::<[u8; 32]>(),
    ) {
        let a = RequestTbs { method: &m1, path_and_query: &p1, seq: s1, body_hash: &h1 };
        let b = RequestTbs { method: &m2, path_and_query: &p2, seq: s2, body_hash: &h2 };
        let ea = canonical(labels::REQUEST, &a).unwrap();
        prop_assert_eq!(&ea, &canonical(labels::REQUEST, &a).unwrap());
        let eb = canonical(labels::REQUEST, &b).unwrap();
        let same = (m1 == m2) && (p1 == p2) && s1 == s2 && h1 == h2;
        prop_assert_eq!(same, ea == eb);
    }

    #[test]
    fn labels_separate_domains(s in any::<u64>(), h in any::<[u8; 32]>()) {
        let tbs = ResponseTbs { status: 200, seq: s, body_hash: &h };
        prop_assert_ne!(
            canonical(labels::RESPONSE, &tbs).unwrap(),
            canonical(labels::REQUEST, &tbs).unwrap()
        );
    }

    #[test]
    fn ids_round_trip_through_text(bytes in any::<[u8; 16]>()) {
        let id = RoomId::from_bytes(bytes);
        prop_assert_eq!(id.to_string().parse::<RoomId>().unwrap(), id);
    }

    #[test]
    fn datagram_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1300)) {
        let _ = peer_proto::discovery::Datagram::decode(&bytes);
        let mut with_magic = b"PGRP".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = peer_proto::discovery::Datagram::decode(&with_magic);
    }
}
