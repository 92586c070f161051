//! A loopback TCP proxy that a test can cut and restore (cargo feature
//! `proxy`): put it between a node and its database, or between two
//! nodes, and make the far side unreachable without stopping it.
//!
//! - [`Proxy::cut`]: every open connection is closed, and every new one is
//!   closed as soon as it is accepted (what a client sees when the server
//!   process is gone or a firewall rejects).
//! - [`Proxy::stall`]: connections stay open but nothing is forwarded any
//!   more, either way (a partition that drops packets); new connections are
//!   accepted and held the same way. They are closed at the next change.
//! - [`Proxy::restore`]: new connections are forwarded again.
//!
//! Bounded: at most [`MAX_CONNECTIONS`] connections at once (more are
//! closed at once); dropping the proxy stops it and closes every connection.
//!
//! ```no_run
//! # async fn demo(database: std::net::SocketAddr) {
//! let proxy = peer_testkit::proxy::Proxy::start(database).await.unwrap();
//! // ... point the node at proxy.addr() ...
//! proxy.cut();
//! // ... the database is unreachable ...
//! proxy.restore();
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Connections forwarded at once, at most.
pub const MAX_CONNECTIONS: usize = 1024;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward bytes both ways.
    Forward,
    /// Close every connection.
    Cut,
    /// Hold connections open without forwarding anything.
    Stall,
}

/// A running proxy from `127.0.0.1:PORT` to one upstream address.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    open: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream`.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(upstream: SocketAddr) -> io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, watcher) = watch::channel(Mode::Forward);
        let open = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            watcher,
            open.clone(),
            accepted.clone(),
        ));
        Ok(Proxy {
            addr,
            mode,
            open,
            accepted,
            task,
        })
    }

    /// The address to connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection, and every new one at once.
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    /// Stops forwarding; connections are held open until the next change.
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
    }

    /// Forwards new connections again (held ones are closed).
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Forward);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Connections open now (forwarded or held).
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Connections accepted since the start.
    pub fn accepted_connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept task owns the connection tasks: aborting it drops its
        // JoinSet, which aborts them all and closes their sockets.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    open: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
) {
    let mut pipes = JoinSet::new();
    loop {
        tokio::select! {
            conn = listener.accept() => {
                let Ok((client, _)) = conn else {
                    // Out of file descriptors, say: do not spin.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                if *mode.borrow() == Mode::Cut || pipes.len() >= MAX_CONNECTIONS {
                    drop(client);
                    continue;
                }
                let guard = OpenGuard::new(open.clone());
                pipes.spawn(pipe(client, upstream, mode.clone(), guard));
            }
            Some(_) = pipes.join_next(), if !pipes.is_empty() => {}
        }
    }
}

/// Counts a connection as open while it lives.
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: Arc<AtomicUsize>) -> OpenGuard {
        open.fetch_add(1, Ordering::SeqCst);
        OpenGuard(open)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn pipe(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    _guard: OpenGuard,
) {
    let start = *mode.borrow_and_update();
    if start == Mode::Cut {
        return;
    }
    if start == Mode::Stall {
        // Held until the mode changes, then closed.
        let _ = mode.changed().await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        stalled = wait_for_change(&mut mode) => {
            if stalled == Mode::Stall {
                let _ = mode.changed().await;
            }
        }
    }
}

/// Waits until the mode is no longer `Forward`; returns the new mode.
async fn wait_for_change(mode: &mut watch::Receiver<Mode>) -> Mode {
    loop {
        if mode.changed().await.is_err() {
            // The proxy is gone: close.
            return Mode::Cut;
        }
        let now = *mode.borrow_and_update();
        if now != Mode::Forward {
            return now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(addr: SocketAddr) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn forwards_cuts_stalls_and_restores() {
        let proxy = Proxy::start(echo_server().await).await.unwrap();
        assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"ping");

        // An open connection is closed by a cut, and new ones too.
        let mut held = TcpStream::connect(proxy.addr()).await.unwrap();
        held.write_all(b"ab").await.unwrap();
        let mut two = [0u8; 2];
        held.read_exact(&mut two).await.unwrap();
        proxy.cut();
        let mut buf = [0u8; 8];
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), held.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "closed by the cut");
        assert!(round_trip(proxy.addr()).await.is_err());

        // Stalled: accepted, nothing comes back, until restored.
        proxy.stall();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(b"ping").await.unwrap();
        let quiet =
            tokio::time::timeout(std::time::Duration::from_millis(200), s.read(&mut buf)).await;
        assert!(quiet.is_err(), "nothing forwarded while stalled");
        proxy.restore();
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "a held connection is closed at the next change");
        assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"ping");
        drop(proxy);
    }
}
