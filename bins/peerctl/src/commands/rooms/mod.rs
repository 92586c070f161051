//! `peerctl rooms ...`: listing, creating, showing, joining, leaving and
//! deleting rooms, members and their roles, invites, and key rotation.

mod create;
mod join;
mod members;

use anyhow::Result;
use peer_proto::api::{JoinRule, Room, Visibility};

use crate::context::{Ctx, Doing as _};
use crate::lifecycle;
use crate::output::{note, sanitize, table};
use crate::resolve;

/// `rooms ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Cmd {
    /// The public rooms and mine.
    #[command(after_help = "\
Examples:
  peerctl rooms list
  peerctl rooms list --json")]
    List,
    /// Create a room (end-to-end encrypted unless --unencrypted); prints its id.
    Create(create::Args),
    /// A room's settings and, for members, its members.
    #[command(after_help = "\
Examples:
  peerctl rooms show plans
  peerctl rooms show 3q2-7wAAAAAAAAAAAAAAAA --json")]
    Show {
        /// The room (id or name).
        #[arg(allow_hyphen_values = true)]
        room: String,
    },
    /// Join a room, and wait for its key.
    Join(join::Args),
    /// Leave a room (its owner or an admin then rotates the key).
    #[command(after_help = "\
Examples:
  peerctl rooms leave plans")]
    Leave {
        /// The room (id or name).
        #[arg(allow_hyphen_values = true)]
        room: String,
    },
    /// Remove a member (owner or admin); the key is rotated at once.
    Kick(members::KickArgs),
    /// Make a member admin, or member again (owner).
    Role(members::RoleArgs),
    /// Create an invite code (owner or admin); prints the code.
    Invite(members::InviteArgs),
    /// Rotate the room key now (owner or admin).
    #[command(after_help = "\
Examples:
  peerctl rooms rotate plans

A new random key for the next epoch, wrapped for every current member, in
one request. Kick, ban and leave make a rotation due; an owner or admin
running `agent` or `chat` does it within seconds, `rooms kick` at once.")]
    Rotate {
        /// The room (id or name).
        #[arg(allow_hyphen_values = true)]
        room: String,
    },
    /// Delete a room with its messages and keys (owner).
    #[command(after_help = "\
Examples:
  peerctl rooms delete plans")]
    Delete {
        /// The room (id or name).
        #[arg(allow_hyphen_values = true)]
        room: String,
    },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let client = ctx.connect().await?;
    let result = match cmd {
        Cmd::List => list(ctx, &client).await,
        Cmd::Create(a) => create::run(a, ctx, &client).await,
        Cmd::Show { room } => {
            let room = resolve::room(&client, &room).await?;
            ctx.out.emit(&room, || describe(&room))
        }
        Cmd::Join(a) => join::run(a, ctx, &client).await,
        Cmd::Leave { room } => members::leave(&room, ctx, &client).await,
        Cmd::Kick(a) => members::kick(a, ctx, &client).await,
        Cmd::Role(a) => members::role(a, ctx, &client).await,
        Cmd::Invite(a) => members::invite(a, ctx, &client).await,
        Cmd::Rotate { room } => {
            let room = resolve::my_room(&client, &room).await?;
            let posted = lifecycle::rotate_now(&client, &room).await?;
            #[derive(serde::Serialize)]
            struct Rotated {
                room: String,
                epoch: u32,
                members: u32,
            }
            let out = Rotated {
                room: room.id.to_string(),
                epoch: posted.current_epoch,
                members: posted.stored,
            };
            ctx.out
                .emit(&out, || lifecycle::rotation_text(&room, &posted))
        }
        Cmd::Delete { room } => {
            let room = resolve::my_room(&client, &room).await?;
            client
                .delete_room(room.id)
                .await
                .doing(|| format!("cannot delete room '{}'", sanitize(&room.name, "")))?;
            let out = serde_json::json!({"room": room.id.to_string(), "deleted": true});
            ctx.out.emit(&out, || {
                format!("deleted room '{}' ({})", sanitize(&room.name, ""), room.id)
            })
        }
    };
    crate::context::close(&client).await;
    result
}

async fn list(ctx: &Ctx, client: &peer_client::Client) -> Result<()> {
    let rooms = resolve::all_rooms(client).await?;
    if ctx.out.is_json() {
        for r in &rooms {
            ctx.out.emit(r, String::new)?;
        }
        return Ok(());
    }
    if rooms.is_empty() {
        note("no rooms yet: create one with `peerctl rooms create NAME`");
        return Ok(());
    }
    let mut rows = vec![vec![
        "NAME".to_owned(),
        "ID".to_owned(),
        "KIND".to_owned(),
        "ACCESS".to_owned(),
        "MEMBERS".to_owned(),
        "ME".to_owned(),
    ]];
    for r in &rooms {
        rows.push(vec![
            sanitize(&r.name, ""),
            r.id.to_string(),
            kind(r),
            access(r),
            format!("{}/{}", r.member_count, r.capacity),
            r.my_role.map_or("-", |role| role.as_str()).to_owned(),
        ]);
    }
    for line in table(&rows) {
        ctx.out.line(&line)?;
    }
    Ok(())
}

/// `encrypted`, `encrypted (rotation due)` or `unencrypted`.
fn kind(r: &Room) -> String {
    match (r.encrypted, r.rotation_due) {
        (false, _) => "unencrypted".to_owned(),
        (true, false) => "encrypted".to_owned(),
        (true, true) => "encrypted (rotation due)".to_owned(),
    }
}

/// `public, open`, `private, invite`, ...
fn access(r: &Room) -> String {
    let vis = match r.visibility {
        Visibility::Public => "public",
        Visibility::Private => "private",
    };
    let rule = match r.join_rule {
        JoinRule::Open => "open",
        JoinRule::Password => "password",
        JoinRule::Invite => "invite",
    };
    format!("{vis}, {rule}")
}

/// A room's details as text.
pub(crate) fn describe(r: &Room) -> String {
    let mut lines = vec![format!("{} ({})", sanitize(&r.name, ""), r.id)];
    if !r.topic.is_empty() {
        lines.push(format!(
            "  topic:    {}",
            sanitize(&r.topic, "            ")
        ));
    }
    let kind = if r.encrypted {
        format!(
            "end-to-end encrypted, key epoch {}{}",
            r.epoch,
            if r.rotation_due {
                " (rotation due: posts wait for an owner or admin)"
            } else {
                ""
            }
        )
    } else {
        "unencrypted (the node stores the text; curl can read it)".to_owned()
    };
    lines.push(format!("  kind:     {kind}"));
    lines.push(format!("  access:   {}", access(r)));
    lines.push(format!("  members:  {} of {}", r.member_count, r.capacity));
    lines.push(format!("  messages: {}", r.last_seq));
    if let Some(role) = r.my_role {
        lines.push(format!("  you:      {}", role.as_str()));
    }
    if let Some(members) = &r.members {
        let mut members: Vec<_> = members.iter().collect();
        // The owner first, then admins, then members; by name within each.
        members.sort_by_key(|m| (m.role, m.name.to_lowercase()));
        let rows: Vec<Vec<String>> = members
            .iter()
            .map(|m| {
                vec![
                    format!("    {}", sanitize(&m.name, "")),
                    m.role.as_str().to_owned(),
                    m.user_id.to_string(),
                    if r.encrypted {
                        format!("reads from epoch {}", m.join_epoch)
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        lines.push("  member list:".to_owned());
        lines.extend(table(&rows).into_iter().map(|l| l.trim_end().to_owned()));
    }
    lines.join("\n")
}
