//! The tokio driver: two sockets, a few timers and the key fetches around
//! the [`Core`]. It makes no protocol decision of its own.
//!
//! One task runs the loop below until it is stopped (with a leave datagram,
//! [`Discovery::stop`]) or its token is cancelled (without one). Every wait
//! in it is bounded by a timer or by the token, and every send is one
//! datagram.
//!
//! ```text
//!  group socket ──recv──┐                          ┌──▶ PeerEvent (broadcast)
//!  own socket ───recv──┼──▶ Core::handle ──────────┼──▶ unicast answer (own socket)
//!  key fetches ───done──┘    Core::key_fetched     └──▶ key fetch task (bounded, timed)
//!  timers: queries (3 × 200 ms at start), announce (30 s), expire (1 s)
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peer_crypto::IdentityKey;
use peer_proto::NodeId;
use peer_proto::api::NodeRole;
use peer_proto::discovery::DatagramKind;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::config::DiscoveryConfig;
use crate::core::drops::DropCounts;
use crate::core::table::{Peer, PeerEvent};
use crate::core::{Core, FetchedKey, LocalNode, Outcome};
use crate::socket;

/// A key fetch's future: the node found at the address, or `None`.
pub type FetchFuture = Pin<Box<dyn Future<Output = Option<FetchedKey>> + Send>>;

/// Fetches the key of a node from its HTTP address (`GET /api/v1/node`).
/// The driver bounds each fetch by [`DiscoveryConfig::fetch_timeout`]; the
/// core checks what comes back.
pub trait KeyFetcher: Send + Sync + 'static {
    /// Fetches the node info served at `http`.
    fn fetch(&self, http: SocketAddr) -> FetchFuture;
}

/// Events kept for a slow subscriber before it lags (it can then read the
/// whole table with [`Discovery::peers`]).
const EVENT_BUFFER: usize = 256;
/// Largest datagram read (anything above 1200 bytes is dropped, but is read
/// whole so its size is known).
const READ_BUFFER: usize = 65_536;

enum Command {
    SetRole(NodeRole),
    Query,
    Stop(oneshot::Sender<()>),
}

#[derive(Default)]
pub(crate) struct View {
    peers: Vec<Peer>,
    counts: DropCounts,
}

/// A running discovery: handle to the task. Cheap to clone.
#[derive(Clone)]
pub struct Discovery {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<PeerEvent>,
    view: Arc<Mutex<View>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    cancel: CancellationToken,
    node_id: NodeId,
    own: SocketAddr,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("node_id", &self.node_id)
            .field("own", &self.own)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    /// Opens the sockets and starts the task (inside a Tokio runtime): it
    /// sends the starting queries at once. `cancel` stops it without a
    /// leave datagram.
    pub fn start(
        config: DiscoveryConfig,
        key: IdentityKey,
        local: LocalNode,
        fetcher: Arc<dyn KeyFetcher>,
        cancel: CancellationToken,
    ) -> io::Result<Discovery> {
        let group = socket::group_socket(config.group, config.interface)?;
        let own = socket::own_socket(config.interface, config.ttl)?;
        let own_addr = socket::local_addr(&own);
        let core = Core::new(key, local, config.offline_after.as_secs());
        let node_id = core.node_id();
        let (commands, commands_rx) = mpsc::channel(16);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let view = Arc::new(Mutex::new(View::default()));
        let driver = Driver {
            config,
            core,
            group: Some(group),
            own,
            fetcher,
            events: events.clone(),
            view: view.clone(),
            cancel: cancel.clone(),
        };
        let task = tokio::spawn(driver.run(commands_rx));
        tracing::info!(own = %own_addr, %node_id, "discovery started");
        Ok(Discovery {
            commands,
            events,
            view,
            task: Arc::new(Mutex::new(Some(task))),
            cancel,
            node_id,
            own: own_addr,
        })
    }

    /// Events from now on: nodes seen, leaving, going offline.
    pub fn subscribe(&self) -> broadcast::Receiver<PeerEvent> {
        self.events.subscribe()
    }

    /// Every node seen, by id (offline ones too, marked so).
    pub fn peers(&self) -> Vec<Peer> {
        self.lock_view().peers.clone()
    }

    /// The counters (drops by reason, answers, key fetches).
    pub fn counts(&self) -> DropCounts {
        self.lock_view().counts
    }

    /// The address datagrams leave from (answers come back to it).
    pub fn own_addr(&self) -> SocketAddr {
        self.own
    }

    /// Announces `role` from now on, and at once.
    pub fn set_role(&self, role: NodeRole) {
        let _ = self.commands.try_send(Command::SetRole(role));
    }

    /// Sends the starting queries again (three, 200 ms apart): nodes answer
    /// by unicast.
    pub fn query(&self) {
        let _ = self.commands.try_send(Command::Query);
    }

    /// Sends a leave datagram and stops the task (bounded: at most 2 s).
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Stop(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
        }
        self.cancel.cancel();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }

    fn lock_view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) struct Driver {
    pub(crate) config: DiscoveryConfig,
    pub(crate) core: Core,
    /// `None` for a scanning client (it only hears answers).
    pub(crate) group: Option<UdpSocket>,
    pub(crate) own: UdpSocket,
    pub(crate) fetcher: Arc<dyn KeyFetcher>,
    pub(crate) events: broadcast::Sender<PeerEvent>,
    pub(crate) view: Arc<Mutex<View>>,
    pub(crate) cancel: CancellationToken,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let (fetched_tx, mut fetched_rx) = mpsc::channel(64);
        let mut group_buf = vec![0u8; READ_BUFFER];
        let mut own_buf = vec![0u8; READ_BUFFER];
        let every = self.config.announce_every.max(Duration::from_millis(100));
        let mut announce = tokio::time::interval_at(Instant::now() + every, every);
        announce.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut expire = tokio::time::interval(Duration::from_secs(1));
        expire.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut queries_left = self.config.queries;
        let query_timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(query_timer);
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    Some(Command::SetRole(role)) => {
                        self.core.set_role(role);
                        self.multicast(DatagramKind::Announce).await;
                    }
                    Some(Command::Query) => {
                        queries_left = self.config.queries;
                        query_timer.as_mut().reset(Instant::now());
                    }
                    Some(Command::Stop(done)) => {
                        self.multicast(DatagramKind::Leave).await;
                        let _ = done.send(());
                        break;
                    }
                    None => break,
                },
                Some((id, found)) = fetched_rx.recv() => {
                    let now = unix_now();
                    for (from, outcome) in self.core.key_fetched(now, id, found) {
                        self.carry_out(from, outcome, &fetched_tx).await;
                    }
                }
                received = recv(self.group.as_ref(), &mut group_buf) => {
                    if let Some((len, from)) = received {
                        self.received(&group_buf, len, from, &fetched_tx).await;
                    }
                }
                received = self.own.recv_from(&mut own_buf) => match received {
                    Ok((len, from)) => self.received(&own_buf, len, from, &fetched_tx).await,
                    Err(e) => {
                        tracing::debug!(error = %e, "discovery receive failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                () = &mut query_timer, if queries_left > 0 => {
                    queries_left -= 1;
                    self.multicast(DatagramKind::Query).await;
                    query_timer.as_mut().reset(Instant::now() + self.config.query_gap);
                }
                _ = announce.tick() => self.multicast(DatagramKind::Announce).await,
                _ = expire.tick() => {
                    for event in self.core.expire(unix_now()) {
                        tracing::info!(peer = %event.peer().node_id, name = %event.peer().name, "peer offline");
                        let _ = self.events.send(event);
                    }
                }
            }
            self.refresh_view();
        }
        self.refresh_view();
        tracing::debug!("discovery stopped");
    }

    fn refresh_view(&self) {
        let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner());
        view.counts = self.core.counts();
        view.peers = self.core.peers();
    }

    pub(crate) async fn received(
        &mut self,
        buf: &[u8],
        len: usize,
        from: SocketAddr,
        fetched: &mpsc::Sender<(NodeId, Option<FetchedKey>)>,
    ) {
        let bytes = buf.get(..len).unwrap_or_default();
        let outcome = self.core.handle(unix_now(), bytes, from);
        self.carry_out(from, outcome, fetched).await;
    }

    pub(crate) async fn carry_out(
        &mut self,
        from: SocketAddr,
        outcome: Outcome,
        fetched: &mpsc::Sender<(NodeId, Option<FetchedKey>)>,
    ) {
        match outcome {
            Outcome::Dropped(reason) => {
                tracing::debug!(%from, %reason, "datagram dropped");
            }
            Outcome::Accepted {
                event,
                answer,
                kind,
                ..
            } => {
                tracing::debug!(%from, ?kind, peer = %event.peer().node_id, "datagram accepted");
                let _ = self.events.send(event);
                if answer {
                    self.unicast(from).await;
                }
            }
            Outcome::ClientQuery { answer } => {
                if answer {
                    self.unicast(from).await;
                }
            }
            Outcome::FetchKey {
                node_id,
                from: http,
            } => {
                let fetch = self.fetcher.fetch(http);
                let timeout = self.config.fetch_timeout;
                let tx = fetched.clone();
                let cancel = self.cancel.clone();
                tokio::spawn(async move {
                    let found = tokio::select! {
                        () = cancel.cancelled() => return,
                        r = tokio::time::timeout(timeout, fetch) => r.ok().flatten(),
                    };
                    let _ = tx.send((node_id, found)).await;
                });
            }
            Outcome::Parked => {}
        }
    }

    pub(crate) async fn multicast(&mut self, kind: DatagramKind) {
        let to = SocketAddr::V4(self.config.group);
        self.send(kind, to).await;
    }

    async fn unicast(&mut self, to: SocketAddr) {
        self.send(DatagramKind::Announce, to).await;
    }

    async fn send(&mut self, kind: DatagramKind, to: SocketAddr) {
        let bytes = match self
            .core
            .datagram(&mut peer_crypto::rng::system_rng(), kind, unix_now())
        {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot build a discovery datagram");
                return;
            }
        };
        if let Err(e) = self.own.send_to(&bytes, to).await {
            tracing::warn!(error = %e, %to, ?kind, "cannot send a discovery datagram");
        }
    }
}

/// Receives on the group socket, or waits forever when there is none.
async fn recv(socket: Option<&UdpSocket>, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
    match socket {
        Some(s) => match s.recv_from(buf).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::debug!(error = %e, "discovery receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                None
            }
        },
        None => std::future::pending().await,
    }
}
