//! Peer nodes as this node knows them: registration (`POST /api/v1/peers`),
//! leave notices (`DELETE /api/v1/peers/{id}`), the listing (`GET
//! /api/v1/peers`), the keys peer sessions are checked against, and which
//! peers this node pushes its events to.
//!
//! Where a peer comes from, and what its record says (`direction`):
//!
//! - **inbound**: it registered with this node (a follower of ours): the
//!   registration is signed by its node key, whose SPKI the record keeps;
//! - **outbound**: this node follows it (our main peer); the follower
//!   machinery records it with the SPKI it fetched and checked;
//! - **discovered**: seen by multicast only (kept in memory, not stored),
//!   or, on a shared store, a node that keeps its own record there
//!   ([`Node::record_self`]).
//!
//! Any peer whose record holds an SPKI may open a peer session with the
//! handshake; such a session reaches node-to-node endpoints only.

use std::net::{IpAddr, SocketAddr};

use peer_crypto::PublicIdentity;
use peer_proto::api::{
    NodeRole, PeerDirection, PeerInfo, PeerLeave, PeerList, PeerQuery, RegisterPeer,
};
use peer_proto::discovery::{MAX_GROUP_BYTES, MAX_NAME_BYTES};
use peer_proto::{ErrorCode, NodeId};
use peer_store::{PeerRecord, StoreError};
use tokio::sync::watch;

use crate::Node;
use crate::error::{NodeError, Result};

/// A peer silent for longer than this is offline (protocol.md: 90 s).
pub const PEER_OFFLINE_SECS: u64 = 90;

/// Longest peer URL accepted (`http://[IPv6]:PORT` fits easily).
const MAX_PEER_URL_BYTES: usize = 64;

/// A peer this node pushes its events to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// The peer.
    pub node_id: NodeId,
    /// Where it takes pushes.
    pub url: String,
    /// Its node key's SPKI DER (its handshake replies are checked with it).
    pub spki: Vec<u8>,
}

impl Node {
    /// `GET /api/v1/peers`: the known peers (stored ones, then those seen by
    /// discovery only), filtered by role and online state. This node itself
    /// is never listed; the main peer it follows is listed as outbound.
    pub async fn list_peers(&self, q: PeerQuery) -> Result<PeerList> {
        let now = self.now();
        let me = self.node_id();
        let main = self.main_peer().map(|m| m.node_id);
        let stored = self.inner.store.list_peers().await?;
        let mut peers: Vec<PeerInfo> = stored
            .into_iter()
            .filter(|p| p.node_id != me)
            .map(|p| {
                let direction = if Some(p.node_id) == main {
                    PeerDirection::Outbound
                } else {
                    p.direction
                };
                info_of(p, direction, now)
            })
            .collect();
        {
            let discovered = self.discovered();
            let mut extra: Vec<PeerInfo> = discovered
                .values()
                .filter(|d| d.node_id != me && !peers.iter().any(|p| p.node_id == d.node_id))
                .map(|d| PeerInfo {
                    online: online(d.last_seen, now),
                    ..d.clone()
                })
                .collect();
            extra.sort_by_key(|p| p.node_id);
            peers.extend(extra);
        }
        peers.retain(|p| q.role.is_none_or(|r| r == p.role));
        peers.retain(|p| q.online.is_none_or(|o| o == p.online));
        Ok(PeerList { peers })
    }

    /// `POST /api/v1/peers`: a node registers with this one (it follows us).
    ///
    /// Checks, in order: the source's rate limit (shared with handshakes),
    /// the name, the group (ours), the URL (`http://IP:PORT` on the address
    /// the request came from, so a registration cannot aim pushes at a third
    /// host), the signature (node key over the registration, for this node,
    /// fresh, nonce unseen). Stores the node as an inbound follower with its
    /// key, and returns the record.
    pub async fn register_peer(
        &self,
        req: RegisterPeer,
        source: Option<IpAddr>,
    ) -> Result<PeerInfo> {
        if let Some(ip) = source {
            self.limit_source(ip)?;
        }
        if self.is_leaving() {
            return Err(NodeError::new(
                ErrorCode::MainPeerUnavailable,
                "this node is leaving the group",
            ));
        }
        check_label("name", &req.name, MAX_NAME_BYTES)?;
        check_label("group", &req.group, MAX_GROUP_BYTES)?;
        let url = peer_url(&req.url)?;
        if let Some(ip) = source
            && !same_host(url.ip(), ip)
        {
            return Err(NodeError::forbidden(
                "url: must be on the address the registration comes from",
            ));
        }
        let now = self.now();
        let verified = peer_crypto::peer::verify_peer_registration(
            &req,
            self.node_id(),
            &self.inner.replay,
            now,
        )?;
        if verified.node_id() == self.node_id() {
            return Err(NodeError::field(
                "node_id",
                "a node cannot register with itself",
            ));
        }
        if req.group != self.inner.config.group {
            return Err(NodeError::forbidden(format!(
                "group: this node is in group `{}`",
                self.inner.config.group
            )));
        }
        let record = PeerRecord {
            node_id: verified.node_id(),
            name: req.name,
            url: format!("http://{url}"),
            role: NodeRole::Follower,
            group: req.group,
            direction: PeerDirection::Inbound,
            spki: Some(req.spki),
            last_seen: now,
        };
        self.inner.store.upsert_peer(&record).await?;
        tracing::info!(peer = %record.node_id, name = %record.name, url = %record.url, "peer registered");
        self.audit(
            None,
            None,
            "peer.register",
            format!("peer {}", record.node_id),
        )
        .await;
        self.peers_changed();
        Ok(info_of(record, PeerDirection::Inbound, now))
    }

    /// `DELETE /api/v1/peers/{node_id}`: the node leaves; its notice is
    /// checked with the key stored for it (fresh, signed for this node,
    /// nonce unseen), then its record is removed.
    pub async fn leave_peer(&self, node_id: NodeId, req: PeerLeave) -> Result<()> {
        let Some(key) = self.peer_key(node_id).await? else {
            return Err(NodeError::new(
                ErrorCode::UnknownIdentity,
                "no registered key for this peer",
            ));
        };
        peer_crypto::peer::verify_peer_leave(
            &req,
            &key,
            self.node_id(),
            &self.inner.replay,
            self.now(),
        )?;
        match self.inner.store.remove_peer(node_id).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(peer = %node_id, "peer left");
        self.audit(None, None, "peer.leave", format!("peer {node_id}"))
            .await;
        self.peers_changed();
        Ok(())
    }

    /// The key of a registered peer (`None`: unknown, or known without a
    /// key). A stored key that does not parse or does not match the id is
    /// treated as absent (and logged).
    pub(crate) async fn peer_key(&self, node_id: NodeId) -> Result<Option<PublicIdentity>> {
        let record = match self.inner.store.get_peer(node_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(spki) = record.spki else {
            return Ok(None);
        };
        match PublicIdentity::from_spki_der(spki.as_slice()) {
            Ok(k) if k.node_id() == node_id => Ok(Some(k)),
            _ => {
                tracing::error!(peer = %node_id, "stored peer key unreadable or not the peer's");
                Ok(None)
            }
        }
    }

    /// True when `id` is a peer whose key this node stores: a handshake of
    /// that identity opens a peer session here. (A follower handles those
    /// itself instead of relaying them to its main peer.)
    pub async fn knows_peer_key(&self, id: NodeId) -> bool {
        matches!(self.peer_key(id).await, Ok(Some(_)))
    }

    /// Records (or refreshes) a peer this node itself decided to know: the
    /// main peer it follows (outbound), or, on a shared store, its own record
    /// ([`Node::record_self`]). `spki` must be the peer's key, checked by the
    /// caller against the id.
    pub async fn record_peer(&self, record: &PeerRecord) -> Result<()> {
        self.inner.store.upsert_peer(record).await?;
        self.peers_changed();
        Ok(())
    }

    /// On a shared store, writes this node's own record (name, URL, role,
    /// group, key, now as last seen), so that the other nodes on the store
    /// find it, push to it and accept its peer sessions. A no-op on a store
    /// of its own.
    pub async fn record_self(&self, url: &str) -> Result<()> {
        if !self.store_is_shared() {
            return Ok(());
        }
        let record = PeerRecord {
            node_id: self.node_id(),
            name: self.inner.config.name.clone(),
            url: url.to_owned(),
            role: self.role(),
            group: self.inner.config.group.clone(),
            direction: PeerDirection::Discovered,
            spki: Some(self.inner.identity.spki_der().to_vec().into()),
            last_seen: self.now(),
        };
        self.inner.store.upsert_peer(&record).await?;
        Ok(())
    }

    /// Forgets a peer (it left by discovery, or this node stops following
    /// it). Unknown peers are fine.
    pub async fn forget_peer(&self, node_id: NodeId) -> Result<()> {
        match self.inner.store.remove_peer(node_id).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.peers_changed();
        Ok(())
    }

    /// Marks a stored peer seen now (a push it took, an answer it gave).
    /// Unknown peers are ignored.
    pub async fn touch_peer(&self, node_id: NodeId) -> Result<()> {
        let mut record = match self.inner.store.get_peer(node_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        record.last_seen = self.now();
        self.inner.store.upsert_peer(&record).await?;
        Ok(())
    }

    /// The peers this node pushes its own events to: every stored peer but
    /// itself and the main peer it follows, that has a URL and a key, and
    /// is inbound (a follower of ours: always, it re-registers when it
    /// comes back) or online (on a shared store, the other nodes). A
    /// follower pushes to nobody: it originates no events.
    pub async fn push_targets(&self) -> Result<Vec<PushTarget>> {
        if self.role() == NodeRole::Follower {
            return Ok(Vec::new());
        }
        let now = self.now();
        let me = self.node_id();
        let main = self.main_peer().map(|m| m.node_id);
        Ok(self
            .inner
            .store
            .list_peers()
            .await?
            .into_iter()
            .filter(|p| p.node_id != me && Some(p.node_id) != main)
            .filter(|p| p.direction == PeerDirection::Inbound || online(p.last_seen, now))
            .filter_map(|p| {
                let spki = p.spki?.0;
                peer_url(&p.url).ok()?;
                Some(PushTarget {
                    node_id: p.node_id,
                    url: p.url,
                    spki,
                })
            })
            .collect())
    }

    /// Notes a node seen by discovery (listed as `discovered` unless the
    /// store knows it).
    pub fn note_discovered(&self, info: PeerInfo) {
        self.discovered().insert(info.node_id, info);
    }

    /// Forgets a node seen by discovery (it left).
    pub fn forget_discovered(&self, node_id: NodeId) {
        self.discovered().remove(&node_id);
    }

    /// A receiver that changes whenever a peer registers, leaves, is
    /// recorded or forgotten by this node, or pushes to it for the first
    /// time.
    pub fn watch_peers(&self) -> watch::Receiver<u64> {
        self.inner.peers_version.subscribe()
    }

    /// Wakes whoever watches the peers ([`Node::watch_peers`]).
    pub(crate) fn peers_changed(&self) {
        self.inner
            .peers_version
            .send_modify(|v| *v = v.wrapping_add(1));
    }

    fn discovered(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<NodeId, PeerInfo>> {
        self.inner
            .discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

fn online(last_seen: u64, now: u64) -> bool {
    now.saturating_sub(last_seen) <= PEER_OFFLINE_SECS
}

fn info_of(p: PeerRecord, direction: PeerDirection, now: u64) -> PeerInfo {
    PeerInfo {
        online: online(p.last_seen, now),
        node_id: p.node_id,
        name: p.name,
        url: p.url,
        role: p.role,
        group: p.group,
        direction,
        last_seen: p.last_seen,
    }
}

/// A node name or group: 1 to `max` bytes, no control characters.
fn check_label(field: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(NodeError::field(
            field,
            format!("1-{max} bytes without control characters"),
        ));
    }
    Ok(())
}

/// A peer URL: exactly `http://IP:PORT` (IPv6 in brackets), port not 0.
pub fn peer_url(url: &str) -> Result<SocketAddr> {
    let bad = || NodeError::field("url", "expected http://IP:PORT");
    if url.len() > MAX_PEER_URL_BYTES {
        return Err(bad());
    }
    let addr: SocketAddr = url
        .strip_prefix("http://")
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    if addr.port() == 0 || addr.ip().is_unspecified() || addr.ip().is_multicast() {
        return Err(bad());
    }
    Ok(addr)
}

/// Same host, seeing IPv4-mapped IPv6 addresses as IPv4.
fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_urls() {
        assert_eq!(
            peer_url("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert!(peer_url("http://[::1]:80").is_ok());
        for bad in [
            "",
            "127.0.0.1:8080",
            "https://127.0.0.1:8080",
            "http://127.0.0.1:0",
            "http://0.0.0.0:80",
            "http://239.1.2.3:80",
            "http://host:80",
            "http://127.0.0.1:80/path",
            "http://127.0.0.1",
        ] {
            assert_eq!(
                peer_url(bad).unwrap_err().code,
                ErrorCode::InvalidField,
                "{bad}"
            );
        }
    }

    #[test]
    fn mapped_addresses_are_the_same_host() {
        assert!(same_host(
            "127.0.0.1".parse().unwrap(),
            "::ffff:127.0.0.1".parse().unwrap()
        ));
        assert!(!same_host(
            "127.0.0.1".parse().unwrap(),
            "127.0.0.2".parse().unwrap()
        ));
    }
}
