//! Hashes, MACs and key derivations, each exactly as protocol.md states it.
//!
//! | key | HKDF-SHA256 ikm | salt | info | bytes |
//! | --- | --- | --- | --- | --- |
//! | seal `k_enc‖k_mac` | the 32-byte key | none | `"peergroup/seal/v1"` | 64 |
//! | `k_token` | ECDH x-coordinate, or `session_secret` | `client_nonce‖server_nonce` | `"peergroup/session/v1"‖th` | 32 |
//! | `k_mac‖k_req‖k_resp` | ECDH(request key, session key), or `session_secret` | `auth_key` | `"peergroup/request-keys/v1"‖session_id‖seq (u64 BE)` | 96 |
//! | `k_epoch` | room master key | `room_id` | `"peergroup/room/v1"‖epoch (u32 BE)` | 32 |
//!
//! "No salt" is HKDF's default salt (32 zero bytes). Labels come from
//! [`peer_proto::labels`] and are written as their UTF-8 bytes, without a
//! length prefix, in HKDF info strings.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit as _, Mac as _};
use peer_proto::id::{RoomId, SessionId};
use peer_proto::labels;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 of the concatenation of `parts`.
pub(crate) fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// HMAC-SHA256 of the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = new_mac(key);
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Checks an HMAC-SHA256 tag in constant time.
pub(crate) fn hmac_sha256_verify(key: &[u8; 32], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut mac = new_mac(key);
    for p in parts {
        mac.update(p);
    }
    mac.verify_slice(tag).is_ok()
}

/// An HMAC-SHA256 instance keyed with `key` (at most one 64-byte block).
///
/// HMAC pads a key shorter than the hash block with zero bytes (RFC 2104,
/// K0 = K ‖ 0x00...), so passing the padded block gives exactly
/// HMAC(key, ·); this avoids a fallible constructor. Every key of this crate
/// is 32 bytes.
fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    let mut block = Zeroizing::new([0u8; 64]);
    for (slot, b) in block.iter_mut().zip(key) {
        *slot = *b;
    }
    Hmac::<Sha256>::new(&(*block).into())
}

/// HKDF-SHA256 into `N` bytes.
fn hkdf<const N: usize>(ikm: &[u8], salt: Option<&[u8]>, info: &[&[u8]]) -> Zeroizing<[u8; N]> {
    let mut okm = Zeroizing::new([0u8; N]);
    // ok: N <= 96 everywhere in this module, far below HKDF's 255 * 32 limit,
    // so expansion cannot fail; the result stays all-zero only in that
    // impossible case.
    let _ = Hkdf::<Sha256>::new(salt, ikm).expand_multi_info(info, okm.as_mut());
    okm
}

/// Splits `N` derived bytes into 32-byte keys.
fn split32<const N: usize>(okm: &[u8; N], i: usize) -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    if let Some(src) = okm.get(i * 32..i * 32 + 32) {
        k.copy_from_slice(src);
    }
    k
}

/// The two keys of `seal`/`open`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SealKeys {
    /// AES-256-CBC key.
    pub k_enc: [u8; 32],
    /// HMAC-SHA256 key.
    pub k_mac: [u8; 32],
}

/// `seal` keys: HKDF(ikm = key, no salt, info = "peergroup/seal/v1"), 64
/// bytes split into `k_enc ‖ k_mac`.
pub fn seal_keys(key: &[u8; 32]) -> SealKeys {
    let okm = hkdf::<64>(key, None, &[labels::SEAL.as_bytes()]);
    SealKeys {
        k_enc: *split32(&okm, 0),
        k_mac: *split32(&okm, 1),
    }
}

/// `k_token` = HKDF(ikm, salt = client_nonce ‖ server_nonce, info =
/// "peergroup/session/v1" ‖ th), 32 bytes.
pub fn token_key(
    ikm: &[u8; 32],
    client_nonce: &[u8; 32],
    server_nonce: &[u8; 32],
    th: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let salt = [client_nonce.as_slice(), server_nonce.as_slice()].concat();
    hkdf::<32>(ikm, Some(&salt), &[labels::SESSION.as_bytes(), th])
}

/// The three keys of one request.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RequestKeys {
    /// Authenticates the request and its response.
    pub k_mac: [u8; 32],
    /// Seals the request body.
    pub k_req: [u8; 32],
    /// Seals the response body.
    pub k_resp: [u8; 32],
}

/// Request keys: HKDF(ikm, salt = auth_key, info =
/// "peergroup/request-keys/v1" ‖ session_id ‖ seq as u64 BE), 96 bytes split
/// into `k_mac ‖ k_req ‖ k_resp`.
pub fn request_keys(
    ikm: &[u8; 32],
    auth_key: &[u8; 32],
    session_id: SessionId,
    seq: u64,
) -> RequestKeys {
    let okm = hkdf::<96>(
        ikm,
        Some(auth_key),
        &[
            labels::REQUEST_KEYS.as_bytes(),
            session_id.as_bytes(),
            &seq.to_be_bytes(),
        ],
    );
    RequestKeys {
        k_mac: *split32(&okm, 0),
        k_req: *split32(&okm, 1),
        k_resp: *split32(&okm, 2),
    }
}

/// `k_epoch` = HKDF(ikm = master key, salt = room_id, info =
/// "peergroup/room/v1" ‖ epoch as u32 BE), 32 bytes.
pub fn epoch_key(master: &[u8; 32], room_id: RoomId, epoch: u32) -> Zeroizing<[u8; 32]> {
    hkdf::<32>(
        master,
        Some(room_id.as_bytes()),
        &[labels::ROOM.as_bytes(), &epoch.to_be_bytes()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc5869_case_1() {
        // RFC 5869 A.1 (SHA-256), to pin the HKDF wiring.
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let okm = hkdf::<42>(&ikm, Some(&salt), &[&info[..5], &info[5..]]);
        let hex: String = okm.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn derivations_are_separated() {
        let k = [7u8; 32];
        let s = seal_keys(&k);
        assert_ne!(s.k_enc, s.k_mac);
        let r = request_keys(&k, &k, SessionId::from_bytes([1; 16]), 1);
        let r2 = request_keys(&k, &k, SessionId::from_bytes([1; 16]), 2);
        assert_ne!(r.k_mac, r2.k_mac);
        assert_ne!(r.k_mac, r.k_req);
        assert_ne!(r.k_req, r.k_resp);
        let e1 = epoch_key(&k, RoomId::from_bytes([2; 16]), 1);
        let e2 = epoch_key(&k, RoomId::from_bytes([2; 16]), 2);
        assert_ne!(*e1, *e2);
    }

    #[test]
    fn hmac_matches_rfc4231_case_1() {
        let mut mac = new_mac(&[0x0b; 20]);
        mac.update(b"Hi There");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn hmac_verify_rejects_any_flip() {
        let key = [3u8; 32];
        let tag = hmac_sha256(&key, &[b"ab", b"c"]);
        assert!(hmac_sha256_verify(&key, &[b"abc"], &tag));
        for i in 0..32 {
            let mut t = tag;
            t[i] ^= 1;
            assert!(!hmac_sha256_verify(&key, &[b"abc"], &t));
        }
        assert!(!hmac_sha256_verify(&key, &[b"abc"], &tag[..31]));
    }
}
