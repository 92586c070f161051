//! Discovery of peergroup nodes on a LAN: signed UDP multicast datagrams
//! (query, announce, leave; protocol.md "Node to node") and the table of
//! nodes seen.
//!
//! - [`core`]: the protocol without I/O. Datagrams in, decisions out:
//!   shape checks, own-datagram filter, freshness (120 s), the sender's key
//!   (fetched once per node and checked against the hash the datagram
//!   carries), signature, replay (nonces remembered 300 s), the peer table
//!   (offline after 90 s of silence), bounded key fetches and answers, and
//!   a counter per drop reason. Time comes in as `now`.
//! - [`Discovery`]: the tokio driver. Two UDP sockets set up with
//!   `socket2` (the group socket, shared by every node of the host, and the
//!   node's own socket, which sends and takes unicast answers), three
//!   queries 200 ms apart at start, an announcement every 30 s and on a
//!   role change, a leave on [`Discovery::stop`], and events for whoever
//!   follows the table ([`PeerEvent`]).
//! - [`scan`]: a one-shot look around for clients.
//! - `HttpKeyFetcher` (feature `http`): node keys fetched over HTTP.
//!
//! What it does not do: decide whom to follow (`peer-mesh` does), speak
//! HTTP beyond that one `GET` (keys come through a [`KeyFetcher`]), or trust
//! anything a datagram says before its signature verified. IPv4 only.
//!
//! ```text
//!   Discovery ──▶ Core::datagram ──▶ own socket ──▶ 239.255.77.77:47777
//!   group socket / own socket ──▶ Core::handle ──▶ PeerEvent::{Seen, Left, Offline}
//!                                      └──▶ KeyFetcher::fetch(source IP, HTTP port)
//! ```
//!
//! ```
//! use peer_discovery::core::{Core, LocalNode, Outcome};
//! use peer_discovery::core::drops::DropReason;
//! use peer_proto::api::NodeRole;
//!
//! # let key = peer_crypto::IdentityKey::generate(
//! #     &mut peer_crypto::rng::system_rng(), peer_crypto::KeySize::Rsa2048).unwrap();
//! let me = LocalNode { name: "hall".into(), group: "default".into(), role: NodeRole::Main, http_port: 8080 };
//! let mut core = Core::new(key, me, 90);
//! let from = "192.0.2.7:40000".parse().unwrap();
//! assert_eq!(core.handle(1_700_000_000, b"hello", from), Outcome::Dropped(DropReason::Malformed));
//! assert_eq!(core.counts().dropped(DropReason::Malformed), 1);
//! ```

#![forbid(unsafe_code)]

mod config;
pub mod core;
mod driver;
#[cfg(feature = "http")]
mod http;
mod scan;
mod socket;

pub use config::{DEFAULT_GROUP, DiscoveryConfig};
pub use core::drops::{DropCounts, DropReason};
pub use core::table::{Peer, PeerEvent};
pub use core::{FetchedKey, LocalNode};
pub use driver::{Discovery, FetchFuture, KeyFetcher};
#[cfg(feature = "http")]
pub use http::HttpKeyFetcher;
pub use scan::scan;
