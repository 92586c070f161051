//! Key envelopes: a room's epoch master key wrapped for one member (RSA-OAEP
//! to the member's identity key), signed by the owner or admin who
//! distributed it:
//!
//! ```text
//! wrapped_key = RSA-OAEP-SHA256(member_key, master key)
//! signature   = sign(distributor_key, canonical(ENVELOPE, (room_id, epoch, member_id, wrapped_key, distributor_id)))
//! ```
//!
//! The node checks envelopes with [`verify_envelope`] and stores them; the
//! member checks again and opens its own with [`VerifiedEnvelope::unwrap_key`].

use peer_proto::api::Envelope;
use peer_proto::id::{RoomId, UserId};
use peer_proto::signed::EnvelopeTbs;
use peer_proto::{Bytes, labels};
use rand_core::CryptoRng;

use crate::error::{ApiMisuse, Error, PeerMisbehaved};
use crate::identity::{IdentityKey, PublicIdentity};
use crate::room::RoomKey;
use crate::signing::{sign_tbs, verify_tbs};

/// The largest wrapped key accepted (an RSA-4096 ciphertext).
pub const MAX_WRAPPED_KEY_BYTES: usize = 512;

/// Wraps `key` (epoch `epoch` of `room_id`) for `member` and signs the
/// envelope as `distributor`.
pub fn wrap_envelope<R: CryptoRng + ?Sized>(
    rng: &mut R,
    distributor: &IdentityKey,
    room_id: RoomId,
    epoch: u32,
    member: &PublicIdentity,
    key: &RoomKey,
) -> Result<Envelope, Error> {
    let wrapped_key = member.wrap_key(rng, key.as_bytes())?;
    let tbs = EnvelopeTbs {
        room_id,
        epoch,
        member_id: member.user_id(),
        wrapped_key: &wrapped_key,
        distributor_id: distributor.user_id(),
    };
    let (_, signature) = sign_tbs(distributor, rng, labels::ENVELOPE, &tbs)?;
    Ok(Envelope {
        room_id,
        epoch,
        member_id: member.user_id(),
        wrapped_key: Bytes(wrapped_key),
        distributor_id: distributor.user_id(),
        signature: Bytes(signature),
    })
}

/// Proof that an envelope's signature verified under its distributor's key;
/// only [`verify_envelope`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope {
    envelope: Envelope,
}

/// Checks an envelope against `distributor`, the key of the user it names as
/// distributor: that user's id must be `distributor_id`, the epoch at least
/// 1, the wrapped key 1..=512 bytes, and the signature valid. Every failure
/// is [`PeerMisbehaved::BadEnvelope`] (`invalid_envelope`).
pub fn verify_envelope(
    envelope: &Envelope,
    distributor: &PublicIdentity,
) -> Result<VerifiedEnvelope, Error> {
    const BAD: PeerMisbehaved = PeerMisbehaved::BadEnvelope;
    if envelope.distributor_id != distributor.user_id()
        || envelope.epoch == 0
        || envelope.wrapped_key.is_empty()
        || envelope.wrapped_key.len() > MAX_WRAPPED_KEY_BYTES
    {
        return Err(BAD.into());
    }
    let tbs = EnvelopeTbs {
        room_id: envelope.room_id,
        epoch: envelope.epoch,
        member_id: envelope.member_id,
        wrapped_key: envelope.wrapped_key.as_slice(),
        distributor_id: envelope.distributor_id,
    };
    verify_tbs(
        distributor,
        labels::ENVELOPE,
        &tbs,
        envelope.signature.as_slice(),
    )
    .map_err(|e| if e.is_peer() { BAD.into() } else { e })?;
    Ok(VerifiedEnvelope {
        envelope: envelope.clone(),
    })
}

impl VerifiedEnvelope {
    /// The room.
    pub fn room_id(&self) -> RoomId {
        self.envelope.room_id
    }

    /// The epoch.
    pub fn epoch(&self) -> u32 {
        self.envelope.epoch
    }

    /// The member it is for.
    pub fn member_id(&self) -> UserId {
        self.envelope.member_id
    }

    /// Who wrapped and signed it.
    pub fn distributor_id(&self) -> UserId {
        self.envelope.distributor_id
    }

    /// The envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The envelope, by value (to store it).
    pub fn into_envelope(self) -> Envelope {
        self.envelope
    }

    /// Opens the envelope with the member's own key. Refuses an envelope for
    /// another member ([`ApiMisuse::NotMyEnvelope`]); a wrapped key that does
    /// not decrypt to 32 bytes is [`PeerMisbehaved::Undecryptable`]. `rng`
    /// blinds the RSA operation.
    pub fn unwrap_key<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        member: &IdentityKey,
    ) -> Result<RoomKey, Error> {
        if member.user_id() != self.envelope.member_id {
            return Err(ApiMisuse::NotMyEnvelope.into());
        }
        let plain = member.unwrap_key(rng, self.envelope.wrapped_key.as_slice())?;
        let bytes: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| PeerMisbehaved::Undecryptable)?;
        Ok(RoomKey::from_bytes(bytes))
    }
}
