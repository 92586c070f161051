//! Peer nodes as this node knows them (`GET /api/v1/peers`). Registration,
//! leave notices and pushes come with discovery.

use peer_proto::api::{PeerInfo, PeerList, PeerQuery};

use crate::Node;
use crate::error::Result;

/// A peer silent for longer than this is offline (protocol.md: 90 s).
const PEER_OFFLINE_SECS: u64 = 90;

impl Node {
    /// `GET /api/v1/peers`: the known peers, filtered by role and online
    /// state.
    pub async fn list_peers(&self, q: PeerQuery) -> Result<PeerList> {
        let now = self.now();
        let peers = self
            .inner
            .store
            .list_peers()
            .await?
            .into_iter()
            .map(|p| PeerInfo {
                online: now.saturating_sub(p.last_seen) <= PEER_OFFLINE_SECS,
                node_id: p.node_id,
                name: p.name,
                url: p.url,
                role: p.role,
                group: p.group,
                direction: p.direction,
                last_seen: p.last_seen,
            })
            .filter(|p| q.role.is_none_or(|r| r == p.role))
            .filter(|p| q.online.is_none_or(|o| o == p.online))
            .collect();
        Ok(PeerList { peers })
    }
}
