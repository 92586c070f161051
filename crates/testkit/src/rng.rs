//! Deterministic randomness: the same seed gives the same bytes, on every
//! machine (ChaCha20).

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;

/// The RNG type of [`seeded`].
pub type TestRng = ChaCha20Rng;

/// A ChaCha20 RNG seeded from `seed` (`SeedableRng::seed_from_u64`).
pub fn seeded(seed: u64) -> TestRng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A ChaCha20 RNG seeded with 32 bytes.
pub fn seeded_from(seed: [u8; 32]) -> TestRng {
    ChaCha20Rng::from_seed(seed)
}
