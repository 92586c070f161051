//! A read message as peerctl shows it, shared by `read` and `chat`: one
//! JSON object with documented fields, or one line of text with a visible
//! mark when the message could not be trusted.
//!
//! Statuses (`status` in JSON, and the text form):
//!
//! | status | meaning | text |
//! | --- | --- | --- |
//! | `verified` | the sender's signature verified and the text decrypted | `alice: text` |
//! | `unencrypted` | a message of an unencrypted room: as the node stored it, unsigned | `alice: text` |
//! | `deleted` | tombstoned | `alice: (deleted)` |
//! | `unreadable` | no key for its epoch: sent before I joined (`reason: before_join`, by design), or a key not handed to me yet (`reason: key_pending`) | `· alice: (sent before you joined: unreadable by design)` |
//! | `failed` | the signature or the ciphertext did not verify | `! alice: (NOT VERIFIED: ...; text not shown)` |

use peer_client::{MessageError, ReadMessage, Verification};
use serde::Serialize;

use crate::output::{sanitize, utc};

/// One message, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct MessageView {
    /// The room's sequence number.
    pub(crate) seq: u64,
    /// The room id.
    pub(crate) room: String,
    /// The sender's user id (as the node recorded it).
    pub(crate) sender_id: String,
    /// The sender's registered name, if known.
    pub(crate) sender_name: Option<String>,
    /// The text; `null` unless verified or unencrypted.
    pub(crate) text: Option<String>,
    /// When the sender wrote it (unix seconds; the sender's clock).
    pub(crate) sent_at: u64,
    /// True only when the signature verified and the text decrypted.
    pub(crate) verified: bool,
    /// `verified`, `unencrypted`, `deleted`, `unreadable` or `failed`.
    pub(crate) status: &'static str,
    /// Why it is unreadable or failed (`before_join`, `key_pending`,
    /// `bad_signature`, `undecryptable`, `malformed`, `invalid_envelope`,
    /// `unknown_sender`, `incomplete`); `null` otherwise.
    pub(crate) reason: Option<&'static str>,
    /// The key epoch (encrypted rooms).
    pub(crate) epoch: Option<u32>,
    /// The seq this message answers.
    pub(crate) reply_to: Option<u64>,
}

/// `m` as shown to a member who joined at `join_epoch`.
pub(crate) fn view(m: &ReadMessage, join_epoch: u32) -> MessageView {
    let (status, reason) = match (m.verified, m.error) {
        (Verification::Verified, _) => ("verified", None),
        (Verification::Unencrypted, _) => ("unencrypted", None),
        (Verification::Deleted, _) => ("deleted", None),
        (_, Some(MessageError::NoKey { epoch })) if epoch < join_epoch => {
            ("unreadable", Some("before_join"))
        }
        (_, Some(MessageError::NoKey { .. })) => ("unreadable", Some("key_pending")),
        (_, Some(e)) => ("failed", Some(reason_code(e))),
        (_, None) => ("failed", Some("incomplete")),
    };
    MessageView {
        seq: m.seq,
        room: m.room.to_string(),
        sender_id: m.sender_id.to_string(),
        sender_name: m.sender_name.clone(),
        text: m.text.clone(),
        sent_at: m.sent_at,
        verified: m.verified == Verification::Verified,
        status,
        reason,
        epoch: m.epoch,
        reply_to: m.reply_to,
    }
}

fn reason_code(e: MessageError) -> &'static str {
    match e {
        MessageError::BadSignature => "bad_signature",
        MessageError::Undecryptable => "undecryptable",
        MessageError::Malformed => "malformed",
        MessageError::NoKey { .. } => "key_pending",
        MessageError::InvalidEnvelope { .. } => "invalid_envelope",
        MessageError::UnknownSender => "unknown_sender",
        _ => "incomplete",
    }
}

impl MessageView {
    /// True when no key was there yet for a message I may read: it
    /// becomes readable once an owner or admin hands the key out.
    pub(crate) fn waits_for_key(&self) -> bool {
        self.reason == Some("key_pending")
    }

    /// `name: text` with the mark of its status (the chat's form).
    pub(crate) fn chat_line(&self) -> String {
        let name = self
            .sender_name
            .as_deref()
            .map(|n| sanitize(n, ""))
            .unwrap_or_else(|| self.sender_id.clone());
        let indent = " ".repeat(name.chars().count() + 4);
        match (self.status, self.reason) {
            ("verified" | "unencrypted", _) => format!(
                "  {name}: {}",
                sanitize(self.text.as_deref().unwrap_or_default(), &indent)
            ),
            ("deleted", _) => format!("  {name}: (deleted)"),
            ("unreadable", Some("before_join")) => {
                format!("· {name}: (sent before you joined: unreadable by design)")
            }
            ("unreadable", _) => format!(
                "· {name}: (no key for epoch {} yet: an owner or admin hands it out when online)",
                self.epoch.unwrap_or_default()
            ),
            (_, reason) => format!(
                "! {name}: (NOT VERIFIED: {}; text not shown)",
                failure_text(reason.unwrap_or("incomplete"))
            ),
        }
    }

    /// `[#seq time] ` + the chat form (`read`'s text form).
    pub(crate) fn read_line(&self) -> String {
        format!("[#{} {}] {}", self.seq, utc(self.sent_at), self.chat_line())
    }
}

fn failure_text(reason: &str) -> &'static str {
    match reason {
        "bad_signature" => "the sender's signature does not verify",
        "undecryptable" => "it does not decrypt",
        "malformed" => "its content is malformed",
        "invalid_envelope" => "the key envelope of its epoch is invalid",
        "unknown_sender" => "the sender's key is unavailable",
        _ => "the stored message is incomplete",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peer_proto::{MessageId, RoomId, UserId};

    fn msg(verified: Verification, error: Option<MessageError>, text: Option<&str>) -> ReadMessage {
        ReadMessage {
            seq: 7,
            room: RoomId::from_bytes([1; 16]),
            id: MessageId::from_bytes([2; 16]),
            sender_id: UserId::from_bytes([3; 16]),
            sender_name: Some("bob".into()),
            text: text.map(Into::into),
            sent_at: 0,
            stored_at: 0,
            reply_to: None,
            epoch: Some(2),
            verified,
            error,
        }
    }

    #[test]
    fn statuses_and_marks() {
        let ok = view(&msg(Verification::Verified, None, Some("hi\x1b[31m")), 1);
        assert_eq!((ok.status, ok.verified), ("verified", true));
        assert_eq!(ok.chat_line(), "  bob: hi\u{FFFD}[31m");
        assert_eq!(
            ok.read_line(),
            "[#7 1970-01-01 00:00Z]   bob: hi\u{FFFD}[31m"
        );

        let bad = view(
            &msg(Verification::Failed, Some(MessageError::BadSignature), None),
            1,
        );
        assert_eq!((bad.status, bad.reason), ("failed", Some("bad_signature")));
        assert!(bad.chat_line().starts_with("! bob: (NOT VERIFIED"));
        assert!(!bad.verified);

        let early = view(
            &msg(
                Verification::Failed,
                Some(MessageError::NoKey { epoch: 2 }),
                None,
            ),
            3,
        );
        assert_eq!(
            (early.status, early.reason),
            ("unreadable", Some("before_join"))
        );
        assert!(early.chat_line().contains("unreadable by design"));
        let pending = view(
            &msg(
                Verification::Failed,
                Some(MessageError::NoKey { epoch: 2 }),
                None,
            ),
            2,
        );
        assert!(pending.waits_for_key());
        let json = serde_json::to_value(&pending).unwrap();
        for field in [
            "seq",
            "room",
            "sender_id",
            "sender_name",
            "text",
            "sent_at",
            "verified",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
    }
}
