//! The in-process event bus.
//!
//! Every event gets the next id of this node and goes into a bounded ring of
//! recent events (for `Last-Event-ID` resume), then to each subscriber whose
//! filter wants it. Each subscriber has a bounded buffer; publishing never
//! waits for one. A subscriber whose buffer is full is cut off: it receives
//! what it had buffered, then one final [`EventKind::Error`] event, then the
//! end of the stream. So a slow reader never slows a post, and never silently
//! misses an event either.
//!
//! Every event has an origin: **local** (a use case of this node published
//! it) or **pushed** (a peer node pushed it, `POST /api/v1/notify`). Users'
//! streams see both; a peer pusher subscribes to local events only
//! ([`EventBus::subscribe_local`]), so an event is pushed once, by the node
//! where it happened, and never pushed on (no loops).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use peer_proto::event::{Event, EventKind};
use peer_proto::{ErrorCode, RoomId, UserId};
use tokio::sync::mpsc;

/// Sizes of the bus.
#[derive(Debug, Clone, Copy)]
pub struct BusConfig {
    /// Recent events kept for resume.
    pub ring: usize,
    /// Events buffered per subscriber before it is cut off.
    pub subscriber_buffer: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            ring: 4096,
            subscriber_buffer: 1024,
        }
    }
}

/// Which events a subscriber wants: those of the rooms its user belongs to.
///
/// The set follows membership as events pass: a `member_joined` for the user
/// adds the room, a `member_left` for the user (delivered to it, so its client
/// learns of the removal) or a `room_deleted` removes it.
#[derive(Debug)]
pub struct RoomFilter {
    user: UserId,
    rooms: RwLock<HashSet<RoomId>>,
}

impl RoomFilter {
    /// A filter for `user`, who is a member of `rooms` now.
    pub fn new(user: UserId, rooms: impl IntoIterator<Item = RoomId>) -> Self {
        RoomFilter {
            user,
            rooms: RwLock::new(rooms.into_iter().collect()),
        }
    }

    /// The user.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// Decides whether the event goes to this subscriber, and updates the
    /// membership set it implies.
    fn admit(&self, kind: &EventKind) -> bool {
        let Some(room) = kind.room_id() else {
            return true;
        };
        match kind {
            EventKind::MemberJoined { user_id, .. } if *user_id == self.user => {
                self.write().insert(room);
                true
            }
            EventKind::MemberLeft { user_id, .. } if *user_id == self.user => {
                self.write().remove(&room)
            }
            EventKind::RoomDeleted { .. } => self.write().remove(&room),
            _ => self.read().contains(&room),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashSet<RoomId>> {
        // A poisoned lock only means another thread panicked while holding
        // it; the set itself is always valid.
        self.rooms.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<RoomId>> {
        self.rooms.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a subscriber wants.
enum Wants {
    /// A user's rooms (local and pushed events).
    Rooms(Arc<RoomFilter>),
    /// Every locally-originated event (a peer pusher).
    Local,
}

impl Wants {
    fn admit(&self, kind: &EventKind, local: bool) -> bool {
        match self {
            Wants::Rooms(f) => f.admit(kind),
            Wants::Local => local,
        }
    }

    fn describe(&self) -> String {
        match self {
            Wants::Rooms(f) => format!("user {}", f.user()),
            Wants::Local => "peer pusher".to_owned(),
        }
    }
}

struct Sub {
    wants: Wants,
    tx: mpsc::Sender<Arc<Event>>,
    cut: Arc<AtomicBool>,
}

struct State {
    ring: VecDeque<Arc<Event>>,
    subs: HashMap<u64, Sub>,
}

/// The bus. Cheap to share behind an `Arc`.
pub struct EventBus {
    config: BusConfig,
    next_id: AtomicU64,
    next_sub: AtomicU64,
    state: Mutex<State>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("config", &self.config)
            .field("next_id", &self.next_id.load(Ordering::Relaxed))
            .field("subscribers", &self.subscriber_count())
            .finish()
    }
}

/// How a resume request was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// No `Last-Event-ID`: live events only.
    Fresh,
    /// Every event after the given id was replayed.
    Complete,
    /// Events after the given id were already gone from the ring: the client
    /// must re-read what it cares about (messages after its last seq).
    Gap,
}

impl EventBus {
    /// An empty bus whose first event gets `first_id` (at least 1). Nodes
    /// start from a value derived from their start time, so that ids keep
    /// increasing across restarts and a stale `Last-Event-ID` is seen as a
    /// gap, not as "nothing missed".
    pub fn new(config: BusConfig, first_id: u64) -> Self {
        EventBus {
            config,
            next_id: AtomicU64::new(first_id.max(1)),
            next_sub: AtomicU64::new(1),
            state: Mutex::new(State {
                ring: VecDeque::with_capacity(config.ring.min(65_536)),
                subs: HashMap::new(),
            }),
            dropped: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing in this module panics while holding the lock; recover the
        // state anyway rather than propagate a poison panic to requests.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes a locally-originated event and returns it with its id.
    /// Never waits.
    pub fn publish(&self, at: u64, kind: EventKind) -> Arc<Event> {
        self.publish_from(at, kind, true)
    }

    /// Publishes an event a peer node pushed: users' streams get it, peer
    /// pushers do not. Never waits.
    pub fn publish_pushed(&self, at: u64, kind: EventKind) -> Arc<Event> {
        self.publish_from(at, kind, false)
    }

    fn publish_from(&self, at: u64, kind: EventKind, local: bool) -> Arc<Event> {
        let mut state = self.state();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let event = Arc::new(Event { id, at, kind });
        if self.config.ring > 0 {
            if state.ring.len() == self.config.ring {
                state.ring.pop_front();
            }
            state.ring.push_back(event.clone());
        }
        let mut cut = Vec::new();
        for (&key, sub) in &state.subs {
            if !sub.wants.admit(&event.kind, local) {
                continue;
            }
            match sub.tx.try_send(event.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    sub.cut.store(true, Ordering::Release);
                    cut.push(key);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => cut.push(key),
            }
        }
        for key in cut {
            // Dropping the sender ends the subscriber's stream after what it
            // has buffered; the `cut` flag turns that end into an error event.
            if let Some(sub) = state.subs.remove(&key)
                && sub.cut.load(Ordering::Acquire)
            {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(subscriber = %sub.wants.describe(), "event subscriber too slow; cut off");
            }
        }
        event
    }

    /// Subscribes with a filter. With `last_event_id`, events after it that
    /// are still in the ring are delivered first, in order.
    pub fn subscribe(
        &self,
        filter: Arc<RoomFilter>,
        last_event_id: Option<u64>,
    ) -> (Subscription, Resume) {
        let mut state = self.state();
        let mut backlog = VecDeque::new();
        let resume = match last_event_id {
            None => Resume::Fresh,
            Some(last) => {
                let oldest = state.ring.front().map(|e| e.id);
                let next = self.next_id.load(Ordering::Relaxed);
                for e in state.ring.iter().filter(|e| e.id > last) {
                    if filter.admit(&e.kind) {
                        backlog.push_back(e.clone());
                    }
                }
                if last >= next {
                    // An id this bus never gave: from an earlier run of the
                    // node or from another node.
                    Resume::Gap
                } else if last + 1 == next {
                    Resume::Complete
                } else {
                    match oldest {
                        // Everything after `last` is still in the ring.
                        Some(oldest) if last + 1 >= oldest => Resume::Complete,
                        _ => Resume::Gap,
                    }
                }
            }
        };
        let sub = self.insert(&mut state, Wants::Rooms(filter), backlog);
        (sub, resume)
    }

    /// Subscribes to every locally-originated event from now on (what a
    /// peer pusher sends). The subscription is bounded like any other: a
    /// pusher that falls behind is cut off, and never slows a post.
    pub fn subscribe_local(&self) -> Subscription {
        let mut state = self.state();
        self.insert(&mut state, Wants::Local, VecDeque::new())
    }

    fn insert(
        &self,
        state: &mut State,
        wants: Wants,
        backlog: VecDeque<Arc<Event>>,
    ) -> Subscription {
        let (tx, rx) = mpsc::channel(self.config.subscriber_buffer.max(1));
        let cut = Arc::new(AtomicBool::new(false));
        let key = self.next_sub.fetch_add(1, Ordering::Relaxed);
        state.subs.insert(
            key,
            Sub {
                wants,
                tx,
                cut: cut.clone(),
            },
        );
        Subscription {
            backlog,
            rx,
            cut,
            done: false,
        }
    }

    /// The id the next event will get.
    pub fn next_id(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }

    /// Live subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.state().subs.len()
    }

    /// Subscribers cut off for being too slow, since start.
    pub fn cut_off_count(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// One subscriber's stream of events.
#[derive(Debug)]
pub struct Subscription {
    backlog: VecDeque<Arc<Event>>,
    rx: mpsc::Receiver<Arc<Event>>,
    cut: Arc<AtomicBool>,
    done: bool,
}

impl Subscription {
    /// The next event if one is waiting now; never waits. A cut-off shows
    /// as `None` here and is reported by [`Subscription::next`].
    pub fn try_next(&mut self) -> Option<Arc<Event>> {
        if let Some(e) = self.backlog.pop_front() {
            return Some(e);
        }
        if self.done {
            return None;
        }
        self.rx.try_recv().ok()
    }

    /// The next event; `None` when the stream ended. A subscriber that was
    /// cut off gets its buffered events, then an `error` event
    /// (`rate_limited`: too slow), then `None`.
    pub async fn next(&mut self, at: u64) -> Option<Arc<Event>> {
        if let Some(e) = self.backlog.pop_front() {
            return Some(e);
        }
        if self.done {
            return None;
        }
        match self.rx.recv().await {
            Some(e) => Some(e),
            None => {
                self.done = true;
                if self.cut.load(Ordering::Acquire) {
                    Some(Arc::new(Event {
                        id: 0,
                        at,
                        kind: EventKind::Error {
                            code: ErrorCode::RateLimited,
                            message: "event stream too slow; reconnect with Last-Event-ID".into(),
                        },
                    }))
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(b: u8) -> RoomId {
        RoomId::from_bytes([b; 16])
    }
    fn user(b: u8) -> UserId {
        UserId::from_bytes([b; 16])
    }
    fn msg(r: u8, seq: u64) -> EventKind {
        EventKind::Message {
            room_id: room(r),
            seq,
            sender_id: user(9),
        }
    }

    #[tokio::test]
    async fn members_get_their_rooms_only() {
        let bus = EventBus::new(BusConfig::default(), 1);
        let (mut a, _) = bus.subscribe(Arc::new(RoomFilter::new(user(1), [room(1)])), None);
        bus.publish(0, msg(2, 1));
        bus.publish(0, msg(1, 1));
        let e = a.next(0).await.unwrap();
        assert_eq!(e.kind, msg(1, 1));
        assert_eq!(e.id, 2);
    }

    #[tokio::test]
    async fn membership_follows_events() {
        let bus = EventBus::new(BusConfig::default(), 1);
        let (mut a, _) = bus.subscribe(Arc::new(RoomFilter::new(user(1), [])), None);
        let joined = EventKind::MemberJoined {
            room_id: room(3),
            user_id: user(1),
            join_epoch: 1,
        };
        bus.publish(0, joined.clone());
        bus.publish(0, msg(3, 1));
        let left = EventKind::MemberLeft {
            room_id: room(3),
            user_id: user(1),
            reason: peer_proto::api::LeaveReason::Kicked,
        };
        bus.publish(0, left.clone());
        bus.publish(0, msg(3, 2));
        bus.publish(0, msg(4, 1));
        assert_eq!(a.next(0).await.unwrap().kind, joined);
        assert_eq!(a.next(0).await.unwrap().kind, msg(3, 1));
        assert_eq!(a.next(0).await.unwrap().kind, left);
        drop(bus);
        assert!(a.next(0).await.is_none(), "nothing after the removal");
    }

    #[tokio::test]
    async fn slow_subscriber_is_cut_off_with_an_error_and_others_go_on() {
        let bus = EventBus::new(
            BusConfig {
                ring: 16,
                subscriber_buffer: 4,
            },
            1,
        );
        let (mut slow, _) = bus.subscribe(Arc::new(RoomFilter::new(user(1), [room(1)])), None);
        let (mut fast, _) = bus.subscribe(Arc::new(RoomFilter::new(user(2), [room(1)])), None);
        for seq in 1..=4 {
            bus.publish(0, msg(1, seq));
            assert_eq!(fast.next(0).await.unwrap().kind, msg(1, seq));
        }
        bus.publish(0, msg(1, 5)); // slow's buffer is full: cut off
        assert_eq!(bus.subscriber_count(), 1);
        assert_eq!(bus.cut_off_count(), 1);
        assert_eq!(fast.next(0).await.unwrap().kind, msg(1, 5));
        for seq in 1..=4 {
            assert_eq!(slow.next(0).await.unwrap().kind, msg(1, seq));
        }
        let last = slow.next(0).await.unwrap();
        assert!(matches!(
            last.kind,
            EventKind::Error {
                code: ErrorCode::RateLimited,
                ..
            }
        ));
        assert!(slow.next(0).await.is_none());
    }

    #[tokio::test]
    async fn resume_replays_from_the_ring_or_reports_a_gap() {
        let bus = EventBus::new(
            BusConfig {
                ring: 3,
                subscriber_buffer: 8,
            },
            1,
        );
        for seq in 1..=5 {
            bus.publish(0, msg(1, seq)); // ids 1..=5; ring keeps 3..=5
        }
        let f = || Arc::new(RoomFilter::new(user(1), [room(1)]));
        let (mut s, how) = bus.subscribe(f(), Some(3));
        assert_eq!(how, Resume::Complete);
        assert_eq!(s.next(0).await.unwrap().id, 4);
        assert_eq!(s.next(0).await.unwrap().id, 5);
        let (_, how) = bus.subscribe(f(), Some(2));
        assert_eq!(how, Resume::Complete, "3 is the oldest kept: nothing lost");
        let (_, how) = bus.subscribe(f(), Some(1));
        assert_eq!(how, Resume::Gap);
        let (_, how) = bus.subscribe(f(), Some(5));
        assert_eq!(how, Resume::Complete);
        let (_, how) = bus.subscribe(f(), None);
        assert_eq!(how, Resume::Fresh);
        let (_, how) = bus.subscribe(f(), Some(6));
        assert_eq!(how, Resume::Gap, "an id from another run");
    }

    #[tokio::test]
    async fn pushers_see_local_events_only_users_see_both() {
        let bus = EventBus::new(BusConfig::default(), 1);
        let mut pusher = bus.subscribe_local();
        let (mut user, _) = bus.subscribe(Arc::new(RoomFilter::new(user(1), [room(1)])), None);
        bus.publish_pushed(0, msg(1, 1));
        bus.publish(0, msg(1, 2));
        assert_eq!(user.next(0).await.unwrap().kind, msg(1, 1));
        assert_eq!(user.next(0).await.unwrap().kind, msg(1, 2));
        let local = pusher.next(0).await.unwrap();
        assert_eq!(local.kind, msg(1, 2), "the pushed event is not pushed on");
        assert_eq!(local.id, 2);
    }

    #[tokio::test]
    async fn dropped_subscribers_are_removed_not_counted_as_slow() {
        let bus = EventBus::new(BusConfig::default(), 1);
        let (s, _) = bus.subscribe(Arc::new(RoomFilter::new(user(1), [room(1)])), None);
        drop(s);
        bus.publish(0, msg(1, 1));
        assert_eq!(bus.subscriber_count(), 0);
        assert_eq!(bus.cut_off_count(), 0);
    }
}
