//! `seal` / `open`: AES-256-CBC with PKCS#7 padding, then HMAC-SHA256 over
//! the associated data, the IV and the ciphertext (encrypt-then-MAC).
//!
//! ```text
//! k_enc ‖ k_mac = HKDF-SHA256(ikm = key, no salt, info = "peergroup/seal/v1")   (64 bytes)
//! iv            = 16 random bytes
//! ct            = AES-256-CBC-PKCS#7(k_enc, iv, plaintext)
//! tag           = HMAC-SHA256(k_mac, len(aad) as u64 BE ‖ aad ‖ iv ‖ ct)
//! sealed        = iv ‖ ct ‖ tag                                      (>= 64 bytes)
//! ```
//!
//! [`open`] checks the tag in constant time before it decrypts anything, and
//! answers every failure (short input, wrong key, any flipped bit, bad
//! padding) with the same [`PeerMisbehaved::Undecryptable`].
//!
//! ```
//! use peer_crypto::seal::{open, seal};
//!
//! let mut rng = peer_crypto::rng::system_rng();
//! let key = [7u8; 32];
//! let sealed = seal(&mut rng, &key, b"hello", b"context");
//! assert_eq!(&open(&key, &sealed, b"context").unwrap()[..], b"hello");
//! assert!(open(&key, &sealed, b"other context").is_err());
//! ```

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::PeerMisbehaved;
use crate::kdf::{hmac_sha256, hmac_sha256_verify, seal_keys};
use crate::rng::random_array;

/// Length of the IV at the start of sealed bytes.
pub const IV_LEN: usize = 16;
/// Length of the tag at the end of sealed bytes.
pub const TAG_LEN: usize = 32;
/// The shortest sealed value: IV, one block of padding, tag.
pub const MIN_SEALED_LEN: usize = IV_LEN + 16 + TAG_LEN;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// Seals `plaintext` under `key`, bound to `aad`: `iv ‖ ct ‖ tag`.
pub fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &[u8; 32],
    plaintext: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    let iv: [u8; IV_LEN] = random_array(rng);
    seal_with_iv(key, &iv, plaintext, aad)
}

/// [`seal`] with a given IV (test vectors).
pub(crate) fn seal_with_iv(
    key: &[u8; 32],
    iv: &[u8; IV_LEN],
    plaintext: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    let keys = seal_keys(key);
    let ct = Enc::new(&keys.k_enc.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext);
    let tag = hmac_sha256(&keys.k_mac, &[&aad_len(aad), aad, iv, &ct]);
    let mut out = Vec::with_capacity(IV_LEN + ct.len() + TAG_LEN);
    out.extend_from_slice(iv);
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    out
}

/// Opens what [`seal`] made with the same key and aad.
pub fn open(
    key: &[u8; 32],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PeerMisbehaved> {
    const ERR: PeerMisbehaved = PeerMisbehaved::Undecryptable;
    if sealed.len() < MIN_SEALED_LEN {
        return Err(ERR);
    }
    let (iv, rest) = sealed.split_at_checked(IV_LEN).ok_or(ERR)?;
    let ct_len = rest.len().checked_sub(TAG_LEN).ok_or(ERR)?;
    if !ct_len.is_multiple_of(16) {
        return Err(ERR);
    }
    let (ct, tag) = rest.split_at_checked(ct_len).ok_or(ERR)?;
    let keys = seal_keys(key);
    if !hmac_sha256_verify(&keys.k_mac, &[&aad_len(aad), aad, iv, ct], tag) {
        return Err(ERR);
    }
    let iv: &[u8; IV_LEN] = iv.try_into().map_err(|_| ERR)?;
    Dec::new(&keys.k_enc.into(), iv.into())
        .decrypt_padded_vec::<Pkcs7>(ct)
        .map(Zeroizing::new)
        .map_err(|_| ERR)
}

fn aad_len(aad: &[u8]) -> [u8; 8] {
    (aad.len() as u64).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_round_trip() {
        let key = [1u8; 32];
        for n in [0usize, 1, 15, 16, 17, 1000] {
            let pt = vec![0x5a; n];
            let s = seal_with_iv(&key, &[9; 16], &pt, b"aad");
            assert_eq!(s.len(), IV_LEN + (n / 16 + 1) * 16 + TAG_LEN);
            assert_eq!(&s[..16], &[9; 16]);
            assert_eq!(&open(&key, &s, b"aad").unwrap()[..], &pt[..]);
        }
    }

    #[test]
    fn short_or_misaligned_input_fails() {
        let key = [1u8; 32];
        let s = seal_with_iv(&key, &[9; 16], b"x", b"");
        for len in 0..s.len() {
            assert_eq!(
                open(&key, &s[..len], b""),
                Err(PeerMisbehaved::Undecryptable)
            );
        }
    }

    #[test]
    fn valid_tag_over_bad_padding_is_the_same_error() {
        // A ciphertext whose tag is right but whose padding is wrong must
        // fail exactly like a bad tag (no padding oracle).
        let key = [4u8; 32];
        let keys = seal_keys(&key);
        let iv = [0u8; 16];
        let ct = [0u8; 16]; // decrypts to garbage padding (overwhelmingly)
        let tag = hmac_sha256(&keys.k_mac, &[&aad_len(b""), b"", &iv, &ct]);
        let sealed = [&iv[..], &ct[..], &tag[..]].concat();
        assert_eq!(open(&key, &sealed, b""), Err(PeerMisbehaved::Undecryptable));
    }
}
