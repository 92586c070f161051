//! Identity keys: ids, signatures, OAEP, bounds, PEM files and their modes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use peer_crypto::kdf::sha256;
use peer_crypto::{
    Error, IdentityKey, Incompatible, KeyFileError, KeySize, LocalError, PeerMisbehaved,
    PublicIdentity,
};
use peer_testkit::keys::{alice, bob, node};
use peer_testkit::rng::seeded;
use peer_testkit::tamper::{append, each_byte_flipped, flip_byte};
use rsa::pkcs8::EncodePublicKey as _;

#[test]
fn ids_derive_from_spki() {
    let k = alice();
    let h = sha256(k.spki_der());
    assert_eq!(k.public().spki_hash(), &h);
    assert_eq!(k.user_id().as_bytes()[..], h[..16]);
    assert_eq!(k.node_id().as_bytes()[..], h[..16]);
    assert_ne!(alice().user_id(), bob().user_id());
    let parsed = PublicIdentity::from_spki_der(k.spki_der()).unwrap();
    assert_eq!(&parsed, k.public());
    assert_eq!(parsed.bits(), 2048);
    assert_eq!(parsed.signature_len(), 256);
}

#[test]
fn sign_and_verify() {
    let msg = b"canonical bytes";
    let sig = alice().sign(&mut seeded(1), msg).unwrap();
    assert_eq!(sig.len(), 256);
    // Deterministic (PKCS#1 v1.5), whatever the blinding RNG.
    assert_eq!(sig, alice().sign(&mut seeded(2), msg).unwrap());
    alice().public().verify(msg, &sig).unwrap();
    assert_eq!(
        bob().public().verify(msg, &sig),
        Err(PeerMisbehaved::BadSignature)
    );
    assert_eq!(
        alice().public().verify(b"canonical byteS", &sig),
        Err(PeerMisbehaved::BadSignature)
    );
    for (_, bad) in each_byte_flipped(&sig).step_by(17) {
        assert_eq!(
            alice().public().verify(msg, &bad),
            Err(PeerMisbehaved::BadSignature)
        );
    }
    assert_eq!(
        alice().public().verify(msg, &sig[1..]),
        Err(PeerMisbehaved::BadSignature)
    );
    assert_eq!(
        alice().public().verify(msg, &append(&sig, &[0])),
        Err(PeerMisbehaved::BadSignature)
    );
}

#[test]
fn oaep_wrap_unwrap() {
    let mut rng = seeded(3);
    let w1 = alice().public().wrap_key(&mut rng, &[7; 32]).unwrap();
    let w2 = alice().public().wrap_key(&mut rng, &[7; 32]).unwrap();
    assert_ne!(w1, w2, "OAEP is randomized");
    assert_eq!(&alice().unwrap_key(&mut rng, &w1).unwrap()[..], &[7; 32]);
    assert_eq!(
        alice()
            .unwrap_key(&mut rng, &flip_byte(&w1, 5))
            .unwrap_err(),
        PeerMisbehaved::Undecryptable
    );
    assert_eq!(
        bob().unwrap_key(&mut rng, &w1).unwrap_err(),
        PeerMisbehaved::Undecryptable
    );
}

#[test]
fn key_sizes() {
    assert_eq!(KeySize::default().bits(), 2048);
    let k = IdentityKey::generate(&mut peer_crypto::rng::system_rng(), KeySize::Rsa3072).unwrap();
    assert_eq!(k.public().bits(), 3072);
    let sig = k.sign(&mut seeded(1), b"m").unwrap();
    assert_eq!(sig.len(), 384);
    k.public().verify(b"m", &sig).unwrap();
}

#[test]
fn seeded_key_generation_is_deterministic() {
    let a = IdentityKey::generate(&mut seeded(42), KeySize::Rsa2048).unwrap();
    let b = IdentityKey::generate(&mut seeded(42), KeySize::Rsa2048).unwrap();
    assert_eq!(a.spki_der(), b.spki_der());
    assert_eq!(
        &a.to_pkcs8_der().unwrap()[..],
        &b.to_pkcs8_der().unwrap()[..]
    );
}

fn spki_of(n: rsa::BoxedUint, e: u64) -> Vec<u8> {
    rsa::PublicKey::new_unchecked(n, rsa::BoxedUint::from(e))
        .to_public_key_der()
        .unwrap()
        .into_vec()
}

fn odd_modulus(bits: u32) -> rsa::BoxedUint {
    // 2^(bits-1) + 1: odd, exactly `bits` bits (not a real key, but a valid
    // SPKI as far as bounds go).
    let bytes = (bits as usize).div_ceil(8);
    let mut be = vec![0u8; bytes];
    be[0] = 1 << ((bits - 1) % 8);
    be[bytes - 1] |= 1;
    rsa::BoxedUint::from_be_slice(&be, bits.next_multiple_of(64)).unwrap()
}

#[test]
fn public_key_bounds() {
    let unsupported = |spki: &[u8]| {
        matches!(
            PublicIdentity::from_spki_der(spki),
            Err(Error::Incompatible(Incompatible::UnsupportedKey { .. }))
        )
    };
    assert!(!unsupported(&spki_of(odd_modulus(2048), 65537)));
    assert!(!unsupported(&spki_of(odd_modulus(4096), 65537)));
    assert!(unsupported(&spki_of(odd_modulus(2047), 65537)));
    assert!(unsupported(&spki_of(odd_modulus(1024), 65537)));
    assert!(unsupported(&spki_of(odd_modulus(4097), 65537)));
    assert!(
        unsupported(&spki_of(odd_modulus(2048), 65536 + 2)),
        "even exponent"
    );
    assert!(
        unsupported(&spki_of(odd_modulus(2048), (1 << 32) + 1)),
        "exponent over 32 bits"
    );
    assert!(!unsupported(&spki_of(odd_modulus(2048), 3)));
    // Not canonical: trailing bytes; garbage; empty.
    assert!(unsupported(&append(alice().spki_der(), &[0])));
    assert!(unsupported(b"not der"));
    assert!(unsupported(&[]));
    assert_eq!(
        PublicIdentity::from_spki_der(&spki_of(odd_modulus(1024), 65537))
            .unwrap_err()
            .code(),
        peer_proto::ErrorCode::InvalidField
    );
}

#[test]
fn debug_is_redacted() {
    let text = format!("{:?}", alice());
    let pem = alice().to_pkcs8_pem().unwrap();
    assert!(text.contains("redacted"), "{text}");
    assert!(text.len() < 100, "{text}");
    // No line of the PEM body shows up.
    for line in pem.lines().skip(1).take(3) {
        assert!(!text.contains(line));
    }
    assert!(format!("{:?}", alice().public()).starts_with("PublicIdentity("));
}

#[test]
fn pem_save_creates_0600_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.pem");
    node().save_pem(&path).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let back = IdentityKey::load_pem(&path).unwrap();
    assert_eq!(back.spki_der(), node().spki_der());
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    // Never replaces an existing identity.
    let e = alice().save_pem(&path).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Local(LocalError::KeyFile(KeyFileError::Exists { .. }))
        ),
        "{e:?}"
    );
    assert_eq!(
        IdentityKey::load_pem(&path).unwrap().spki_der(),
        node().spki_der()
    );
}

#[test]
fn load_refuses_group_or_other_access() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pem");
    alice().save_pem(&path).unwrap();
    for mode in [0o640, 0o604, 0o620, 0o602, 0o644, 0o666, 0o610, 0o601] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let e = IdentityKey::load_pem(&path).unwrap_err();
        match &e {
            Error::Local(LocalError::KeyFile(KeyFileError::InsecurePermissions {
                path: p,
                mode: m,
            })) => {
                assert_eq!(p, &path);
                assert_eq!(*m, mode);
            }
            other => panic!("mode {mode:o}: {other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains(&path.display().to_string()) && text.contains(&format!("{mode:04o}")),
            "{text}"
        );
    }
    for mode in [0o600, 0o400] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        IdentityKey::load_pem(&path).unwrap();
    }
}

#[test]
fn load_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let e = IdentityKey::load_pem(&missing).unwrap_err();
    assert!(matches!(
        e,
        Error::Local(LocalError::KeyFile(KeyFileError::Io { .. }))
    ));
    assert!(e.to_string().contains("missing.pem"));
    let junk = dir.path().join("junk.pem");
    fs::write(
        &junk,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    fs::set_permissions(&junk, fs::Permissions::from_mode(0o600)).unwrap();
    let e = IdentityKey::load_pem(&junk).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Local(LocalError::KeyFile(KeyFileError::Format { .. }))
        ),
        "{e:?}"
    );
    assert!(!e.to_string().contains("AAAA"));
    let e = IdentityKey::load_pem(dir.path()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Local(LocalError::KeyFile(KeyFileError::NotAFile { .. }))
        ),
        "{e:?}"
    );
}

#[test]
fn pkcs8_der_round_trip() {
    let der = alice().to_pkcs8_der().unwrap();
    let back = IdentityKey::from_pkcs8_der(&der).unwrap();
    assert_eq!(back.spki_der(), alice().spki_der());
    assert!(IdentityKey::from_pkcs8_der(&der[1..]).is_err());
}
