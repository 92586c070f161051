//! The discovery protocol without I/O: datagrams in (bytes, source, `now`),
//! decisions out. It reads no clock and opens no socket; the driver
//! ([`crate::Discovery`]) feeds it and carries out what it says.
//!
//! ```text
//! bytes, from ──▶ handle ──▶ decode (size, shape) ─▶ unsigned? own? id ≠ hash? stale?
//!                              ├─ a client's query (no HTTP port) ─▶ ClientQuery { answer }
//!                              ├─ key known ─▶ verify (signature, then nonce) ─▶ Accepted
//!                              └─ key unknown ─▶ park ─▶ FetchKey { from: source IP + http_port }
//! key_fetched(spki) ──▶ SHA-256(spki) and id checked, key cached ─▶ parked datagrams verified
//! expire(now) ──▶ nodes silent for the offline time ─▶ PeerEvent::Offline
//! datagram(kind, now) ──▶ our own signed datagram, ready to send
//! ```
//!
//! A datagram carries only the hash of its sender's key; the key itself is
//! fetched once per node, over HTTP from the datagram's source address and
//! HTTP port (`GET /api/v1/node`), checked against the hash, and cached.
//! Fetches are de-duplicated, bounded and rate-limited ([`gate`]), and
//! datagrams waiting for one are parked in a bounded queue.

pub mod drops;
pub mod gate;
pub mod table;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use peer_crypto::{IdentityKey, PublicIdentity, ReplayCache};
use peer_proto::api::NodeRole;
use peer_proto::discovery::{Datagram, DatagramError, DatagramKind};
use peer_proto::limits::FRESHNESS_SECS;
use peer_proto::{Bytes32, ErrorCode, NodeId};
use rand_core::CryptoRng;

use drops::{DropCounts, DropReason};
use gate::{AnswerGate, FetchGate};
use table::{Peer, PeerEvent, PeerTable};

/// Keys cached at most (the oldest is forgotten first).
pub const MAX_KEYS: usize = 1024;
/// Datagrams parked per node while its key is fetched.
pub const MAX_PARKED_PER_NODE: usize = 4;
/// Datagrams parked in all.
pub const MAX_PARKED: usize = 256;
/// Nonces of verified datagrams remembered at most.
pub const REPLAY_CAPACITY: usize = 16_384;

/// Who this node is in its datagrams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNode {
    /// The node's name (at most 64 bytes).
    pub name: String,
    /// Its group (at most 64 bytes).
    pub group: String,
    /// Its role, as announced.
    pub role: NodeRole,
    /// Its HTTP port (0 for a client that only queries, such as `peerctl
    /// discover`).
    pub http_port: u16,
}

/// What to do about one received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Dropped and counted.
    Dropped(DropReason),
    /// Verified.
    Accepted {
        /// Query, announce or leave.
        kind: DatagramKind,
        /// What it changed.
        event: PeerEvent,
        /// True for a query to answer (within the answer limits): send our
        /// announce by unicast to the datagram's source.
        answer: bool,
    },
    /// A client's query: answer it if `answer`; nothing else.
    ClientQuery {
        /// Within the answer limits.
        answer: bool,
    },
    /// The sender's key is unknown: fetch `GET /api/v1/node` from `from`
    /// and hand the result to [`Core::key_fetched`]. The datagram waits.
    FetchKey {
        /// The sender.
        node_id: NodeId,
        /// Its HTTP address (the datagram's source IP, its HTTP port).
        from: SocketAddr,
    },
    /// Waiting for a key fetch already under way.
    Parked,
}

/// The node a key fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedKey {
    /// The id the node says it has.
    pub node_id: NodeId,
    /// Its node key's SPKI DER.
    pub spki: Vec<u8>,
}

struct ParkedDatagram {
    datagram: Datagram,
    from: SocketAddr,
}

/// The discovery core of one node (or of a scanning client).
pub struct Core {
    key: IdentityKey,
    me: LocalNode,
    offline_after: u64,
    keys: HashMap<NodeId, PublicIdentity>,
    key_order: VecDeque<NodeId>,
    replay: ReplayCache,
    table: PeerTable,
    counts: DropCounts,
    fetches: FetchGate,
    answers: AnswerGate,
    parked: HashMap<NodeId, Vec<ParkedDatagram>>,
    parked_total: usize,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("node_id", &self.key.node_id())
            .field("me", &self.me)
            .field("keys", &self.keys.len())
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A core signing with `key`; nodes silent for `offline_after` seconds
    /// go offline.
    pub fn new(key: IdentityKey, me: LocalNode, offline_after: u64) -> Core {
        Core {
            key,
            me,
            offline_after,
            keys: HashMap::new(),
            key_order: VecDeque::new(),
            replay: ReplayCache::new(REPLAY_CAPACITY),
            table: PeerTable::default(),
            counts: DropCounts::default(),
            fetches: FetchGate::default(),
            answers: AnswerGate::default(),
            parked: HashMap::new(),
            parked_total: 0,
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.key.node_id()
    }

    /// Who this node says it is.
    pub fn local(&self) -> &LocalNode {
        &self.me
    }

    /// Changes the announced role.
    pub fn set_role(&mut self, role: NodeRole) {
        self.me.role = role;
    }

    /// The counters.
    pub fn counts(&self) -> DropCounts {
        self.counts
    }

    /// Every node seen, by id.
    pub fn peers(&self) -> Vec<Peer> {
        self.table.list()
    }

    /// Our own datagram of `kind`, signed, timestamped `now`, with a fresh
    /// nonce, encoded.
    pub fn datagram<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        kind: DatagramKind,
        now: u64,
    ) -> Result<Vec<u8>, peer_crypto::Error> {
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let mut d = Datagram::new(
            kind,
            self.key.node_id(),
            Bytes32([0; 32]),
            self.me.name.clone(),
            self.me.group.clone(),
            self.me.role,
            self.me.http_port,
            now,
            Bytes32(nonce),
        );
        peer_crypto::peer::sign_datagram(rng, &self.key, &mut d)?;
        d.encode()
            .map_err(|_| peer_crypto::Error::Misuse(peer_crypto::ApiMisuse::Encoding))
    }

    /// Handles a received datagram from `from`.
    pub fn handle(&mut self, now: u64, bytes: &[u8], from: SocketAddr) -> Outcome {
        let outcome = self.classify(now, bytes, from);
        self.count(&outcome);
        outcome
    }

    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Dropped(r) => self.counts.drop(*r),
            Outcome::Accepted { answer, kind, .. } => {
                self.counts.accepted += 1;
                if *kind == DatagramKind::Query {
                    if *answer {
                        self.counts.answers += 1;
                    } else {
                        self.counts.answers_limited += 1;
                    }
                }
            }
            Outcome::ClientQuery { answer } => {
                self.counts.client_queries += 1;
                if *answer {
                    self.counts.answers += 1;
                } else {
                    self.counts.answers_limited += 1;
                }
            }
            Outcome::FetchKey { .. } => self.counts.key_fetches += 1,
            Outcome::Parked => {}
        }
    }

    fn classify(&mut self, now: u64, bytes: &[u8], from: SocketAddr) -> Outcome {
        let d = match Datagram::decode(bytes) {
            Ok(d) => d,
            Err(DatagramError::Oversized) => return Outcome::Dropped(DropReason::Oversized),
            Err(DatagramError::UnsupportedVersion) => {
                return Outcome::Dropped(DropReason::WrongVersion);
            }
            Err(_) => return Outcome::Dropped(DropReason::Malformed),
        };
        if d.signature.is_empty() {
            return Outcome::Dropped(DropReason::Unsigned);
        }
        if d.node_id == self.key.node_id() {
            return Outcome::Dropped(DropReason::Own);
        }
        // The id is the first 16 bytes of the key hash: a datagram where
        // they disagree is forged, whatever key it would be checked with.
        if d.node_spki_hash.0.get(..16) != Some(&d.node_id.as_bytes()[..]) {
            return Outcome::Dropped(DropReason::UnknownIdentity);
        }
        if now.abs_diff(d.timestamp) > FRESHNESS_SECS {
            return Outcome::Dropped(DropReason::Stale);
        }
        if d.http_port == 0 {
            // A client: it has no HTTP server to fetch its key from. Its
            // query is answered (our announce is public), nothing more.
            if d.kind != DatagramKind::Query {
                return Outcome::Dropped(DropReason::Malformed);
            }
            return Outcome::ClientQuery {
                answer: self.answers.admit(from.ip(), now),
            };
        }
        if let Some(key) = self.keys.get(&d.node_id) {
            let key = key.clone();
            return self.verify(now, d, from, &key);
        }
        let node_id = d.node_id;
        if self.fetches.in_flight(node_id) {
            return self.park(d, from).unwrap_or(Outcome::Parked);
        }
        if !self.fetches.admit(node_id, now) {
            return Outcome::Dropped(DropReason::KeyUnavailable);
        }
        let fetch_from = SocketAddr::new(from.ip(), d.http_port);
        match self.park(d, from) {
            Some(dropped) => {
                self.fetches.done(node_id, true, now);
                dropped
            }
            None => Outcome::FetchKey {
                node_id,
                from: fetch_from,
            },
        }
    }

    /// Parks a datagram until its sender's key arrives; `Some(drop)` when
    /// no room is left.
    fn park(&mut self, datagram: Datagram, from: SocketAddr) -> Option<Outcome> {
        let queue = self.parked.entry(datagram.node_id).or_default();
        if queue.len() >= MAX_PARKED_PER_NODE || self.parked_total >= MAX_PARKED {
            if queue.is_empty() {
                self.parked.remove(&datagram.node_id);
            }
            return Some(Outcome::Dropped(DropReason::Overload));
        }
        queue.push(ParkedDatagram { datagram, from });
        self.parked_total += 1;
        None
    }

    /// The key fetch of `node_id` ended (`None`: it failed). The key is
    /// checked (its id, and so the first half of its hash; each datagram's
    /// whole hash when verified) and cached; the datagrams parked for it
    /// are handled, each with its source.
    pub fn key_fetched(
        &mut self,
        now: u64,
        node_id: NodeId,
        fetched: Option<FetchedKey>,
    ) -> Vec<(SocketAddr, Outcome)> {
        let parked = self.parked.remove(&node_id).unwrap_or_default();
        self.parked_total = self.parked_total.saturating_sub(parked.len());
        let key = fetched
            .filter(|f| f.node_id == node_id)
            .and_then(|f| PublicIdentity::from_spki_der(&f.spki).ok())
            .filter(|k| k.node_id() == node_id);
        self.fetches.done(node_id, key.is_some(), now);
        let outcomes: Vec<(SocketAddr, Outcome)> = match key {
            None => parked
                .into_iter()
                .map(|p| (p.from, Outcome::Dropped(DropReason::KeyUnavailable)))
                .collect(),
            Some(key) => {
                self.cache_key(key.clone());
                parked
                    .into_iter()
                    .map(|p| (p.from, self.verify(now, p.datagram, p.from, &key)))
                    .collect()
            }
        };
        for (_, o) in &outcomes {
            self.count(o);
        }
        outcomes
    }

    fn cache_key(&mut self, key: PublicIdentity) {
        let id = key.node_id();
        if self.keys.insert(id, key).is_none() {
            self.key_order.push_back(id);
        }
        while self.keys.len() > MAX_KEYS {
            match self.key_order.pop_front() {
                Some(old) => {
                    self.keys.remove(&old);
                }
                None => break,
            }
        }
    }

    fn verify(&mut self, now: u64, d: Datagram, from: SocketAddr, key: &PublicIdentity) -> Outcome {
        if let Err(e) = peer_crypto::peer::verify_datagram(&d, key, &self.replay, now) {
            let reason = match e.code() {
                ErrorCode::StaleTimestamp => DropReason::Stale,
                ErrorCode::ReplayedNonce => DropReason::Replayed,
                ErrorCode::BadSignature => DropReason::BadSignature,
                ErrorCode::UnknownIdentity => DropReason::UnknownIdentity,
                ErrorCode::RateLimited => DropReason::Overload,
                _ => DropReason::Malformed,
            };
            return Outcome::Dropped(reason);
        }
        let peer = Peer {
            node_id: d.node_id,
            name: d.name,
            group: d.group,
            role: d.role,
            http: SocketAddr::new(from.ip(), d.http_port),
            spki: key.spki_der().to_vec(),
            last_seen: now,
            online: true,
        };
        let event = match d.kind {
            DatagramKind::Leave => {
                self.table.remove(peer.node_id);
                PeerEvent::Left(peer)
            }
            DatagramKind::Query | DatagramKind::Announce => match self.table.seen(peer) {
                Some(p) => PeerEvent::Seen(p),
                None => return Outcome::Dropped(DropReason::Overload),
            },
        };
        let answer = d.kind == DatagramKind::Query && self.answers.admit(from.ip(), now);
        Outcome::Accepted {
            kind: d.kind,
            event,
            answer,
        }
    }

    /// Nodes that went silent for the offline time since the last call.
    pub fn expire(&mut self, now: u64) -> Vec<PeerEvent> {
        self.table
            .expire(now, self.offline_after)
            .into_iter()
            .map(PeerEvent::Offline)
            .collect()
    }
}

#[cfg(test)]
mod tests;
