//! Token buckets: per session, per bearer token, and per source address for
//! handshakes. Monotonic time (`Instant`), independent of the node clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: `per_sec` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_sec: u32,
    /// Largest burst.
    pub burst: u32,
}

/// One token bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(rate: Rate) -> Self {
        Bucket {
            tokens: f64::from(rate.burst.max(1)),
            last: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is there.
    pub fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        let per_sec = f64::from(rate.per_sec.max(1));
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * per_sec).min(f64::from(rate.burst.max(1)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / per_sec;
            Err(Duration::from_secs_f64(wait.max(0.001)))
        }
    }
}

/// Buckets by key (source addresses), bounded in size: when full, buckets
/// that have refilled completely are forgotten (they carry no state).
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    rate: Rate,
    max_keys: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter with this rate, remembering at most `max_keys` keys.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        KeyedLimiter {
            rate,
            max_keys: max_keys.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(key) && map.len() >= self.max_keys {
            let rate = self.rate;
            let refill = Duration::from_secs_f64(
                f64::from(rate.burst.max(1)) / f64::from(rate.per_sec.max(1)),
            );
            map.retain(|_, b| now.saturating_duration_since(b.last) < refill);
            if map.len() >= self.max_keys {
                // Every remembered key is active: refuse newcomers rather
                // than forget an active limit.
                return Err(Duration::from_secs(1));
            }
        }
        map.entry(key.clone())
            .or_insert_with(|| Bucket::full(self.rate))
            .take(self.rate, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_then_refill() {
        let rate = Rate {
            per_sec: 10,
            burst: 3,
        };
        let mut b = Bucket::full(rate);
        let t = Instant::now();
        for _ in 0..3 {
            assert!(b.take(rate, t).is_ok());
        }
        let wait = b.take(rate, t).unwrap_err();
        assert!(wait <= Duration::from_millis(101) && wait > Duration::ZERO);
        assert!(b.take(rate, t + Duration::from_millis(100)).is_ok());
        assert!(b.take(rate, t + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn keyed_limits_are_separate_and_bounded() {
        let rate = Rate {
            per_sec: 1,
            burst: 1,
        };
        let l = KeyedLimiter::new(rate, 2);
        assert!(l.take(&1).is_ok());
        assert!(l.take(&1).is_err());
        assert!(l.take(&2).is_ok());
        // Both keys are active: a third is refused, not let through.
        assert!(l.take(&3).is_err());
    }
}
