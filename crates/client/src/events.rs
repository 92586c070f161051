//! The user's event stream (`GET /api/v1/events`, Server-Sent Events).
//!
//! The stream is opened with a session-authenticated request; the
//! response's `Peer-Auth` covers its status and an empty body, and is
//! checked before any event is read. The events themselves are not
//! authenticated one by one: they are hints ("room X has a message 7"),
//! and what they point at is fetched with authenticated, verified calls.

use peer_http::client::SseStream;
use peer_proto::event::Event;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// The `event:` names this client understands; others (from a newer node)
/// are skipped.
const KNOWN: &[&str] = &[
    "message",
    "message_deleted",
    "member_joined",
    "member_left",
    "key_request",
    "key_granted",
    "key_rotated",
    "room_updated",
    "room_deleted",
    "error",
];

/// A live event stream.
#[derive(Debug)]
pub struct EventStream {
    sse: SseStream,
    last_id: Option<u64>,
}

impl EventStream {
    /// The next event; `None` when the node closed the stream. `error`
    /// events are returned like the others: `conflict` first on a resumed
    /// stream whose `Last-Event-ID` is too old (re-read the rooms), or
    /// `rate_limited` last on a stream the node cut off for reading too
    /// slowly. A transport failure (including the idle timeout: no heartbeat came)
    /// ends the stream; open a new one with
    /// [`last_event_id`](Self::last_event_id) to resume.
    pub async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            let sse = match self.sse.next().await? {
                Ok(e) => e,
                Err(e) => return Some(Err(e.into())),
            };
            if !KNOWN.contains(&sse.event.as_str()) {
                tracing::debug!(event = %sse.event, "skipping an unknown event type");
                continue;
            }
            let event: Event = match serde_json::from_str(&sse.data) {
                Ok(e) => e,
                Err(_) => return Some(Err(ClientError::InvalidResponse("event data"))),
            };
            // Error events carry id 0: they do not move the resume point.
            if event.id != 0 {
                self.last_id = Some(event.id);
            }
            return Some(Ok(event));
        }
    }

    /// The id of the last event returned (pass to
    /// [`Client::events`] to resume after it).
    pub fn last_event_id(&self) -> Option<u64> {
        self.last_id
    }
}

impl Client {
    /// Opens this user's event stream: events of the rooms it belongs to,
    /// from after `last_event_id` when given (`Last-Event-ID`).
    pub async fn events(&self, last_event_id: Option<u64>) -> Result<EventStream> {
        let extra: Vec<(&'static str, String)> = last_event_id
            .map(|id| ("last-event-id", id.to_string()))
            .into_iter()
            .collect();
        let sse = self.authed_stream("/api/v1/events", &extra).await?;
        Ok(EventStream {
            sse,
            last_id: last_event_id,
        })
    }
}
