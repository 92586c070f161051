//! One handler per endpoint: parse the inputs, call the node's use case,
//! shape the answer. No protocol or domain decision is made here.

use std::future::Future;
use std::pin::Pin;

use http::StatusCode;
use peer_node::NodeError;
use peer_proto::api::{
    CreateInvite, CreateRoom, Hello, JoinRoom, Kick, MessageQuery, PeerQuery, PostKeys,
    PostMessage, RegisterUser, RoomQuery, SetRole, TokenRequest, UpdateRoom, UserQuery,
};
use peer_proto::{ErrorCode, RoomId, UserId};

use super::call::Call;
use super::reply::Reply;
use super::sse;

/// A handler's future.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<Reply, NodeError>> + Send>>;
/// A handler: one per route.
pub(crate) type Handler = fn(Call) -> HandlerFuture;

/// Routes that come with later work (the web client, the OpenAPI document,
/// node-to-node registration and pushes): 404 `not_found` for now.
pub(crate) fn later(_c: Call) -> HandlerFuture {
    Box::pin(async {
        Err(NodeError::new(
            ErrorCode::NotFound,
            "not available on this node yet",
        ))
    })
}

/// `GET /healthz`: 200 when the store answers, 503 otherwise.
pub(crate) fn health(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let health = c.node.health().await;
        let status = if health.store_ok {
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
            body: c.shared.metrics.render(&c.node.stats()),
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
