//! Pushing this node's events to its peers (`POST /api/v1/notify`).
//!
//! The push set keeps one pusher per target ([`peer_node::Node::push_targets`]:
//! the followers of this node, and on a shared store the other nodes),
//! reading the targets again every few seconds and at once when a peer
//! registers or leaves or the role changes.
//!
//! A pusher starts with an empty push (a hello: a node that did not know
//! this one yet pushes back at once). It is a subscription to this node's *local* events (never the
//! pushed ones: an event travels one hop, from where it happened) and a
//! peer session with the target. It takes the events waiting, up to a
//! batch, and pushes them in one request, in order; a failure is retried
//! with exponential backoff (250 ms up to 30 s) while new events wait in
//! the subscription's bounded buffer. A pusher that falls that far behind
//! is cut off by the bus (a post never waits for a peer), logs how it lost
//! events, and subscribes again. An inbound peer that takes no push for
//! ten minutes is forgotten (on a shared store only once its record is
//! stale too: it may be another node's live follower); it registers again
//! when it comes back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use peer_crypto::PublicIdentity;
use peer_http::client::BaseUrl;
use peer_node::PushTarget;
use peer_node::events::Subscription;
use peer_proto::NodeId;
use peer_proto::api::{Notify, PeerDirection};
use peer_proto::event::{Event, EventKind};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::clock::unix_now;
use crate::link::PeerLink;
use crate::stats::bump;

/// A push's deadline.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a peer that takes pushes is marked seen.
const TOUCH_EVERY: Duration = Duration::from_secs(30);

struct Running {
    target: PushTarget,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The push set: runs until the mesh stops.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut running: HashMap<NodeId, Running> = HashMap::new();
    let mut peers = shared.node.watch_peers();
    let every = shared.config.timings.push_sync_every;
    loop {
        match shared.node.push_targets().await {
            Ok(targets) => sync(&shared, &mut running, targets),
            Err(e) => tracing::warn!(error = %e, "cannot read the push targets"),
        }
        tokio::select! {
            () = shared.cancel.cancelled() => break,
            () = tokio::time::sleep(every) => {}
            () = shared.resync.notified() => {}
            changed = peers.changed() => if changed.is_err() { break },
        }
    }
    for (_, r) in running.drain() {
        r.cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), r.task).await;
    }
}

fn sync(shared: &Arc<Shared>, running: &mut HashMap<NodeId, Running>, targets: Vec<PushTarget>) {
    running.retain(|id, r| {
        let keep =
            !r.task.is_finished() && targets.iter().any(|t| t.node_id == *id && *t == r.target);
        if !keep {
            r.cancel.cancel();
            tracing::debug!(peer = %id, "pusher stopped");
        }
        keep
    });
    for target in targets {
        if running.contains_key(&target.node_id) {
            continue;
        }
        let Ok(key) = PublicIdentity::from_spki_der(&target.spki) else {
            continue;
        };
        let Ok(base) = BaseUrl::parse(&target.url) else {
            continue;
        };
        let cancel = shared.cancel.child_token();
        let link = PeerLink::new(
            shared.http.clone(),
            base,
            key,
            shared.node.identity().clone(),
        );
        let task = tokio::spawn(push_to(shared.clone(), link, cancel.clone()));
        tracing::debug!(peer = %target.node_id, url = %target.url, "pusher started");
        running.insert(
            target.node_id,
            Running {
                target,
                cancel,
                task,
            },
        );
    }
}

async fn push_to(shared: Arc<Shared>, link: PeerLink, cancel: CancellationToken) {
    let node = &shared.node;
    let t = &shared.config.timings;
    let peer = link.peer_id();
    let mut sub = node.bus().subscribe_local();
    // Hello: an empty push (one attempt), so that a target that does not
    // know this node yet (it just started on a shared store) wakes its own
    // push set and pushes here at once, not at its next sync.
    let hello = Notify {
        from: node.node_id(),
        events: Vec::new(),
    };
    tokio::select! {
        () = cancel.cancelled() => return,
        r = link.call::<_, serde_json::Value>(Method::POST, "/api/v1/notify", &hello, PUSH_TIMEOUT) => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "first (empty) push failed");
            }
        }
    }
    let mut last_touch: Option<Instant> = None;
    let mut failing_since: Option<Instant> = None;
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => return,
            e = sub.next(unix_now()) => e,
        };
        let Some(first) = first else {
            sub = node.bus().subscribe_local();
            continue;
        };
        let (batch, cut) = take_batch(first, &mut sub, t.push_batch);
        if cut {
            bump(&shared.stats.pushers_cut_off);
            tracing::warn!(%peer, "the peer fell behind; events queued for it were dropped");
            sub = node.bus().subscribe_local();
        }
        if batch.is_empty() {
            continue;
        }
        let body = Notify {
            from: node.node_id(),
            events: batch,
        };
        let mut backoff = Duration::from_millis(250);
        loop {
            match link
                .call::<_, serde_json::Value>(Method::POST, "/api/v1/notify", &body, PUSH_TIMEOUT)
                .await
            {
                Ok(_) => {
                    bump(&shared.stats.pushes);
                    shared.stats.events_pushed.fetch_add(
                        body.events.len() as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    failing_since = None;
                    if last_touch.is_none_or(|at| at.elapsed() >= TOUCH_EVERY) {
                        last_touch = Some(Instant::now());
                        let _ = node.touch_peer(peer).await;
                    }
                    break;
                }
                Err(e) => {
                    bump(&shared.stats.push_failures);
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    tracing::debug!(%peer, error = %e, retry_in = ?backoff, "push failed");
                    if since.elapsed() >= t.push_give_up && give_up(&shared, peer).await {
                        return;
                    }
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(t.push_backoff_max);
                }
            }
        }
    }
}

/// `first` and what waits behind it, up to `max` events; true when the
/// subscription was cut off (its end-of-stream error event is not pushed).
fn take_batch(first: Arc<Event>, sub: &mut Subscription, max: usize) -> (Vec<Event>, bool) {
    let mut batch = Vec::new();
    let mut next = Some(first);
    while let Some(e) = next {
        if matches!(e.kind, EventKind::Error { .. }) {
            return (batch, true);
        }
        batch.push((*e).clone());
        if batch.len() >= max.max(1) {
            break;
        }
        next = sub.try_next();
    }
    (batch, false)
}

/// Forgets an inbound peer that has taken no push for the give-up time.
///
/// On a shared store the record is everyone's: a follower registered with
/// another node of the store, which pushes to it (and so keeps its record
/// fresh), may refuse this node's pushes only because it does not know this
/// node. Its record is then kept (this node keeps retrying, at the longest
/// backoff) while it is fresher than two re-registration periods (a live
/// follower registers again every 5 minutes, which refreshes it).
async fn give_up(shared: &Shared, peer: NodeId) -> bool {
    let record = shared
        .node
        .list_peers(Default::default())
        .await
        .ok()
        .and_then(|l| {
            l.peers
                .into_iter()
                .find(|p| p.node_id == peer && p.direction == PeerDirection::Inbound)
        });
    let Some(record) = record else {
        return false;
    };
    let silent = Duration::from_secs(unix_now().saturating_sub(record.last_seen));
    if shared.node.store_is_shared() && silent < shared.config.timings.reregister_every * 2 {
        return false;
    }
    tracing::warn!(%peer, "a follower took no push for a long time; forgetting it until it registers again");
    shared.node.forget_peer(peer).await.is_ok()
}
