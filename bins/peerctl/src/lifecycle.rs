//! The room-key lifecycle as peerctl runs it, on top of `peer-client`:
//!
//! - an online owner or admin (`agent`, `chat`) answers `key_request`s,
//!   rotates rooms whose rotation is due, and, when it comes online or
//!   lost events, catches up: hands the current key to members who joined
//!   while nobody was there, and rotates what became due meanwhile
//!   ([`catch_up`]);
//! - commands that remove a member (`rooms kick`, `/kick`) rotate at once
//!   when their user manages the room ([`rotate_after_removal`]), so no message is
//!   ever encrypted under a key a removed member holds;
//! - sending refreshes keys once on `epoch_outdated` (the client does), and
//!   on `rotation_pending` rotates first when its user manages the room, or
//!   says why it cannot post ([`send_text`]);
//! - a new member waits for its key ([`wait_for_key`]).

use std::time::Duration;

use anyhow::Result;
use peer_client::{AgentAction, Client, ClientError, EventStream};
use peer_proto::api::{KeysPosted, Posted, Room};
use peer_proto::event::EventKind;
use peer_proto::{ErrorCode, RoomId, UserId};
use serde::Serialize;

use crate::context::Doing as _;
use crate::error::Failure;
use crate::output::sanitize;
use crate::resolve;

/// How often a rotation that raced a membership change is tried again.
const ROTATION_TRIES: u32 = 4;

/// Something the key duties did (or failed to do), for the agent's log and
/// the chat's notices. Serialized as the agent's `--json` lines.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// `key_distributed`, `rotated`, `keys_received` or `error`.
    pub(crate) event: &'static str,
    /// The room id.
    pub(crate) room: String,
    /// The room's name, when known.
    pub(crate) room_name: Option<String>,
    /// The member who got a key (a single `key_request` answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<String>,
    /// That member's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_name: Option<String>,
    /// The epoch concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) epoch: Option<u32>,
    /// How many envelopes the node stored (new keys handed out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stored: Option<u32>,
    /// What failed (`error` reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// The API error code of a failure, when the node refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<String>,
}

impl Report {
    fn new(event: &'static str, room: RoomId, room_name: Option<String>) -> Report {
        Report {
            event,
            room: room.to_string(),
            room_name,
            user: None,
            user_name: None,
            epoch: None,
            stored: None,
            error: None,
            code: None,
        }
    }

    /// A failure of the duties in `room`.
    pub(crate) fn failed(room: RoomId, room_name: Option<String>, err: &anyhow::Error) -> Report {
        Report {
            error: Some(crate::error::describe(err)),
            code: crate::error::api_code(err).map(|c| c.to_string()),
            ..Report::new("error", room, room_name)
        }
    }

    /// One line of text.
    pub(crate) fn text(&self) -> String {
        let room = self
            .room_name
            .as_deref()
            .map(|n| format!("'{}'", sanitize(n, "")))
            .unwrap_or_else(|| self.room.clone());
        let epoch = self.epoch.unwrap_or_default();
        match self.event {
            "key_distributed" => match &self.user_name {
                Some(u) => format!("handed the key of {room} (epoch {epoch}) to {u}"),
                None => format!(
                    "handed the key of {room} (epoch {epoch}) to {} member(s) who lacked it",
                    self.stored.unwrap_or_default()
                ),
            },
            "rotated" => format!(
                "rotated the key of {room} to epoch {epoch} ({} members)",
                self.stored.unwrap_or_default()
            ),
            "keys_received" => format!("received the key of {room} (epoch {epoch})"),
            _ => format!(
                "{room}: {}",
                self.error.as_deref().unwrap_or("something failed")
            ),
        }
    }
}

/// The report of one thing [`Client::handle_event`] did (`None` for an
/// action this version does not know).
pub(crate) async fn report(client: &Client, action: &AgentAction) -> Option<Report> {
    Some(match action {
        AgentAction::KeyDistributed { room, user, posted } => Report {
            user: Some(user.to_string()),
            user_name: Some(resolve::user_name(client, *user).await),
            epoch: Some(posted.current_epoch),
            stored: Some(posted.stored),
            ..Report::new("key_distributed", *room, room_name(client, *room).await)
        },
        AgentAction::Rotated { room, posted } => {
            rotated(*room, room_name(client, *room).await, posted)
        }
        AgentAction::KeysRefreshed { room, epoch } => Report {
            epoch: Some(*epoch),
            ..Report::new("keys_received", *room, room_name(client, *room).await)
        },
        _ => return None,
    })
}

fn rotated(room: RoomId, name: Option<String>, posted: &KeysPosted) -> Report {
    Report {
        epoch: Some(posted.current_epoch),
        stored: Some(posted.stored),
        ..Report::new("rotated", room, name)
    }
}

async fn room_name(client: &Client, room: RoomId) -> Option<String> {
    client.get_room(room).await.ok().map(|r| r.name)
}

fn manages(room: &Room) -> bool {
    room.my_role.is_some_and(|r| r.is_manager())
}

/// Catches up on the key duties in `rooms` (those this user manages and
/// that are encrypted): hands the current key to members who lack it, then
/// rotates a room whose rotation is due. Failures are reported per room,
/// never returned: one broken room does not stop the others.
pub(crate) async fn catch_up(client: &Client, rooms: &[Room]) -> Vec<Report> {
    let mut out = Vec::new();
    for room in rooms.iter().filter(|r| r.encrypted && manages(r)) {
        let name = Some(room.name.clone());
        match client.distribute_key_to_members(room.id).await {
            Ok(Some(posted)) if posted.stored > 0 => out.push(Report {
                epoch: Some(posted.current_epoch),
                stored: Some(posted.stored),
                ..Report::new("key_distributed", room.id, name.clone())
            }),
            Ok(_) => {}
            Err(e) => out.push(Report::failed(
                room.id,
                name.clone(),
                &anyhow::Error::new(e).context("cannot hand out the room key"),
            )),
        }
        match client.rotate_if_due(room.id).await {
            Ok(Some(posted)) => out.push(rotated(room.id, name, &posted)),
            Ok(None) => {}
            Err(e) => out.push(Report::failed(
                room.id,
                name,
                &anyhow::Error::new(e).context("cannot rotate the room key"),
            )),
        }
    }
    out
}

/// Rotates now (owner or admin), retrying when the membership changed
/// during the rotation.
pub(crate) async fn rotate_now(client: &Client, room: &Room) -> Result<KeysPosted> {
    let mut tries = 0;
    loop {
        tries += 1;
        match client.rotate(room.id).await {
            Err(e) if tries < ROTATION_TRIES && is_race(&e) => continue,
            other => {
                return other.doing(|| {
                    format!(
                        "cannot rotate the key of room '{}'",
                        sanitize(&room.name, "")
                    )
                });
            }
        }
    }
}

/// What a rotation by `rotate_now` did, for people.
pub(crate) fn rotation_text(room: &Room, posted: &KeysPosted) -> String {
    let name = sanitize(&room.name, "");
    if posted.rotated {
        format!(
            "rotated the key of '{name}' to epoch {} ({} members hold it)",
            posted.current_epoch, posted.stored
        )
    } else {
        format!(
            "another owner or admin rotated the key of '{name}' to epoch {} at the same moment",
            posted.current_epoch
        )
    }
}

fn is_race(e: &ClientError) -> bool {
    [
        ErrorCode::Conflict,
        ErrorCode::IncompleteEnvelopes,
        ErrorCode::WrongEpoch,
    ]
    .into_iter()
    .any(|c| e.is_api(c))
}

/// Rotates the room key if a removal made it due and this user manages
/// the room (another manager rotating first is fine).
pub(crate) async fn rotate_if_due(client: &Client, room: &Room) -> Result<Option<KeysPosted>> {
    client.rotate_if_due(room.id).await.doing(|| {
        format!(
            "the member is out, but rotating the key of room '{0}' failed; the room refuses posts until an owner or admin rotates it (`peerctl rooms rotate {1}`)",
            sanitize(&room.name, ""),
            room.id
        )
    })
}

/// After removing a member from `room`: rotates the key if that made a
/// rotation due (this user manages the room), and returns the epoch the
/// key is at now (`None` for an unencrypted room). Another owner's or
/// admin's client (an `agent`) may have rotated first: the same epoch is
/// reported either way.
pub(crate) async fn rotate_after_removal(client: &Client, room: &Room) -> Result<Option<u32>> {
    if !room.encrypted {
        return Ok(None);
    }
    if let Some(posted) = rotate_if_due(client, room).await? {
        return Ok(Some(posted.current_epoch));
    }
    let now = client
        .get_room(room.id)
        .await
        .doing(|| format!("cannot read room '{}'", sanitize(&room.name, "")))?;
    Ok(Some(now.epoch))
}

/// Sends `text` to `room`: on `rotation_pending` a manager rotates first
/// and sends again; anyone else is told why it cannot post.
pub(crate) async fn send_text(client: &Client, room: &Room, text: &str) -> Result<Posted> {
    let name = sanitize(&room.name, "");
    let first = client.send_text(room.id, text).await;
    let result = match first {
        Err(e) if e.is_api(ErrorCode::RotationPending) && manages(room) => {
            rotate_if_due(client, room).await?;
            client.send_text(room.id, text).await
        }
        other => other,
    };
    match result {
        Ok(p) => Ok(p),
        Err(e) if e.is_api(ErrorCode::RotationPending) => Err(anyhow::Error::new(e).context(format!(
            "cannot post to room '{name}' yet: a member left or was removed, so the room key must be rotated first; an owner or admin must come online (`peerctl agent` or `peerctl chat`) or run `peerctl rooms rotate`"
        ))),
        Err(ClientError::NoRoomKey { epoch, .. }) => Err(Failure::new(
            "key_pending",
            format!(
                "cannot post to room '{name}': you hold no key of its epoch {epoch} yet; an owner or admin hands it out when online (`peerctl agent` or `peerctl chat`)"
            ),
        )
        .into()),
        Err(e) => Err(e).doing(|| format!("cannot post to room '{name}'")),
    }
}

/// Waits up to `wait` until this user holds the room's current key:
/// woken by `key_granted` / `key_rotated` on `events` (opened before
/// joining, so no event is missed), or by polling every half second when
/// there is no stream. True when the key came.
pub(crate) async fn wait_for_key(
    client: &Client,
    room: RoomId,
    mut events: Option<EventStream>,
    wait: Duration,
) -> Result<bool> {
    let deadline = tokio::time::Instant::now() + wait;
    let me = client.user_id();
    loop {
        let epoch = client
            .refresh_keys(room)
            .await
            .doing(|| "cannot fetch the room's keys".into())?;
        if epoch == 0 || client.room_key(room, epoch).is_some() {
            return Ok(true);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let left = deadline - now;
        match events.as_mut() {
            Some(stream) => {
                match tokio::time::timeout(left, next_key_event(stream, room, me)).await {
                    Ok(true) => {}
                    // The stream ended: poll from now on.
                    Ok(false) => events = None,
                    Err(_) => return Ok(false),
                }
            }
            None => tokio::time::sleep(left.min(Duration::from_millis(500))).await,
        }
    }
}

/// Waits for an event that may bring this user's key of `room`; false when
/// the stream ends.
async fn next_key_event(stream: &mut EventStream, room: RoomId, me: UserId) -> bool {
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => match e.kind {
                EventKind::KeyGranted {
                    room_id, user_id, ..
                } if room_id == room && user_id == me => return true,
                EventKind::KeyRotated { room_id, .. } if room_id == room => return true,
                // Events were lost: look again.
                EventKind::Error { .. } => return true,
                _ => {}
            },
            Err(_) => return false,
        }
    }
    false
}
