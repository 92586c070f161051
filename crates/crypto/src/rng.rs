//! Randomness. Every operation of this crate that needs randomness takes an
//! RNG argument (`&mut R` with `R: CryptoRng`), so tests and test vectors
//! can pass a seeded one; production code passes [`system_rng`].

use rand_core::CryptoRng;

/// The operating system's RNG (getrandom), panicking if the OS fails to
/// provide randomness (there is no safe way on without it).
pub type SystemRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// The operating system's RNG, for production use.
///
/// ```
/// use rand_core::Rng as _;
/// let mut rng = peer_crypto::rng::system_rng();
/// let a = rng.next_u64();
/// let b = rng.next_u64();
/// assert_ne!(a, b);
/// ```
pub fn system_rng() -> SystemRng {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// `N` random bytes.
pub(crate) fn random_array<const N: usize, R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}
