//! A one-shot look around, for clients (`peerctl discover`): send the
//! queries, gather the answers for a while, return the nodes found.
//!
//! The scanning client has no HTTP server, so its queries carry HTTP port
//! 0 and are signed with a throwaway key: nodes answer them (within their
//! answer limits) without entering the client in their tables. The answers
//! are announcements of the nodes, checked like any datagram (each node's
//! key is fetched from it and checked against the hash its datagram
//! carries).

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peer_crypto::{IdentityKey, KeySize};
use peer_proto::api::NodeRole;
use peer_proto::discovery::DatagramKind;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::DiscoveryConfig;
use crate::core::table::Peer;
use crate::core::{Core, LocalNode};
use crate::driver::{Driver, KeyFetcher, View, unix_now};
use crate::socket;

/// Queries the network described by `config` and returns the nodes that
/// answered within `wait` (and whose keys checked out), by id.
pub async fn scan(
    config: &DiscoveryConfig,
    fetcher: Arc<dyn KeyFetcher>,
    wait: Duration,
) -> io::Result<Vec<Peer>> {
    let key = IdentityKey::generate(&mut peer_crypto::rng::system_rng(), KeySize::Rsa2048)
        .map_err(|e| io::Error::other(format!("cannot make a throwaway key: {e}")))?;
    let own = socket::own_socket(config.interface, config.ttl)?;
    let core = Core::new(
        key,
        LocalNode {
            name: "scan".into(),
            group: String::new(),
            role: NodeRole::Standalone,
            http_port: 0,
        },
        config.offline_after.as_secs(),
    );
    let cancel = CancellationToken::new();
    let mut driver = Driver {
        config: config.clone(),
        core,
        group: None,
        own,
        fetcher,
        events: broadcast::channel(16).0,
        view: Arc::new(Mutex::new(View::default())),
        cancel: cancel.clone(),
    };
    let (fetched_tx, mut fetched_rx) = mpsc::channel(64);
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + wait;
    let mut queries_left = config.queries.max(1);
    let mut next_query = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            () = tokio::time::sleep_until(next_query), if queries_left > 0 => {
                queries_left -= 1;
                driver.multicast(DatagramKind::Query).await;
                next_query = Instant::now() + config.query_gap;
            }
            received = driver.own.recv_from(&mut buf) => {
                if let Ok((len, from)) = received {
                    driver.received(&buf, len, from, &fetched_tx).await;
                }
            }
            Some((id, found)) = fetched_rx.recv() => {
                for (from, outcome) in driver.core.key_fetched(unix_now(), id, found) {
                    driver.carry_out(from, outcome, &fetched_tx).await;
                }
            }
        }
    }
    cancel.cancel();
    Ok(driver.core.peers())
}
