//! Membership: leaving, removing a member (and rotating the key at once),
//! roles, invite codes.

use anyhow::Result;
use peer_client::Client;
use peer_proto::api::{CreateInvite, LeaveReason, Role};
use serde::Serialize;

use crate::context::{Ctx, Doing as _};
use crate::lifecycle;
use crate::output::{duration, sanitize};
use crate::resolve;

/// `rooms kick`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl rooms kick plans carol
  peerctl rooms kick plans carol --ban

The key is rotated right after the removal: the removed member never
receives a key for anything posted from then on.")]
pub(crate) struct KickArgs {
    /// The room (id or name).
    #[arg(allow_hyphen_values = true)]
    room: String,
    /// The member (user id or name).
    #[arg(allow_hyphen_values = true)]
    user: String,
    /// Also ban: the user cannot join again.
    #[arg(long)]
    ban: bool,
}

/// `rooms role`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl rooms role plans bob admin
  peerctl rooms role plans bob member

Admins invite, remove members, hand out keys and rotate them; only the
owner sets roles and deletes the room.")]
pub(crate) struct RoleArgs {
    /// The room (id or name).
    #[arg(allow_hyphen_values = true)]
    room: String,
    /// The member (user id or name).
    #[arg(allow_hyphen_values = true)]
    user: String,
    /// The new role.
    #[arg(value_enum)]
    role: RoleArg,
}

/// `admin` or `member`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum RoleArg {
    /// Manages members and keys.
    Admin,
    /// Reads and posts.
    Member,
}

/// `rooms invite`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl rooms invite inner-circle
  peerctl rooms invite inner-circle --uses 5 --expires 3600

Prints the code (--json: the invite); pass it to `rooms join ROOM --invite
CODE`. A private room is joined by its id.")]
pub(crate) struct InviteArgs {
    /// The room (id or name).
    #[arg(allow_hyphen_values = true)]
    room: String,
    /// How many joins it allows (default 1).
    #[arg(long, value_name = "N")]
    uses: Option<u32>,
    /// Seconds until it expires (default 86400, at most 30 days).
    #[arg(long, value_name = "SECS")]
    expires: Option<u64>,
}

#[derive(Serialize)]
struct Removed {
    room: String,
    user_id: String,
    name: String,
    reason: LeaveReason,
    /// The epoch the room key is at after the removal (rotated by this
    /// command, or at the same moment by an owner's or admin's agent);
    /// `None` for an unencrypted room, and for leaving.
    rotated_to: Option<u32>,
}

pub(crate) async fn leave(spec: &str, ctx: &Ctx, client: &Client) -> Result<()> {
    let room = resolve::my_room(client, spec).await?;
    let name = sanitize(&room.name, "");
    let removed = client
        .leave_room(room.id)
        .await
        .doing(|| format!("cannot leave room '{name}'"))?;
    let out = Removed {
        room: room.id.to_string(),
        user_id: removed.user_id.to_string(),
        name: room.name.clone(),
        reason: removed.reason,
        rotated_to: None,
    };
    ctx.out.emit(&out, || {
        if room.encrypted {
            format!("left '{name}'; its owner or an admin rotates the key, so you cannot read what is posted from now on")
        } else {
            format!("left '{name}'")
        }
    })
}

pub(crate) async fn kick(args: KickArgs, ctx: &Ctx, client: &Client) -> Result<()> {
    let room = resolve::my_room(client, &args.room).await?;
    let name = sanitize(&room.name, "");
    let (user, user_name) = resolve::user(client, Some(&room), &args.user).await?;
    let removed = client
        .kick(room.id, user, args.ban)
        .await
        .doing(|| format!("cannot remove {user_name} from room '{name}'"))?;
    let epoch = lifecycle::rotate_after_removal(client, &room).await?;
    let out = Removed {
        room: room.id.to_string(),
        user_id: user.to_string(),
        name: user_name.clone(),
        reason: removed.reason,
        rotated_to: epoch,
    };
    ctx.out.emit(&out, || {
        let what = if args.ban { "banned" } else { "removed" };
        let key = epoch
            .map(|e| format!("; key rotated to epoch {e}"))
            .unwrap_or_default();
        format!("{what} {} from '{name}'{key}", sanitize(&user_name, ""))
    })
}

pub(crate) async fn role(args: RoleArgs, ctx: &Ctx, client: &Client) -> Result<()> {
    let room = resolve::my_room(client, &args.room).await?;
    let (user, user_name) = resolve::user(client, Some(&room), &args.user).await?;
    let role = match args.role {
        RoleArg::Admin => Role::Admin,
        RoleArg::Member => Role::Member,
    };
    let member = client.set_role(room.id, user, role).await.doing(|| {
        format!(
            "cannot make {user_name} {} of room '{}'",
            role.as_str(),
            sanitize(&room.name, "")
        )
    })?;
    ctx.out.emit(&member, || {
        format!(
            "{} is now {} of '{}'",
            sanitize(&member.name, ""),
            member.role.as_str(),
            sanitize(&room.name, "")
        )
    })
}

pub(crate) async fn invite(args: InviteArgs, ctx: &Ctx, client: &Client) -> Result<()> {
    let room = resolve::my_room(client, &args.room).await?;
    let invite = client
        .create_invite(
            room.id,
            &CreateInvite {
                uses: args.uses,
                expires_in_secs: args.expires,
            },
        )
        .await
        .doing(|| format!("cannot create an invite to '{}'", sanitize(&room.name, "")))?;
    if !ctx.out.is_json() {
        let left = invite.expires_at.saturating_sub(now());
        crate::output::note(&format!(
            "invite to '{}': {} use(s), expires in {}; join with: peerctl rooms join {} --invite {}",
            sanitize(&room.name, ""),
            invite.uses,
            duration(left),
            room.id,
            invite.code
        ));
    }
    ctx.out.emit(&invite, || invite.code.clone())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
