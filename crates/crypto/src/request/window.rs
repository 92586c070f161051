//! The per-session sequence window (IPsec-style anti-replay bitmap).
//!
//! The window covers the 64 sequence numbers `top-63 ..= top`, where `top` is
//! the highest accepted so far. A number above `top` slides the window up; a
//! number inside it is accepted once (bit set), so concurrent requests may
//! arrive out of order; a number below it, or seen already, is refused.
//! Sequence number 0 is never valid (the first request uses 1).

use peer_proto::limits::SEQ_WINDOW;

use crate::error::PeerMisbehaved;

const WIDTH: u64 = SEQ_WINDOW;
const _: () = assert!(WIDTH == 64, "the bitmap is one u64");

/// The accepted-sequence state of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqWindow {
    top: u64,
    /// Bit `i` set: `top - i` was accepted.
    seen: u64,
}

impl SeqWindow {
    /// An empty window (nothing accepted yet).
    pub const fn new() -> Self {
        SeqWindow { top: 0, seen: 0 }
    }

    /// The highest sequence number accepted so far (0 before the first).
    pub const fn top(&self) -> u64 {
        self.top
    }

    /// Accepts `seq` once, or refuses it with
    /// [`PeerMisbehaved::ReplayedRequest`] (seen, below the window, or 0).
    pub fn accept(&mut self, seq: u64) -> Result<(), PeerMisbehaved> {
        if seq == 0 {
            return Err(PeerMisbehaved::ReplayedRequest);
        }
        if seq > self.top {
            let shift = seq - self.top;
            self.seen = if shift >= WIDTH {
                1
            } else {
                (self.seen << shift) | 1
            };
            self.top = seq;
            return Ok(());
        }
        let back = self.top - seq;
        if back >= WIDTH {
            return Err(PeerMisbehaved::ReplayedRequest);
        }
        let bit = 1u64 << back;
        if self.seen & bit != 0 {
            return Err(PeerMisbehaved::ReplayedRequest);
        }
        self.seen |= bit;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Result<(), PeerMisbehaved> = Err(PeerMisbehaved::ReplayedRequest);

    #[test]
    fn in_order_once() {
        let mut w = SeqWindow::new();
        assert_eq!(w.accept(0), R);
        for s in 1..=200 {
            assert_eq!(w.accept(s), Ok(()));
            assert_eq!(w.accept(s), R);
        }
    }

    #[test]
    fn out_of_order_inside_window_once() {
        let mut w = SeqWindow::new();
        assert_eq!(w.accept(100), Ok(()));
        // 37..=100 is the window: every one of 37..100 accepted exactly once.
        for s in (37..100).rev() {
            assert_eq!(w.accept(s), Ok(()), "{s}");
        }
        for s in 37..=100 {
            assert_eq!(w.accept(s), R, "{s}");
        }
        // 36 is 64 below 100: outside.
        assert_eq!(w.accept(36), R);
        assert_eq!(w.accept(1), R);
    }

    #[test]
    fn big_jump_clears_the_window() {
        let mut w = SeqWindow::new();
        w.accept(1).unwrap();
        w.accept(1000).unwrap();
        assert_eq!(w.accept(937), Ok(()));
        assert_eq!(w.accept(936), R);
        assert_eq!(w.accept(1000), R);
        w.accept(u64::MAX).unwrap();
        assert_eq!(w.accept(u64::MAX), R);
        assert_eq!(w.accept(u64::MAX - 63), Ok(()));
        assert_eq!(w.accept(u64::MAX - 64), R);
    }
}
