//! User registration (`POST /api/v1/users`): the user key signs
//! `canonical(REGISTER, (node_id, name, spki, timestamp))`.
//!
//! The node checks the key (bounds), freshness, and the signature; the user
//! id is derived from the SPKI (self-certifying). Name rules and uniqueness
//! are the node's business (`peer_proto::limits::check_user_name`).

use peer_proto::api::RegisterUser;
use peer_proto::id::{NodeId, UserId};
use peer_proto::signed::RegisterTbs;
use peer_proto::{Bytes, labels};
use rand_core::CryptoRng;

use crate::error::Error;
use crate::identity::{IdentityKey, PublicIdentity};
use crate::signing::{check_fresh, sign_tbs, verify_tbs};

/// Builds a signed registration of `name` with node `node_id`.
pub fn register_user<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &IdentityKey,
    node_id: NodeId,
    name: &str,
    now: u64,
) -> Result<RegisterUser, Error> {
    let tbs = RegisterTbs {
        node_id,
        name,
        spki: key.spki_der(),
        timestamp: now,
    };
    let (_, signature) = sign_tbs(key, rng, labels::REGISTER, &tbs)?;
    Ok(RegisterUser {
        name: name.to_owned(),
        spki: Bytes(key.spki_der().to_vec()),
        timestamp: now,
        signature: Bytes(signature),
    })
}

/// Proof that a registration is fresh and signed by the key it registers.
#[derive(Debug, Clone)]
pub struct VerifiedRegistration {
    key: PublicIdentity,
    name: String,
}

impl VerifiedRegistration {
    /// The new user's id (from the SPKI).
    pub fn user_id(&self) -> UserId {
        self.key.user_id()
    }

    /// The registered key.
    pub fn key(&self) -> &PublicIdentity {
        &self.key
    }

    /// The requested name (not yet checked against the name rules).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Checks a registration meant for `our_node_id`: key bounds, freshness,
/// signature. The timestamp is checked before the (costly) signature.
pub fn verify_registration(
    req: &RegisterUser,
    our_node_id: NodeId,
    now: u64,
) -> Result<VerifiedRegistration, Error> {
    let key = PublicIdentity::from_spki_der(req.spki.as_slice())?;
    check_fresh(now, req.timestamp)?;
    let tbs = RegisterTbs {
        node_id: our_node_id,
        name: &req.name,
        spki: req.spki.as_slice(),
        timestamp: req.timestamp,
    };
    // A registration signed for another node fails here: the node id is
    // part of the signed bytes.
    verify_tbs(&key, labels::REGISTER, &tbs, req.signature.as_slice())?;
    Ok(VerifiedRegistration {
        key,
        name: req.name.clone(),
    })
}
