//! How a node joins its group, and the timings of the machinery.

use std::net::SocketAddr;
use std::time::Duration;

use peer_discovery::DiscoveryConfig;
use peer_http::client::BaseUrl;

/// How a node finds its place in the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Join {
    /// Ask the LAN (discovery): follow the main peer of our group if one
    /// answers, otherwise become it. Needs discovery.
    Auto,
    /// Follow nobody: the main peer of its group when discovery is on (so
    /// others may follow it), a standalone node otherwise.
    None,
    /// Follow the node at this URL (no discovery needed).
    Url(BaseUrl),
}

/// Settings of the mesh.
#[derive(Debug, Clone)]
pub struct MeshConfig {
    /// How to join.
    pub join: Join,
    /// The address the node's HTTP server is bound to (its port, and its
    /// IP unless that is unspecified, make the URL peers reach it at).
    pub listen: SocketAddr,
    /// Discovery, when on.
    pub discovery: Option<DiscoveryConfig>,
    /// Timings and bounds.
    pub timings: Timings,
}

/// Timings and bounds of the mesh, with defaults that suit a LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timings {
    /// How long answers to our queries are awaited before deciding whom to
    /// follow (default 1 s: three queries 200 ms apart, and the answers).
    pub discovery_window: Duration,
    /// A follower checks its main peer this often (`GET /api/v1/node`;
    /// default 10 s). A main peer that stops answering is lost at once on a
    /// failed relay, within this (plus `probe_timeout`) otherwise, and at
    /// most 90 s after its last announcement by discovery.
    pub probe_every: Duration,
    /// A check of the main peer gives up after this (default 3 s).
    pub probe_timeout: Duration,
    /// A follower registers again this often (default 300 s), so that a
    /// main peer that forgot it (restarted) pushes to it again.
    pub reregister_every: Duration,
    /// On a shared store, a node refreshes its own record this often
    /// (default 30 s).
    pub self_record_every: Duration,
    /// The set of push targets is read again this often (default 10 s),
    /// and at once when a peer registers or leaves.
    pub push_sync_every: Duration,
    /// Events per push at most (default 256).
    pub push_batch: usize,
    /// Longest wait between retries of a failed push (default 30 s; the
    /// first retry comes after 250 ms).
    pub push_backoff_max: Duration,
    /// An inbound peer whose pushes failed for this long is forgotten
    /// (default 600 s; it registers again when it comes back).
    pub push_give_up: Duration,
    /// A relayed request (long-polls included) gives up after this
    /// (default 90 s; a long-poll waits at most 60 s).
    pub relay_timeout: Duration,
    /// Leaving (telling the main peer or the followers) gives up after this
    /// (default 2 s).
    pub leave_timeout: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            discovery_window: Duration::from_secs(1),
            probe_every: Duration::from_secs(10),
            probe_timeout: Duration::from_secs(3),
            reregister_every: Duration::from_secs(300),
            self_record_every: Duration::from_secs(30),
            push_sync_every: Duration::from_secs(10),
            push_batch: 256,
            push_backoff_max: Duration::from_secs(30),
            push_give_up: Duration::from_secs(600),
            relay_timeout: Duration::from_secs(90),
            leave_timeout: Duration::from_secs(2),
        }
    }
}
