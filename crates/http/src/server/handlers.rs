//! One handler per endpoint: parse the inputs, call the node's use case,
//! shape the answer. No protocol or domain decision is made here.

use std::future::Future;
use std::pin::Pin;

use http::{HeaderMap, HeaderValue, StatusCode};
use peer_crypto::request::Responder;
use peer_node::{Caller, NodeError};
use peer_proto::api::{
    CreateInvite, CreateRoom, HealthStatus, Hello, JoinRoom, Kick, MessageQuery, Notify, PeerLeave,
    PeerQuery, PostKeys, PostMessage, RegisterPeer, RegisterUser, RoomQuery, SetRole, StreamCheck,
    StreamVerdict, TokenRequest, UpdateRoom, UserQuery,
};
use peer_proto::{ErrorCode, NodeId, RoomId, UserId};

use super::auth::{self, Credentials};
use super::call::Call;
use super::reply::{self, Plain, Reply};
use super::routes::EVENTS;
use super::sse;

/// A handler's future.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<Reply, NodeError>> + Send>>;
/// A handler: one per route.
pub(crate) type Handler = fn(Call) -> HandlerFuture;

/// `GET /api/v1/openapi.json`: docs/openapi.yaml as JSON.
pub(crate) fn openapi(_c: Call) -> HandlerFuture {
    Box::pin(async {
        Ok(Reply::Json {
            status: StatusCode::OK,
            body: super::openapi::json()?.to_vec(),
        })
    })
}

/// `GET /healthz`: 200 when the store answers (and, on a follower, the
/// main peer), 503 `degraded` otherwise.
pub(crate) fn health(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let health = c.node.health().await;
        let status = if health.status == HealthStatus::Ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        Reply::json(status, &health)
    })
}

/// `GET /metrics`: Prometheus text.
pub(crate) fn metrics(c: Call) -> HandlerFuture {
    Box::pin(async move {
        if !c.shared.config.metrics_public && !c.peer.ip().is_loopback() {
            return Err(NodeError::forbidden(
                "metrics are served to loopback clients only",
            ));
        }
        Ok(Reply::Text {
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: {
                let mut text = c.shared.metrics.render(&c.node.stats());
                if let Some(extra) = &c.shared.extra_metrics {
                    text.push_str(&extra());
                }
                text
            },
        })
    })
}

/// `GET /api/v1/node`.
pub(crate) fn node_info(c: Call) -> HandlerFuture {
    Box::pin(async move { Reply::ok(&c.node.info()) })
}

/// `GET /api/v1/peers`.
pub(crate) fn list_peers(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let q: PeerQuery = c.query()?;
        Reply::ok(&c.node.list_peers(q).await?)
    })
}

/// `POST /api/v1/peers`: a node registers (signed by its node key).
pub(crate) fn register_peer(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let req: RegisterPeer = c.json()?;
        Reply::created(&c.node.register_peer(req, Some(c.peer.ip())).await?)
    })
}

/// `DELETE /api/v1/peers/{node_id}`: a node leaves (signed by its node key).
pub(crate) fn leave_peer(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let id: NodeId = c.param("node_id")?;
        let req: PeerLeave = c.json()?;
        c.node.leave_peer(id, req).await?;
        Reply::done()
    })
}

/// `POST /api/v1/notify`: a peer pushes a batch of events (peer session).
pub(crate) fn notify(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let batch: Notify = c.json()?;
        c.node.accept_notify(&caller, batch).await?;
        Reply::done()
    })
}

/// `POST /api/v1/relay/events`: a follower asks this node to check a
/// client's event-stream request (peer session). The client's credentials
/// are checked exactly as on `GET /api/v1/events` here; the answer says
/// whom to stream which rooms to, with the client's `Peer-Auth`, or what
/// to refuse the client with.
pub(crate) fn relay_events(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let asking = c.caller()?;
        let check: StreamCheck = c.json()?;
        let verdict = check_relayed_stream(&c, &asking, &check).await;
        Reply::ok(&verdict)
    })
}

async fn check_relayed_stream(c: &Call, asking: &Caller, check: &StreamCheck) -> StreamVerdict {
    let refuse = |e: NodeError, responder: Option<Responder>| {
        let (plain, peer_auth) = Plain::error(&e).authenticate(responder);
        StreamVerdict::Refuse {
            status: plain.status.as_u16(),
            body: plain.body.into(),
            peer_auth,
            retry_after: plain
                .retry_after
                .filter(|_| matches!(plain.status.as_u16(), 429 | 503))
                .map(|d| reply::retry_after_secs(Some(d))),
        }
    };
    let path = check
        .target
        .split_once('?')
        .map_or(check.target.as_str(), |(p, _)| p);
    if path != EVENTS {
        return refuse(
            NodeError::field("target", format!("only {EVENTS} is relayed this way")),
            None,
        );
    }
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("peer-session", &check.peer_session),
        ("peer-key", &check.peer_key),
        ("peer-seq", &check.peer_seq),
        ("peer-auth", &check.peer_auth),
        ("authorization", &check.authorization),
    ] {
        if let Some(v) = value {
            match HeaderValue::from_str(v) {
                Ok(v) => {
                    headers.insert(name, v);
                }
                Err(_) => {
                    return refuse(
                        NodeError::new(ErrorCode::InvalidHeader, format!("{name}: malformed")),
                        None,
                    );
                }
            }
        }
    }
    let (user, responder) = match auth::credentials(&headers) {
        Err(e) => return refuse(e, None),
        Ok(Credentials::None) => {
            return refuse(
                NodeError::new(
                    ErrorCode::Unauthenticated,
                    "this endpoint needs a session (Peer-* headers) or a bearer token",
                ),
                None,
            );
        }
        Ok(Credentials::Bearer(token)) => match c.node.authenticate_bearer(&token) {
            Ok(user) => (user, None),
            Err(e) => return refuse(e, None),
        },
        Ok(Credentials::Session(h)) => {
            match c
                .node
                .authenticate_request(&h, "GET", &check.target, b"", false)
            {
                Ok((user, authed)) => (user, Some(authed.into_parts().1)),
                Err(refusal) => return refuse(refusal.error, refusal.responder.map(|r| *r)),
            }
        }
    };
    match c.node.relayed_stream_rooms(asking, &user).await {
        Ok(rooms) => {
            let (_, peer_auth) = Plain {
                status: StatusCode::OK,
                content_type: reply::JSON,
                body: Vec::new(),
                retry_after: None,
                allow: None,
            }
            .authenticate(responder);
            StreamVerdict::Admit {
                user_id: user.user_id,
                rooms,
                peer_auth,
            }
        }
        Err(e) => refuse(e, responder),
    }
}

/// `POST /api/v1/users`.
pub(crate) fn register_user(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let req: RegisterUser = c.json()?;
        Reply::created(&c.node.register_user(req, Some(c.peer.ip())).await?)
    })
}

/// `GET /api/v1/users`.
pub(crate) fn list_users(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let q: UserQuery = c.query()?;
        Reply::ok(&c.node.list_users(&caller, q).await?)
    })
}

/// `GET /api/v1/users/{user_id}`.
pub(crate) fn get_user(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: UserId = c.param("user_id")?;
        Reply::ok(&c.node.get_user(&caller, id).await?)
    })
}

/// `POST /api/v1/handshake`.
pub(crate) fn handshake(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let hello: Hello = c.json()?;
        Reply::ok(&c.node.handshake(hello, Some(c.peer.ip())).await?)
    })
}

/// `DELETE /api/v1/session`.
pub(crate) fn end_session(c: Call) -> HandlerFuture {
    Box::pin(async move {
        c.node.end_session(&c.caller()?)?;
        Reply::done()
    })
}

/// `POST /api/v1/tokens`.
pub(crate) fn issue_token(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let req: TokenRequest = c.json_or_default()?;
        Reply::created(&c.node.issue_token(&caller, req)?)
    })
}

/// `GET /api/v1/rooms`.
pub(crate) fn list_rooms(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let q: RoomQuery = c.query()?;
        Reply::ok(&c.node.list_rooms(&caller, q).await?)
    })
}

/// `POST /api/v1/rooms`.
pub(crate) fn create_room(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let req: CreateRoom = c.json()?;
        Reply::created(&c.node.create_room(&caller, req).await?)
    })
}

/// `GET /api/v1/rooms/{room_id}`.
pub(crate) fn get_room(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        Reply::ok(&c.node.get_room(&caller, id).await?)
    })
}

/// `PATCH /api/v1/rooms/{room_id}`.
pub(crate) fn update_room(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        let req: UpdateRoom = c.json()?;
        Reply::ok(&c.node.update_room(&caller, id, req).await?)
    })
}

/// `DELETE /api/v1/rooms/{room_id}`.
pub(crate) fn delete_room(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        c.node.delete_room(&caller, id).await?;
        Reply::done()
    })
}

/// `POST /api/v1/rooms/{room_id}/join`.
pub(crate) fn join_room(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        let req: JoinRoom = c.json_or_default()?;
        Reply::ok(&c.node.join_room(&caller, id, req).await?)
    })
}

/// `POST /api/v1/rooms/{room_id}/leave`.
pub(crate) fn leave_room(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        Reply::ok(&c.node.leave_room(&caller, id).await?)
    })
}

/// `POST /api/v1/rooms/{room_id}/kick`.
pub(crate) fn kick(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        let req: Kick = c.json()?;
        Reply::ok(&c.node.kick(&caller, id, req).await?)
    })
}

/// `POST /api/v1/rooms/{room_id}/roles`.
pub(crate) fn set_role(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        let req: SetRole = c.json()?;
        Reply::ok(&c.node.set_member_role(&caller, id, req).await?)
    })
}

/// `POST /api/v1/rooms/{room_id}/invites`.
pub(crate) fn create_invite(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        let req: CreateInvite = c.json_or_default()?;
        Reply::created(&c.node.create_invite(&caller, id, req).await?)
    })
}

/// `GET /api/v1/rooms/{room_id}/keys`.
pub(crate) fn get_keys(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        Reply::ok(&c.node.get_keys(&caller, id).await?)
    })
}

/// `POST /api/v1/rooms/{room_id}/keys`.
pub(crate) fn post_keys(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        let req: PostKeys = c.json()?;
        Reply::ok(&c.node.post_keys(&caller, id, req).await?)
    })
}

/// `GET /api/v1/rooms/{room_id}/messages` (long-polls with `wait`).
pub(crate) fn list_messages(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        let q: MessageQuery = c.query()?;
        Reply::ok(&c.node.list_messages(&caller, id, q).await?)
    })
}

/// `POST /api/v1/rooms/{room_id}/messages`.
pub(crate) fn post_message(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        let req: PostMessage = c.json()?;
        Reply::created(&c.node.post_message(&caller, id, req).await?)
    })
}

/// `DELETE /api/v1/rooms/{room_id}/messages/{seq}`.
pub(crate) fn delete_message(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        let id: RoomId = c.param("room_id")?;
        let seq: u64 = c.param("seq")?;
        c.node.delete_message(&caller, id, seq).await?;
        Reply::done()
    })
}

/// `GET /api/v1/events`: Server-Sent Events.
pub(crate) fn events(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let caller = c.caller()?;
        if c.sealed {
            return Err(NodeError::new(
                ErrorCode::UnsupportedMediaType,
                "event streams are not sealed; send the request unsealed",
            ));
        }
        let last = sse::last_event_id(&c.headers)?;
        Ok(Reply::Events(c.node.subscribe(&caller, last).await?))
    })
}
