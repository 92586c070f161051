//! Room keys and end-to-end encrypted messages.
//!
//! A room's master key of each epoch ([`RoomKey`], 32 random bytes) is made
//! by an owner's or admin's client, never by a node. Messages are encrypted
//! under the epoch key and signed by their sender:
//!
//! ```text
//! k_epoch    = HKDF(ikm = master, salt = room_id, info = "peergroup/room/v1" ‖ epoch u32 BE)
//! ciphertext = seal(k_epoch, postcard(MessageBody), aad = canonical(MESSAGE, (room_id, epoch, sender_id)))
//! signature  = sign(sender_key, canonical(MESSAGE_SIG, (room_id, epoch, SHA-256(ciphertext))))
//! ```
//!
//! Receivers verify the signature first (with the key of the claimed
//! sender), then open: [`PeerMisbehaved::BadSignature`] and
//! [`PeerMisbehaved::Undecryptable`] are distinct answers.

use std::fmt;

use peer_proto::api::{Message, PostMessage};
use peer_proto::id::{RoomId, UserId};
use peer_proto::signed::{MessageAad, MessageBody, MessageSigTbs};
use peer_proto::{Bytes, canonical, labels};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{ApiMisuse, Error, PeerMisbehaved};
use crate::identity::{IdentityKey, PublicIdentity};
use crate::kdf::{epoch_key, sha256};
use crate::rng::random_array;
use crate::seal::{open, seal};
use crate::signing::{sign_tbs, verify_tbs};

/// The master key of one room epoch: 32 random bytes, zeroized on drop,
/// redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct RoomKey([u8; 32]);

impl RoomKey {
    /// A new random master key (made by a client).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        RoomKey(random_array(rng))
    }

    /// A master key from its bytes (a client's local key store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        RoomKey(bytes)
    }

    /// The key's bytes, for the client's own key store only.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The epoch key of `room_id` at `epoch`.
    pub fn epoch_key(&self, room_id: RoomId, epoch: u32) -> EpochKey {
        EpochKey {
            room_id,
            epoch,
            key: epoch_key(&self.0, room_id, epoch),
        }
    }
}

impl fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomKey(<redacted>)")
    }
}

/// The message key of one room at one epoch.
pub struct EpochKey {
    room_id: RoomId,
    epoch: u32,
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochKey")
            .field("room_id", &self.room_id)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// An encrypted and signed message, ready to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedMessage {
    /// The room.
    pub room_id: RoomId,
    /// The epoch of the key.
    pub epoch: u32,
    /// The sender (the signing key's id).
    pub sender_id: UserId,
    /// `seal(k_epoch, postcard(body), aad)`.
    pub ciphertext: Bytes,
    /// The sender's signature.
    pub signature: Bytes,
}

impl SealedMessage {
    /// The body of `POST /api/v1/rooms/{id}/messages`.
    pub fn to_post(&self) -> PostMessage {
        PostMessage {
            epoch: Some(self.epoch),
            ciphertext: Some(self.ciphertext.clone()),
            signature: Some(self.signature.clone()),
            text: None,
        }
    }
}

impl EpochKey {
    /// The room.
    pub fn room_id(&self) -> RoomId {
        self.room_id
    }

    /// The epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The 32 key bytes (test vectors).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// Encrypts `body` and signs the ciphertext as `sender`.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        sender: &IdentityKey,
        body: &MessageBody,
    ) -> Result<SealedMessage, Error> {
        let sender_id = sender.user_id();
        let plain = Zeroizing::new(peer_proto::canonical::postcard_bytes(body)?);
        let aad = self.aad(sender_id)?;
        let ciphertext = seal(rng, &self.key, &plain, &aad);
        let hash = sha256(&ciphertext);
        let (_, signature) = sign_tbs(sender, rng, labels::MESSAGE_SIG, &self.sig_tbs(&hash))?;
        Ok(SealedMessage {
            room_id: self.room_id,
            epoch: self.epoch,
            sender_id,
            ciphertext: Bytes(ciphertext),
            signature: Bytes(signature),
        })
    }

    /// Verifies the signature of `sender` (whose id must be `sender_id`),
    /// then decrypts. For a message of this key's room and epoch.
    pub fn decrypt(
        &self,
        sender: &PublicIdentity,
        sender_id: UserId,
        ciphertext: &[u8],
        signature: &[u8],
    ) -> Result<MessageBody, Error> {
        if sender.user_id() != sender_id {
            return Err(PeerMisbehaved::BadSignature.into());
        }
        let hash = sha256(ciphertext);
        verify_tbs(sender, labels::MESSAGE_SIG, &self.sig_tbs(&hash), signature)?;
        let plain = open(&self.key, ciphertext, &self.aad(sender_id)?)?;
        let (body, rest) = postcard::take_from_bytes::<MessageBody>(&plain)
            .map_err(|_| PeerMisbehaved::Malformed("message body"))?;
        if !rest.is_empty() {
            return Err(PeerMisbehaved::Malformed("message body").into());
        }
        Ok(body)
    }

    /// [`decrypt`](Self::decrypt) for a stored message; the message must be
    /// of this key's room and epoch ([`ApiMisuse::WrongEpochKey`]) and carry
    /// ciphertext and signature.
    pub fn decrypt_message(
        &self,
        message: &Message,
        sender: &PublicIdentity,
    ) -> Result<MessageBody, Error> {
        if message.room_id != self.room_id || message.epoch != Some(self.epoch) {
            return Err(ApiMisuse::WrongEpochKey.into());
        }
        let (Some(ct), Some(sig)) = (&message.ciphertext, &message.signature) else {
            return Err(PeerMisbehaved::Malformed("message").into());
        };
        self.decrypt(sender, message.sender_id, ct.as_slice(), sig.as_slice())
    }

    fn aad(&self, sender_id: UserId) -> Result<Vec<u8>, Error> {
        Ok(canonical(
            labels::MESSAGE,
            &MessageAad {
                room_id: self.room_id,
                epoch: self.epoch,
                sender_id,
            },
        )?)
    }

    fn sig_tbs<'a>(&self, hash: &'a [u8; 32]) -> MessageSigTbs<'a> {
        MessageSigTbs {
            room_id: self.room_id,
            epoch: self.epoch,
            ciphertext_hash: hash,
        }
    }
}
