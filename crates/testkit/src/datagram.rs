//! Discovery datagrams for tests: genuine ones signed by a test key, and
//! every kind of bad one a receiver must drop (forged, unsigned, replayed,
//! stale, oversized, malformed), as wire bytes.

use peer_crypto::IdentityKey;
use peer_proto::api::NodeRole;
use peer_proto::discovery::{Datagram, DatagramKind, MAX_DATAGRAM_BYTES};
use peer_proto::{Bytes, Bytes32};

/// A datagram of `key`'s node, signed, with a random nonce.
pub fn signed(
    key: &IdentityKey,
    kind: DatagramKind,
    group: &str,
    http_port: u16,
    now: u64,
) -> Datagram {
    let mut rng = peer_crypto::rng::system_rng();
    let mut d = unsigned(key, kind, group, http_port, now);
    peer_crypto::peer::sign_datagram(&mut rng, key, &mut d).unwrap_or_else(|e| panic!("{e}"));
    d
}

/// The same, without a signature (an empty one), but with the node id and
/// key hash of `key`.
pub fn unsigned(
    key: &IdentityKey,
    kind: DatagramKind,
    group: &str,
    http_port: u16,
    now: u64,
) -> Datagram {
    let mut nonce = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut peer_crypto::rng::system_rng(), &mut nonce);
    Datagram::new(
        kind,
        key.node_id(),
        Bytes32(*key.public().spki_hash()),
        "test-node".into(),
        group.into(),
        NodeRole::Main,
        http_port,
        now,
        Bytes32(nonce),
    )
}

/// A datagram claiming to come from `victim`'s node but signed by
/// `forger`'s key.
pub fn forged(
    victim: &IdentityKey,
    forger: &IdentityKey,
    kind: DatagramKind,
    group: &str,
    http_port: u16,
    now: u64,
) -> Datagram {
    let mut d = unsigned(victim, kind, group, http_port, now);
    let bytes = d.signed_bytes().unwrap_or_default();
    let sig = forger
        .sign(&mut peer_crypto::rng::system_rng(), &bytes)
        .unwrap_or_else(|e| panic!("{e}"));
    d.signature = Bytes(sig);
    d
}

/// Wire bytes of a datagram.
pub fn wire(d: &Datagram) -> Vec<u8> {
    d.encode().unwrap_or_else(|e| panic!("{e}"))
}

/// Bytes larger than any datagram accepted, starting like one.
pub fn oversized() -> Vec<u8> {
    let mut v = b"PGRP".to_vec();
    v.resize(MAX_DATAGRAM_BYTES + 1, 0x41);
    v
}

/// Bytes that start like a datagram and are not one.
pub fn malformed() -> Vec<u8> {
    b"PGRP\x01\x00garbage".to_vec()
}
