//! A follower serving the client API: every client request goes to the main
//! peer unchanged and its answer comes back unchanged; an event stream is
//! checked by the main peer and then served here, from pushed events.
//!
//! ```text
//! client ── GET /api/v1/rooms + Peer-* ──▶ follower ── same request ──▶ main peer
//!        ◀─ status, body, Peer-Auth ──────          ◀─ verifies, answers ─┘
//!
//! client ── GET /api/v1/events + Peer-* ─▶ follower ── POST /api/v1/relay/events ─▶ main peer
//!                                                      (peer session: the client's
//!                                                       target and credential headers)
//!                                          ◀── admit {user, rooms, Peer-Auth of 200} ──┘
//!        ◀─ 200 + Peer-Auth, then events from this node's bus (pushed by the main peer)
//! ```
//!
//! The follower never holds a client's session keys: the main peer checks
//! every authenticator. What the follower adds is the fan-out: one push
//! connection from the main peer, however many streams its clients hold.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use peer_node::NodeError;
use peer_proto::NodeId;
use peer_proto::api::{Hello, StreamCheck, StreamVerdict};

use super::Shared;
use super::reply::{JSON, Reply};
use super::routes::{EVENTS, HANDSHAKE, Route};
use super::sse;
use super::upstream::{FORWARDED_REQUEST_HEADERS, Relayed, RelayedAnswer, Upstream};

/// Serves a client API request through the main peer.
pub(crate) async fn serve(
    shared: &Arc<Shared>,
    upstream: &Arc<dyn Upstream>,
    route: &'static Route,
    parts: &Parts,
    body: Vec<u8>,
) -> Result<Reply, NodeError> {
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |pq| pq.as_str())
        .to_owned();
    if route.pattern == EVENTS {
        return stream(shared, upstream, target, parts).await;
    }
    let headers = FORWARDED_REQUEST_HEADERS
        .iter()
        .flat_map(|name| {
            parts
                .headers
                .get_all(*name)
                .iter()
                .map(|v| (HeaderName::from_static(name), v.clone()))
        })
        .collect();
    let answer = upstream
        .forward(Relayed {
            method: parts.method.clone(),
            target,
            headers,
            body: Bytes::from(body),
        })
        .await?;
    Ok(Reply::Relayed(answer))
}

/// True for a handshake of a peer node whose key this node stores (the
/// main peer opening the session it pushes in): a follower answers it
/// itself.
pub(crate) async fn is_peer_handshake(shared: &Shared, route: &Route, body: &[u8]) -> bool {
    if route.pattern != HANDSHAKE {
        return false;
    }
    let Ok(hello) = serde_json::from_slice::<Hello>(body) else {
        return false;
    };
    shared
        .node
        .knows_peer_key(NodeId::from_bytes(*hello.user_id.as_bytes()))
        .await
}

/// A client's event stream on a follower.
async fn stream(
    shared: &Arc<Shared>,
    upstream: &Arc<dyn Upstream>,
    target: String,
    parts: &Parts,
) -> Result<Reply, NodeError> {
    // Checked here too: the stream is served here, resumed from this
    // node's event ids.
    let last = sse::last_event_id(&parts.headers)?;
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let check = StreamCheck {
        target,
        peer_session: header("peer-session"),
        peer_key: header("peer-key"),
        peer_seq: header("peer-seq"),
        peer_auth: header("peer-auth"),
        authorization: header("authorization"),
    };
    let node = &shared.node;
    let mark = node.stream_mark();
    let grant = upstream.check_stream(check).await?;
    match grant.verdict {
        StreamVerdict::Admit {
            user_id,
            rooms,
            peer_auth,
        } => {
            let stream = node.subscribe_relayed(user_id, rooms, last, mark)?;
            Ok(Reply::RelayedEvents {
                stream,
                peer_auth,
                follow: grant.follow,
            })
        }
        StreamVerdict::Refuse {
            status,
            body,
            peer_auth,
            retry_after,
        } => {
            let mut headers = vec![(http::header::CONTENT_TYPE, HeaderValue::from_static(JSON))];
            if let Some(tag) = peer_auth.and_then(|t| HeaderValue::from_str(&t).ok()) {
                headers.push((HeaderName::from_static("peer-auth"), tag));
            }
            if let Some(secs) = retry_after {
                headers.push((http::header::RETRY_AFTER, HeaderValue::from(secs)));
            }
            Ok(Reply::Relayed(RelayedAnswer {
                status,
                headers,
                body: Bytes::from(body.0),
            }))
        }
    }
}
