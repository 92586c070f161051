//! The hello replay cache: a bounded, time-windowed set of nonces.
//!
//! A nonce is remembered for `memory_secs` (default 300 s, which outlives the
//! 120 s freshness window on both sides) from the moment it was recorded.
//! The cache holds at most `capacity` live nonces; expired ones are evicted
//! first, and when every slot holds a live nonce the cache refuses new ones
//! ([`LocalError::ReplayCacheFull`], answered as `rate_limited`): it fails
//! closed rather than forget a nonce that could still be replayed.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use peer_proto::limits::NONCE_MEMORY_SECS;

use crate::error::{Error, LocalError, PeerMisbehaved};

/// The default number of live nonces remembered.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// A bounded, thread-safe set of recently seen nonces.
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    memory_secs: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// nonce -> expiry (unix seconds).
    live: HashMap<[u8; 32], u64>,
    /// (expiry, nonce) in insertion order, for eviction.
    order: VecDeque<(u64, [u8; 32])>,
}

impl Default for ReplayCache {
    fn default() -> Self {
        ReplayCache::new(DEFAULT_REPLAY_CAPACITY)
    }
}

impl ReplayCache {
    /// A cache of at most `capacity` live nonces, each remembered for 300 s.
    pub fn new(capacity: usize) -> Self {
        Self::with_memory(capacity, NONCE_MEMORY_SECS)
    }

    /// A cache of at most `capacity` live nonces, each remembered for
    /// `memory_secs`.
    pub fn with_memory(capacity: usize, memory_secs: u64) -> Self {
        ReplayCache {
            capacity,
            memory_secs,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The number of nonces held (live or not yet evicted).
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// True when no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records `nonce` as seen at `now`. Fails with
    /// [`PeerMisbehaved::ReplayedNonce`] when it is live already, and with
    /// [`LocalError::ReplayCacheFull`] when no slot is free.
    pub fn check_and_insert(&self, nonce: &[u8; 32], now: u64) -> Result<(), Error> {
        let mut inner = self.lock();
        inner.evict(now);
        if let Some(&expiry) = inner.live.get(nonce)
            && expiry > now
        {
            return Err(PeerMisbehaved::ReplayedNonce.into());
        }
        if inner.live.len() >= self.capacity {
            return Err(LocalError::ReplayCacheFull.into());
        }
        let expiry = now.saturating_add(self.memory_secs);
        inner.live.insert(*nonce, expiry);
        inner.order.push_back((expiry, *nonce));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // in a way that matters (at worst a nonce is remembered longer).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    /// Drops nonces whose memory ended at or before `now`, oldest first.
    fn evict(&mut self, now: u64) {
        while let Some(&(expiry, nonce)) = self.order.front() {
            if expiry > now {
                break;
            }
            self.order.pop_front();
            // Only remove the map entry if it is this record's (a nonce can
            // be recorded again after it expired).
            if self.live.get(&nonce) == Some(&expiry) {
                self.live.remove(&nonce);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: u8) -> [u8; 32] {
        [i; 32]
    }

    #[test]
    fn replay_refused_until_forgotten() {
        let c = ReplayCache::with_memory(10, 300);
        c.check_and_insert(&n(1), 1000).unwrap();
        let e = c.check_and_insert(&n(1), 1299).unwrap_err();
        assert_eq!(e.as_peer(), Some(PeerMisbehaved::ReplayedNonce));
        // At 1300 the memory ended: the nonce is evicted and may be recorded.
        c.check_and_insert(&n(1), 1300).unwrap();
    }

    #[test]
    fn full_cache_fails_closed_then_recovers() {
        let c = ReplayCache::with_memory(3, 300);
        for i in 0..3 {
            c.check_and_insert(&n(i), 1000 + u64::from(i)).unwrap();
        }
        let e = c.check_and_insert(&n(9), 1100).unwrap_err();
        assert!(matches!(e, Error::Local(LocalError::ReplayCacheFull)));
        assert_eq!(e.code(), peer_proto::ErrorCode::RateLimited);
        assert_eq!(c.len(), 3);
        // The first nonce expires at 1300: one slot frees.
        c.check_and_insert(&n(9), 1300).unwrap();
        assert!(matches!(
            c.check_and_insert(&n(10), 1300).unwrap_err(),
            Error::Local(LocalError::ReplayCacheFull)
        ));
        // Still remembered while live.
        assert_eq!(
            c.check_and_insert(&n(2), 1301).unwrap_err().as_peer(),
            Some(PeerMisbehaved::ReplayedNonce)
        );
    }
}
