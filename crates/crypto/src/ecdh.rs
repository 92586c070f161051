//! P-256 ECDH: keys as SEC1 uncompressed points (65 bytes, WebCrypto `raw`),
//! shared secrets as the 32-byte x-coordinate.

use p256::elliptic_curve::Generate as _;
use p256::{PublicKey, SecretKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::PeerMisbehaved;

/// Length of a SEC1 uncompressed P-256 point.
pub const POINT_LEN: usize = 65;

/// A fresh P-256 secret key.
pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> SecretKey {
    SecretKey::generate_from_rng(rng)
}

/// The SEC1 uncompressed encoding of a public key.
pub(crate) fn encode_point(key: &PublicKey) -> Vec<u8> {
    key.to_sec1_bytes().into_vec()
}

/// Parses a peer's public key: exactly 65 bytes, `0x04 ‖ x ‖ y`, on the
/// curve, not the identity. `what` names the field in the error.
pub(crate) fn parse_point(bytes: &[u8], what: &'static str) -> Result<PublicKey, PeerMisbehaved> {
    if bytes.len() != POINT_LEN || bytes.first() != Some(&0x04) {
        return Err(PeerMisbehaved::Malformed(what));
    }
    PublicKey::from_sec1_bytes(bytes).map_err(|_| PeerMisbehaved::Malformed(what))
}

/// ECDH: the shared x-coordinate.
pub(crate) fn shared(secret: &SecretKey, public: &PublicKey) -> Zeroizing<[u8; 32]> {
    let shared = secret.diffie_hellman(public);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(shared.raw_secret_bytes().as_slice());
    out
}
