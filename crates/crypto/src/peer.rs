//! Node-to-node signatures: a node registering with another
//! (`POST /api/v1/peers`, [`PeerTbs`]), leaving it (`DELETE
//! /api/v1/peers/{id}`, [`PeerLeaveTbs`]), and discovery datagrams
//! ([`Datagram::signed_bytes`]). Each is signed by the node key, carries a
//! timestamp (fresh within 120 s) and a random nonce (checked against a
//! [`ReplayCache`] after the signature verified).

use peer_proto::api::{PeerLeave, RegisterPeer};
use peer_proto::discovery::Datagram;
use peer_proto::id::NodeId;
use peer_proto::signed::{PeerLeaveTbs, PeerTbs};
use peer_proto::{Bytes, Bytes32, labels};
use rand_core::CryptoRng;

use crate::error::{Error, PeerMisbehaved};
use crate::handshake::ReplayCache;
use crate::identity::{IdentityKey, PublicIdentity};
use crate::rng::random_array;
use crate::signing::{check_fresh, sign_tbs, verify_tbs};

/// A node that proved it holds the key it presents.
#[derive(Debug, Clone)]
pub struct VerifiedPeer {
    key: PublicIdentity,
}

impl VerifiedPeer {
    /// The node's id.
    pub fn node_id(&self) -> NodeId {
        self.key.node_id()
    }

    /// The node's key.
    pub fn key(&self) -> &PublicIdentity {
        &self.key
    }
}

/// Builds the signed registration of the node holding `node_key` with node
/// `target`; the node takes pushes at `url`.
pub fn register_peer<R: CryptoRng + ?Sized>(
    rng: &mut R,
    node_key: &IdentityKey,
    target: NodeId,
    name: &str,
    group: &str,
    url: &str,
    now: u64,
) -> Result<RegisterPeer, Error> {
    let nonce: [u8; 32] = random_array(rng);
    let tbs = PeerTbs {
        target,
        node_id: node_key.node_id(),
        name,
        spki: node_key.spki_der(),
        group,
        url,
        timestamp: now,
        nonce: &nonce,
    };
    let (_, signature) = sign_tbs(node_key, rng, labels::PEER, &tbs)?;
    Ok(RegisterPeer {
        node_id: node_key.node_id(),
        name: name.to_owned(),
        spki: Bytes(node_key.spki_der().to_vec()),
        group: group.to_owned(),
        url: url.to_owned(),
        timestamp: now,
        nonce: Bytes32(nonce),
        signature: Bytes(signature),
    })
}

/// Checks a node registration meant for `our_node_id`: key bounds,
/// `node_id` = id of `spki` ([`PeerMisbehaved::UnknownIdentity`]),
/// freshness, signature, then the nonce.
pub fn verify_peer_registration(
    req: &RegisterPeer,
    our_node_id: NodeId,
    replay: &ReplayCache,
    now: u64,
) -> Result<VerifiedPeer, Error> {
    let key = PublicIdentity::from_spki_der(req.spki.as_slice())?;
    if key.node_id() != req.node_id {
        return Err(PeerMisbehaved::UnknownIdentity.into());
    }
    check_fresh(now, req.timestamp)?;
    let tbs = PeerTbs {
        target: our_node_id,
        node_id: req.node_id,
        name: &req.name,
        spki: req.spki.as_slice(),
        group: &req.group,
        url: &req.url,
        timestamp: req.timestamp,
        nonce: &req.nonce.0,
    };
    verify_tbs(&key, labels::PEER, &tbs, req.signature.as_slice())?;
    replay.check_and_insert(&req.nonce.0, now)?;
    Ok(VerifiedPeer { key })
}

/// Builds the signed notice that the node holding `node_key` leaves `target`.
pub fn leave_peer<R: CryptoRng + ?Sized>(
    rng: &mut R,
    node_key: &IdentityKey,
    target: NodeId,
    now: u64,
) -> Result<PeerLeave, Error> {
    let nonce: [u8; 32] = random_array(rng);
    let tbs = PeerLeaveTbs {
        target,
        node_id: node_key.node_id(),
        timestamp: now,
        nonce: &nonce,
    };
    let (_, signature) = sign_tbs(node_key, rng, labels::PEER_LEAVE, &tbs)?;
    Ok(PeerLeave {
        timestamp: now,
        nonce: Bytes32(nonce),
        signature: Bytes(signature),
    })
}

/// Checks that `leaving` (the stored key of the peer named in the path)
/// signed this leave notice for `our_node_id`: freshness, signature, nonce.
pub fn verify_peer_leave(
    req: &PeerLeave,
    leaving: &PublicIdentity,
    our_node_id: NodeId,
    replay: &ReplayCache,
    now: u64,
) -> Result<VerifiedPeer, Error> {
    check_fresh(now, req.timestamp)?;
    let tbs = PeerLeaveTbs {
        target: our_node_id,
        node_id: leaving.node_id(),
        timestamp: req.timestamp,
        nonce: &req.nonce.0,
    };
    verify_tbs(leaving, labels::PEER_LEAVE, &tbs, req.signature.as_slice())?;
    replay.check_and_insert(&req.nonce.0, now)?;
    Ok(VerifiedPeer {
        key: leaving.clone(),
    })
}

/// Signs a discovery datagram with `node_key`: sets its `node_id` and
/// `node_spki_hash` from the key, then its signature over
/// [`Datagram::signed_bytes`].
pub fn sign_datagram<R: CryptoRng + ?Sized>(
    rng: &mut R,
    node_key: &IdentityKey,
    datagram: &mut Datagram,
) -> Result<(), Error> {
    datagram.node_id = node_key.node_id();
    datagram.node_spki_hash = Bytes32(*node_key.public().spki_hash());
    let bytes = datagram.signed_bytes()?;
    datagram.signature = Bytes(node_key.sign(rng, &bytes)?);
    Ok(())
}

/// Checks a decoded datagram against `node_key`, the key of the node it
/// names (known already, or fetched from its `/api/v1/node` and pinned):
/// `node_id` and `node_spki_hash` must be that key's
/// ([`PeerMisbehaved::UnknownIdentity`]), then freshness, the signature, and
/// the nonce. Dropping one's own datagrams is the caller's job.
pub fn verify_datagram(
    datagram: &Datagram,
    node_key: &PublicIdentity,
    replay: &ReplayCache,
    now: u64,
) -> Result<VerifiedPeer, Error> {
    if datagram.node_id != node_key.node_id() || datagram.node_spki_hash.0 != *node_key.spki_hash()
    {
        return Err(PeerMisbehaved::UnknownIdentity.into());
    }
    check_fresh(now, datagram.timestamp)?;
    let bytes = datagram.signed_bytes()?;
    node_key.verify(&bytes, datagram.signature.as_slice())?;
    replay.check_and_insert(&datagram.nonce.0, now)?;
    Ok(VerifiedPeer {
        key: node_key.clone(),
    })
}
