//! Whom this node follows, and what it does when its main peer is lost.
//!
//! ```text
//!            ┌──────────── --join none ───────────▶ serving (main with discovery, else standalone)
//!  start ────┼── --join auto ─▶ window (queries, 1 s) ─┬─ a main of our group answered ─▶ following
//!            │                                         └─ none (after a random pause) ──▶ main
//!            └── --join URL ──▶ register with URL (retried with backoff) ─────────────▶ following
//!
//!  following ── lost (relay or probe failed, it left, went offline, or stopped being main)
//!      ├─ auto: window again ─▶ following (the same or another main) | main
//!      └─ URL: register again with backoff, reporting main_peer.reachable = false meanwhile
//!  main (auto, own store) ── another main of our group that started earlier (or, at the same
//!      second, has the smaller id) ─▶ following it: a group has one main peer
//! ```
//!
//! On a shared store several serving nodes are fine (they push to each
//! other), so no main yields there.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use peer_crypto::PublicIdentity;
use peer_discovery::{Peer, PeerEvent};
use peer_http::client::{BaseUrl, Request};
use peer_proto::NodeId;
use peer_proto::api::{MainPeerStatus, NodeInfo, NodeRole, PeerDirection, PeerQuery};
use peer_store::PeerRecord;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::clock::unix_now;
use crate::config::Join;
use crate::fetch::{self, InfoError};
use crate::link::PeerLink;
use crate::stats::bump;

/// The main peer followed now.
#[derive(Clone)]
pub(crate) struct Following {
    pub(crate) main: NodeId,
    pub(crate) url: BaseUrl,
    /// The peer session with it (stream checks).
    pub(crate) link: Arc<PeerLink>,
    /// Cancelled when this follow ends: the relayed event streams end.
    pub(crate) token: CancellationToken,
}

/// Why following a node failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FollowError {
    #[error(transparent)]
    Info(#[from] InfoError),
    #[error("{0}")]
    Unsuitable(String),
    #[error("registration refused: {0}")]
    Refused(String),
}

enum Exit {
    /// The main peer is lost.
    Lost,
    /// A main that should be followed instead of serving.
    Yield(Peer),
    /// The mesh stops.
    Stop,
}

/// The follow controller: runs until the mesh stops.
pub(crate) async fn run(shared: Arc<Shared>) {
    match shared.config.join.clone() {
        Join::None => {
            let role = if shared.discovery.is_some() {
                NodeRole::Main
            } else {
                NodeRole::Standalone
            };
            serve(&shared, role).await;
        }
        Join::Url(url) => by_url(&shared, url).await,
        Join::Auto => auto(&shared).await,
    }
}

async fn by_url(shared: &Arc<Shared>, url: BaseUrl) {
    shared.node.set_role(NodeRole::Follower);
    let mut backoff = Duration::from_secs(1);
    loop {
        match start_following(shared, &url, None).await {
            Ok(f) => {
                backoff = Duration::from_secs(1);
                match while_following(shared, &f, None).await {
                    Exit::Stop => return,
                    Exit::Lost | Exit::Yield(_) => continue,
                }
            }
            Err(e) => {
                tracing::warn!(%url, error = %e, retry_in = ?backoff, "cannot follow the main peer");
                if !pause(shared, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn auto(shared: &Arc<Shared>) {
    let Some(discovery) = shared.discovery.clone() else {
        return;
    };
    let mut events = discovery.subscribe();
    // The starting queries went out when discovery started.
    let mut choice = choose(shared, false).await;
    loop {
        let exit = match choice {
            None => return,
            Some(Some(main)) => {
                let started = match base_of(&main) {
                    Some(url) => start_following(shared, &url, Some(main.node_id)).await,
                    None => Err(FollowError::Unsuitable(format!(
                        "bad address {}",
                        main.http
                    ))),
                };
                match started {
                    Ok(f) => while_following(shared, &f, Some(&mut events)).await,
                    Err(e) => {
                        tracing::warn!(main = %main.node_id, error = %e, "cannot follow the main peer found");
                        Exit::Lost
                    }
                }
            }
            Some(None) => {
                serve(shared, NodeRole::Main).await;
                while_main(shared, &mut events).await
            }
        };
        choice = match exit {
            Exit::Stop => return,
            Exit::Yield(main) => Some(Some(main)),
            Exit::Lost => choose(shared, true).await,
        };
    }
}

/// Waits for answers to our queries (sending them again when `query`),
/// then picks the main peer of our group with the smallest id, if any
/// answered; if none did, waits a random pause and looks once more, so that
/// nodes that start together do not all become main. `None`: stopping.
async fn choose(shared: &Arc<Shared>, query: bool) -> Option<Option<Peer>> {
    let discovery = shared.discovery.as_ref()?;
    let since = unix_now();
    if query {
        discovery.query();
    }
    if !pause(shared, shared.config.timings.discovery_window).await {
        return None;
    }
    if let Some(main) = best_main(shared, since) {
        return Some(Some(main));
    }
    let jitter = Duration::from_millis(u64::from(random_u16() % 500));
    if !pause(shared, jitter).await {
        return None;
    }
    Some(best_main(shared, since))
}

fn best_main(shared: &Shared, since: u64) -> Option<Peer> {
    let discovery = shared.discovery.as_ref()?;
    let group = &shared.node.config().group;
    let me = shared.node.node_id();
    discovery
        .peers()
        .into_iter()
        .filter(|p| {
            p.online
                && p.role == NodeRole::Main
                && &p.group == group
                && p.node_id != me
                && p.last_seen >= since
        })
        .min_by_key(|p| p.node_id)
}

fn base_of(p: &Peer) -> Option<BaseUrl> {
    BaseUrl::parse(&p.url()).ok()
}

/// Serves on its own as `role`: stops following, forgets the former main
/// peer, announces the role.
async fn serve(shared: &Arc<Shared>, role: NodeRole) {
    end_follow(shared).await;
    shared.node.set_main_peer(None);
    shared.node.set_role(role);
    if let Some(d) = &shared.discovery {
        d.set_role(role);
    }
    if let Err(e) = shared.node.record_self(&shared.own_url(None)).await {
        tracing::warn!(error = %e, "cannot write this node's record in the shared store");
    }
    shared.resync.notify_one();
    tracing::info!(
        role = ?role,
        group = %shared.node.config().group,
        "serving the group's rooms and messages"
    );
}

async fn end_follow(shared: &Shared) {
    let old = shared
        .following
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(old) = old {
        old.token.cancel();
        if !shared.node.store_is_shared()
            && let Err(e) = shared.node.forget_peer(old.main).await
        {
            tracing::debug!(error = %e, "cannot forget the former main peer");
        }
    }
}

/// Checks the node at `url`, records it (outbound, with its key), registers
/// with it, and follows it.
pub(crate) async fn start_following(
    shared: &Arc<Shared>,
    url: &BaseUrl,
    expect: Option<NodeId>,
) -> Result<Following, FollowError> {
    let timings = &shared.config.timings;
    let (info, key) = fetch::node_info(&shared.http, url, timings.probe_timeout).await?;
    if expect.is_some_and(|e| e != info.node_id) {
        return Err(FollowError::Unsuitable(format!(
            "{url} is node {}, not the node discovery saw",
            info.node_id
        )));
    }
    if info.node_id == shared.node.node_id() {
        return Err(FollowError::Unsuitable(format!("{url} is this node")));
    }
    if info.group != shared.node.config().group {
        return Err(FollowError::Unsuitable(format!(
            "{url} is in group `{}`, this node in `{}`",
            info.group,
            shared.node.config().group
        )));
    }
    if info.role == NodeRole::Follower {
        return Err(FollowError::Unsuitable(format!(
            "{url} follows another node itself"
        )));
    }
    register(shared, url, &info, &key).await?;
    let link = Arc::new(PeerLink::new(
        shared.http.clone(),
        url.clone(),
        key,
        shared.node.identity().clone(),
    ));
    let following = Following {
        main: info.node_id,
        url: url.clone(),
        link,
        token: CancellationToken::new(),
    };
    let old = shared
        .following
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .replace(following.clone());
    if let Some(old) = old {
        old.token.cancel();
        if old.main != info.node_id && !shared.node.store_is_shared() {
            let _ = shared.node.forget_peer(old.main).await;
        }
    }
    shared.node.set_main_peer(Some(MainPeerStatus {
        node_id: info.node_id,
        url: url.to_string(),
        spki: info.spki.clone(),
        reachable: true,
        last_seen: unix_now(),
    }));
    shared.node.set_role(NodeRole::Follower);
    if let Some(d) = &shared.discovery {
        d.set_role(NodeRole::Follower);
    }
    shared.resync.notify_one();
    bump(&shared.stats.follows);
    tracing::info!(main = %info.node_id, name = %info.name, %url, "following the main peer");
    Ok(following)
}

/// Records the main peer (outbound, with its key, so that its pushes' peer
/// session is accepted here; on a shared store its own record does that)
/// and registers with it.
async fn register(
    shared: &Shared,
    url: &BaseUrl,
    info: &NodeInfo,
    key: &PublicIdentity,
) -> Result<(), FollowError> {
    let node = &shared.node;
    if !node.store_is_shared() {
        let record = PeerRecord {
            node_id: key.node_id(),
            name: info.name.clone(),
            url: url.to_string(),
            role: info.role,
            group: info.group.clone(),
            direction: PeerDirection::Outbound,
            spki: Some(info.spki.clone()),
            last_seen: unix_now(),
        };
        node.record_peer(&record)
            .await
            .map_err(|e| FollowError::Refused(format!("cannot record the main peer: {e}")))?;
    }
    let toward = url
        .authority()
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.ip());
    let own_url = shared.own_url(toward);
    let req = peer_crypto::peer::register_peer(
        &mut peer_crypto::rng::system_rng(),
        node.identity(),
        info.node_id,
        &node.config().name,
        &node.config().group,
        &own_url,
        unix_now(),
    )
    .map_err(|e| FollowError::Refused(e.to_string()))?;
    let body = serde_json::to_vec(&req).map_err(|e| FollowError::Refused(e.to_string()))?;
    let target = url
        .join("/api/v1/peers")
        .map_err(|e| FollowError::Refused(e.to_string()))?;
    let resp = shared
        .http
        .send(
            Request::new(Method::POST, target)
                .header("content-type", "application/json")
                .body(body)
                .timeout(shared.config.timings.probe_timeout),
        )
        .await
        .map_err(|e| {
            FollowError::Info(InfoError::Unreachable {
                url: url.to_string(),
                reason: e.to_string(),
            })
        })?;
    if resp.status != 201 {
        return Err(FollowError::Refused(format!(
            "status {}: {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        )));
    }
    tracing::debug!(main = %info.node_id, url = %own_url, "registered with the main peer");
    Ok(())
}

async fn while_following(
    shared: &Arc<Shared>,
    f: &Following,
    mut events: Option<&mut broadcast::Receiver<PeerEvent>>,
) -> Exit {
    let t = &shared.config.timings;
    let mut probe = tokio::time::interval_at(Instant::now() + t.probe_every, t.probe_every);
    let mut reregister =
        tokio::time::interval_at(Instant::now() + t.reregister_every, t.reregister_every);
    let mut peers = shared.node.watch_peers();
    let mut last_uptime: Option<u64> = None;
    // What discovery said before this follow began is stale.
    if let Some(rx) = events.as_deref_mut() {
        while !matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
        ) {}
    }
    loop {
        tokio::select! {
            () = shared.cancel.cancelled() => return Exit::Stop,
            () = shared.wake.notified() => {
                if shared.node.main_peer().is_some_and(|m| m.node_id == f.main && !m.reachable) {
                    return Exit::Lost;
                }
            }
            _ = probe.tick() => {
                match fetch::node_info(&shared.http, &f.url, t.probe_timeout).await {
                    Ok((info, key)) if info.node_id == f.main && info.role != NodeRole::Follower => {
                        shared.main_answered(f.main);
                        if last_uptime.is_some_and(|u| info.uptime_secs < u) {
                            tracing::info!(main = %f.main, "the main peer restarted; registering again");
                            if let Err(e) = register(shared, &f.url, &info, &key).await {
                                tracing::warn!(error = %e, "cannot register again");
                            }
                        }
                        last_uptime = Some(info.uptime_secs);
                    }
                    Ok(_) => {
                        shared.main_unreachable(f.main, "its address serves another node, or a follower");
                        return Exit::Lost;
                    }
                    Err(e) => {
                        shared.main_unreachable(f.main, &e.to_string());
                        return Exit::Lost;
                    }
                }
            }
            _ = reregister.tick() => {
                if let Ok((info, key)) = fetch::node_info(&shared.http, &f.url, t.probe_timeout).await
                    && info.node_id == f.main
                    && let Err(e) = register(shared, &f.url, &info, &key).await
                {
                    tracing::warn!(error = %e, "cannot register again with the main peer");
                }
            }
            ev = next_event(events.as_deref_mut()) => {
                let lost = match &ev {
                    Some(PeerEvent::Left(p)) if p.node_id == f.main => Some("it left"),
                    Some(PeerEvent::Offline(p)) if p.node_id == f.main => Some("silent for the offline time"),
                    // Datagrams may come late or out of order: ask it.
                    Some(PeerEvent::Seen(p)) if p.node_id == f.main && p.role == NodeRole::Follower
                        && !still_main(shared, f).await => Some("it is no main peer any more"),
                    _ => None,
                };
                if let Some(why) = lost {
                    shared.main_unreachable(f.main, why);
                    return Exit::Lost;
                }
            }
            changed = peers.changed() => {
                if changed.is_err() {
                    return Exit::Stop;
                }
                if !main_recorded(shared, f.main).await {
                    shared.main_unreachable(f.main, "it left (DELETE /api/v1/peers)");
                    return Exit::Lost;
                }
            }
        }
    }
}

/// True when the main peer answers as a main peer now.
async fn still_main(shared: &Shared, f: &Following) -> bool {
    matches!(
        fetch::node_info(&shared.http, &f.url, shared.config.timings.probe_timeout).await,
        Ok((info, _)) if info.node_id == f.main && info.role != NodeRole::Follower
    )
}

/// True while the store still holds a record of the main peer (a leaving
/// main peer removes it with its signed leave notice).
async fn main_recorded(shared: &Shared, main: NodeId) -> bool {
    match shared.node.list_peers(PeerQuery::default()).await {
        // The followed main peer is listed as outbound while the store holds
        // its record (what discovery alone saw stays `discovered`).
        Ok(list) => list
            .peers
            .iter()
            .any(|p| p.node_id == main && p.direction == PeerDirection::Outbound),
        // A store failure says nothing about the main peer.
        Err(_) => true,
    }
}

async fn while_main(shared: &Arc<Shared>, events: &mut broadcast::Receiver<PeerEvent>) -> Exit {
    let mut checked: HashMap<NodeId, Instant> = HashMap::new();
    loop {
        tokio::select! {
            () = shared.cancel.cancelled() => return Exit::Stop,
            ev = next_event(Some(events)) => {
                let Some(PeerEvent::Seen(p)) = ev else { continue };
                if p.role != NodeRole::Main
                    || p.group != shared.node.config().group
                    || p.node_id == shared.node.node_id()
                    || shared.node.store_is_shared()
                {
                    continue;
                }
                if checked.get(&p.node_id).is_some_and(|at| at.elapsed() < Duration::from_secs(30)) {
                    continue;
                }
                checked.insert(p.node_id, Instant::now());
                if should_yield(shared, &p).await {
                    tracing::warn!(
                        other = %p.node_id,
                        "another main peer of this group started earlier: following it \
                         (this node's memory-store data is no longer served)"
                    );
                    return Exit::Yield(p);
                }
            }
        }
    }
}

/// Two mains of one group on their own stores: the one that started
/// earlier stays (at the same second, the smaller node id).
async fn should_yield(shared: &Shared, other: &Peer) -> bool {
    let Some(url) = base_of(other) else {
        return false;
    };
    let Ok((info, _)) =
        fetch::node_info(&shared.http, &url, shared.config.timings.probe_timeout).await
    else {
        return false;
    };
    if info.node_id != other.node_id || info.role != NodeRole::Main {
        return false;
    }
    let mine = shared.node.info().uptime_secs;
    let theirs = info.uptime_secs;
    theirs > mine.saturating_add(1)
        || (theirs.abs_diff(mine) <= 1 && info.node_id < shared.node.node_id())
}

/// The next discovery event (skipping lag), or never when there are none.
async fn next_event(events: Option<&mut broadcast::Receiver<PeerEvent>>) -> Option<PeerEvent> {
    let Some(rx) = events else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(e) => return Some(e),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// Sleeps `d` unless the mesh stops first (then false).
async fn pause(shared: &Shared, d: Duration) -> bool {
    tokio::select! {
        () = shared.cancel.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

fn random_u16() -> u16 {
    use rand_core::Rng as _;
    let mut b = [0u8; 2];
    peer_crypto::rng::system_rng().fill_bytes(&mut b);
    u16::from_be_bytes(b)
}

/// Follows discovery's table into the node's listing (`GET /api/v1/peers`
/// shows nodes seen by discovery), and keeps stored peers' last-seen times
/// current from their announcements.
pub(crate) async fn observe(shared: Arc<Shared>) {
    let Some(discovery) = shared.discovery.clone() else {
        return;
    };
    let mut events = discovery.subscribe();
    loop {
        let ev = tokio::select! {
            () = shared.cancel.cancelled() => return,
            ev = next_event(Some(&mut events)) => ev,
        };
        match ev {
            Some(PeerEvent::Seen(p)) | Some(PeerEvent::Offline(p)) => {
                let id = p.node_id;
                let online = p.online;
                shared.node.note_discovered(peer_info(p));
                if online && let Err(e) = shared.node.touch_peer(id).await {
                    tracing::debug!(error = %e, "cannot update a peer's last-seen time");
                }
            }
            Some(PeerEvent::Left(p)) => shared.node.forget_discovered(p.node_id),
            None => {}
        }
    }
}

fn peer_info(p: Peer) -> peer_proto::api::PeerInfo {
    peer_proto::api::PeerInfo {
        url: p.url(),
        node_id: p.node_id,
        name: p.name,
        role: p.role,
        group: p.group,
        direction: PeerDirection::Discovered,
        online: p.online,
        last_seen: p.last_seen,
    }
}

/// On a shared store, keeps this node's own record current (while it
/// serves), so the other nodes push to it.
pub(crate) async fn keep_own_record(shared: Arc<Shared>) {
    let every = shared.config.timings.self_record_every;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = shared.cancel.cancelled() => return,
            _ = tick.tick() => {
                if shared.node.role() == NodeRole::Follower {
                    continue;
                }
                if let Err(e) = shared.node.record_self(&shared.own_url(None)).await {
                    tracing::warn!(error = %e, "cannot refresh this node's record in the shared store");
                }
            }
        }
    }
}

/// Leaves the group (bounded by the leave timeout): a follower tells its
/// main peer, a serving node tells the peers it pushes to; on a shared
/// store the node's own record goes.
pub(crate) async fn leave(shared: &Arc<Shared>) {
    let node = &shared.node;
    let timeout = shared.config.timings.leave_timeout;
    let mut targets: Vec<(NodeId, String)> = Vec::new();
    if let Some(f) = shared.current() {
        targets.push((f.main, f.url.to_string()));
    } else if let Ok(list) = node.push_targets().await {
        targets.extend(list.into_iter().map(|t| (t.node_id, t.url)));
    }
    let told = async {
        let mut set = tokio::task::JoinSet::new();
        for (peer, url) in targets {
            let shared = shared.clone();
            set.spawn(async move { tell_leaving(&shared, peer, &url).await });
        }
        while set.join_next().await.is_some() {}
    };
    let _ = tokio::time::timeout(timeout, told).await;
    if node.store_is_shared()
        && let Err(e) = node.forget_peer(node.node_id()).await
    {
        tracing::debug!(error = %e, "cannot remove this node's record from the shared store");
    }
}

async fn tell_leaving(shared: &Shared, peer: NodeId, url: &str) {
    let node = &shared.node;
    let Ok(base) = BaseUrl::parse(url) else {
        return;
    };
    let notice = match peer_crypto::peer::leave_peer(
        &mut peer_crypto::rng::system_rng(),
        node.identity(),
        peer,
        unix_now(),
    ) {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "cannot sign a leave notice");
            return;
        }
    };
    let Ok(body) = serde_json::to_vec(&notice) else {
        return;
    };
    let Ok(target) = base.join(&format!("/api/v1/peers/{}", node.node_id())) else {
        return;
    };
    match shared
        .http
        .send(
            Request::new(Method::DELETE, target)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    {
        Ok(r) if r.status == 200 => tracing::info!(%peer, "told a peer this node leaves"),
        Ok(r) => tracing::debug!(%peer, status = r.status, "leave notice refused"),
        Err(e) => tracing::debug!(%peer, error = %e, "leave notice not delivered"),
    }
}
