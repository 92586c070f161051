//! The canonical encoding (peer_proto::canonical) of the signed tuples:
//! deterministic, and injective on distinct values of a tuple type.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use peer_proto::api::Kex;
use peer_proto::signed::{EnvelopeTbs, HelloTbs, RequestTbs};
use peer_proto::{NodeId, RoomId, UserId, canonical, labels};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq)]
struct Req {
    method: String,
    path: String,
    seq: u64,
    hash: [u8; 32],
}

fn req() -> impl Strategy<Value = Req> {
    ("[A-Z]{0,8}", ".{0,40}", any::<u64>(), any::<[u8; 32]>()).prop_map(
        |(method, path, seq, hash)| Req {
            method,
            path,
            seq,
            hash,
        },
    )
}

fn enc_req(r: &Req) -> Vec<u8> {
    canonical(
        labels::REQUEST,
        &RequestTbs {
            method: &r.method,
            path_and_query: &r.path,
            seq: r.seq,
            body_hash: &r.hash,
        },
    )
    .unwrap()
}

#[derive(Debug, Clone, PartialEq)]
struct Env {
    room: [u8; 16],
    epoch: u32,
    member: [u8; 16],
    wrapped: Vec<u8>,
    distributor: [u8; 16],
}

fn env() -> impl Strategy<Value = Env> {
    (
        any::<[u8; 16]>(),
        any::<u32>(),
        any::<[u8; 16]>(),
        proptest::collection::vec(any::<u8>(), 0..300),
        any::<[u8; 16]>(),
    )
        .prop_map(|(room, epoch, member, wrapped, distributor)| Env {
            room,
            epoch,
            member,
            wrapped,
            distributor,
        })
}

fn enc_env(e: &Env) -> Vec<u8> {
    canonical(
        labels::ENVELOPE,
        &EnvelopeTbs {
            room_id: RoomId::from_bytes(e.room),
            epoch: e.epoch,
            member_id: UserId::from_bytes(e.member),
            wrapped_key: &e.wrapped,
            distributor_id: UserId::from_bytes(e.distributor),
        },
    )
    .unwrap()
}

#[derive(Debug, Clone, PartialEq)]
struct H {
    ecdh: bool,
    eph: Option<Vec<u8>>,
    nonce: [u8; 32],
    ts: u64,
    node: [u8; 16],
}

fn hello() -> impl Strategy<Value = H> {
    (
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..70)),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<[u8; 16]>(),
    )
        .prop_map(|(ecdh, eph, nonce, ts, node)| H {
            ecdh,
            eph,
            nonce,
            ts,
            node,
        })
}

fn enc_hello(h: &H) -> Vec<u8> {
    canonical(
        labels::HANDSHAKE_HELLO,
        &HelloTbs {
            version: 1,
            kex: if h.ecdh { Kex::EcdhP256 } else { Kex::RsaOaep },
            user_id: UserId::from_bytes([9; 16]),
            client_eph: h.eph.as_deref(),
            client_nonce: &h.nonce,
            timestamp: h.ts,
            node_id: NodeId::from_bytes(h.node),
        },
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn request_tbs_deterministic_and_injective(a in req(), b in req()) {
        prop_assert_eq!(enc_req(&a), enc_req(&a.clone()));
        prop_assert_eq!(a == b, enc_req(&a) == enc_req(&b));
    }

    #[test]
    fn request_tbs_neighbours_differ(a in req(), split in 0usize..8) {
        // Moving bytes between adjacent strings changes the encoding.
        let mut b = a.clone();
        let cut = split.min(b.method.len());
        let tail = b.method.split_off(cut);
        b.path = format!("{tail}{}", b.path);
        prop_assert_eq!(a == b, enc_req(&a) == enc_req(&b));
    }

    #[test]
    fn envelope_tbs_deterministic_and_injective(a in env(), b in env()) {
        prop_assert_eq!(enc_env(&a), enc_env(&a.clone()));
        prop_assert_eq!(a == b, enc_env(&a) == enc_env(&b));
    }

    #[test]
    fn hello_tbs_deterministic_and_injective(a in hello(), b in hello()) {
        prop_assert_eq!(enc_hello(&a), enc_hello(&a.clone()));
        prop_assert_eq!(a == b, enc_hello(&a) == enc_hello(&b));
    }

    #[test]
    fn hello_tbs_single_field_changes_differ(a in hello(), ts in any::<u64>()) {
        let mut b = a.clone();
        b.ts = ts;
        prop_assert_eq!(a.ts == ts, enc_hello(&a) == enc_hello(&b));
        let mut c = a.clone();
        c.eph = match &a.eph { Some(_) => None, None => Some(Vec::new()) };
        prop_assert_ne!(enc_hello(&a), enc_hello(&c));
    }
}

#[test]
fn labels_separate_domains() {
    // The same fields under two labels never encode the same.
    let tbs = RequestTbs {
        method: "GET",
        path_and_query: "/",
        seq: 1,
        body_hash: &[0; 32],
    };
    assert_ne!(
        canonical(labels::REQUEST, &tbs).unwrap(),
        canonical(labels::RESPONSE, &tbs).unwrap()
    );
}
