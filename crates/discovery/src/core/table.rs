//! The peer table: every node whose datagrams verified, with when it was
//! last heard; silent for `offline_after` seconds means offline.

use std::collections::HashMap;
use std::net::SocketAddr;

use peer_proto::NodeId;
use peer_proto::api::NodeRole;

/// Nodes kept at most; the oldest offline one makes room for a new one.
pub const MAX_PEERS: usize = 1024;

/// A node seen by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its id.
    pub node_id: NodeId,
    /// Its name.
    pub name: String,
    /// Its group.
    pub group: String,
    /// Its role, as it last said.
    pub role: NodeRole,
    /// Where it serves HTTP: the datagram's source address and its HTTP port.
    pub http: SocketAddr,
    /// Its node key's SPKI DER (fetched from it once and checked against
    /// the hash its datagrams carry).
    pub spki: Vec<u8>,
    /// Unix seconds of its last verified datagram.
    pub last_seen: u64,
    /// False once silent for the offline time.
    pub online: bool,
}

impl Peer {
    /// `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }
}

/// What changed in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// A verified query or announce: the node as it is now.
    Seen(Peer),
    /// A verified leave: the node is gone.
    Left(Peer),
    /// Silent for the offline time.
    Offline(Peer),
}

impl PeerEvent {
    /// The node concerned.
    pub fn peer(&self) -> &Peer {
        match self {
            PeerEvent::Seen(p) | PeerEvent::Left(p) | PeerEvent::Offline(p) => p,
        }
    }
}

/// The table.
#[derive(Debug, Default)]
pub(crate) struct PeerTable {
    peers: HashMap<NodeId, Peer>,
}

impl PeerTable {
    /// Adds or refreshes a node; `None` when the table is full of online
    /// nodes.
    pub(crate) fn seen(&mut self, peer: Peer) -> Option<Peer> {
        if !self.peers.contains_key(&peer.node_id) && self.peers.len() >= MAX_PEERS {
            let oldest = self
                .peers
                .values()
                .filter(|p| !p.online)
                .min_by_key(|p| p.last_seen)
                .map(|p| p.node_id)?;
            self.peers.remove(&oldest);
        }
        self.peers.insert(peer.node_id, peer.clone());
        Some(peer)
    }

    /// Removes a node (it left).
    pub(crate) fn remove(&mut self, id: NodeId) -> Option<Peer> {
        self.peers.remove(&id)
    }

    /// Marks nodes silent for more than `offline_after` seconds offline, and
    /// returns them.
    pub(crate) fn expire(&mut self, now: u64, offline_after: u64) -> Vec<Peer> {
        let mut gone = Vec::new();
        for p in self.peers.values_mut() {
            if p.online && now.saturating_sub(p.last_seen) > offline_after {
                p.online = false;
                gone.push(p.clone());
            }
        }
        gone.sort_by_key(|p| p.node_id);
        gone
    }

    /// Every node, by id.
    pub(crate) fn list(&self) -> Vec<Peer> {
        let mut all: Vec<Peer> = self.peers.values().cloned().collect();
        all.sort_by_key(|p| p.node_id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u8, last_seen: u64) -> Peer {
        Peer {
            node_id: NodeId::from_bytes([i; 16]),
            name: format!("n{i}"),
            group: "g".into(),
            role: NodeRole::Main,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            spki: vec![i],
            last_seen,
            online: true,
        }
    }

    #[test]
    fn silent_nodes_go_offline_once() {
        let mut t = PeerTable::default();
        t.seen(peer(1, 100));
        t.seen(peer(2, 150));
        assert!(t.expire(190, 90).is_empty());
        let gone = t.expire(191, 90);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].node_id, NodeId::from_bytes([1; 16]));
        assert!(t.expire(300, 90).iter().all(|p| p.name == "n2"));
        assert_eq!(t.list().len(), 2, "offline nodes stay listed");
        t.seen(peer(1, 400));
        assert!(t.list().iter().any(|p| p.name == "n1" && p.online));
    }

    #[test]
    fn full_table_evicts_the_oldest_offline_node_or_refuses() {
        let mut t = PeerTable::default();
        for i in 0..MAX_PEERS {
            let mut p = peer(0, 0);
            p.node_id = NodeId::from_bytes((i as u128).to_be_bytes());
            t.seen(p);
        }
        let mut extra = peer(0, 10);
        extra.node_id = NodeId::from_bytes([0xff; 16]);
        assert!(t.seen(extra.clone()).is_none(), "all online: refused");
        assert_eq!(t.expire(200, 90).len(), MAX_PEERS);
        assert!(t.seen(extra).is_some());
        assert_eq!(t.list().len(), MAX_PEERS);
    }
}
