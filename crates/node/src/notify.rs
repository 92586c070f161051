//! Events pushed by peer nodes (`POST /api/v1/notify`), and the checks of a
//! follower's relayed event-stream request on the main peer (`POST
//! /api/v1/relay/events`).
//!
//! A push comes in a peer's session (so it cost the pusher one ECDH, not an
//! RSA signature). Its events are published on this node's bus as *pushed*:
//! users' streams here see them (and long-polls wake), but this node's own
//! pushers do not send them on, so an event travels at most one hop from
//! the node where it happened. Events arrive in order per origin; one whose
//! id is not above the last one taken from that origin is a repeat (a
//! retried push whose answer was lost) and is skipped. The first push from
//! a node (an empty one when its pusher starts) wakes this node's push set
//! ([`Node::watch_peers`]): a node that just started on a shared store is
//! pushed to at once, not at the next periodic sync.

use peer_proto::api::{NodeRole, Notify};
use peer_proto::event::EventKind;
use peer_proto::limits::MAX_NOTIFY_EVENTS;
use peer_proto::{NodeId, RoomId};

use crate::Node;
use crate::auth::Caller;
use crate::error::{NodeError, Result};

/// What a push did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyOutcome {
    /// Events published on this node's bus.
    pub published: usize,
    /// Events skipped as repeats of ones already taken.
    pub repeated: usize,
}

impl Node {
    /// `POST /api/v1/notify`: takes a batch of events pushed by a peer.
    ///
    /// Only a peer's session may push (`forbidden` otherwise), only for
    /// itself (`from` is the session's node), at most
    /// [`MAX_NOTIFY_EVENTS`] at once, and not a follower of ours
    /// (followers originate no events). `error` events are never pushed and
    /// are refused.
    pub async fn accept_notify(&self, caller: &Caller, batch: Notify) -> Result<NotifyOutcome> {
        let Some(peer) = caller.peer() else {
            return Err(NodeError::forbidden(
                "only peer nodes push events (a node session)",
            ));
        };
        if batch.from != peer {
            return Err(NodeError::forbidden(
                "from: a node pushes its own events only",
            ));
        }
        if batch.events.len() > MAX_NOTIFY_EVENTS {
            return Err(NodeError::field(
                "events",
                format!("at most {MAX_NOTIFY_EVENTS} per push"),
            ));
        }
        if let Some(i) = batch
            .events
            .iter()
            .position(|e| matches!(e.kind, EventKind::Error { .. }))
        {
            return Err(NodeError::field(
                &format!("events[{i}]"),
                "error events are not pushed",
            ));
        }
        let record = self.inner.store.get_peer(peer).await?;
        if record.role == NodeRole::Follower {
            return Err(NodeError::forbidden(
                "a follower originates no events to push",
            ));
        }
        let mut outcome = NotifyOutcome::default();
        let mut marks = self
            .inner
            .pushed_marks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let first = !marks.contains_key(&peer);
        let mark = marks.entry(peer).or_insert(0);
        for event in batch.events {
            if event.id <= *mark {
                outcome.repeated += 1;
                continue;
            }
            *mark = event.id;
            self.publish_pushed(event.at, event.kind);
            outcome.published += 1;
        }
        drop(marks);
        if first {
            self.peers_changed();
        }
        tracing::trace!(from = %peer, published = outcome.published, repeated = outcome.repeated, "push taken");
        Ok(outcome)
    }

    /// On the main peer, for a follower's relayed event-stream request: the
    /// rooms whose events the (already authenticated) user may see now.
    /// Only a peer's session may ask.
    pub async fn relayed_stream_rooms(
        &self,
        asking: &Caller,
        user: &Caller,
    ) -> Result<Vec<RoomId>> {
        if asking.peer().is_none() {
            return Err(NodeError::forbidden(
                "only peer nodes relay event streams (a node session)",
            ));
        }
        if user.peer().is_some() {
            return Err(NodeError::forbidden(
                "a peer node's session has no event stream",
            ));
        }
        self.member_rooms(user.user_id).await
    }

    /// The highest event id taken from `origin` so far (0: none).
    pub fn pushed_mark(&self, origin: NodeId) -> u64 {
        self.inner
            .pushed_marks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&origin)
            .copied()
            .unwrap_or(0)
    }
}
