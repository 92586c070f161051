//! Every endpoint of api.md for users (node-to-node endpoints excepted), as
//! typed async methods. These send and return the `peer-proto` bodies as
//! they are; the end-to-end helpers ([`create_room`](Client::create_room),
//! [`send_text`](Client::send_text), [`read`](Client::read), ...) build on
//! them.

use std::time::Duration;

use http::Method;
use peer_proto::api::{
    CreateInvite, CreateRoom, Health, Invite, JoinRoom, Joined, KeyList, KeysPosted, Kick, Member,
    MessageList, MessageQuery, NodeInfo, PeerList, PeerQuery, PostKeys, PostMessage, Posted,
    Removed, Role, Room, RoomList, RoomQuery, SetRole, TokenRequest, TokenResponse, UpdateRoom,
    User, UserList, UserQuery,
};
use peer_proto::{RoomId, UserId};
use serde::Serialize;

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::exchange::{self, parse};

/// `path` with `query` appended as `?a=1&b=2` (nothing when it is empty).
fn with_query<Q: Serialize>(path: String, query: &Q) -> Result<String> {
    let q = serde_urlencoded::to_string(query)
        .map_err(|_| ClientError::InvalidArgument("query parameters".into()))?;
    Ok(if q.is_empty() {
        path
    } else {
        format!("{path}?{q}")
    })
}

/// Extra time a long-poll gets beyond its `wait`.
const LONG_POLL_MARGIN: Duration = Duration::from_secs(15);

impl Client {
    // ------------------------------------------------------------ node

    /// `GET /api/v1/node`, fetched again (unauthenticated; the node's key
    /// was pinned at connect).
    pub async fn node_info(&self) -> Result<NodeInfo> {
        exchange::plain_get(&self.inner.http, &self.inner.base, "/api/v1/node").await
    }

    /// `GET /healthz` (unauthenticated). A degraded node answers 503 with
    /// the same body; both are returned as [`Health`].
    pub async fn health(&self) -> Result<Health> {
        let req = peer_http::client::Request::new(Method::GET, self.inner.base.join("/healthz")?);
        let resp = self.inner.http.send(req).await?;
        if (resp.status == 200 || resp.status == 503)
            && let Ok(h) = parse::<Health>(&resp.body)
        {
            return Ok(h);
        }
        Err(ClientError::InvalidResponse("health answer"))
    }

    /// `GET /api/v1/peers` (unauthenticated): the peer nodes this node
    /// knows, filtered by `query`. Peers are what the node says; nothing
    /// here is verified against their keys.
    pub async fn list_peers(&self, query: &PeerQuery) -> Result<PeerList> {
        let target = with_query("/api/v1/peers".to_owned(), query)?;
        exchange::plain_get(&self.inner.http, &self.inner.base, &target).await
    }

    // ------------------------------------------------------------ users

    /// `GET /api/v1/users/{id}`: one user's public fields. (For a key that
    /// is checked against the id, use [`known_user`](Self::known_user).)
    pub async fn get_user(&self, id: UserId) -> Result<User> {
        self.authed(Method::GET, format!("/api/v1/users/{id}"), None::<&()>)
            .await
    }

    /// `GET /api/v1/users`: users by name prefix, paginated.
    pub async fn list_users(&self, query: &UserQuery) -> Result<UserList> {
        let target = with_query("/api/v1/users".to_owned(), query)?;
        self.authed(Method::GET, target, None::<&()>).await
    }

    // ------------------------------------------------------------ tokens

    /// `POST /api/v1/tokens`: a bearer token for curl (`ttl_secs` default
    /// 3600).
    pub async fn issue_token(&self, ttl_secs: Option<u64>) -> Result<TokenResponse> {
        self.authed(
            Method::POST,
            "/api/v1/tokens".to_owned(),
            Some(&TokenRequest { ttl_secs }),
        )
        .await
    }

    // ------------------------------------------------------------ rooms

    /// `GET /api/v1/rooms`: public rooms and this user's rooms.
    pub async fn list_rooms(&self, query: &RoomQuery) -> Result<RoomList> {
        let target = with_query("/api/v1/rooms".to_owned(), query)?;
        self.authed(Method::GET, target, None::<&()>).await
    }

    /// `GET /api/v1/rooms/{id}`: details, with members when this user is
    /// one.
    pub async fn get_room(&self, room: RoomId) -> Result<Room> {
        self.authed(Method::GET, format!("/api/v1/rooms/{room}"), None::<&()>)
            .await
    }

    /// `POST /api/v1/rooms` with a body the caller built (id and, for an
    /// encrypted room, the owner's epoch-1 envelope included). Most callers
    /// want [`create_room`](Self::create_room), which builds both.
    pub async fn create_room_raw(&self, req: &CreateRoom) -> Result<Room> {
        self.authed(Method::POST, "/api/v1/rooms".to_owned(), Some(req))
            .await
    }

    /// `PATCH /api/v1/rooms/{id}` (owner or admin).
    pub async fn update_room(&self, room: RoomId, update: &UpdateRoom) -> Result<Room> {
        self.authed(Method::PATCH, format!("/api/v1/rooms/{room}"), Some(update))
            .await
    }

    /// `DELETE /api/v1/rooms/{id}` (owner); forgets the room's keys.
    pub async fn delete_room(&self, room: RoomId) -> Result<()> {
        self.authed_unit(Method::DELETE, format!("/api/v1/rooms/{room}"), None::<&()>)
            .await?;
        self.inner.keyring.forget(room);
        Ok(())
    }

    /// `POST /api/v1/rooms/{id}/join` with a password or an invite code
    /// when the room needs one. In an encrypted room the answer says
    /// `key_pending`: an owner or admin hands out the key on the
    /// `key_request` event.
    pub async fn join_room(&self, room: RoomId, req: &JoinRoom) -> Result<Joined> {
        self.authed(
            Method::POST,
            format!("/api/v1/rooms/{room}/join"),
            Some(req),
        )
        .await
    }

    /// `POST /api/v1/rooms/{id}/leave`.
    pub async fn leave_room(&self, room: RoomId) -> Result<Removed> {
        self.authed(
            Method::POST,
            format!("/api/v1/rooms/{room}/leave"),
            None::<&()>,
        )
        .await
    }

    /// `POST /api/v1/rooms/{id}/kick` (owner or admin); `ban` keeps the
    /// user out. In an encrypted room a rotation becomes due
    /// ([`rotate`](Self::rotate)).
    pub async fn kick(&self, room: RoomId, user: UserId, ban: bool) -> Result<Removed> {
        self.authed(
            Method::POST,
            format!("/api/v1/rooms/{room}/kick"),
            Some(&Kick { user_id: user, ban }),
        )
        .await
    }

    /// `POST /api/v1/rooms/{id}/roles` (owner): `admin` or `member`.
    pub async fn set_role(&self, room: RoomId, user: UserId, role: Role) -> Result<Member> {
        self.authed(
            Method::POST,
            format!("/api/v1/rooms/{room}/roles"),
            Some(&SetRole {
                user_id: user,
                role,
            }),
        )
        .await
    }

    /// `POST /api/v1/rooms/{id}/invites` (owner or admin).
    pub async fn create_invite(&self, room: RoomId, req: &CreateInvite) -> Result<Invite> {
        self.authed(
            Method::POST,
            format!("/api/v1/rooms/{room}/invites"),
            Some(req),
        )
        .await
    }

    // ------------------------------------------------------------ keys

    /// `GET /api/v1/rooms/{id}/keys`: this user's envelopes as stored
    /// (unchecked; [`refresh_keys`](Self::refresh_keys) checks and unwraps
    /// them).
    pub async fn get_keys(&self, room: RoomId) -> Result<KeyList> {
        self.authed(
            Method::GET,
            format!("/api/v1/rooms/{room}/keys"),
            None::<&()>,
        )
        .await
    }

    /// `POST /api/v1/rooms/{id}/keys` (owner or admin): envelopes the
    /// caller built. Most callers want
    /// [`distribute_key`](Self::distribute_key) or [`rotate`](Self::rotate).
    pub async fn post_keys(&self, room: RoomId, req: &PostKeys) -> Result<KeysPosted> {
        self.authed(
            Method::POST,
            format!("/api/v1/rooms/{room}/keys"),
            Some(req),
        )
        .await
    }

    // ------------------------------------------------------------ messages

    /// `GET /api/v1/rooms/{id}/messages` as stored (ciphertext in encrypted
    /// rooms; [`read`](Self::read) decrypts and verifies). With `wait`, the
    /// request's deadline grows by the wait.
    pub async fn list_messages(&self, room: RoomId, query: &MessageQuery) -> Result<MessageList> {
        let target = with_query(format!("/api/v1/rooms/{room}/messages"), query)?;
        let timeout = query.wait.filter(|w| *w > 0).map(|w| {
            self.inner.options.transport.request_timeout
                + Duration::from_secs(u64::from(w))
                + LONG_POLL_MARGIN
        });
        let body = self
            .authed_raw(Method::GET, &target, None::<&()>, timeout)
            .await?;
        parse(&body)
    }

    /// `POST /api/v1/rooms/{id}/messages` with a body the caller built.
    /// Most callers want [`send_text`](Self::send_text).
    pub async fn post_message(&self, room: RoomId, req: &PostMessage) -> Result<Posted> {
        self.authed(
            Method::POST,
            format!("/api/v1/rooms/{room}/messages"),
            Some(req),
        )
        .await
    }

    /// `DELETE /api/v1/rooms/{id}/messages/{seq}` (the sender, or an owner
    /// or admin): tombstones the message.
    pub async fn delete_message(&self, room: RoomId, seq: u64) -> Result<()> {
        self.authed_unit(
            Method::DELETE,
            format!("/api/v1/rooms/{room}/messages/{seq}"),
            None::<&()>,
        )
        .await
    }
}
