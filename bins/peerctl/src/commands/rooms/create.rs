//! `peerctl rooms create NAME`: this client makes the room id and (for an
//! encrypted room) its first key, which the node only ever sees wrapped.

use anyhow::Result;
use peer_client::{Client, RoomSettings};

use crate::context::{Ctx, Doing as _};
use crate::output::{note, sanitize};

/// `rooms create`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl rooms create plans --topic 'what we do next'
  peerctl rooms create club --password 'open sesame' --capacity 20
  peerctl rooms create inner-circle --private --invite-only
  ROOM=$(peerctl rooms create lobby --unencrypted)

Prints the new room's id (--json: the room). A password given on the
command line is visible to other local users in the process list.")]
pub(crate) struct Args {
    /// The room's name (1-64 characters).
    name: String,
    /// Its topic (at most 512 characters).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    topic: Option<String>,
    /// Listed to members only (others need its id to join).
    #[arg(long)]
    private: bool,
    /// Joining needs this password.
    #[arg(
        long,
        value_name = "PW",
        conflicts_with = "invite_only",
        allow_hyphen_values = true
    )]
    password: Option<String>,
    /// Joining needs an invite code (`peerctl rooms invite`).
    #[arg(long)]
    invite_only: bool,
    /// At most this many members (2-10000; default 256).
    #[arg(long, value_name = "N")]
    capacity: Option<u32>,
    /// Store messages as plain text (for curl and bots): not end-to-end
    /// encrypted.
    #[arg(long)]
    unencrypted: bool,
}

pub(crate) async fn run(args: Args, ctx: &Ctx, client: &Client) -> Result<()> {
    let mut settings = RoomSettings::new(args.name.clone());
    if let Some(t) = args.topic {
        settings = settings.topic(t);
    }
    if args.private {
        settings = settings.private();
    }
    if let Some(pw) = args.password {
        settings = settings.password(pw);
    }
    if args.invite_only {
        settings = settings.invite_only();
    }
    if let Some(c) = args.capacity {
        settings = settings.capacity(c);
    }
    if args.unencrypted {
        settings = settings.unencrypted();
    }
    let room = client
        .create_room(settings)
        .await
        .doing(|| format!("cannot create room '{}'", sanitize(&args.name, "")))?;
    if !ctx.out.is_json() {
        note(&format!(
            "created room '{}' ({}{})",
            sanitize(&room.name, ""),
            if room.encrypted {
                "end-to-end encrypted"
            } else {
                "unencrypted"
            },
            if room.encrypted {
                "; run `peerctl agent` or `peerctl chat` to hand its key to members who join"
            } else {
                ""
            }
        ));
    }
    ctx.out.emit(&room, || room.id.to_string())
}
