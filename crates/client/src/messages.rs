//! Sending and reading messages end to end.
//!
//! Sending encrypts and signs under the room's current epoch; an
//! `epoch_outdated` answer (someone rotated) refreshes the keys and sends
//! once more. Reading verifies each message's sender signature and
//! decrypts it; a message that fails is returned with what failed
//! ([`Verification::Failed`] and a [`MessageError`]), never dropped or
//! shown as if it were fine.

use peer_crypto::error::PeerMisbehaved;
use peer_proto::api::{Message, MessageQuery, PostMessage, Posted};
use peer_proto::signed::MessageBody;
use peer_proto::{ErrorCode, MessageId, RoomId, UserId};

use crate::client::Client;
use crate::error::Result;
use crate::keyring::KeyLookup;

/// How far a message could be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verification {
    /// Sent in an encrypted room; the sender's signature verified and the
    /// text decrypted: the sender wrote exactly this.
    Verified,
    /// Sent in an unencrypted room: the text is as the node stored it;
    /// nobody signed it.
    Unencrypted,
    /// Tombstoned: the content is gone.
    Deleted,
    /// Could not be verified or decrypted; [`ReadMessage::error`] says why
    /// and there is no text.
    Failed,
}

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The signature is not the claimed sender's: someone else made this
    /// message, or it was altered.
    #[error("the sender's signature does not verify")]
    BadSignature,
    /// The signature verified but the ciphertext does not open.
    #[error("the message does not decrypt")]
    Undecryptable,
    /// It decrypted, but the content is not a message body.
    #[error("the decrypted content is malformed")]
    Malformed,
    /// This user holds no key of the message's epoch (sent before it
    /// joined, or after it was removed, or the key was not handed out yet).
    #[error("no key for epoch {epoch}")]
    NoKey {
        /// The message's epoch.
        epoch: u32,
    },
    /// The key envelope of the message's epoch failed verification.
    #[error("the key envelope of epoch {epoch} is invalid")]
    InvalidEnvelope {
        /// The message's epoch.
        epoch: u32,
    },
    /// The sender's key could not be fetched or does not match its id.
    #[error("the sender's key is unavailable")]
    UnknownSender,
    /// The stored message lacks its ciphertext, signature or text.
    #[error("the stored message is incomplete")]
    Incomplete,
}

/// A message as read: decrypted and verified, or marked as not.
#[derive(Clone, PartialEq, Eq)]
pub struct ReadMessage {
    /// Position in the room.
    pub seq: u64,
    /// The room.
    pub room: RoomId,
    /// The message id.
    pub id: MessageId,
    /// The sender (as recorded by the node; [`Verification::Verified`]
    /// means its key signed the message).
    pub sender_id: UserId,
    /// The sender's name, when its record could be fetched.
    pub sender_name: Option<String>,
    /// The text; `None` unless verified or unencrypted.
    pub text: Option<String>,
    /// When the sender wrote it (the sender's clock; unencrypted rooms:
    /// when the node stored it).
    pub sent_at: u64,
    /// When the node stored it.
    pub stored_at: u64,
    /// The seq this message answers.
    pub reply_to: Option<u64>,
    /// The key epoch (encrypted rooms).
    pub epoch: Option<u32>,
    /// How far it can be trusted.
    pub verified: Verification,
    /// What failed, for [`Verification::Failed`].
    pub error: Option<MessageError>,
}

impl std::fmt::Debug for ReadMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The text is the user's secret: its length only.
        f.debug_struct("ReadMessage")
            .field("seq", &self.seq)
            .field("room", &self.room)
            .field("sender_id", &self.sender_id)
            .field("sender_name", &self.sender_name)
            .field("text_len", &self.text.as_ref().map(String::len))
            .field("sent_at", &self.sent_at)
            .field("reply_to", &self.reply_to)
            .field("epoch", &self.epoch)
            .field("verified", &self.verified)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// A page of read messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPage {
    /// The messages, in the order listed (ascending after `after`,
    /// descending before `before`).
    pub messages: Vec<ReadMessage>,
    /// The room's highest seq when the page was read.
    pub last_seq: u64,
    /// True when more messages lie in the direction read.
    pub more: bool,
}

impl Client {
    /// Sends `text` to `room`: encrypted and signed under the current epoch
    /// in an encrypted room, as plain text in an unencrypted one. On
    /// `epoch_outdated` the keys are refreshed and the message is sent once
    /// more.
    pub async fn send_text(&self, room: RoomId, text: &str) -> Result<Posted> {
        self.send(room, text, None).await
    }

    /// [`send_text`](Self::send_text) answering message `reply_to`.
    pub async fn send(&self, room: RoomId, text: &str, reply_to: Option<u64>) -> Result<Posted> {
        let mut refreshed = false;
        loop {
            let epoch = self.current_epoch(room).await?;
            let post = if epoch == 0 {
                PostMessage {
                    epoch: None,
                    ciphertext: None,
                    signature: None,
                    text: Some(text.to_owned()),
                }
            } else {
                let key = self.key_for(room, epoch).await?;
                let body = MessageBody {
                    text: text.to_owned(),
                    sent_at: self.now(),
                    reply_to,
                };
                let mut rng = peer_crypto::rng::system_rng();
                key.epoch_key(room, epoch)
                    .encrypt(&mut rng, &self.inner.identity, &body)?
                    .to_post()
            };
            match self.post_message(room, &post).await {
                Err(e) if e.is_api(ErrorCode::EpochOutdated) && !refreshed => {
                    tracing::debug!(room = %room, epoch, "epoch outdated; refreshing keys");
                    refreshed = true;
                    self.refresh_keys(room).await?;
                }
                other => return other,
            }
        }
    }

    /// Reads up to `limit` messages after seq `after` (oldest first),
    /// decrypting and verifying each. Failures are reported per message.
    pub async fn read(&self, room: RoomId, after: u64, limit: u32) -> Result<Vec<ReadMessage>> {
        let page = self
            .read_page(
                room,
                &MessageQuery {
                    after: Some(after),
                    limit: Some(limit),
                    ..MessageQuery::default()
                },
            )
            .await?;
        Ok(page.messages)
    }

    /// Reads a page of messages with any [`MessageQuery`] (`before`,
    /// `wait`, ...), decrypting and verifying each.
    pub async fn read_page(&self, room: RoomId, query: &MessageQuery) -> Result<ReadPage> {
        let list = self.list_messages(room, query).await?;
        self.fetch_missing_keys(room, &list.messages).await?;
        let mut messages = Vec::with_capacity(list.messages.len());
        for m in &list.messages {
            messages.push(self.open_fetched(m).await);
        }
        Ok(ReadPage {
            messages,
            last_seq: list.last_seq,
            more: list.more,
        })
    }

    /// Fetches this user's envelopes once when a message's epoch has no
    /// key yet.
    async fn fetch_missing_keys(&self, room: RoomId, messages: &[Message]) -> Result<()> {
        let missing = messages
            .iter()
            .filter_map(|m| m.epoch)
            .any(|e| matches!(self.inner.keyring.lookup(room, e), KeyLookup::Missing));
        if missing {
            self.refresh_keys(room).await?;
        }
        Ok(())
    }

    /// Decrypts and verifies one stored message (a `message` event's, for
    /// example); failures are reported in the result, not returned.
    pub async fn open_message(&self, m: &Message) -> Result<ReadMessage> {
        self.fetch_missing_keys(m.room_id, std::slice::from_ref(m))
            .await?;
        Ok(self.open_fetched(m).await)
    }

    async fn open_fetched(&self, m: &Message) -> ReadMessage {
        let sender = self.known_user(m.sender_id).await.ok();
        let mut out = ReadMessage {
            seq: m.seq,
            room: m.room_id,
            id: m.id,
            sender_id: m.sender_id,
            sender_name: sender.as_ref().map(|s| s.name.clone()),
            text: None,
            sent_at: m.created_at,
            stored_at: m.created_at,
            reply_to: None,
            epoch: m.epoch,
            verified: Verification::Failed,
            error: None,
        };
        if m.deleted {
            out.verified = Verification::Deleted;
            return out;
        }
        let Some(epoch) = m.epoch else {
            match &m.text {
                Some(t) => {
                    out.text = Some(t.clone());
                    out.verified = Verification::Unencrypted;
                }
                None => out.error = Some(MessageError::Incomplete),
            }
            return out;
        };
        match self.decrypt(m, epoch, sender.map(|s| s.key)) {
            Ok(body) => {
                out.text = Some(body.text);
                out.sent_at = body.sent_at;
                out.reply_to = body.reply_to;
                out.verified = Verification::Verified;
            }
            Err(e) => out.error = Some(e),
        }
        out
    }

    fn decrypt(
        &self,
        m: &Message,
        epoch: u32,
        sender: Option<peer_crypto::PublicIdentity>,
    ) -> Result<MessageBody, MessageError> {
        if m.ciphertext.is_none() || m.signature.is_none() {
            return Err(MessageError::Incomplete);
        }
        let key = match self.inner.keyring.lookup(m.room_id, epoch) {
            KeyLookup::Key(k) => k,
            KeyLookup::Invalid => return Err(MessageError::InvalidEnvelope { epoch }),
            KeyLookup::Missing => return Err(MessageError::NoKey { epoch }),
        };
        let sender = sender.ok_or(MessageError::UnknownSender)?;
        key.epoch_key(m.room_id, epoch)
            .decrypt_message(m, &sender)
            .map_err(|e| match e.as_peer() {
                Some(PeerMisbehaved::BadSignature) => MessageError::BadSignature,
                Some(PeerMisbehaved::Malformed(_)) => MessageError::Malformed,
                _ => MessageError::Undecryptable,
            })
    }
}
