//! A user's event stream that survives failures, for `chat` and `agent`.
//!
//! A task keeps `GET /api/v1/events` open and forwards what happens as
//! [`FeedItem`]s on a channel (so the consumer can `select!` on it next to
//! its input without losing anything). When the stream fails it reopens it
//! with `Last-Event-ID` (the node replays what it still holds, or says
//! events were lost: [`FeedItem::Gap`]), after a bounded exponential
//! backoff: 250 ms, doubling, at most 8 s, reset by a successful opening.
//! While the stream is down and a room is given, it long-polls that room's
//! messages instead, so a chat keeps receiving ([`FeedItem::Activity`]).
//! Errors that retrying cannot cure (the node's key changed, the user is
//! unknown) end the feed with [`FeedItem::Fatal`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use peer_client::{Client, ClientError};
use peer_proto::api::MessageQuery;
use peer_proto::event::{Event, EventKind};
use peer_proto::{ErrorCode, RoomId};
use tokio::sync::mpsc;

/// The first wait before reopening a failed stream.
const BACKOFF_START: Duration = Duration::from_millis(250);
/// The longest wait.
const BACKOFF_MAX: Duration = Duration::from_secs(8);

/// What the feed reports.
#[derive(Debug)]
pub(crate) enum FeedItem {
    /// The stream is open. `resumed`: reopened with `Last-Event-ID` (events
    /// missed meanwhile are replayed, unless a [`FeedItem::Gap`] follows).
    Online {
        /// Reopened after a failure with the last event id.
        resumed: bool,
        /// The event id it resumed after.
        after: Option<u64>,
    },
    /// An event of one of the user's rooms.
    Event(Box<Event>),
    /// The node no longer holds events after the last one seen: whatever
    /// depends on them must be read again.
    Gap,
    /// The stream is down; it is reopened after `retry_in`.
    Offline {
        /// Why (one line).
        error: String,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// The fallback long-poll saw new messages in the polled room.
    Activity,
    /// The feed stopped for good.
    Fatal(ClientError),
}

/// A room to long-poll while the stream is down, and the last seq its
/// consumer has seen.
#[derive(Debug, Clone)]
pub(crate) struct PollTarget {
    /// The room.
    pub(crate) room: RoomId,
    /// The consumer's last seen seq (it updates this).
    pub(crate) last_seq: Arc<AtomicU64>,
}

/// Starts the feed; it stops when the receiver is dropped.
pub(crate) fn spawn(client: Client, poll: Option<PollTarget>) -> mpsc::Receiver<FeedItem> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        run(client, poll, tx).await;
    });
    rx
}

/// The backoff sequence.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            next: BACKOFF_START,
        }
    }

    fn reset(&mut self) {
        self.next = BACKOFF_START;
    }

    fn next(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        d
    }
}

/// Errors that reopening cannot cure.
fn is_fatal(e: &ClientError) -> bool {
    match e {
        ClientError::NodeKeyChanged { .. }
        | ClientError::BadNodeInfo { .. }
        | ClientError::Pins(_)
        | ClientError::Crypto(_) => true,
        ClientError::Api { code, .. } => matches!(
            code,
            ErrorCode::UnknownIdentity
                | ErrorCode::BadSignature
                | ErrorCode::WrongNode
                | ErrorCode::UnsupportedVersion
                | ErrorCode::Forbidden
                | ErrorCode::TokensDisabled
        ),
        _ => false,
    }
}

async fn run(client: Client, poll: Option<PollTarget>, tx: mpsc::Sender<FeedItem>) {
    let mut last: Option<u64> = None;
    let mut backoff = Backoff::new();
    loop {
        let error = match client.events(last).await {
            Ok(mut stream) => {
                backoff.reset();
                let online = FeedItem::Online {
                    resumed: last.is_some(),
                    after: last,
                };
                if tx.send(online).await.is_err() {
                    return;
                }
                let error = loop {
                    match stream.next().await {
                        Some(Ok(event)) => {
                            let item = match &event.kind {
                                EventKind::Error {
                                    code: ErrorCode::Conflict,
                                    ..
                                } => FeedItem::Gap,
                                EventKind::Error { code, message } => {
                                    break format!(
                                        "the node ended the event stream: {message} ({code})"
                                    );
                                }
                                _ => FeedItem::Event(Box::new(event)),
                            };
                            if tx.send(item).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(e)) => break e.to_string(),
                        None => break "the node closed the event stream".to_owned(),
                    }
                };
                last = stream.last_event_id().or(last);
                error
            }
            Err(e) if is_fatal(&e) => {
                let _ = tx.send(FeedItem::Fatal(e)).await;
                return;
            }
            Err(e) => e.to_string(),
        };
        let delay = backoff.next();
        let offline = FeedItem::Offline {
            error,
            retry_in: delay,
        };
        if tx.send(offline).await.is_err() {
            return;
        }
        match &poll {
            Some(p) => {
                if poll_once(&client, p, delay).await && tx.send(FeedItem::Activity).await.is_err()
                {
                    return;
                }
            }
            None => tokio::time::sleep(delay).await,
        }
    }
}

/// Long-polls the room for about `delay` (whole seconds, at least one);
/// true when messages after the consumer's last seq exist. A failed poll
/// waits out the delay instead.
async fn poll_once(client: &Client, p: &PollTarget, delay: Duration) -> bool {
    let wait = u32::try_from(delay.as_secs().max(1)).unwrap_or(1);
    let query = MessageQuery {
        after: Some(p.last_seq.load(Ordering::Relaxed)),
        before: None,
        limit: Some(1),
        wait: Some(wait),
    };
    match client.list_messages(p.room, &query).await {
        Ok(list) => !list.messages.is_empty(),
        Err(_) => {
            tokio::time::sleep(delay).await;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound_and_resets() {
        let mut b = Backoff::new();
        let seq: Vec<u64> = (0..8).map(|_| b.next().as_millis() as u64).collect();
        assert_eq!(seq, vec![250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
        b.reset();
        assert_eq!(b.next(), BACKOFF_START);
    }
}
