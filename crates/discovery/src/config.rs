//! Settings of discovery, with the defaults of protocol.md.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// The default multicast group and port.
pub const DEFAULT_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), 47777);

/// Where and how often discovery speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Multicast group address and UDP port (default 239.255.77.77:47777).
    pub group: SocketAddrV4,
    /// The local interface address to send and receive multicast on
    /// (default 0.0.0.0: the interface of the default route). Set
    /// 127.0.0.1 for nodes on one host only (tests).
    pub interface: Ipv4Addr,
    /// Multicast TTL (default 1: the local network only).
    pub ttl: u32,
    /// Announcements are sent this often (default 30 s).
    pub announce_every: Duration,
    /// Queries sent when starting (default 3) ...
    pub queries: u32,
    /// ... this far apart (default 200 ms).
    pub query_gap: Duration,
    /// A node silent this long is offline (default 90 s).
    pub offline_after: Duration,
    /// A key fetch (`GET /api/v1/node` of a first-seen node) gives up after
    /// this long (default 2 s).
    pub fetch_timeout: Duration,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            group: DEFAULT_GROUP,
            interface: Ipv4Addr::UNSPECIFIED,
            ttl: 1,
            announce_every: Duration::from_secs(30),
            queries: 3,
            query_gap: Duration::from_millis(200),
            offline_after: Duration::from_secs(90),
            fetch_timeout: Duration::from_secs(2),
        }
    }
}
