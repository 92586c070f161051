//! Registrations, peer notices and discovery datagrams: one sign/verify
//! pattern, each check's exact error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use peer_crypto::handshake::ReplayCache;
use peer_crypto::peer::{
    leave_peer, register_peer, sign_datagram, verify_datagram, verify_peer_leave,
    verify_peer_registration,
};
use peer_crypto::register::{register_user, verify_registration};
use peer_crypto::{Error, PeerMisbehaved};
use peer_proto::api::NodeRole;
use peer_proto::discovery::{Datagram, DatagramKind};
use peer_proto::{Bytes, Bytes32, NodeId};
use peer_testkit::NOW;
use peer_testkit::keys::{alice, bob, node, node_key};
use peer_testkit::rng::seeded;
use peer_testkit::tamper::flip_byte;

fn peer_err(e: Error) -> PeerMisbehaved {
    e.as_peer()
        .unwrap_or_else(|| panic!("not a peer error: {e:?}"))
}

#[test]
fn user_registration() {
    let mut rng = seeded(1);
    let req = register_user(&mut rng, alice(), node().node_id(), "alice", NOW).unwrap();
    let v = verify_registration(&req, node().node_id(), NOW + 120).unwrap();
    assert_eq!(v.user_id(), alice().user_id());
    assert_eq!(v.name(), "alice");
    assert_eq!(v.key(), alice().public());
    assert_eq!(
        peer_err(verify_registration(&req, node().node_id(), NOW + 121).unwrap_err()),
        PeerMisbehaved::StaleTimestamp
    );
    assert_eq!(
        peer_err(verify_registration(&req, node().node_id(), NOW - 121).unwrap_err()),
        PeerMisbehaved::StaleTimestamp
    );
    // Meant for another node.
    assert_eq!(
        peer_err(verify_registration(&req, node_key(1).node_id(), NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    let mut t = req.clone();
    t.name = "alicf".into();
    assert_eq!(
        peer_err(verify_registration(&t, node().node_id(), NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    // Bob's key with Alice's signature.
    let mut t = req.clone();
    t.spki = Bytes(bob().spki_der().to_vec());
    assert_eq!(
        peer_err(verify_registration(&t, node().node_id(), NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    let mut t = req.clone();
    t.timestamp += 1;
    assert_eq!(
        peer_err(verify_registration(&t, node().node_id(), NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    let mut t = req;
    t.spki = Bytes(b"junk".to_vec());
    assert!(matches!(
        verify_registration(&t, node().node_id(), NOW).unwrap_err(),
        Error::Incompatible(_)
    ));
}

#[test]
fn peer_registration_and_leave() {
    let mut rng = seeded(2);
    let main = node_key(0).node_id();
    let follower = node_key(1);
    let replay = ReplayCache::default();
    let req = register_peer(
        &mut rng,
        follower,
        main,
        "f1",
        "default",
        "http://192.0.2.2:8080",
        NOW,
    )
    .unwrap();
    let v = verify_peer_registration(&req, main, &replay, NOW).unwrap();
    assert_eq!(v.node_id(), follower.node_id());
    assert_eq!(
        peer_err(verify_peer_registration(&req, main, &replay, NOW).unwrap_err()),
        PeerMisbehaved::ReplayedNonce
    );
    let fresh = ReplayCache::default();
    assert_eq!(
        peer_err(
            verify_peer_registration(&req, NodeId::from_bytes([0; 16]), &fresh, NOW).unwrap_err()
        ),
        PeerMisbehaved::BadSignature
    );
    let mut t = req.clone();
    t.url = "http://evil:1".into();
    assert_eq!(
        peer_err(verify_peer_registration(&t, main, &fresh, NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    let mut t = req.clone();
    t.node_id = alice().node_id();
    assert_eq!(
        peer_err(verify_peer_registration(&t, main, &fresh, NOW).unwrap_err()),
        PeerMisbehaved::UnknownIdentity
    );
    assert_eq!(
        peer_err(verify_peer_registration(&req, main, &fresh, NOW + 121).unwrap_err()),
        PeerMisbehaved::StaleTimestamp
    );
    assert!(fresh.is_empty());

    let leave = leave_peer(&mut rng, follower, main, NOW).unwrap();
    verify_peer_leave(&leave, follower.public(), main, &replay, NOW).unwrap();
    assert_eq!(
        peer_err(verify_peer_leave(&leave, follower.public(), main, &replay, NOW).unwrap_err()),
        PeerMisbehaved::ReplayedNonce
    );
    let fresh = ReplayCache::default();
    assert_eq!(
        peer_err(verify_peer_leave(&leave, node_key(0).public(), main, &fresh, NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    let mut t = leave;
    t.nonce.0[0] ^= 1;
    assert_eq!(
        peer_err(verify_peer_leave(&t, follower.public(), main, &fresh, NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
}

fn datagram() -> Datagram {
    Datagram::new(
        DatagramKind::Announce,
        NodeId::from_bytes([0; 16]),
        Bytes32([0; 32]),
        "node-a".into(),
        "default".into(),
        NodeRole::Main,
        8080,
        NOW,
        Bytes32([5; 32]),
    )
}

#[test]
fn discovery_datagrams() {
    let mut rng = seeded(3);
    let mut d = datagram();
    sign_datagram(&mut rng, node(), &mut d).unwrap();
    assert_eq!(d.node_id, node().node_id());
    assert_eq!(&d.node_spki_hash.0, node().public().spki_hash());
    // It survives the wire.
    let wire = d.encode().unwrap();
    assert!(wire.len() <= peer_proto::discovery::MAX_DATAGRAM_BYTES);
    let back = Datagram::decode(&wire).unwrap();
    let replay = ReplayCache::default();
    verify_datagram(&back, node().public(), &replay, NOW).unwrap();
    assert_eq!(
        peer_err(verify_datagram(&back, node().public(), &replay, NOW).unwrap_err()),
        PeerMisbehaved::ReplayedNonce
    );
    let fresh = ReplayCache::default();
    assert_eq!(
        peer_err(verify_datagram(&back, node_key(1).public(), &fresh, NOW).unwrap_err()),
        PeerMisbehaved::UnknownIdentity
    );
    let mut t = back.clone();
    t.http_port = 9090;
    assert_eq!(
        peer_err(verify_datagram(&t, node().public(), &fresh, NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    let mut t = back.clone();
    t.signature = Bytes(flip_byte(back.signature.as_slice(), 0));
    assert_eq!(
        peer_err(verify_datagram(&t, node().public(), &fresh, NOW).unwrap_err()),
        PeerMisbehaved::BadSignature
    );
    assert_eq!(
        peer_err(verify_datagram(&back, node().public(), &fresh, NOW + 121).unwrap_err()),
        PeerMisbehaved::StaleTimestamp
    );
    assert!(fresh.is_empty());
}
