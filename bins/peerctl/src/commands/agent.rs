//! `peerctl agent`: stays online as this user and does what an owner or
//! admin client owes its rooms — hands the current key to members who
//! join (on their `key_request`), rotates rooms whose rotation became due
//! (a member left or was removed), fetches this user's own new keys — and
//! catches up on what happened while it was away (see
//! [`crate::lifecycle`]). Its event stream reconnects by itself
//! ([`crate::live`]). One line per thing done; Ctrl-C or SIGTERM stop it.

use std::time::Duration;

use anyhow::Result;
use peer_client::Client;
use peer_proto::api::Room;
use serde::Serialize;

use crate::commands::Stop;
use crate::context::Ctx;
use crate::lifecycle::{self, Report};
use crate::live::{self, FeedItem};
use crate::resolve;

/// `agent`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl --profile alice agent
  peerctl --profile alice agent --json > agent.log &

Prints `online: ...` once it listens, then one line per key handed out,
rotation or failure. Run it wherever an owner or admin of encrypted rooms
should be reachable; any number of agents (and chats) may run at once.")]
pub(crate) struct Args {}

/// A line of the agent's `--json` output about its connection.
#[derive(Serialize)]
struct State {
    /// `online` or `offline`.
    event: &'static str,
    user: String,
    node: String,
    /// Rooms this user manages (encrypted ones), when online.
    #[serde(skip_serializing_if = "Option::is_none")]
    rooms: Option<usize>,
    /// Reopened after a failure, resuming after this event id.
    #[serde(skip_serializing_if = "Option::is_none")]
    resumed_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_in_ms: Option<u64>,
}

/// The encrypted rooms this user manages.
async fn managed(client: &Client) -> Result<Vec<Room>> {
    Ok(resolve::all_rooms(client)
        .await?
        .into_iter()
        .filter(|r| r.encrypted && r.my_role.is_some_and(|role| role.is_manager()))
        .collect())
}

fn print(ctx: &Ctx, r: &Report) -> Result<()> {
    // Its own new keys are news for scripts, noise for people.
    if r.event == "keys_received" && !ctx.out.is_json() {
        return Ok(());
    }
    ctx.out.emit(r, || {
        let tag = match r.event {
            "key_distributed" => "key",
            "rotated" => "rotate",
            "keys_received" => "keys",
            _ => "error",
        };
        format!("{tag}: {}", r.text())
    })
}

/// Catches up on every managed room. A failure to list the rooms is
/// reported and leaves `None` (the next reconnection tries again); only a
/// failure to print stops the agent.
async fn catch_up(ctx: &Ctx, client: &Client) -> Result<Option<usize>> {
    let rooms = match managed(client).await {
        Ok(r) => r,
        Err(e) => {
            let line = serde_json::json!({
                "event": "error",
                "error": crate::error::describe(&e),
                "code": crate::error::api_code(&e).map(|c| c.to_string()),
            });
            ctx.out
                .emit(&line, || format!("error: {}", crate::error::describe(&e)))?;
            return Ok(None);
        }
    };
    for r in lifecycle::catch_up(client, &rooms).await {
        print(ctx, &r)?;
    }
    Ok(Some(rooms.len()))
}

pub(crate) async fn run(_args: Args, ctx: &Ctx) -> Result<()> {
    let mut stop = Stop::new();
    let client = ctx.connect().await?;
    let mut feed = live::spawn(client.clone(), None);
    let state = |event, rooms, resumed_after, error, retry: Option<Duration>| State {
        event,
        user: client.user_id().to_string(),
        node: client.url().as_str().to_owned(),
        rooms,
        resumed_after,
        error,
        retry_in_ms: retry.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    };
    let mut offline_said = false;
    let result: Result<()> = loop {
        let item = tokio::select! {
            item = feed.recv() => item,
            () = stop.requested() => break Ok(()),
        };
        let Some(item) = item else {
            break Err(anyhow::anyhow!("the event feed stopped"));
        };
        let step: Result<()> = async {
            match item {
                FeedItem::Online { resumed, after } => {
                    offline_said = false;
                    // A fresh stream (not a resumed one) may have missed
                    // anything: catch up. A resumed one replays the events.
                    let rooms = if resumed {
                        None
                    } else {
                        catch_up(ctx, &client).await?
                    };
                    let s = state("online", rooms, after, None, None);
                    ctx.out.emit(&s, || match (rooms, after) {
                        (Some(n), _) => format!(
                            "online: agent of user {} on {}, managing {n} encrypted room(s)",
                            s.user, s.node
                        ),
                        (None, Some(id)) => {
                            format!("online: event stream resumed after event {id}")
                        }
                        (None, None) => "online".to_owned(),
                    })
                }
                FeedItem::Event(event) => match client.handle_event(&event).await {
                    Ok(Some(action)) => match lifecycle::report(&client, &action).await {
                        Some(r) => print(ctx, &r),
                        None => Ok(()),
                    },
                    Ok(None) => Ok(()),
                    Err(e) => match event.kind.room_id() {
                        Some(room) => print(
                            ctx,
                            &Report::failed(
                                room,
                                None,
                                &anyhow::Error::new(e)
                                    .context(format!("cannot act on {}", event.kind.name())),
                            ),
                        ),
                        None => Ok(()),
                    },
                },
                FeedItem::Gap => {
                    catch_up(ctx, &client).await?;
                    Ok(())
                }
                FeedItem::Offline { error, retry_in } => {
                    if offline_said {
                        return Ok(());
                    }
                    offline_said = true;
                    let s = state("offline", None, None, Some(error), Some(retry_in));
                    ctx.out.emit(&s, || {
                        format!(
                            "offline: {}; reconnecting (first retry in {} ms)",
                            s.error.as_deref().unwrap_or_default(),
                            s.retry_in_ms.unwrap_or_default()
                        )
                    })
                }
                FeedItem::Activity => Ok(()),
                FeedItem::Fatal(e) => Err(anyhow::Error::new(e).context("the agent cannot go on")),
            }
        }
        .await;
        if let Err(e) = step {
            // Output gone or a fatal error: stop. Anything else was reported.
            break Err(e);
        }
    };
    crate::context::close(&client).await;
    result
}
