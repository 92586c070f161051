//! seal / open: layout, every single-byte flip, wrong keys, truncation, and
//! property tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use peer_crypto::PeerMisbehaved;
use peer_crypto::seal::{IV_LEN, MIN_SEALED_LEN, TAG_LEN, open, seal};
use peer_testkit::rng::seeded;
use peer_testkit::tamper::{each_byte_flipped, flip_byte, truncate};
use proptest::prelude::*;

const ERR: PeerMisbehaved = PeerMisbehaved::Undecryptable;

#[test]
fn every_single_byte_flip_of_iv_ct_tag_and_aad_fails_the_same_way() {
    let key = [0x42; 32];
    let aad = b"peergroup aad".to_vec();
    let sealed = seal(
        &mut seeded(1),
        &key,
        b"a plaintext of a few blocks, 40 bytes",
        &aad,
    );
    assert_eq!(sealed.len(), IV_LEN + 48 + TAG_LEN);
    for (i, bad) in each_byte_flipped(&sealed) {
        assert_eq!(open(&key, &bad, &aad), Err(ERR), "sealed byte {i}");
    }
    for (i, bad_aad) in each_byte_flipped(&aad) {
        assert_eq!(open(&key, &sealed, &bad_aad), Err(ERR), "aad byte {i}");
    }
    // Longer or shorter aad too (the length is MACed).
    assert_eq!(open(&key, &sealed, &aad[1..]), Err(ERR));
    assert_eq!(open(&key, &sealed, &[&aad[..], b"\0"].concat()), Err(ERR));
    assert_eq!(
        &open(&key, &sealed, &aad).unwrap()[..],
        b"a plaintext of a few blocks, 40 bytes"
    );
}

#[test]
fn wrong_key_fails() {
    let sealed = seal(&mut seeded(2), &[1; 32], b"x", b"");
    for i in 0..32 {
        assert_eq!(
            open(&flip_byte(&[1; 32], i).try_into().unwrap(), &sealed, b""),
            Err(ERR)
        );
    }
}

#[test]
fn truncated_and_extended_fail() {
    let key = [3; 32];
    let sealed = seal(&mut seeded(3), &key, b"0123456789abcdef0123", b"");
    for len in 0..sealed.len() {
        assert_eq!(
            open(&key, &truncate(&sealed, len), b""),
            Err(ERR),
            "len {len}"
        );
    }
    assert_eq!(open(&key, &[&sealed[..], &[0]].concat(), b""), Err(ERR));
    assert_eq!(open(&key, &[&sealed[..], &[0; 16]].concat(), b""), Err(ERR));
    assert_eq!(MIN_SEALED_LEN, 64);
}

#[test]
fn iv_is_random_per_seal() {
    let mut rng = seeded(4);
    let a = seal(&mut rng, &[5; 32], b"same", b"");
    let b = seal(&mut rng, &[5; 32], b"same", b"");
    assert_ne!(a[..IV_LEN], b[..IV_LEN]);
    assert_ne!(a, b);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip(key in any::<[u8; 32]>(), pt in proptest::collection::vec(any::<u8>(), 0..300),
                  aad in proptest::collection::vec(any::<u8>(), 0..64), seed in any::<u64>()) {
        let sealed = seal(&mut seeded(seed), &key, &pt, &aad);
        prop_assert_eq!(sealed.len(), IV_LEN + (pt.len() / 16 + 1) * 16 + TAG_LEN);
        prop_assert_eq!(&open(&key, &sealed, &aad).unwrap()[..], &pt[..]);
    }

    #[test]
    fn any_flip_fails(key in any::<[u8; 32]>(), pt in proptest::collection::vec(any::<u8>(), 0..100),
                      aad in proptest::collection::vec(any::<u8>(), 0..32), seed in any::<u64>(),
                      pos in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let sealed = seal(&mut seeded(seed), &key, &pt, &aad);
        let mut bad = sealed.clone();
        let i = pos.index(bad.len());
        bad[i] ^= mask;
        prop_assert_eq!(open(&key, &bad, &aad), Err(ERR));
    }
}
