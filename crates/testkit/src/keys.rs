//! Process-wide identity keys for tests: made on first use from the
//! operating system's RNG (RSA-2048), cached for the life of the test
//! process, never written anywhere.
//!
//! Distinct indexes give distinct keys; users and nodes never share a key.

use std::sync::OnceLock;

use peer_crypto::{IdentityKey, KeySize};

/// How many user keys [`user_key`] offers.
pub const USERS: usize = 4;
/// How many node keys [`node_key`] offers.
pub const NODES: usize = 8;

static USER_KEYS: [OnceLock<IdentityKey>; USERS] = [const { OnceLock::new() }; USERS];
static NODE_KEYS: [OnceLock<IdentityKey>; NODES] = [const { OnceLock::new() }; NODES];

fn make() -> IdentityKey {
    let mut rng = peer_crypto::rng::system_rng();
    match IdentityKey::generate(&mut rng, KeySize::Rsa2048) {
        Ok(k) => k,
        Err(e) => panic!("test key generation failed: {e}"),
    }
}

/// User key number `i` (`i < USERS`), RSA-2048.
///
/// # Panics
/// When `i >= USERS` (a bug in the test).
pub fn user_key(i: usize) -> &'static IdentityKey {
    let Some(cell) = USER_KEYS.get(i) else {
        panic!("peer_testkit::keys::user_key({i}): only {USERS} user keys");
    };
    cell.get_or_init(make)
}

/// Node key number `i` (`i < NODES`), RSA-2048.
///
/// # Panics
/// When `i >= NODES` (a bug in the test).
pub fn node_key(i: usize) -> &'static IdentityKey {
    let Some(cell) = NODE_KEYS.get(i) else {
        panic!("peer_testkit::keys::node_key({i}): only {NODES} node keys");
    };
    cell.get_or_init(make)
}

/// Alice, Bob, Carol: user keys 0, 1, 2.
pub fn alice() -> &'static IdentityKey {
    user_key(0)
}

/// User key 1.
pub fn bob() -> &'static IdentityKey {
    user_key(1)
}

/// User key 2.
pub fn carol() -> &'static IdentityKey {
    user_key(2)
}

/// The serving node's key (node key 0).
pub fn node() -> &'static IdentityKey {
    node_key(0)
}
