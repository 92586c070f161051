//! Bounds on the work a datagram can cause: key fetches (one per node at a
//! time, a few at once, a few per second, and not again soon after a
//! failure) and unicast answers to queries (a few per source and second, a
//! bounded number per second in all).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use peer_proto::NodeId;

/// Key fetches in flight at most.
pub const MAX_FETCHES_IN_FLIGHT: usize = 8;
/// Key fetches started per second at most.
pub const MAX_FETCHES_PER_SEC: u32 = 10;
/// Seconds before a node whose key fetch failed is tried again.
pub const FETCH_RETRY_SECS: u64 = 10;
/// Answers per source address and second at most.
pub const MAX_ANSWERS_PER_SOURCE: u32 = 3;
/// Answers per second at most, in all.
pub const MAX_ANSWERS_PER_SEC: u32 = 50;

/// Failed nodes remembered at most (then the oldest failures are forgotten).
const MAX_FAILED: usize = 1024;

/// Admission of key fetches.
#[derive(Debug, Default)]
pub(crate) struct FetchGate {
    in_flight: HashSet<NodeId>,
    failed: HashMap<NodeId, u64>,
    second: u64,
    started: u32,
}

impl FetchGate {
    pub(crate) fn in_flight(&self, id: NodeId) -> bool {
        self.in_flight.contains(&id)
    }

    /// Admits a fetch of `id`'s key now, or not.
    pub(crate) fn admit(&mut self, id: NodeId, now: u64) -> bool {
        if self.in_flight.contains(&id) || self.in_flight.len() >= MAX_FETCHES_IN_FLIGHT {
            return false;
        }
        if self.failed.get(&id).is_some_and(|until| *until > now) {
            return false;
        }
        if self.second != now {
            self.second = now;
            self.started = 0;
        }
        if self.started >= MAX_FETCHES_PER_SEC {
            return false;
        }
        self.started += 1;
        self.in_flight.insert(id);
        true
    }

    /// A fetch ended.
    pub(crate) fn done(&mut self, id: NodeId, ok: bool, now: u64) {
        self.in_flight.remove(&id);
        if ok {
            self.failed.remove(&id);
            return;
        }
        if self.failed.len() >= MAX_FAILED {
            self.failed.retain(|_, until| *until > now);
            if self.failed.len() >= MAX_FAILED {
                self.failed.clear();
            }
        }
        self.failed.insert(id, now.saturating_add(FETCH_RETRY_SECS));
    }
}

/// Admission of unicast answers.
#[derive(Debug, Default)]
pub(crate) struct AnswerGate {
    second: u64,
    total: u32,
    per_source: HashMap<IpAddr, u32>,
}

impl AnswerGate {
    pub(crate) fn admit(&mut self, source: IpAddr, now: u64) -> bool {
        if self.second != now {
            self.second = now;
            self.total = 0;
            self.per_source.clear();
        }
        if self.total >= MAX_ANSWERS_PER_SEC {
            return false;
        }
        let n = self.per_source.entry(source).or_insert(0);
        if *n >= MAX_ANSWERS_PER_SOURCE {
            return false;
        }
        *n += 1;
        self.total += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u8) -> NodeId {
        NodeId::from_bytes([i; 16])
    }

    #[test]
    fn fetches_are_deduplicated_bounded_and_rate_limited() {
        let mut g = FetchGate::default();
        assert!(g.admit(id(1), 100));
        assert!(!g.admit(id(1), 100), "one per node at a time");
        for i in 2..=MAX_FETCHES_IN_FLIGHT as u8 {
            assert!(g.admit(id(i), 100));
        }
        assert!(!g.admit(id(99), 100), "in-flight bound");
        for i in 1..=MAX_FETCHES_IN_FLIGHT as u8 {
            g.done(id(i), true, 100);
        }
        assert!(g.admit(id(50), 100));
        assert!(g.admit(id(51), 100));
        assert!(!g.admit(id(52), 100), "per-second bound");
        g.done(id(50), true, 100);
        g.done(id(51), false, 100);
        assert!(!g.admit(id(51), 105), "failed recently");
        assert!(g.admit(id(51), 100 + FETCH_RETRY_SECS));
    }

    #[test]
    fn answers_are_limited_per_source_and_in_all() {
        let mut g = AnswerGate::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..MAX_ANSWERS_PER_SOURCE {
            assert!(g.admit(a, 7));
        }
        assert!(!g.admit(a, 7));
        assert!(g.admit(a, 8), "a new second");
        let mut admitted = 0;
        for i in 0..=255u8 {
            if g.admit(IpAddr::from([10, 0, 1, i]), 9) {
                admitted += 1;
            }
        }
        assert_eq!(admitted, MAX_ANSWERS_PER_SEC);
    }
}
