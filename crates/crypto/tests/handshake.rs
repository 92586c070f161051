//! The handshake: round trips in both modes and every check's exact error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use peer_crypto::handshake::{self, ReplayCache};
use peer_crypto::{
    ClientSession, Error, ExpectReply, Incompatible, LocalError, PeerMisbehaved, ServerSession,
};
use peer_proto::api::{Hello, HelloReply, Kex};
use peer_proto::{Bytes, ErrorCode};
use peer_testkit::NOW;
use peer_testkit::keys::{alice, bob, node, node_key};
use peer_testkit::rng::seeded;
use peer_testkit::tamper::flip_byte;

const TTL: u64 = 3600;

fn hello(kex: Kex, now: u64) -> (ExpectReply, Hello) {
    handshake::start(&mut seeded(1), alice(), node().node_id(), kex, now).unwrap()
}

fn full(kex: Kex) -> (ClientSession, ServerSession, HelloReply) {
    let mut rng = seeded(2);
    let (expect, hello) = hello(kex, NOW);
    let replay = ReplayCache::default();
    let v =
        handshake::verify_hello(&hello, alice().public(), node().node_id(), &replay, NOW).unwrap();
    assert_eq!(v.user_id(), alice().user_id());
    let (reply, server) = v.respond(&mut rng, node(), NOW, TTL).unwrap();
    let client = expect
        .finish(&mut rng, &reply, node().public(), NOW)
        .unwrap();
    (client, server, reply)
}

fn peer_err(e: Error) -> PeerMisbehaved {
    e.as_peer()
        .unwrap_or_else(|| panic!("not a peer error: {e:?}"))
}

fn verify(h: &Hello, replay: &ReplayCache, now: u64) -> Result<peer_crypto::VerifiedHello, Error> {
    handshake::verify_hello(h, alice().public(), node().node_id(), replay, now)
}

#[test]
fn round_trip_both_modes() {
    for kex in [Kex::EcdhP256, Kex::RsaOaep] {
        let (client, server, reply) = full(kex);
        assert_eq!(client.session_id(), server.session_id());
        assert_eq!(client.kex(), kex);
        assert_eq!(server.kex(), kex);
        assert_eq!(server.user_id(), alice().user_id());
        assert_eq!(client.expires_at(), NOW + TTL);
        match kex {
            Kex::EcdhP256 => {
                assert_eq!(reply.server_eph.as_ref().unwrap().len(), 65);
                assert!(reply.wrapped_secret.is_none());
            }
            Kex::RsaOaep => {
                assert!(reply.server_eph.is_none());
                assert_eq!(reply.wrapped_secret.as_ref().unwrap().len(), 256);
            }
        }
        // The sessions agree on their keys: a request verifies.
        let req = client
            .prepare_request(&mut seeded(3), "GET", "/x", b"", false)
            .unwrap();
        let h = &req.headers;
        let parsed =
            peer_crypto::request::AuthHeaders::parse(&h.session, h.key.as_deref(), &h.seq, &h.auth)
                .unwrap();
        server
            .verify_request(&parsed, "GET", "/x", &req.body, false, NOW)
            .unwrap();
    }
}

#[test]
fn hello_shape() {
    let (_, h) = hello(Kex::EcdhP256, NOW);
    assert_eq!(h.version, 1);
    assert_eq!(h.client_eph.as_ref().unwrap().len(), 65);
    assert_eq!(h.client_eph.as_ref().unwrap().as_slice()[0], 4);
    let (_, h) = hello(Kex::RsaOaep, NOW);
    assert!(h.client_eph.is_none());
}

#[test]
fn replayed_hello_nonce_is_refused() {
    let replay = ReplayCache::default();
    let (_, h) = hello(Kex::EcdhP256, NOW);
    verify(&h, &replay, NOW).unwrap();
    let e = verify(&h, &replay, NOW + 1).unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::ReplayedNonce);
    assert_eq!(
        verify(&h, &replay, NOW + 1).unwrap_err().code(),
        ErrorCode::ReplayedNonce
    );
}

#[test]
fn freshness_boundaries_120_and_121() {
    let replay = ReplayCache::default();
    for (ts, ok) in [
        (NOW - 120, true),
        (NOW + 120, true),
        (NOW - 121, false),
        (NOW + 121, false),
    ] {
        let (_, h) = handshake::start(
            &mut seeded(ts),
            alice(),
            node().node_id(),
            Kex::EcdhP256,
            ts,
        )
        .unwrap();
        let r = verify(&h, &replay, NOW);
        if ok {
            r.unwrap();
        } else {
            assert_eq!(
                peer_err(r.unwrap_err()),
                PeerMisbehaved::StaleTimestamp,
                "ts {ts}"
            );
        }
    }
}

#[test]
fn wrong_node_version_identity_and_signature() {
    let replay = ReplayCache::default();
    let (_, h) = hello(Kex::EcdhP256, NOW);

    let e = handshake::verify_hello(&h, alice().public(), node_key(1).node_id(), &replay, NOW)
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::WrongNode);

    let mut v2 = h.clone();
    v2.version = 2;
    let e = verify(&v2, &replay, NOW).unwrap_err();
    assert!(matches!(
        e,
        Error::Incompatible(Incompatible::UnsupportedVersion(2))
    ));
    assert_eq!(e.code(), ErrorCode::UnsupportedVersion);

    // The caller looked up Bob's key for Alice's user id.
    let e =
        handshake::verify_hello(&h, bob().public(), node().node_id(), &replay, NOW).unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::UnknownIdentity);

    // Bob signs a hello claiming to be Alice.
    let (_, mut forged) =
        handshake::start(&mut seeded(9), bob(), node().node_id(), Kex::EcdhP256, NOW).unwrap();
    forged.user_id = alice().user_id();
    let e = verify(&forged, &replay, NOW).unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadSignature);

    // Any signed field changed breaks the signature.
    let mut t = h.clone();
    t.client_nonce.0[0] ^= 1;
    assert_eq!(
        peer_err(verify(&t, &replay, NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    let mut t = h.clone();
    t.kex = Kex::RsaOaep;
    t.client_eph = None;
    assert_eq!(
        peer_err(verify(&t, &replay, NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    let mut t = h.clone();
    t.signature = Bytes(flip_byte(h.signature.as_slice(), 100));
    assert_eq!(
        peer_err(verify(&t, &replay, NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    assert!(
        replay.is_empty(),
        "no failed hello may enter the replay cache"
    );
}

#[test]
fn kex_and_point_consistency() {
    let replay = ReplayCache::default();
    let (_, h) = hello(Kex::EcdhP256, NOW);
    let mut t = h.clone();
    t.client_eph = None;
    assert_eq!(
        peer_err(verify(&t, &replay, NOW).unwrap_err()),
        PeerMisbehaved::Malformed("client_eph")
    );
    let mut t = h.clone();
    t.kex = Kex::RsaOaep;
    assert_eq!(
        peer_err(verify(&t, &replay, NOW).unwrap_err()),
        PeerMisbehaved::Malformed("client_eph")
    );
    // Not on the curve.
    let mut t = h.clone();
    t.client_eph = Some(Bytes(flip_byte(
        h.client_eph.as_ref().unwrap().as_slice(),
        64,
    )));
    assert_eq!(
        peer_err(verify(&t, &replay, NOW).unwrap_err()),
        PeerMisbehaved::Malformed("client_eph")
    );
    // Compressed form is refused (65-byte uncompressed only).
    let mut t = h.clone();
    t.client_eph = Some(Bytes(
        h.client_eph.as_ref().unwrap().as_slice()[..33].to_vec(),
    ));
    assert_eq!(
        peer_err(verify(&t, &replay, NOW).unwrap_err()),
        PeerMisbehaved::Malformed("client_eph")
    );
}

#[test]
fn trusted_node_key_differs_is_a_hard_distinct_error() {
    let mut rng = seeded(4);
    let (expect, h) = hello(Kex::EcdhP256, NOW);
    let replay = ReplayCache::default();
    let (reply, _) = verify(&h, &replay, NOW)
        .unwrap()
        .respond(&mut rng, node(), NOW, TTL)
        .unwrap();
    let e = expect
        .finish(&mut rng, &reply, node_key(1).public(), NOW)
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::NodeKeyMismatch);
    assert_eq!(
        peer_crypto::check_pinned(node().public(), node_key(1).spki_der()),
        Err(PeerMisbehaved::NodeKeyMismatch)
    );
    assert_eq!(
        peer_crypto::check_pinned(node().public(), node().spki_der()),
        Ok(())
    );
}

#[test]
fn impostor_node_signature_fails() {
    // Node 1 answers a hello meant for node 0, signing with its own key.
    let mut rng = seeded(5);
    let (expect, h) = hello(Kex::EcdhP256, NOW);
    let replay = ReplayCache::default();
    let v = verify(&h, &replay, NOW).unwrap();
    let (reply, _) = v.respond(&mut rng, node_key(1), NOW, TTL).unwrap();
    let e = expect
        .finish(&mut rng, &reply, node().public(), NOW)
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadSignature);
}

#[test]
fn every_reply_field_is_bound() {
    for kex in [Kex::EcdhP256, Kex::RsaOaep] {
        let mut rng = seeded(6);
        let replay = ReplayCache::default();
        let (_, h) = hello(kex, NOW);
        let (reply, _) = verify(&h, &replay, NOW)
            .unwrap()
            .respond(&mut rng, node(), NOW, TTL)
            .unwrap();
        let mut variants: Vec<(HelloReply, PeerMisbehaved)> = Vec::new();
        let mut r = reply.clone();
        r.session_id = peer_proto::SessionId::from_bytes([0; 16]);
        variants.push((r, PeerMisbehaved::BadSignature));
        let mut r = reply.clone();
        r.server_nonce.0[31] ^= 1;
        variants.push((r, PeerMisbehaved::BadSignature));
        let mut r = reply.clone();
        r.expires_at += 1;
        variants.push((r, PeerMisbehaved::BadSignature));
        let mut r = reply.clone();
        r.node_signature = Bytes(flip_byte(reply.node_signature.as_slice(), 0));
        variants.push((r, PeerMisbehaved::BadSignature));
        let mut r = reply.clone();
        match kex {
            Kex::EcdhP256 => {
                r.server_eph = Some(Bytes(flip_byte(
                    reply.server_eph.as_ref().unwrap().as_slice(),
                    10,
                )))
            }
            Kex::RsaOaep => {
                r.wrapped_secret = Some(Bytes(flip_byte(
                    reply.wrapped_secret.as_ref().unwrap().as_slice(),
                    10,
                )))
            }
        }
        variants.push((r, PeerMisbehaved::BadSignature));
        // sealed_auth_key is not signed, but is bound by k_token and its tag.
        let mut r = reply.clone();
        r.sealed_auth_key = Bytes(flip_byte(reply.sealed_auth_key.as_slice(), 20));
        variants.push((r, PeerMisbehaved::Undecryptable));
        // Shape that does not fit the mode.
        let mut r = reply.clone();
        std::mem::swap(&mut r.server_eph, &mut r.wrapped_secret);
        variants.push((r, PeerMisbehaved::Malformed("handshake reply")));
        for (i, (bad, want)) in variants.into_iter().enumerate() {
            let (expect, _) = hello(kex, NOW);
            let e = expect
                .finish(&mut rng, &bad, node().public(), NOW)
                .unwrap_err();
            assert_eq!(peer_err(e), want, "{kex:?} variant {i}");
        }
        // The untouched reply still works with a fresh ExpectReply of the
        // same hello (same seed): the checks above failed for the tampering.
        let (expect, _) = hello(kex, NOW);
        expect
            .finish(&mut rng, &reply, node().public(), NOW)
            .unwrap();
    }
}

#[test]
fn reply_for_another_hello_fails() {
    // A reply to hello A cannot finish hello B (the transcript differs).
    let mut rng = seeded(7);
    let replay = ReplayCache::default();
    let (_, ha) = handshake::start(
        &mut seeded(70),
        alice(),
        node().node_id(),
        Kex::EcdhP256,
        NOW,
    )
    .unwrap();
    let (expect_b, _) = handshake::start(
        &mut seeded(71),
        alice(),
        node().node_id(),
        Kex::EcdhP256,
        NOW,
    )
    .unwrap();
    let (reply_a, _) = verify(&ha, &replay, NOW)
        .unwrap()
        .respond(&mut rng, node(), NOW, TTL)
        .unwrap();
    let e = expect_b
        .finish(&mut rng, &reply_a, node().public(), NOW)
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadSignature);
}

#[test]
fn expired_reply_is_refused() {
    let mut rng = seeded(8);
    let replay = ReplayCache::default();
    let (expect, h) = hello(Kex::EcdhP256, NOW);
    let (reply, _) = verify(&h, &replay, NOW)
        .unwrap()
        .respond(&mut rng, node(), NOW, 10)
        .unwrap();
    let e = expect
        .finish(&mut rng, &reply, node().public(), NOW + 10)
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::SessionExpired);
}

#[test]
fn replay_cache_bound_fails_closed() {
    let replay = ReplayCache::new(3);
    for seed in 0..3 {
        let (_, h) = handshake::start(
            &mut seeded(100 + seed),
            alice(),
            node().node_id(),
            Kex::RsaOaep,
            NOW,
        )
        .unwrap();
        verify(&h, &replay, NOW).unwrap();
    }
    // A forged hello does not take a slot, and fails on its signature.
    let (_, mut forged) = handshake::start(
        &mut seeded(200),
        alice(),
        node().node_id(),
        Kex::RsaOaep,
        NOW,
    )
    .unwrap();
    forged.signature = Bytes(flip_byte(forged.signature.as_slice(), 5));
    assert_eq!(
        peer_err(verify(&forged, &replay, NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    assert_eq!(replay.len(), 3);
    // A valid fourth hello: the cache is full of live nonces, it refuses.
    let (_, h4) = handshake::start(
        &mut seeded(300),
        alice(),
        node().node_id(),
        Kex::RsaOaep,
        NOW,
    )
    .unwrap();
    let e = verify(&h4, &replay, NOW).unwrap_err();
    assert!(matches!(e, Error::Local(LocalError::ReplayCacheFull)));
    assert_eq!(e.code(), ErrorCode::RateLimited);
    // 300 s later the old nonces are forgotten and the hello passes (its own
    // timestamp is then fresh again only if re-signed; use a new one).
    let later = NOW + 300;
    let (_, h5) = handshake::start(
        &mut seeded(301),
        alice(),
        node().node_id(),
        Kex::RsaOaep,
        later,
    )
    .unwrap();
    verify(&h5, &replay, later).unwrap();
}

#[test]
fn debug_output_has_no_secrets() {
    let (client, server, _) = full(Kex::RsaOaep);
    let text = format!("{client:?} {server:?} {:?}", alice());
    assert!(text.contains("private: <redacted>"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert!(!text.contains("auth_key"), "{text}");
}
