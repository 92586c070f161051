//! `peerctl node info` and `peerctl node peers`: public facts about the
//! node. With an identity in the profile the node's key is checked against
//! the pin (and pinned on first use); without one (before `init`) the
//! answer is shown unpinned, with a note saying so.

use anyhow::Result;
use peer_client::Client;
use peer_http::client::{BaseUrl, ClientConfig, HttpClient, Request};
use peer_proto::api::{NodeInfo, NodeRole, PeerList, PeerQuery};
use serde::de::DeserializeOwned;

use crate::context::{Ctx, Doing as _};
use crate::output::{duration, note, sanitize, table, utc};

/// `node ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Cmd {
    /// Who the node is: id, name, version, role, store, settings.
    #[command(after_help = "\
Examples:
  peerctl node info
  peerctl --node http://127.0.0.1:8081 node info --json")]
    Info,
    /// The peer nodes the node knows.
    #[command(after_help = "\
Examples:
  peerctl node peers
  peerctl node peers --online --json")]
    Peers {
        /// Only peers heard from in the last 90 s.
        #[arg(long)]
        online: bool,
    },
}

/// Connected as the profile's user, or `None` before `init`.
async fn client(ctx: &Ctx, url: &BaseUrl) -> Result<Option<Client>> {
    if !ctx.profile.has_identity() {
        note(&format!(
            "profile '{}' has no identity yet: the node's key is not checked against a pin",
            ctx.profile.name()
        ));
        return Ok(None);
    }
    let identity = ctx.profile.identity()?;
    Ok(Some(ctx.connect_as(url, identity).await?))
}

/// A public GET without a client.
async fn plain<T: DeserializeOwned>(url: &BaseUrl, target: &str) -> Result<T> {
    let http = HttpClient::new(ClientConfig::default());
    let resp = http
        .send(Request::new(http::Method::GET, url.join(target)?))
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot reach a node at {url}")))?;
    if resp.status != 200 {
        anyhow::bail!("{url}{target} answered {}", resp.status);
    }
    serde_json::from_slice(&resp.body)
        .map_err(|_| anyhow::anyhow!("{url}{target} did not answer what a peergroup node does"))
}

fn role(r: NodeRole) -> &'static str {
    match r {
        NodeRole::Main => "main",
        NodeRole::Follower => "follower",
        NodeRole::Standalone => "standalone",
    }
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let url = ctx.node_url()?;
    let client = client(ctx, &url).await?;
    match cmd {
        Cmd::Info => {
            let info: NodeInfo = match &client {
                Some(c) => c
                    .node_info()
                    .await
                    .doing(|| format!("cannot read {url}/api/v1/node"))?,
                None => plain(&url, "/api/v1/node").await?,
            };
            ctx.out.emit(&info, || {
                [
                    format!(
                        "node:         {} ({})",
                        sanitize(&info.name, ""),
                        info.node_id
                    ),
                    format!("url:          {url}"),
                    format!(
                        "version:      {} (protocol {})",
                        sanitize(&info.version, ""),
                        info.protocol_version
                    ),
                    format!(
                        "role:         {} (group {})",
                        role(info.role),
                        sanitize(&info.group, "")
                    ),
                    format!("store:        {:?}", info.store).to_lowercase(),
                    format!("up:           {}", duration(info.uptime_secs)),
                    format!(
                        "registration: {}",
                        if info.registration_open {
                            "open"
                        } else {
                            "closed"
                        }
                    ),
                    format!(
                        "tokens:       {}",
                        if info.bearer_tokens { "on" } else { "off" }
                    ),
                ]
                .join("\n")
            })
        }
        Cmd::Peers { online } => {
            let query = PeerQuery {
                role: None,
                online: online.then_some(true),
            };
            let list: PeerList = match &client {
                Some(c) => c
                    .list_peers(&query)
                    .await
                    .doing(|| format!("cannot read {url}/api/v1/peers"))?,
                None => {
                    let target = if online {
                        "/api/v1/peers?online=true"
                    } else {
                        "/api/v1/peers"
                    };
                    plain(&url, target).await?
                }
            };
            if ctx.out.is_json() {
                for p in &list.peers {
                    ctx.out.emit(p, String::new)?;
                }
                return Ok(());
            }
            if list.peers.is_empty() {
                return ctx.out.line("no peers known");
            }
            let mut rows = vec![vec![
                "NAME".to_owned(),
                "NODE".to_owned(),
                "URL".to_owned(),
                "ROLE".to_owned(),
                "STATE".to_owned(),
                "LAST SEEN".to_owned(),
            ]];
            for p in &list.peers {
                rows.push(vec![
                    sanitize(&p.name, ""),
                    p.node_id.to_string(),
                    sanitize(&p.url, ""),
                    role(p.role).to_owned(),
                    if p.online { "online" } else { "offline" }.to_owned(),
                    utc(p.last_seen),
                ]);
            }
            for line in table(&rows) {
                ctx.out.line(&line)?;
            }
            Ok(())
        }
    }
}
