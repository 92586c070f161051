//! Messages: post, list (with long-poll), tombstone.

use std::time::Duration;

use peer_proto::api::{MessageList, MessageQuery, PostMessage, Posted};
use peer_proto::event::EventKind;
use peer_proto::limits;
use peer_proto::{ErrorCode, MessageId, RoomId};
use peer_store::NewMessage;
use peer_store::query::MessageRange;

use crate::auth::Caller;
use crate::error::{NodeError, Result};
use crate::users::page_limit;
use crate::{Node, random, views};

/// Longest signature accepted on a message (RSA-4096).
const MAX_SIGNATURE_BYTES: usize = 512;

impl Node {
    /// `POST /api/v1/rooms/{id}/messages`.
    ///
    /// Encrypted rooms take `epoch`, `ciphertext` and `signature` (the node
    /// cannot check the ciphertext; receivers verify the signature and the
    /// MAC). The epoch must be the room's current one, and no rotation may be
    /// due: so a removed member's key never covers a message sent after the
    /// removal. Unencrypted rooms take `text`.
    pub async fn post_message(
        &self,
        caller: &Caller,
        id: RoomId,
        req: PostMessage,
    ) -> Result<Posted> {
        let (room, _) = self.member_room(caller, id).await?;
        let max = self.inner.config.max_message_bytes;
        let message = if room.encrypted {
            if req.text.is_some() {
                return Err(NodeError::field(
                    "text",
                    "this room is encrypted: send epoch, ciphertext and signature",
                ));
            }
            let (Some(epoch), Some(ciphertext), Some(signature)) =
                (req.epoch, req.ciphertext, req.signature)
            else {
                return Err(NodeError::field(
                    "ciphertext",
                    "epoch, ciphertext and signature are required in an encrypted room",
                ));
            };
            if ciphertext.is_empty() || ciphertext.len() > max {
                return Err(NodeError::field(
                    "ciphertext",
                    format!("must be 1-{max} bytes"),
                ));
            }
            if signature.is_empty() || signature.len() > MAX_SIGNATURE_BYTES {
                return Err(NodeError::field(
                    "signature",
                    format!("must be 1-{MAX_SIGNATURE_BYTES} bytes"),
                ));
            }
            if room.rotation_due {
                return Err(NodeError::new(
                    ErrorCode::RotationPending,
                    "a member left: an owner or admin must rotate the room key first",
                ));
            }
            if epoch < room.epoch {
                return Err(NodeError::new(
                    ErrorCode::EpochOutdated,
                    format!("epoch: the room key is at epoch {}", room.epoch),
                ));
            }
            if epoch > room.epoch {
                return Err(NodeError::new(
                    ErrorCode::WrongEpoch,
                    format!("epoch: the room key is at epoch {}", room.epoch),
                ));
            }
            NewMessage {
                id: MessageId::from_bytes(random()),
                sender_id: caller.user_id,
                created_at: self.now(),
                epoch: Some(epoch),
                ciphertext: Some(ciphertext),
                signature: Some(signature),
                text: None,
            }
        } else {
            if req.epoch.is_some() || req.ciphertext.is_some() || req.signature.is_some() {
                return Err(NodeError::field(
                    "ciphertext",
                    "this room is not encrypted: send text",
                ));
            }
            let Some(text) = req.text else {
                return Err(NodeError::field("text", "required in an unencrypted room"));
            };
            if text.is_empty() || text.len() > max {
                return Err(NodeError::field("text", format!("must be 1-{max} bytes")));
            }
            NewMessage {
                id: MessageId::from_bytes(random()),
                sender_id: caller.user_id,
                created_at: self.now(),
                epoch: None,
                ciphertext: None,
                signature: None,
                text: Some(text),
            }
        };
        let stored = self.inner.store.append_message(id, &message).await?;
        self.publish(EventKind::Message {
            room_id: id,
            seq: stored.seq,
            sender_id: caller.user_id,
        });
        Ok(Posted {
            seq: stored.seq,
            id: stored.id,
            created_at: stored.created_at,
        })
    }

    /// `GET /api/v1/rooms/{id}/messages`: after a seq (ascending; default
    /// after 0) or before one (descending). With `wait` and `after`, waits up
    /// to that many seconds for a message when there is none yet.
    pub async fn list_messages(
        &self,
        caller: &Caller,
        id: RoomId,
        q: MessageQuery,
    ) -> Result<MessageList> {
        let limit = page_limit(q.limit)?;
        let range = match (q.after, q.before) {
            (Some(_), Some(_)) => {
                return Err(NodeError::new(
                    ErrorCode::InvalidQuery,
                    "after, before: give one of them",
                ));
            }
            (_, Some(b)) => MessageRange::Before(b),
            (a, None) => MessageRange::After(a.unwrap_or(0)),
        };
        let wait = q.wait.unwrap_or(0);
        if wait > limits::MAX_WAIT_SECS {
            return Err(NodeError::new(
                ErrorCode::InvalidQuery,
                format!("wait: at most {}", limits::MAX_WAIT_SECS),
            ));
        }
        if wait > 0 && matches!(range, MessageRange::Before(_)) {
            return Err(NodeError::new(
                ErrorCode::InvalidQuery,
                "wait: only with after",
            ));
        }
        self.member_room(caller, id).await?;
        // Subscribe before reading, so a post between the read and the wait
        // still wakes us.
        let mut watch = (wait > 0).then(|| self.watch_room(id));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait));
        loop {
            let page = self.inner.store.list_messages(id, range, limit).await?;
            let Some(rx) = watch.as_mut().filter(|_| page.messages.is_empty()) else {
                return Ok(MessageList {
                    messages: page.messages.into_iter().map(views::message).collect(),
                    last_seq: page.last_seq,
                    more: page.more,
                });
            };
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                // Timed out, or the room's watch went away: answer empty.
                _ => {
                    return Ok(MessageList {
                        messages: Vec::new(),
                        last_seq: page.last_seq,
                        more: false,
                    });
                }
            }
        }
    }

    /// `DELETE /api/v1/rooms/{id}/messages/{seq}`: the sender, or an owner
    /// or admin, tombstones a message (its content is erased).
    pub async fn delete_message(&self, caller: &Caller, id: RoomId, seq: u64) -> Result<()> {
        let (_, me) = self.member_room(caller, id).await?;
        let msg = self.inner.store.get_message(id, seq).await?;
        if msg.sender_id != caller.user_id && !me.role.is_manager() {
            return Err(NodeError::forbidden(
                "only the sender or an owner or admin may delete a message",
            ));
        }
        if !msg.deleted {
            self.inner.store.tombstone_message(id, seq).await?;
            self.publish(EventKind::MessageDeleted { room_id: id, seq });
            self.audit(
                Some(caller),
                Some(id),
                "message.delete",
                format!("seq {seq}"),
            )
            .await;
        }
        Ok(())
    }
}
