//! Naming rooms and users on the command line.
//!
//! - ROOM: a room id (22 characters of base64url), or a room name. A name
//!   is looked up among my rooms first, then among the rooms the node lists
//!   to me (public rooms); two rooms of that name at the same level are
//!   refused as ambiguous (the message lists their ids).
//! - USER: a user id, or a user name (unique on a node, ignoring case):
//!   among the room's members first, then among all users.

use anyhow::Result;
use peer_client::Client;
use peer_proto::api::{Room, RoomQuery, UserQuery};
use peer_proto::{ErrorCode, RoomId, UserId};

use crate::context::Doing as _;
use crate::error::Failure;
use crate::output::sanitize;

/// Every room the node lists to this user (public rooms and mine).
pub(crate) async fn all_rooms(client: &Client) -> Result<Vec<Room>> {
    let mut rooms = Vec::new();
    let mut cursor = None;
    // Bounded: 200 pages of 500 rooms.
    for _ in 0..200 {
        let page = client
            .list_rooms(&RoomQuery {
                limit: Some(500),
                cursor: cursor.take(),
            })
            .await
            .doing(|| "cannot list rooms".into())?;
        rooms.extend(page.rooms);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(rooms)
}

/// The room `spec` names, with its details (`GET /rooms/{id}`: members
/// included when I am one).
pub(crate) async fn room(client: &Client, spec: &str) -> Result<Room> {
    if let Ok(id) = spec.parse::<RoomId>() {
        match client.get_room(id).await {
            Ok(room) => return Ok(room),
            // Perhaps a name that looks like an id.
            Err(e) if e.is_api(ErrorCode::RoomNotFound) => {}
            Err(e) => return Err(e).doing(|| format!("cannot read room {id}")),
        }
    }
    let rooms = all_rooms(client).await?;
    let named: Vec<&Room> = rooms.iter().filter(|r| r.name == spec).collect();
    let mine: Vec<&Room> = named
        .iter()
        .copied()
        .filter(|r| r.my_role.is_some())
        .collect();
    let pick = if mine.is_empty() { named } else { mine };
    match pick.as_slice() {
        [one] => client
            .get_room(one.id)
            .await
            .doing(|| format!("cannot read room '{}'", sanitize(spec, ""))),
        [] => Err(Failure::new(
            "room_not_found",
            format!(
                "no room '{}' among your rooms and the rooms listed to you (a private room needs its id)",
                sanitize(spec, "")
            ),
        )
        .into()),
        several => Err(Failure::new(
            "ambiguous_name",
            format!(
                "{} rooms are called '{}'; name one by its id: {}",
                several.len(),
                sanitize(spec, ""),
                several
                    .iter()
                    .map(|r| r.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .into()),
    }
}

/// The room `spec` names, which I must be a member of.
pub(crate) async fn my_room(client: &Client, spec: &str) -> Result<Room> {
    let room = room(client, spec).await?;
    if room.members.is_none() {
        return Err(Failure::new(
            "not_member",
            format!(
                "you are not a member of room '{}': join it first (`peerctl rooms join {}`)",
                sanitize(&room.name, ""),
                room.id
            ),
        )
        .into());
    }
    Ok(room)
}

/// A user named by `spec` (id or name): its id and name.
pub(crate) async fn user(
    client: &Client,
    room: Option<&Room>,
    spec: &str,
) -> Result<(UserId, String)> {
    let members = room.and_then(|r| r.members.as_deref()).unwrap_or_default();
    if let Some(m) = members.iter().find(|m| m.name.eq_ignore_ascii_case(spec)) {
        return Ok((m.user_id, m.name.clone()));
    }
    if let Ok(id) = spec.parse::<UserId>() {
        if let Some(m) = members.iter().find(|m| m.user_id == id) {
            return Ok((id, m.name.clone()));
        }
        match client.get_user(id).await {
            Ok(u) => return Ok((u.id, u.name)),
            Err(e) if e.is_api(ErrorCode::UserNotFound) => {}
            Err(e) => return Err(e).doing(|| format!("cannot look up user {id}")),
        }
    }
    let found = client
        .list_users(&UserQuery {
            name: Some(spec.to_owned()),
            limit: Some(500),
            cursor: None,
        })
        .await
        .doing(|| "cannot look up users".into())?;
    match found
        .users
        .into_iter()
        .find(|u| u.name.eq_ignore_ascii_case(spec))
    {
        Some(u) => Ok((u.id, u.name)),
        None => Err(Failure::new(
            "user_not_found",
            format!("no user '{}' on this node", sanitize(spec, "")),
        )
        .into()),
    }
}

/// A user's name for display: from the client's directory, else the id.
pub(crate) async fn user_name(client: &Client, id: UserId) -> String {
    match client.known_user(id).await {
        Ok(u) => sanitize(&u.name, ""),
        Err(_) => id.to_string(),
    }
}
