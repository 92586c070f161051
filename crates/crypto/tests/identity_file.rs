//! Passphrase-protected identity files (`peer_crypto::identity::export`):
//! round trips, wrong passphrases, and every header field checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use peer_crypto::identity::export::{MAX_FILE_BYTES, MAX_ITERATIONS, MIN_ITERATIONS};
use peer_crypto::{
    Error, IdentityFileError, IdentityKey, LocalError, Passphrase, inspect_identity_file,
};
use peer_proto::bytes::{decode_b64, encode_b64};
use peer_testkit::keys;

const FAST: u32 = MIN_ITERATIONS;

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s)
}

fn export(key: &IdentityKey, p: &str) -> String {
    let mut rng = peer_crypto::rng::system_rng();
    key.export_encrypted_with(&mut rng, &pass(p), FAST).unwrap()
}

fn is(e: &Error, want: fn(&IdentityFileError) -> bool) -> bool {
    matches!(e, Error::Local(LocalError::IdentityFile(f)) if want(f))
}

#[test]
fn round_trip_keeps_the_key() {
    let key = keys::alice();
    let file = export(key, "correct horse battery");
    let back = IdentityKey::import_encrypted(&file, &pass("correct horse battery")).unwrap();
    assert_eq!(back.spki_der(), key.spki_der());
    assert_eq!(*back.to_pkcs8_der().unwrap(), *key.to_pkcs8_der().unwrap());
    let info = inspect_identity_file(&file).unwrap();
    assert_eq!(info.user_id, key.user_id());
    assert_eq!(info.iterations, FAST);
}

#[test]
fn the_default_export_uses_600k_iterations() {
    let key = keys::bob();
    let mut rng = peer_crypto::rng::system_rng();
    let file = key
        .export_encrypted(&mut rng, &pass("a long passphrase"))
        .unwrap();
    assert_eq!(inspect_identity_file(&file).unwrap().iterations, 600_000);
    let v: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(v["format"], "peergroup-identity");
    assert_eq!(v["kdf"]["name"], "pbkdf2-sha256");
    assert_eq!(
        decode_b64(v["kdf"]["salt"].as_str().unwrap())
            .unwrap()
            .len(),
        16
    );
}

#[test]
fn a_wrong_passphrase_is_a_clear_error_without_secrets() {
    let key = keys::alice();
    let file = export(key, "correct horse battery");
    let err = IdentityKey::import_encrypted(&file, &pass("correct horse batterY")).unwrap_err();
    assert!(
        is(&err, |f| matches!(f, IdentityFileError::WrongPassphrase)),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("passphrase"), "{shown}");
    assert!(!shown.contains("batter"), "{shown}");
    assert_eq!(
        format!("{:?}", pass("secret words")),
        "Passphrase(<redacted>)"
    );
}

#[test]
fn every_bound_header_field_is_checked() {
    let key = keys::alice();
    let file = export(key, "correct horse battery");
    let v: serde_json::Value = serde_json::from_str(&file).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut w = v.clone();
        f(&mut w);
        IdentityKey::import_encrypted(&w.to_string(), &pass("correct horse battery")).unwrap_err()
    };
    // Iterations and salt are bound by the aad: it no longer opens.
    let e = with(&|w| w["kdf"]["iterations"] = serde_json::json!(FAST + 1));
    assert!(
        is(&e, |f| matches!(f, IdentityFileError::WrongPassphrase)),
        "{e:?}"
    );
    let e = with(&|w| w["kdf"]["salt"] = serde_json::json!(encode_b64(&[7u8; 16])));
    assert!(
        is(&e, |f| matches!(f, IdentityFileError::WrongPassphrase)),
        "{e:?}"
    );
    // Another public key (with its own id) is bound too.
    let bob = keys::bob();
    let e = with(&|w| {
        w["spki"] = serde_json::json!(encode_b64(bob.spki_der()));
        w["user_id"] = serde_json::json!(bob.user_id().to_string());
    });
    assert!(
        is(&e, |f| matches!(f, IdentityFileError::WrongPassphrase)),
        "{e:?}"
    );
    // A user id that is not the key's, and malformed fields.
    let e = with(&|w| w["user_id"] = serde_json::json!(bob.user_id().to_string()));
    assert!(
        is(&e, |f| matches!(f, IdentityFileError::Invalid(_))),
        "{e:?}"
    );
    let e = with(&|w| w["version"] = serde_json::json!(2));
    assert!(
        is(&e, |f| matches!(
            f,
            IdentityFileError::UnsupportedVersion(2)
        )),
        "{e:?}"
    );
    let e = with(&|w| w["format"] = serde_json::json!("pem"));
    assert!(
        is(&e, |f| matches!(f, IdentityFileError::Invalid(_))),
        "{e:?}"
    );
    let e = with(&|w| w["kdf"]["iterations"] = serde_json::json!(MAX_ITERATIONS + 1));
    assert!(
        is(&e, |f| matches!(f, IdentityFileError::Invalid(_))),
        "{e:?}"
    );
    let e = with(&|w| w["kdf"]["iterations"] = serde_json::json!(999));
    assert!(
        is(&e, |f| matches!(f, IdentityFileError::Invalid(_))),
        "{e:?}"
    );
    let e = with(&|w| w["kdf"]["name"] = serde_json::json!("argon2id"));
    assert!(
        is(&e, |f| matches!(f, IdentityFileError::Invalid(_))),
        "{e:?}"
    );
    let e = with(&|w| w["sealed_key"] = serde_json::json!("not base64!"));
    assert!(
        is(&e, |f| matches!(f, IdentityFileError::Invalid(_))),
        "{e:?}"
    );
    // A flipped bit of the sealed key.
    let e = with(&|w| {
        let mut s = decode_b64(w["sealed_key"].as_str().unwrap()).unwrap();
        s[40] ^= 1;
        w["sealed_key"] = serde_json::json!(encode_b64(&s));
    });
    assert!(
        is(&e, |f| matches!(f, IdentityFileError::WrongPassphrase)),
        "{e:?}"
    );
    assert!(inspect_identity_file("{}").is_err());
    assert!(inspect_identity_file(&"x".repeat(MAX_FILE_BYTES + 1)).is_err());
}

#[test]
fn short_passphrases_and_bad_iterations_are_refused_on_export() {
    let key = keys::alice();
    let mut rng = peer_crypto::rng::system_rng();
    let e = key
        .export_encrypted_with(&mut rng, &pass("short"), FAST)
        .unwrap_err();
    assert!(
        is(&e, |f| matches!(
            f,
            IdentityFileError::PassphraseTooShort { min: 8 }
        )),
        "{e:?}"
    );
    assert!(
        key.export_encrypted_with(&mut rng, &pass("long enough"), 10)
            .is_err()
    );
}

#[test]
fn from_line_drops_one_line_end() {
    let key = keys::alice();
    let mut rng = peer_crypto::rng::system_rng();
    for (line, plain) in [
        ("passphrase\r\n", "passphrase"),
        ("passphrase\n", "passphrase"),
        ("passphrase\n\n", "passphrase\n"),
        ("passphrase", "passphrase"),
    ] {
        let file = key
            .export_encrypted_with(&mut rng, &Passphrase::from_line(line), FAST)
            .unwrap();
        IdentityKey::import_encrypted(&file, &pass(plain)).unwrap();
    }
}
