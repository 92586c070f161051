//! Why datagrams were dropped, counted by reason.

use std::fmt;

/// Why a received datagram was dropped. Every drop is counted under its
/// reason ([`DropCounts`]); none is answered or logged above `debug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// Larger than 1200 bytes.
    Oversized,
    /// Not a peergroup datagram, or not a well-formed one (bad magic,
    /// trailing bytes, fields out of bounds, a node without an HTTP port).
    Malformed,
    /// Another protocol version.
    WrongVersion,
    /// No signature at all.
    Unsigned,
    /// Sent by this node itself (multicast loops back).
    Own,
    /// Its timestamp is more than 120 s away from now.
    Stale,
    /// Its nonce was seen already.
    Replayed,
    /// The signature does not verify under the sender's key.
    BadSignature,
    /// The node id and SPKI hash do not belong together, or do not match the
    /// key the sender's node serves.
    UnknownIdentity,
    /// The sender's key could not be fetched (unreachable, refused, or key
    /// fetches rate-limited).
    KeyUnavailable,
    /// A bounded table or queue was full.
    Overload,
}

impl DropReason {
    /// Every reason, in a stable order.
    pub const ALL: [DropReason; 11] = [
        DropReason::Oversized,
        DropReason::Malformed,
        DropReason::WrongVersion,
        DropReason::Unsigned,
        DropReason::Own,
        DropReason::Stale,
        DropReason::Replayed,
        DropReason::BadSignature,
        DropReason::UnknownIdentity,
        DropReason::KeyUnavailable,
        DropReason::Overload,
    ];

    /// The reason as a metric label (`bad_signature`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Oversized => "oversized",
            DropReason::Malformed => "malformed",
            DropReason::WrongVersion => "wrong_version",
            DropReason::Unsigned => "unsigned",
            DropReason::Own => "own",
            DropReason::Stale => "stale",
            DropReason::Replayed => "replayed",
            DropReason::BadSignature => "bad_signature",
            DropReason::UnknownIdentity => "unknown_identity",
            DropReason::KeyUnavailable => "key_unavailable",
            DropReason::Overload => "overload",
        }
    }

    fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters of the discovery core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    dropped: [u64; DropReason::ALL.len()],
    /// Datagrams accepted (verified).
    pub accepted: u64,
    /// Queries of clients (no HTTP port, so no key to check them with):
    /// answered within the answer limits, never entered in the table.
    pub client_queries: u64,
    /// Unicast answers sent to queries.
    pub answers: u64,
    /// Answers not sent because a limit was reached.
    pub answers_limited: u64,
    /// Key fetches started.
    pub key_fetches: u64,
}

impl DropCounts {
    /// Datagrams dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(reason.index()).copied().unwrap_or(0)
    }

    /// Datagrams dropped, all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    pub(crate) fn drop(&mut self, reason: DropReason) {
        if let Some(n) = self.dropped.get_mut(reason.index()) {
            *n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let mut c = DropCounts::default();
        c.drop(DropReason::Stale);
        c.drop(DropReason::Stale);
        c.drop(DropReason::Overload);
        assert_eq!(c.dropped(DropReason::Stale), 2);
        assert_eq!(c.dropped(DropReason::Overload), 1);
        assert_eq!(c.dropped(DropReason::Own), 0);
        assert_eq!(c.dropped_total(), 3);
        let labels: std::collections::HashSet<_> =
            DropReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), DropReason::ALL.len());
    }
}
