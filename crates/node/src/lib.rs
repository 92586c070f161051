//! peergroup's domain: everything a node does, with no HTTP in it.
//!
//! A [`Node`] has one async method per use case. Each takes typed requests
//! (the `peer-proto` API bodies) and an authenticated [`Caller`], and returns
//! typed results or a [`NodeError`] whose code is the stable API code. The
//! HTTP layer (`peer-http`) maps routes to these methods and nothing else, so
//! everything here is tested without sockets.
//!
//! ```text
//!  peer-http ──▶ Node ──▶ Arc<dyn Store>      users, rooms, members, keys, messages
//!                 │  ├──▶ peer-crypto          handshake, authenticators, envelopes
//!                 │  └──▶ EventBus ──▶ event streams (SSE), long-polls
//!                 └── sessions, tokens, rate limits (in memory)
//! ```
//!
//! What it does not do: parse HTTP, open sockets, or decrypt messages (it
//! never holds a room key; clients encrypt and sign, the node stores).
//!
//! ```
//! use std::sync::Arc;
//! use peer_node::{Node, NodeConfig};
//! use peer_store::MemoryStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let key = peer_crypto::IdentityKey::generate(
//! #     &mut peer_crypto::rng::system_rng(), peer_crypto::KeySize::Rsa2048).unwrap();
//! let node = Node::new(key, Arc::new(MemoryStore::default()), NodeConfig::default());
//! assert!(node.health().await.store_ok);
//! assert_eq!(node.info().name, "peerd");
//! # });
//! ```

#![forbid(unsafe_code)]

pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod password;
pub mod ratelimit;

mod keys;
mod messages;
mod notify;
mod peers;
mod rooms;
mod stream;
mod users;
mod views;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use peer_crypto::request::AuthHeaders;
use peer_crypto::{AuthenticatedRequest, IdentityKey, ReplayCache};
use peer_proto::api::{Health, HealthStatus, MainPeerStatus, NodeInfo, NodeRole, PeerInfo};
use peer_proto::event::{Event, EventKind};
use peer_proto::{ErrorCode, NodeId, RoomId};
use peer_store::{NewAudit, Store};
use tokio::sync::watch;

pub use auth::{AuthMethod, AuthRefusal, Caller};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::NodeConfig;
pub use error::{NodeError, Result};
pub use events::{BusConfig, EventBus, Resume, Subscription};
pub use notify::NotifyOutcome;
pub use peers::{PEER_OFFLINE_SECS, PushTarget, peer_url};
pub use stream::{EventStream, StreamMark};

use crate::auth::AuthTable;
use crate::ratelimit::KeyedLimiter;

/// A node: cheap to clone (an `Arc` inside), shared by every connection.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    identity: IdentityKey,
    store: Arc<dyn Store>,
    config: NodeConfig,
    clock: Arc<dyn Clock>,
    started: Instant,
    role: Mutex<NodeRole>,
    /// For a follower: its main peer as last seen.
    main_peer: Mutex<Option<MainPeerStatus>>,
    /// Set once this node has begun leaving the group: it takes no new
    /// peer registrations after its leave notices went out.
    leaving: std::sync::atomic::AtomicBool,
    /// Nodes seen by discovery only (not in the store).
    discovered: Mutex<HashMap<NodeId, PeerInfo>>,
    /// Bumped whenever a peer registers or leaves.
    peers_version: watch::Sender<u64>,
    /// The highest event id pushed to us, per origin node (drops repeats).
    pushed_marks: Mutex<HashMap<NodeId, u64>>,
    auth: AuthTable,
    replay: ReplayCache,
    handshake_limit: KeyedLimiter<IpAddr>,
    bus: EventBus,
    streams: Mutex<HashMap<peer_proto::UserId, usize>>,
    watches: Mutex<HashMap<RoomId, watch::Sender<u64>>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.node_id())
            .field("name", &self.inner.config.name)
            .finish_non_exhaustive()
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStats {
    /// Live sessions.
    pub sessions: usize,
    /// Live event subscribers.
    pub subscribers: usize,
    /// Subscribers cut off for being too slow.
    pub cut_off_subscribers: u64,
    /// The next event id.
    pub next_event_id: u64,
}

impl Node {
    /// A node on the system clock.
    pub fn new(identity: IdentityKey, store: Arc<dyn Store>, config: NodeConfig) -> Node {
        Node::with_clock(identity, store, config, Arc::new(SystemClock))
    }

    /// A node on the given clock (tests move time by hand).
    pub fn with_clock(
        identity: IdentityKey,
        store: Arc<dyn Store>,
        config: NodeConfig,
        clock: Arc<dyn Clock>,
    ) -> Node {
        // Event ids start from the start time, so they keep increasing across
        // restarts and a stale Last-Event-ID is recognised as a gap.
        let first_event_id = clock.now().saturating_mul(1 << 20).max(1);
        let inner = Inner {
            auth: AuthTable::new(
                config.session_rate,
                config.session_idle.as_secs(),
                config.max_sessions,
            ),
            replay: ReplayCache::new(config.replay_capacity),
            handshake_limit: KeyedLimiter::new(config.handshake_rate, 100_000),
            bus: EventBus::new(config.bus, first_event_id),
            streams: Mutex::new(HashMap::new()),
            watches: Mutex::new(HashMap::new()),
            role: Mutex::new(NodeRole::Standalone),
            main_peer: Mutex::new(None),
            leaving: std::sync::atomic::AtomicBool::new(false),
            discovered: Mutex::new(HashMap::new()),
            peers_version: watch::channel(0).0,
            pushed_marks: Mutex::new(HashMap::new()),
            started: Instant::now(),
            identity,
            store,
            config,
            clock,
        };
        Node {
            inner: Arc::new(inner),
        }
    }

    /// The node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.identity.node_id()
    }

    /// The node's identity key.
    pub fn identity(&self) -> &IdentityKey {
        &self.inner.identity
    }

    /// The settings.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The event bus.
    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    /// Now, by the node's clock.
    pub fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// Sets the role reported by [`Node::info`] and announced by discovery.
    pub fn set_role(&self, role: NodeRole) {
        *self.inner.role.lock().unwrap_or_else(|e| e.into_inner()) = role;
    }

    /// The current role.
    pub fn role(&self) -> NodeRole {
        *self.inner.role.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets (or clears) the main peer this node follows, as reported by
    /// [`Node::info`] (`main_peer`) and [`Node::health`] (`main_peer_ok`).
    pub fn set_main_peer(&self, main: Option<MainPeerStatus>) {
        *self
            .inner
            .main_peer
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = main;
    }

    /// Marks this node as leaving the group (before it tells its peers):
    /// from now on [`Node::register_peer`] refuses with 503
    /// `main_peer_unavailable`, so a follower that was just told of the
    /// leave does not register again while this node is still shutting
    /// down.
    pub fn set_leaving(&self) {
        self.inner
            .leaving
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// True once [`Node::set_leaving`] was called.
    pub fn is_leaving(&self) -> bool {
        self.inner.leaving.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The main peer this node follows, if any.
    pub fn main_peer(&self) -> Option<MainPeerStatus> {
        self.inner
            .main_peer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True when the store is shared with other nodes (MongoDB): they then
    /// find each other through its peers collection, and any of them can
    /// take over as main peer without losing data.
    pub fn store_is_shared(&self) -> bool {
        self.inner.store.kind() == peer_proto::api::StoreKind::Mongodb
    }

    /// `GET /api/v1/node`.
    pub fn info(&self) -> NodeInfo {
        let c = &self.inner.config;
        NodeInfo {
            node_id: self.node_id(),
            name: c.name.clone(),
            spki: self.inner.identity.spki_der().to_vec().into(),
            version: c.version.clone(),
            protocol_version: peer_proto::PROTOCOL_VERSION,
            role: *self.inner.role.lock().unwrap_or_else(|e| e.into_inner()),
            group: c.group.clone(),
            store: self.inner.store.kind(),
            uptime_secs: self.inner.started.elapsed().as_secs(),
            registration_open: c.registration_open,
            bearer_tokens: c.bearer_tokens,
            main_peer: self.main_peer(),
        }
    }

    /// `GET /healthz`: is the store reachable, and for a follower, its main
    /// peer? Either failing is `degraded`.
    pub async fn health(&self) -> Health {
        let store_ok = match self.inner.store.health().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "store health check failed");
                false
            }
        };
        // A follower that has found no main peer yet is as lost as one
        // whose main stopped answering.
        let main_peer_ok = match (self.main_peer(), self.role()) {
            (Some(m), _) => Some(m.reachable),
            (None, NodeRole::Follower) => Some(false),
            (None, _) => None,
        };
        Health {
            status: if store_ok && main_peer_ok != Some(false) {
                HealthStatus::Ok
            } else {
                HealthStatus::Degraded
            },
            store_ok,
            main_peer_ok,
        }
    }

    /// Counters for metrics.
    pub fn stats(&self) -> NodeStats {
        NodeStats {
            sessions: self.inner.auth.session_count(),
            subscribers: self.inner.bus.subscriber_count(),
            cut_off_subscribers: self.inner.bus.cut_off_count(),
            next_event_id: self.inner.bus.next_id(),
        }
    }

    /// Drops expired sessions and tokens (call now and then).
    pub fn sweep(&self) -> usize {
        self.inner.auth.sweep(self.now())
    }

    /// Checks a request's authenticator (`Peer-*` headers) against its
    /// session, takes a rate token, and returns the caller with the proof
    /// (which holds the opened body and authenticates the response).
    pub fn authenticate(
        &self,
        headers: &AuthHeaders,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        sealed: bool,
    ) -> Result<(Caller, AuthenticatedRequest)> {
        self.authenticate_request(headers, method, path_and_query, body, sealed)
            .map_err(|refusal| refusal.error)
    }

    /// [`Node::authenticate`], but a refusal that comes after the
    /// authenticator verified (the session's rate limit) keeps the proof, so
    /// that the refusal itself can be answered with `Peer-Auth`.
    pub fn authenticate_request(
        &self,
        headers: &AuthHeaders,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        sealed: bool,
    ) -> std::result::Result<(Caller, AuthenticatedRequest), AuthRefusal> {
        let now = self.now();
        let entry = self
            .inner
            .auth
            .session(headers.session_id(), now)
            .map_err(AuthRefusal::unverified)?;
        let authed = entry
            .session
            .verify_request_or_reject(headers, method, path_and_query, body, sealed, now)
            .map_err(|r| AuthRefusal {
                error: r.error.into(),
                responder: r.responder.map(Box::new),
            })?;
        if let Err(error) = self.inner.auth.touch(&entry, now) {
            return Err(AuthRefusal {
                error,
                responder: Some(Box::new(authed.into_parts().1)),
            });
        }
        let id = entry.session.session_id();
        let caller = Caller {
            user_id: entry.session.user_id(),
            method: if entry.peer {
                AuthMethod::PeerSession(id)
            } else {
                AuthMethod::Session(id)
            },
        };
        Ok((caller, authed))
    }

    /// Checks a bearer token (`Authorization: Bearer ...`).
    pub fn authenticate_bearer(&self, token: &str) -> Result<Caller> {
        if !self.inner.config.bearer_tokens {
            return Err(NodeError::new(
                ErrorCode::TokensDisabled,
                "bearer tokens are disabled on this node",
            ));
        }
        let raw = peer_proto::bytes::decode_b64(token.trim())
            .map_err(|_| NodeError::new(ErrorCode::InvalidToken, "malformed bearer token"))?;
        let hash = peer_crypto::kdf::sha256(&raw);
        let user_id = self.inner.auth.token(&hash, self.now())?;
        Ok(Caller {
            user_id,
            method: AuthMethod::Bearer,
        })
    }

    /// Records an audit entry; a failure is logged, never returned (the
    /// change it describes has happened).
    async fn audit(
        &self,
        caller: Option<&Caller>,
        room: Option<RoomId>,
        action: &str,
        detail: String,
    ) {
        let entry = NewAudit {
            at: self.now(),
            actor_id: caller.map(|c| c.user_id),
            room_id: room,
            action: action.to_string(),
            detail,
        };
        if let Err(e) = self.inner.store.append_audit(&entry).await {
            tracing::warn!(error = %e, action, "audit entry not recorded");
        }
    }

    /// Publishes an event that happened on this node (and wakes long-polls
    /// of its room). Peer pushers send it to peer nodes.
    pub fn publish(&self, kind: EventKind) -> Arc<Event> {
        if let EventKind::Message { room_id, seq, .. } = &kind {
            self.wake_room(*room_id, *seq);
        }
        self.inner.bus.publish(self.now(), kind)
    }

    /// Publishes an event a peer node pushed (and wakes long-polls of its
    /// room). It reaches users' streams, and is not pushed on.
    fn publish_pushed(&self, at: u64, kind: EventKind) -> Arc<Event> {
        if let EventKind::Message { room_id, seq, .. } = &kind {
            self.wake_room(*room_id, *seq);
        }
        self.inner.bus.publish_pushed(at, kind)
    }

    fn wake_room(&self, room: RoomId, seq: u64) {
        let mut watches = self.inner.watches.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = watches.get(&room) {
            if tx.receiver_count() == 0 {
                watches.remove(&room);
            } else {
                tx.send_replace(seq);
            }
        }
    }

    fn watch_room(&self, room: RoomId) -> watch::Receiver<u64> {
        let mut watches = self.inner.watches.lock().unwrap_or_else(|e| e.into_inner());
        watches
            .entry(room)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }
}

/// `N` random bytes from the system RNG.
fn random<const N: usize>() -> [u8; N] {
    use rand_core::Rng as _;
    let mut out = [0u8; N];
    peer_crypto::rng::system_rng().fill_bytes(&mut out);
    out
}
