//! Test fixtures of peergroup: identity keys made at test time (never
//! committed), deterministic randomness, and helpers that tamper with bytes
//! in flight. With the cargo feature `node`: `node::TestNode`, a node
//! serving HTTP on 127.0.0.1 in-process, a raw HTTP client, and
//! `load::Load`, clients posting concurrently for fault tests, and
//! `fd::ensure_open_files`. With
//! `proxy`: `proxy::Proxy`, a loopback TCP proxy a test can cut and restore.
//!
//! ```
//! let mut rng = peer_testkit::rng::seeded(7);
//! let sealed = peer_crypto::seal::seal(&mut rng, &[1; 32], b"hi", b"");
//! let bad = peer_testkit::tamper::flip_byte(&sealed, 0);
//! assert!(peer_crypto::seal::open(&[1; 32], &bad, b"").is_err());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod datagram;
#[cfg(feature = "node")]
pub mod fd;
pub mod keys;
#[cfg(feature = "node")]
pub mod load;
#[cfg(feature = "node")]
pub mod node;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod rng;
pub mod tamper;

/// A fixed "now" for tests (unix seconds, 2023-11-14).
pub const NOW: u64 = 1_700_000_000;
