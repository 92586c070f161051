//! `peerctl rooms join ROOM`: join, then wait (default 10 s) for an owner
//! or admin client to hand this user the room key, and say clearly if it
//! did not come.

use std::time::Duration;

use anyhow::Result;
use peer_client::Client;
use peer_proto::RoomId;
use peer_proto::api::JoinRoom;
use serde::Serialize;

use crate::context::{Ctx, Doing as _};
use crate::error::Failure;
use crate::lifecycle;
use crate::output::sanitize;
use crate::resolve;

/// `rooms join`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl rooms join plans
  peerctl rooms join club --password 'open sesame'
  peerctl rooms join 3q2-7wAAAAAAAAAAAAAAAA --invite Xk2...
  peerctl rooms join plans --wait 0        # do not wait for the key

In an encrypted room the key comes from an owner or admin client that is
online (`peerctl agent` or `peerctl chat`). Without it within --wait seconds
the command fails (exit 1, key_pending); you stay a member, and the key
arrives when an owner or admin comes online. You read from the key epoch
you joined at on: older messages are unreadable by design.")]
pub(crate) struct Args {
    /// The room (id or name; a private room needs its id).
    #[arg(allow_hyphen_values = true)]
    room: String,
    /// The room's password.
    #[arg(
        long,
        value_name = "PW",
        conflicts_with = "invite",
        allow_hyphen_values = true
    )]
    password: Option<String>,
    /// An invite code.
    #[arg(long, value_name = "CODE", allow_hyphen_values = true)]
    invite: Option<String>,
    /// Seconds to wait for the room key (0: do not wait).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    wait: u64,
}

#[derive(Serialize)]
struct Joined {
    room: String,
    name: String,
    encrypted: bool,
    join_epoch: Option<u32>,
    /// `received`, `pending` or `none` (unencrypted room).
    key: &'static str,
}

pub(crate) async fn run(args: Args, ctx: &Ctx, client: &Client) -> Result<()> {
    // A private room I am not in is invisible until I join it: named by its
    // id (with an invite), it is joined by that id directly.
    let (id, known) = match resolve::room(client, &args.room).await {
        Ok(room) => (room.id, Some(room)),
        Err(e) => match args.room.parse::<RoomId>() {
            Ok(id) if is_room_not_found(&e) => (id, None),
            _ => return Err(e),
        },
    };
    let shown = known.as_ref().map_or_else(
        || id.to_string(),
        |r| format!("'{}'", sanitize(&r.name, "")),
    );
    // Listen before joining, so the key's event cannot pass unseen.
    let may_need_key = known.as_ref().is_none_or(|r| r.encrypted);
    let events = if may_need_key && args.wait > 0 {
        client.events(None).await.ok()
    } else {
        None
    };
    let req = JoinRoom {
        password: args.password,
        invite: args.invite,
    };
    let joined = client
        .join_room(id, &req)
        .await
        .doing(|| format!("cannot join room {shown}"))?;
    let room = &joined.room;
    let name = sanitize(&room.name, "");
    let join_epoch = joined
        .room
        .members
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|m| m.user_id == client.user_id())
        .map(|m| m.join_epoch);
    let key = if !joined.key_pending {
        "none"
    } else if args.wait == 0 {
        "pending"
    } else if lifecycle::wait_for_key(client, id, events, Duration::from_secs(args.wait)).await? {
        "received"
    } else {
        return Err(Failure::new(
            "key_pending",
            format!(
                "joined room '{name}', but no owner or admin handed you its key within {} s: you stay a member, and the key arrives when one of them runs `peerctl agent` or `peerctl chat`",
                args.wait
            ),
        )
        .into());
    };
    let out = Joined {
        room: room.id.to_string(),
        name: room.name.clone(),
        encrypted: room.encrypted,
        join_epoch: join_epoch.filter(|_| room.encrypted),
        key,
    };
    ctx.out.emit(&out, || match key {
        "received" => format!(
            "joined '{name}' and received its key (epoch {}): you read from here on; older messages stay unreadable by design",
            join_epoch.unwrap_or_default()
        ),
        "pending" => format!(
            "joined '{name}'; its key comes when an owner or admin is online"
        ),
        _ => format!("joined '{name}' (unencrypted)"),
    })
}

/// True when `e` is peerctl's "no such room" (a name or id that matched
/// nothing visible).
fn is_room_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<Failure>()
            .is_some_and(|f| f.code == "room_not_found")
    })
}
