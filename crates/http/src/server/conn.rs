//! One connection: hyper's HTTP/1.1 state machine, plus the two timers
//! hyper does not keep the way api.md wants them.
//!
//! - **Header read timeout** (slowloris): a request head must be complete
//!   within `header_read_timeout` of its first byte (of the accept, for a
//!   connection's first request).
//! - **Draining**: on shutdown, connections with nothing of a request
//!   received close at once; the others finish their request first.
//! - **Idle keep-alive**: a connection with no request in flight and no byte
//!   of a new one is closed after `idle_timeout`.
//!
//! hyper's own header timer restarts as soon as a response is written, so
//! it would close idle keep-alive connections after the header timeout; it
//! is switched off and [`Activity`] tracks the phase of the connection
//! instead: the I/O wrapper sees bytes arrive, the service sees request
//! heads, and the response body's guard sees responses end.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Accepted at `since`; no byte yet.
    Fresh { since: Instant },
    /// Receiving a request head, whose first byte came at `since`.
    Head { since: Instant },
    /// `n` requests in flight (their heads arrived; responses not done).
    Busy { n: usize },
    /// Nothing in flight and nothing received since `since`.
    Idle { since: Instant },
}

/// The phase of one connection, shared by its I/O, service and watchdog.
#[derive(Debug)]
pub(crate) struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
}

/// What the watchdog should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Check again at this instant (or when the phase changes).
    WaitUntil(Instant),
    /// Requests are in flight: wait for the phase to change.
    Busy,
    /// A deadline passed: close the connection.
    Close,
}

impl Activity {
    /// A freshly accepted connection: its first head is due.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            phase: Mutex::new(Phase::Fresh {
                since: Instant::now(),
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        // The phase is a plain value; a poisoned lock still holds a valid one.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived: a fresh or idle connection starts a request head.
    fn bytes_read(&self) {
        let mut phase = self.lock();
        if let Phase::Idle { .. } | Phase::Fresh { .. } = *phase {
            *phase = Phase::Head {
                since: Instant::now(),
            };
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// A request head was parsed: the request is in flight until the
    /// returned guard drops (with the response body).
    pub(crate) fn request_started(self: &Arc<Self>) -> BusyGuard {
        {
            let mut phase = self.lock();
            *phase = match *phase {
                Phase::Busy { n } => Phase::Busy { n: n + 1 },
                _ => Phase::Busy { n: 1 },
            };
        }
        self.changed.notify_one();
        BusyGuard {
            activity: self.clone(),
        }
    }

    fn request_done(&self) {
        {
            let mut phase = self.lock();
            *phase = match *phase {
                Phase::Busy { n } if n > 1 => Phase::Busy { n: n - 1 },
                _ => Phase::Idle {
                    since: Instant::now(),
                },
            };
        }
        self.changed.notify_one();
    }

    /// The watchdog's decision at `now`.
    pub(crate) fn verdict(&self, now: Instant, header: Duration, idle: Duration) -> Verdict {
        let deadline = match *self.lock() {
            Phase::Busy { .. } => return Verdict::Busy,
            Phase::Fresh { since } | Phase::Head { since } => since + header,
            Phase::Idle { since } => since + idle,
        };
        if now >= deadline {
            Verdict::Close
        } else {
            Verdict::WaitUntil(deadline)
        }
    }

    /// True when nothing of a request has arrived (fresh or idle): a
    /// draining server closes such connections at once.
    pub(crate) fn is_quiet(&self) -> bool {
        matches!(*self.lock(), Phase::Fresh { .. } | Phase::Idle { .. })
    }

    /// Resolves when the phase changes.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// Marks one request in flight; dropped with its response body.
#[derive(Debug)]
pub(crate) struct BusyGuard {
    activity: Arc<Activity>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.activity.request_done();
    }
}

/// A stream that reports incoming bytes to its connection's [`Activity`].
#[derive(Debug)]
pub(crate) struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(10);
    const I: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn phases_and_deadlines() {
        let a = Activity::new();
        let t0 = Instant::now();
        assert!(a.is_quiet());
        assert_eq!(a.verdict(t0, H, I), Verdict::WaitUntil(t0 + H));
        assert_eq!(a.verdict(t0 + H, H, I), Verdict::Close);
        let g = a.request_started();
        assert_eq!(a.verdict(t0 + I * 10, H, I), Verdict::Busy);
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(g);
        let t1 = Instant::now();
        assert_eq!(a.verdict(t1, H, I), Verdict::WaitUntil(t1 + I));
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(a.is_quiet());
        a.bytes_read();
        assert!(!a.is_quiet());
        let t2 = Instant::now();
        assert_eq!(a.verdict(t2, H, I), Verdict::WaitUntil(t2 + H));
        // More bytes of the same head do not move the deadline.
        tokio::time::advance(Duration::from_secs(5)).await;
        a.bytes_read();
        assert_eq!(a.verdict(Instant::now(), H, I), Verdict::WaitUntil(t2 + H));
    }
}
