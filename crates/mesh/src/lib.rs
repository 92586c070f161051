//! Node to node: how a `peerd` takes its place in a group of nodes.
//!
//! - [`follow`](crate::Mesh): whom to follow (`--join auto|none|URL`): with
//!   discovery, the main peer of our group that answers our queries, or
//!   this node becomes the main peer; registration with the main peer
//!   (signed `POST /api/v1/peers`), its health (checked every 10 s, lost
//!   at once when a relay fails or discovery says it left), and what
//!   happens when it is lost (the node reports it and, with `auto`,
//!   discovers again);
//! - the relay ([`Mesh::upstream`], a [`peer_http::server::Upstream`]):
//!   a follower passes its clients' requests to the main peer unchanged,
//!   and has the main peer check its clients' event-stream requests in a
//!   peer session, then serves those streams from pushed events;
//! - the pushers: every event that happens on a serving node is pushed, in
//!   batches, in a peer session (one ECDH per push), to its followers and,
//!   on a shared store, to the other nodes (`POST /api/v1/notify`); each
//!   peer has its own bounded queue and retry, so a slow or unreachable
//!   peer never slows a post;
//! - on a shared (MongoDB) store, this node's own record in the shared
//!   peers collection, so that the nodes find each other without discovery.
//!
//! What it does not do: decide anything about users, rooms or messages
//! (`peer-node` does), serve HTTP (`peer-http` does), or parse datagrams
//! (`peer-discovery` does).
//!
//! ```text
//!            discovery events ──┐
//!  relay failures, probes ──────┼─▶ follow controller ─▶ Node: role, main_peer
//!  peers registering/leaving ───┘        │                  ▲
//!                                        ▼                  │ pushed events
//!  peer-http server ── Upstream ──▶ main peer (relay, stream checks)
//!  Node event bus (local events) ──▶ pusher per peer ──▶ POST /api/v1/notify
//! ```

#![forbid(unsafe_code)]

mod advertise;
mod clock;
mod config;
mod fetch;
mod follow;
mod link;
mod push;
mod stats;
mod upstream;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use peer_discovery::{Discovery, LocalNode};
use peer_http::client::{BaseUrl, HttpClient};
use peer_http::server::Upstream;
use peer_node::Node;
use peer_proto::NodeId;
use peer_proto::api::NodeRole;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{Join, MeshConfig, Timings};
pub use fetch::InfoError;
pub use link::{LinkError, PeerLink};
pub use stats::MeshStats;

use follow::Following;

/// Why the mesh could not start.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// `--join auto` needs discovery.
    #[error("joining automatically needs discovery")]
    AutoWithoutDiscovery,
    /// The discovery sockets could not be opened.
    #[error("cannot start discovery on {group} (interface {interface}): {source}")]
    Discovery {
        /// The group.
        group: String,
        /// The interface.
        interface: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// What the mesh's tasks share.
pub(crate) struct Shared {
    pub(crate) node: Node,
    pub(crate) config: MeshConfig,
    /// Node-to-node calls and node descriptions.
    pub(crate) http: HttpClient,
    /// Relayed client requests (long deadlines, large answers).
    pub(crate) relay_http: HttpClient,
    pub(crate) discovery: Option<Discovery>,
    /// The main peer followed now.
    pub(crate) following: Mutex<Option<Following>>,
    /// Wakes the follow controller (the main peer looks lost).
    pub(crate) wake: Notify,
    /// Wakes the push set (the role changed).
    pub(crate) resync: Notify,
    pub(crate) stats: MeshStats,
    pub(crate) cancel: CancellationToken,
}

impl Shared {
    pub(crate) fn current(&self) -> Option<Following> {
        self.following
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The URL peers reach this node at, seen from `toward`.
    pub(crate) fn own_url(&self, toward: Option<std::net::IpAddr>) -> String {
        advertise::url(
            self.config.listen,
            self.config.discovery.as_ref().map(|d| d.interface),
            toward,
        )
    }

    /// Notes that the main peer `main` did not answer: reported at once
    /// (`main_peer.reachable = false`, `/healthz` degraded), and the
    /// controller decides what to do.
    pub(crate) fn main_unreachable(&self, main: NodeId, why: &str) {
        if let Some(mut status) = self.node.main_peer()
            && status.node_id == main
        {
            if status.reachable {
                tracing::warn!(main = %main, why, "main peer unreachable");
                stats::bump(&self.stats.main_lost);
            }
            status.reachable = false;
            self.node.set_main_peer(Some(status));
        }
        self.wake.notify_one();
    }

    /// Notes that the main peer `main` answered.
    pub(crate) fn main_answered(&self, main: NodeId) {
        if let Some(mut status) = self.node.main_peer()
            && status.node_id == main
        {
            status.reachable = true;
            status.last_seen = clock::unix_now();
            self.node.set_main_peer(Some(status));
        }
    }
}

/// The mesh of one node: started with [`Mesh::start`], stopped (telling its
/// peers) with [`Mesh::stop`].
pub struct Mesh {
    shared: Arc<Shared>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("node", &self.shared.node.node_id())
            .field("join", &self.shared.config.join)
            .finish_non_exhaustive()
    }
}

impl Mesh {
    /// Starts discovery (when configured), the follow controller, the push
    /// set and, on a shared store, the own-record refresher. Must run inside
    /// a Tokio runtime. The node's role is `standalone` until the
    /// controller decides (at once for `none`, after the discovery window
    /// for `auto`, on the first successful registration for a URL).
    pub fn start(node: Node, config: MeshConfig) -> Result<Mesh, MeshError> {
        if config.join == Join::Auto && config.discovery.is_none() {
            return Err(MeshError::AutoWithoutDiscovery);
        }
        let cancel = CancellationToken::new();
        let mut transport = peer_http::client::ClientConfig::default();
        transport.request_timeout = Duration::from_secs(10);
        let http = HttpClient::new(transport);
        let mut relay = peer_http::client::ClientConfig::default();
        relay.request_timeout = config.timings.relay_timeout;
        relay.max_response_bytes = 64 * 1024 * 1024;
        let relay_http = HttpClient::new(relay);
        let discovery = match &config.discovery {
            None => None,
            Some(d) => {
                let local = LocalNode {
                    name: node.config().name.clone(),
                    group: node.config().group.clone(),
                    role: NodeRole::Standalone,
                    http_port: config.listen.port(),
                };
                let fetcher = Arc::new(peer_discovery::HttpKeyFetcher::new(d.fetch_timeout));
                let started = Discovery::start(
                    d.clone(),
                    node.identity().clone(),
                    local,
                    fetcher,
                    cancel.child_token(),
                )
                .map_err(|source| MeshError::Discovery {
                    group: d.group.to_string(),
                    interface: d.interface.to_string(),
                    source,
                })?;
                Some(started)
            }
        };
        let shared = Arc::new(Shared {
            node,
            config,
            http,
            relay_http,
            discovery,
            following: Mutex::new(None),
            wake: Notify::new(),
            resync: Notify::new(),
            stats: MeshStats::default(),
            cancel,
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(follow::run(shared.clone()));
        tasks.spawn(push::run(shared.clone()));
        if shared.node.store_is_shared() {
            tasks.spawn(follow::keep_own_record(shared.clone()));
        }
        if shared.discovery.is_some() {
            tasks.spawn(follow::observe(shared.clone()));
        }
        Ok(Mesh {
            shared,
            tasks: tokio::sync::Mutex::new(tasks),
        })
    }

    /// What the HTTP server relays through while this node follows a main
    /// peer.
    pub fn upstream(&self) -> Arc<dyn Upstream> {
        Arc::new(upstream::Relay {
            shared: self.shared.clone(),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &MeshStats {
        &self.shared.stats
    }

    /// Prometheus text of the mesh's and discovery's counters.
    pub fn render_metrics(&self) -> String {
        let mut out = self.shared.stats.render();
        if let Some(d) = &self.shared.discovery {
            out.push_str(&render_discovery(d));
        }
        out
    }

    /// The discovery driver, when on.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.shared.discovery.as_ref()
    }

    /// Stops every task at once, telling nobody (as a crash would; tests
    /// use it).
    pub async fn abort(&self) {
        self.shared.cancel.cancel();
        self.tasks.lock().await.abort_all();
    }

    /// Leaves the group: a follower tells its main peer (`DELETE
    /// /api/v1/peers/{id}`), a main peer tells its followers, discovery
    /// sends a leave datagram; then every task stops. Bounded by the leave
    /// timeout (and 2 s for discovery).
    pub async fn stop(&self) {
        // Discovery first: once its leave datagram is out, this node answers
        // no query, so followers that look for a new main do not find it.
        if let Some(d) = &self.shared.discovery {
            d.stop().await;
        }
        // Followers told of the leave must not register again while this
        // node is still shutting down.
        self.shared.node.set_leaving();
        follow::leave(&self.shared).await;
        self.shared.cancel.cancel();
        let mut tasks = self.tasks.lock().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        tasks.abort_all();
    }
}

fn render_discovery(d: &Discovery) -> String {
    use std::fmt::Write as _;
    let c = d.counts();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP peergroup_discovery_dropped_total discovery datagrams dropped, by reason"
    );
    let _ = writeln!(out, "# TYPE peergroup_discovery_dropped_total counter");
    for r in peer_discovery::DropReason::ALL {
        let _ = writeln!(
            out,
            "peergroup_discovery_dropped_total{{reason=\"{}\"}} {}",
            r.as_str(),
            c.dropped(r)
        );
    }
    for (name, help, v) in [
        (
            "peergroup_discovery_accepted_total",
            "discovery datagrams accepted",
            c.accepted,
        ),
        (
            "peergroup_discovery_answers_total",
            "unicast answers sent",
            c.answers,
        ),
        (
            "peergroup_discovery_client_queries_total",
            "queries of clients answered or limited",
            c.client_queries,
        ),
        (
            "peergroup_discovery_key_fetches_total",
            "node keys fetched",
            c.key_fetches,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {v}");
    }
    let peers = d.peers();
    let _ = writeln!(
        out,
        "# HELP peergroup_discovery_peers nodes seen by discovery, online"
    );
    let _ = writeln!(out, "# TYPE peergroup_discovery_peers gauge");
    let _ = writeln!(
        out,
        "peergroup_discovery_peers {}",
        peers.iter().filter(|p| p.online).count()
    );
    out
}

/// Parses a `--join` URL.
pub fn join_url(text: &str) -> Result<Join, peer_http::client::TransportError> {
    BaseUrl::parse(text).map(Join::Url)
}
