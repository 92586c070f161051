//! The chat's commands: `/who /kick /ban /rotate /invite /leave /quit
//! /help`. Failures are printed as notices; the chat goes on.

use peer_proto::api::CreateInvite;

use super::{Chat, Flow};
use crate::context::Doing as _;
use crate::lifecycle;
use crate::output::{duration, sanitize};
use crate::resolve;

const HELP: &str = "\
commands:
  /who              the members and their roles
  /kick USER        remove a member (owner or admin); the key is rotated at once
  /ban USER         remove and ban a member
  /rotate           rotate the room key now (owner or admin)
  /invite [USES]    make an invite code (owner or admin)
  /leave            leave the room (and the chat)
  /quit             leave the chat (Ctrl-C and Ctrl-D too)
  /help             this list
  //text            send a line that starts with /";

/// Runs `/line` (without the slash).
pub(super) async fn run(chat: &mut Chat, line: &str) -> Flow {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or_default();
    let arg = words.next();
    let result = match (cmd, arg) {
        ("quit" | "exit" | "q", _) => return Flow::Quit,
        ("help" | "h" | "?", _) => {
            for l in HELP.lines() {
                chat.say(l);
            }
            Ok(Flow::Continue)
        }
        ("who", _) => who(chat).await,
        ("kick", Some(user)) => kick(chat, user, false).await,
        ("ban", Some(user)) => kick(chat, user, true).await,
        ("kick" | "ban", None) => {
            chat.say(&format!("usage: /{cmd} USER"));
            Ok(Flow::Continue)
        }
        ("rotate", _) => rotate(chat).await,
        ("invite", uses) => invite(chat, uses).await,
        ("leave", _) => leave(chat).await,
        _ => {
            chat.say(&format!(
                "unknown command /{}; /help lists them",
                sanitize(cmd, "")
            ));
            Ok(Flow::Continue)
        }
    };
    match result {
        Ok(flow) => flow,
        Err(e) => {
            chat.fail(&e);
            Flow::Continue
        }
    }
}

async fn fresh_room(chat: &mut Chat) -> anyhow::Result<()> {
    chat.room = chat
        .client
        .get_room(chat.room.id)
        .await
        .doing(|| "cannot read the room".into())?;
    Ok(())
}

async fn who(chat: &mut Chat) -> anyhow::Result<Flow> {
    fresh_room(chat).await?;
    let me = chat.client.user_id();
    let mut members = chat.room.members.clone().unwrap_or_default();
    // The owner first, then admins, then members; by name within each.
    members.sort_by_key(|m| (m.role, m.name.to_lowercase()));
    chat.say(&format!("{} member(s):", members.len()));
    for m in members {
        let you = if m.user_id == me { ", you" } else { "" };
        chat.say(&format!(
            "  {} ({}{you})",
            sanitize(&m.name, ""),
            m.role.as_str()
        ));
    }
    Ok(Flow::Continue)
}

async fn kick(chat: &mut Chat, spec: &str, ban: bool) -> anyhow::Result<Flow> {
    fresh_room(chat).await?;
    let (user, name) = resolve::user(&chat.client, Some(&chat.room), spec).await?;
    let name = sanitize(&name, "");
    chat.client
        .kick(chat.room.id, user, ban)
        .await
        .doing(|| format!("cannot remove {name}"))?;
    let epoch = lifecycle::rotate_after_removal(&chat.client, &chat.room).await?;
    let what = if ban { "banned" } else { "removed" };
    match epoch {
        Some(e) => chat.say(&format!("{what} {name}; key rotated to epoch {e}")),
        None => chat.say(&format!("{what} {name}")),
    }
    Ok(Flow::Continue)
}

async fn rotate(chat: &mut Chat) -> anyhow::Result<Flow> {
    fresh_room(chat).await?;
    let posted = lifecycle::rotate_now(&chat.client, &chat.room).await?;
    chat.say(&lifecycle::rotation_text(&chat.room, &posted));
    Ok(Flow::Continue)
}

async fn invite(chat: &mut Chat, uses: Option<&str>) -> anyhow::Result<Flow> {
    let uses = match uses.map(str::parse::<u32>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            chat.say("usage: /invite [USES]");
            return Ok(Flow::Continue);
        }
    };
    let invite = chat
        .client
        .create_invite(
            chat.room.id,
            &CreateInvite {
                uses,
                expires_in_secs: None,
            },
        )
        .await
        .doing(|| "cannot create an invite".into())?;
    let now = chat.client.options().clock.now();
    chat.say(&format!(
        "invite code {} ({} use(s), expires in {}); join with: peerctl rooms join {} --invite {}",
        invite.code,
        invite.uses,
        duration(invite.expires_at.saturating_sub(now)),
        chat.room.id,
        invite.code
    ));
    Ok(Flow::Continue)
}

async fn leave(chat: &mut Chat) -> anyhow::Result<Flow> {
    chat.client
        .leave_room(chat.room.id)
        .await
        .doing(|| format!("cannot leave '{}'", chat.name()))?;
    chat.say(&format!("you left '{}'", chat.name()));
    Ok(Flow::Quit)
}
