//! `peerctl discover`: the nodes on the LAN, found by multicast (the
//! signed queries of `peer-discovery`, answered by unicast). And the same
//! look around, briefly, when a command needs a node and neither `--node`
//! nor the profile names one: the main peer that answers is used.
//!
//! Every answer is an announcement signed by its node; its key is fetched
//! from the node (`GET /api/v1/node`) and checked against the hash the
//! announcement carries before the node is listed. Bounded by `--timeout`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use peer_discovery::{DiscoveryConfig, HttpKeyFetcher, Peer};
use peer_http::client::BaseUrl;
use peer_proto::api::NodeRole;
use serde::Serialize;

use crate::context::Ctx;
use crate::output::{note, sanitize, table};

/// How long a command without a node URL looks for a main peer.
const FALLBACK_WAIT: Duration = Duration::from_millis(1500);
/// A key fetch gives up after this.
const FETCH_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest `--timeout` accepted.
const MAX_TIMEOUT_SECS: u64 = 60;

/// `discover`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl discover
  peerctl discover --timeout 5 --interface 192.168.1.20 --json

Without --node and without a node in the profile, every other command
looks for the main peer this way too (PEERCTL_DISCOVERY_INTERFACE and
PEERCTL_DISCOVERY_GROUP apply to it).")]
pub(crate) struct Args {
    /// How long to wait for answers, in seconds (1-60).
    #[arg(long, value_name = "SECS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    timeout: u64,
    /// The IPv4 address of the interface to ask on [default: the
    /// interface of the default route].
    #[arg(long, value_name = "IP", env = "PEERCTL_DISCOVERY_INTERFACE")]
    interface: Option<Ipv4Addr>,
    /// The multicast group and port of discovery [default:
    /// 239.255.77.77:47777].
    #[arg(long, value_name = "ADDR:PORT", env = "PEERCTL_DISCOVERY_GROUP")]
    discovery_group: Option<SocketAddrV4>,
}

/// One node found.
#[derive(Debug, Serialize)]
struct Found {
    name: String,
    node_id: String,
    url: String,
    role: NodeRole,
    group: String,
}

impl From<&Peer> for Found {
    fn from(p: &Peer) -> Found {
        Found {
            name: p.name.clone(),
            node_id: p.node_id.to_string(),
            url: format!("http://{}", p.http),
            role: p.role,
            group: p.group.clone(),
        }
    }
}

fn role_name(role: NodeRole) -> &'static str {
    match role {
        NodeRole::Main => "main",
        NodeRole::Follower => "follower",
        NodeRole::Standalone => "standalone",
    }
}

/// The discovery settings: the defaults, with an interface and a group
/// when given.
fn config(interface: Option<Ipv4Addr>, group: Option<SocketAddrV4>) -> Result<DiscoveryConfig> {
    let mut config = DiscoveryConfig::default();
    if let Some(i) = interface {
        config.interface = i;
    }
    if let Some(g) = group {
        if !g.ip().is_multicast() {
            return Err(crate::error::Usage(format!(
                "{g} is not a multicast group (expected an address in 224.0.0.0/4)"
            ))
            .into());
        }
        config.group = g;
    }
    config.fetch_timeout = FETCH_TIMEOUT;
    Ok(config)
}

/// Asks the network and returns the nodes that answered, main peers
/// first, then by group and name.
async fn look(config: &DiscoveryConfig, wait: Duration) -> Result<Vec<Peer>> {
    let fetcher = Arc::new(HttpKeyFetcher::new(config.fetch_timeout));
    let mut peers = peer_discovery::scan(config, fetcher, wait)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot use multicast on interface {} (group {}): {e}",
                config.interface,
                config.group
            )
        })?;
    peers.sort_by(|a, b| {
        (
            a.role != NodeRole::Main,
            &a.group,
            &a.name,
            a.node_id.as_bytes(),
        )
            .cmp(&(
                b.role != NodeRole::Main,
                &b.group,
                &b.name,
                b.node_id.as_bytes(),
            ))
    });
    Ok(peers)
}

pub(crate) async fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let config = config(args.interface, args.discovery_group)?;
    let peers = look(&config, Duration::from_secs(args.timeout)).await?;
    let found: Vec<Found> = peers.iter().map(Found::from).collect();
    if ctx.out.is_json() {
        for f in &found {
            ctx.out.emit(f, String::new)?;
        }
        return Ok(());
    }
    if found.is_empty() {
        note(&format!(
            "no node answered within {} s on {} (interface {})",
            args.timeout, config.group, config.interface
        ));
        return Ok(());
    }
    let mut rows = vec![vec![
        "NAME".to_owned(),
        "ID".to_owned(),
        "ADDRESS".to_owned(),
        "ROLE".to_owned(),
        "GROUP".to_owned(),
    ]];
    rows.extend(found.iter().map(|f| {
        vec![
            sanitize(&f.name, ""),
            f.node_id.clone(),
            f.url.clone(),
            role_name(f.role).to_owned(),
            sanitize(&f.group, ""),
        ]
    }));
    for line in table(&rows) {
        ctx.out.line(&line)?;
    }
    Ok(())
}

/// The main peer on the LAN, for a command that has no node URL: found
/// with the settings of `PEERCTL_DISCOVERY_INTERFACE` and
/// `PEERCTL_DISCOVERY_GROUP`, within 1.5 s. `None` when nobody answered
/// (or multicast is unavailable): the caller uses its default.
pub(crate) async fn main_peer() -> Option<BaseUrl> {
    let interface = std::env::var("PEERCTL_DISCOVERY_INTERFACE")
        .ok()
        .and_then(|v| v.trim().parse().ok());
    let group = std::env::var("PEERCTL_DISCOVERY_GROUP")
        .ok()
        .and_then(|v| v.trim().parse().ok());
    let config = config(interface, group).ok()?;
    let (main, url) = find_main(&config, FALLBACK_WAIT).await?;
    note(&format!(
        "no node given: using main peer '{}' of group '{}' at {url}, found by multicast",
        sanitize(&main.name, ""),
        sanitize(&main.group, "")
    ));
    Some(url)
}

/// The first main peer that answers within `wait`, and its URL.
async fn find_main(config: &DiscoveryConfig, wait: Duration) -> Option<(Peer, BaseUrl)> {
    let peers = match look(config, wait).await {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, "no discovery");
            return None;
        }
    };
    let main = peers.into_iter().find(|p| p.role == NodeRole::Main)?;
    let url = BaseUrl::parse(&format!("http://{}", main.http)).ok()?;
    Some((main, url))
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use peer_discovery::{Discovery, LocalNode};
    use peer_testkit::node::TestNode;
    use tokio_util::sync::CancellationToken;

    use super::*;

    /// A multicast group of this test's own on 127.0.0.1.
    fn unique_config() -> DiscoveryConfig {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let group = SocketAddrV4::new(Ipv4Addr::new(239, 255, (port >> 8) as u8, port as u8), port);
        config(Some(Ipv4Addr::LOCALHOST), Some(group)).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finds_the_main_peer_on_the_lan_and_only_main_peers_count() {
        let config = unique_config();
        assert!(
            find_main(&config, Duration::from_millis(800))
                .await
                .is_none()
        );

        let served = TestNode::start().await;
        let announce = |role| LocalNode {
            name: "hall".into(),
            group: "lab".into(),
            role,
            http_port: served.addr().port(),
        };
        let fetcher = Arc::new(HttpKeyFetcher::new(FETCH_TIMEOUT));
        let follower = Discovery::start(
            config.clone(),
            served.node().identity().clone(),
            announce(NodeRole::Follower),
            fetcher.clone(),
            CancellationToken::new(),
        )
        .unwrap();
        let found = look(&config, Duration::from_secs(2)).await.unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].node_id, served.node().node_id());
        assert_eq!(found[0].role, NodeRole::Follower);
        assert!(
            find_main(&config, Duration::from_millis(800))
                .await
                .is_none()
        );

        follower.set_role(NodeRole::Main);
        let (main, url) = find_main(&config, Duration::from_secs(2)).await.unwrap();
        assert_eq!(main.node_id, served.node().node_id());
        assert_eq!((main.name.as_str(), main.group.as_str()), ("hall", "lab"));
        assert_eq!(url.to_string(), format!("http://{}", served.addr()));
        follower.stop().await;
        served.stop().await;
    }

    #[test]
    fn a_group_must_be_multicast() {
        let e = config(None, Some("192.0.2.1:47777".parse().unwrap())).unwrap_err();
        assert!(e.to_string().contains("not a multicast group"), "{e}");
    }
}
