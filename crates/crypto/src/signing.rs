//! The one sign/verify pattern behind every signed structure: encode the
//! typed tuple canonically under its label, then sign or verify those bytes.
//! Also the freshness rule shared by every signed timestamp.

use peer_proto::canonical;
use peer_proto::limits::FRESHNESS_SECS;
use rand_core::CryptoRng;
use serde::Serialize;

use crate::error::{Error, PeerMisbehaved};
use crate::identity::{IdentityKey, PublicIdentity};

/// Signs `canonical(label, tbs)` with `key`; returns the signed bytes and the
/// signature.
pub(crate) fn sign_tbs<T: Serialize + ?Sized, R: CryptoRng + ?Sized>(
    key: &IdentityKey,
    rng: &mut R,
    label: &str,
    tbs: &T,
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let bytes = canonical(label, tbs)?;
    let signature = key.sign(rng, &bytes)?;
    Ok((bytes, signature))
}

/// Verifies a signature over `canonical(label, tbs)`; returns the signed
/// bytes.
pub(crate) fn verify_tbs<T: Serialize + ?Sized>(
    key: &PublicIdentity,
    label: &str,
    tbs: &T,
    signature: &[u8],
) -> Result<Vec<u8>, Error> {
    let bytes = canonical(label, tbs)?;
    key.verify(&bytes, signature)?;
    Ok(bytes)
}

/// A signed timestamp is fresh when `|now - timestamp| <= 120` seconds.
pub fn check_fresh(now: u64, timestamp: u64) -> Result<(), PeerMisbehaved> {
    if now.abs_diff(timestamp) <= FRESHNESS_SECS {
        Ok(())
    } else {
        Err(PeerMisbehaved::StaleTimestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_boundaries() {
        let now = 1_000_000;
        assert!(check_fresh(now, now).is_ok());
        assert!(check_fresh(now, now - 120).is_ok());
        assert!(check_fresh(now, now + 120).is_ok());
        assert_eq!(
            check_fresh(now, now - 121),
            Err(PeerMisbehaved::StaleTimestamp)
        );
        assert_eq!(
            check_fresh(now, now + 121),
            Err(PeerMisbehaved::StaleTimestamp)
        );
        assert_eq!(check_fresh(now, 0), Err(PeerMisbehaved::StaleTimestamp));
        assert_eq!(
            check_fresh(0, u64::MAX),
            Err(PeerMisbehaved::StaleTimestamp)
        );
    }
}
