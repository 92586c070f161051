//! `GET /api/v1/events` as Server-Sent Events.
//!
//! ```text
//! retry: 3000                      once, first
//!
//! id: 4711                         one block per event
//! event: message
//! data: {"id":4711,"at":1700000000,"type":"message","room_id":"...","seq":3,"sender_id":"..."}
//!
//! : ping                           every heartbeat interval
//! ```
//!
//! An `error` event (code `conflict`) opens a resumed stream whose
//! `Last-Event-ID` is too old; an `error` event (code `rate_limited`) ends a
//! stream the node cut off for reading too slowly. Error events carry no
//! `id:` line, so they never move the client's resume point.
//!
//! The body is a stream polled by hyper only when the connection can take
//! more bytes: a stalled client leaves its events in the node's bounded
//! per-subscriber buffer (which cuts it off when full), and nothing is
//! buffered here.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::Frame;
use peer_node::{EventStream, NodeError, Resume};
use peer_proto::ErrorCode;
use peer_proto::event::{Event, EventKind};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::reply::BoxBody;

/// `text/event-stream`.
pub(crate) const EVENT_STREAM: &str = "text/event-stream";

/// The `Last-Event-ID` header: absent or empty is none; anything but a
/// decimal u64 is `invalid_header`.
pub(crate) fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, NodeError> {
    let Some(v) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let bad = || NodeError::new(ErrorCode::InvalidHeader, "Last-Event-ID: not an event id");
    let text = v.to_str().map_err(|_| bad())?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map(Some).map_err(|_| bad())
}

/// The SSE encoding of one event.
pub(crate) fn encode(event: &Event) -> Bytes {
    let data = match serde_json::to_string(event) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "event serialization failed");
            return Bytes::new();
        }
    };
    let mut out = String::with_capacity(data.len() + 48);
    if event.id != 0 {
        out.push_str(&format!("id: {}\n", event.id));
    }
    out.push_str(&format!("event: {}\ndata: {data}\n\n", event.kind.name()));
    Bytes::from(out)
}

struct State {
    events: EventStream,
    heartbeat: Interval,
    shutdown: CancellationToken,
    follow: CancellationToken,
    queue: VecDeque<Bytes>,
}

/// The body of an event stream: `events` until they end, `shutdown`, or
/// `follow` (a follower's stream, when it stops following the main peer
/// that admitted it), with heartbeats. `now` dates the resync notice of a
/// gap.
pub(crate) fn body(
    events: EventStream,
    heartbeat: Duration,
    shutdown: CancellationToken,
    follow: Option<CancellationToken>,
    now: u64,
) -> BoxBody {
    let mut queue = VecDeque::new();
    queue.push_back(Bytes::from_static(b"retry: 3000\n\n"));
    if events.resume() == Resume::Gap {
        queue.push_back(encode(&Event {
            id: 0,
            at: now,
            kind: EventKind::Error {
                code: ErrorCode::Conflict,
                message: "events after Last-Event-ID are no longer kept: \
                          re-read your rooms (messages after your last seq), \
                          then go on with this stream"
                    .into(),
            },
        }));
    }
    let period = heartbeat.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let state = State {
        events,
        heartbeat: ticker,
        shutdown,
        // Never cancelled when there is no follow to end.
        follow: follow.unwrap_or_default(),
        queue,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if let Some(b) = st.queue.pop_front() {
            return Some((Ok(Frame::data(b)), st));
        }
        let chunk = tokio::select! {
            biased;
            () = st.shutdown.cancelled() => return None,
            () = st.follow.cancelled() => return None,
            ev = st.events.next() => match ev {
                Some(e) => encode(&e),
                None => return None,
            },
            _ = st.heartbeat.tick() => Bytes::from_static(b": ping\n\n"),
        };
        Some((Ok(Frame::data(chunk)), st))
    });
    StreamBody::new(stream).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use peer_proto::RoomId;

    #[test]
    fn last_event_id_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(last_event_id(&h).unwrap(), None);
        h.insert("last-event-id", HeaderValue::from_static(" 42 "));
        assert_eq!(last_event_id(&h).unwrap(), Some(42));
        h.insert("last-event-id", HeaderValue::from_static(""));
        assert_eq!(last_event_id(&h).unwrap(), None);
        for bad in ["x", "-1", "+1", "1.5", "99999999999999999999999"] {
            h.insert("last-event-id", HeaderValue::from_static(bad));
            assert_eq!(
                last_event_id(&h).unwrap_err().code,
                ErrorCode::InvalidHeader,
                "{bad}"
            );
        }
    }

    #[test]
    fn encoding() {
        let e = Event {
            id: 7,
            at: 1,
            kind: EventKind::RoomUpdated {
                room_id: RoomId::from_bytes([0; 16]),
            },
        };
        let text = String::from_utf8(encode(&e).to_vec()).unwrap();
        assert!(
            text.starts_with("id: 7\nevent: room_updated\ndata: {"),
            "{text}"
        );
        assert!(text.ends_with("}\n\n"));
        let err = Event {
            id: 0,
            at: 1,
            kind: EventKind::Error {
                code: ErrorCode::RateLimited,
                message: "line\nbreak".into(),
            },
        };
        let text = String::from_utf8(encode(&err).to_vec()).unwrap();
        assert!(text.starts_with("event: error\ndata: "), "{text}");
        assert_eq!(text.matches('\n').count(), 3, "{text}");
    }
}
