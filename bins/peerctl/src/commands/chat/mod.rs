//! `peerctl chat ROOM`: an interactive room.
//!
//! ```text
//!  terminal thread ──lines──▶ ┌──────────────┐ ◀──FeedItem── event feed task (live.rs):
//!  (line editor, or stdin)    │  chat loop   │               SSE, reconnect with Last-Event-ID,
//!          ▲                  │  (select!)   │               long-poll while down
//!          └──────ack─────────┤              ├──▶ client: read new messages, send,
//!                             └──────┬───────┘     key duties (lifecycle.rs)
//!                                    ▼
//!                       printer (above the input line)
//! ```
//!
//! Messages appear as they arrive (fetched after the last seq shown when an
//! event says so), with the sender's name; a message whose signature did
//! not verify is marked `!` and its text is not shown. What I type is sent
//! and shows up when the node has it (in order with everyone else's).
//! While open, a chat does an owner's or admin's key duties like the agent:
//! keys for new members, rotation when due — for every room of the user.

mod slash;
mod terminal;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use peer_client::{AgentAction, Client};
use peer_proto::api::{LeaveReason, MessageQuery, Room};
use peer_proto::event::{Event, EventKind};

use crate::commands::Stop;
use crate::commands::read::join_epoch;
use crate::context::{Ctx, Doing as _};
use crate::lifecycle;
use crate::live::{self, FeedItem, PollTarget};
use crate::output::{json_line, sanitize};
use crate::render;
use crate::resolve;

use terminal::{Input, Printer};

/// Messages shown when the chat opens.
const HISTORY: u64 = 20;

/// `chat`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl --profile bob chat plans
  printf 'hello\\n/who\\n' | peerctl --profile bob chat plans

Type a line to send it. Commands: /who /kick USER /ban USER /rotate
/invite [USES] /leave /quit /help (`//text` sends `/text`). Ctrl-C or
Ctrl-D leave the chat (not the room). `!` marks a message whose signature
did not verify; `·` one you hold no key for. Without a terminal, lines come
from stdin and go to stdout (--json: one object per message, and
{\"notice\": ...} for the rest).")]
pub(crate) struct Args {
    /// The room (id or name).
    #[arg(allow_hyphen_values = true)]
    room: String,
}

/// Keep going, or end the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep going.
    Continue,
    /// End the chat.
    Quit,
}

/// The chat's state.
pub(crate) struct Chat {
    client: Client,
    room: Room,
    join_epoch: u32,
    printer: Printer,
    json: bool,
    last_seq: Arc<AtomicU64>,
    /// Seqs shown without text because my key had not come yet.
    pending: BTreeSet<u64>,
    started: bool,
    offline_said: bool,
}

impl Chat {
    /// Prints a notice (`* text`, or `{"notice": text}` with `--json`).
    pub(crate) fn say(&self, text: &str) {
        if self.json {
            let v = serde_json::json!({ "notice": text });
            self.printer.line(&v.to_string());
        } else {
            self.printer.line(&format!("* {text}"));
        }
    }

    /// Prints a failure as a notice.
    pub(crate) fn fail(&self, e: &anyhow::Error) {
        self.say(&crate::error::describe(e));
    }

    fn name(&self) -> String {
        sanitize(&self.room.name, "")
    }

    fn show(&mut self, m: &peer_client::ReadMessage, again: bool) {
        let v = render::view(m, self.join_epoch);
        if v.waits_for_key() {
            self.pending.insert(v.seq);
        } else {
            self.pending.remove(&v.seq);
        }
        if self.json {
            if let Ok(line) = json_line(&v) {
                self.printer.line(&line);
            }
        } else if again {
            self.printer
                .line(&format!("{}   (#{}, now readable)", v.chat_line(), v.seq));
        } else {
            self.printer.line(&v.chat_line());
        }
    }

    /// Shows every message after the last one shown.
    async fn pull(&mut self) -> Result<()> {
        // Bounded: 1000 pages of 500.
        for _ in 0..1000 {
            let after = self.last_seq.load(Ordering::Relaxed);
            let page = self
                .client
                .read_page(
                    self.room.id,
                    &MessageQuery {
                        after: Some(after),
                        limit: Some(500),
                        ..MessageQuery::default()
                    },
                )
                .await
                .doing(|| format!("cannot read room '{}'", self.name()))?;
            for m in &page.messages {
                self.show(m, false);
                self.last_seq.fetch_max(m.seq, Ordering::Relaxed);
            }
            if !page.more || page.messages.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Shows again the messages that waited for my key, if it came.
    async fn recheck_pending(&mut self) -> Result<()> {
        let (Some(&first), Some(&last)) = (self.pending.first(), self.pending.last()) else {
            return Ok(());
        };
        let limit = u32::try_from((last - first + 1).min(500)).unwrap_or(500);
        let page = self
            .client
            .read_page(
                self.room.id,
                &MessageQuery {
                    after: Some(first - 1),
                    limit: Some(limit),
                    ..MessageQuery::default()
                },
            )
            .await
            .doing(|| format!("cannot read room '{}'", self.name()))?;
        for m in &page.messages {
            if self.pending.contains(&m.seq) {
                let v = render::view(m, self.join_epoch);
                if !v.waits_for_key() {
                    self.show(m, true);
                }
            }
        }
        Ok(())
    }

    /// Key duties for this room when I manage it (on opening, and after
    /// lost events).
    async fn duties(&mut self) {
        let reports = lifecycle::catch_up(&self.client, std::slice::from_ref(&self.room)).await;
        for r in reports {
            self.say(&r.text());
        }
    }

    async fn on_feed(&mut self, item: FeedItem) -> Result<Flow> {
        match item {
            FeedItem::Online { resumed, .. } => {
                self.offline_said = false;
                if !self.started {
                    self.started = true;
                    self.say(&self.header());
                    self.pull().await?;
                    self.duties().await;
                } else {
                    self.say(if resumed {
                        "back online"
                    } else {
                        "back online (new event stream)"
                    });
                    self.pull().await?;
                    if !resumed {
                        self.duties().await;
                    }
                }
            }
            FeedItem::Event(event) => return self.on_event(&event).await,
            FeedItem::Gap => {
                self.pull().await?;
                self.duties().await;
            }
            FeedItem::Offline { error, .. } => {
                // No stream from the start: the chat opens all the same,
                // and long-polls until the stream comes.
                if !self.started {
                    self.started = true;
                    self.say(&self.header());
                    self.pull().await?;
                    self.duties().await;
                }
                if !self.offline_said {
                    self.offline_said = true;
                    self.say(&format!(
                        "event stream lost ({error}); reconnecting, and polling for messages meanwhile"
                    ));
                }
            }
            FeedItem::Activity => self.pull().await?,
            FeedItem::Fatal(e) => {
                return Err(anyhow::Error::new(e).context("the chat cannot go on"));
            }
        }
        Ok(Flow::Continue)
    }

    fn header(&self) -> String {
        let kind = if self.room.encrypted {
            "end-to-end encrypted"
        } else {
            "unencrypted: the node reads along"
        };
        let role = self.room.my_role.map_or("member", |r| r.as_str());
        format!(
            "chat in '{}' ({kind}; {} members; you are {role}). /help lists commands; Ctrl-D leaves the chat.",
            self.name(),
            self.room.member_count
        )
    }

    async fn on_event(&mut self, event: &Event) -> Result<Flow> {
        let room = self.room.id;
        // Key duties first, for any room of mine (as an agent would).
        match self.client.handle_event(event).await {
            Ok(Some(action)) => {
                let mine = match &action {
                    AgentAction::KeyDistributed { room: r, .. }
                    | AgentAction::Rotated { room: r, .. }
                    | AgentAction::KeysRefreshed { room: r, .. } => *r == room,
                    _ => false,
                };
                if mine {
                    if let AgentAction::KeysRefreshed { .. } = action {
                        self.recheck_pending().await?;
                    } else if let Some(r) = lifecycle::report(&self.client, &action).await {
                        self.say(&r.text());
                    }
                }
            }
            Ok(None) => {}
            Err(e) if event.kind.room_id() == Some(room) => {
                self.fail(
                    &anyhow::Error::new(e).context(format!("cannot act on {}", event.kind.name())),
                );
            }
            Err(_) => {}
        }
        if event.kind.room_id() != Some(room) {
            return Ok(Flow::Continue);
        }
        match &event.kind {
            EventKind::Message { seq, .. } if *seq > self.last_seq.load(Ordering::Relaxed) => {
                self.pull().await?;
            }
            EventKind::MessageDeleted { seq, .. } => {
                self.say(&format!("message #{seq} was deleted"));
            }
            EventKind::MemberJoined { user_id, .. } => {
                let name = resolve::user_name(&self.client, *user_id).await;
                self.say(&format!("{name} joined"));
            }
            EventKind::MemberLeft {
                user_id, reason, ..
            } => {
                let what = match reason {
                    LeaveReason::Left => "left",
                    LeaveReason::Kicked => "was removed",
                    LeaveReason::Banned => "was banned",
                };
                if *user_id == self.client.user_id() {
                    let you = match reason {
                        LeaveReason::Left => "left the room",
                        LeaveReason::Kicked => "were removed from the room",
                        LeaveReason::Banned => "were banned from the room",
                    };
                    self.say(&format!("you {you}; the chat ends"));
                    return Ok(Flow::Quit);
                }
                let name = resolve::user_name(&self.client, *user_id).await;
                self.say(&format!("{name} {what}"));
            }
            EventKind::KeyRotated { epoch, .. } => {
                self.say(&format!("the room key was rotated (epoch {epoch})"));
            }
            EventKind::RoomUpdated { .. } => {
                if let Ok(r) = self.client.get_room(room).await {
                    self.room = r;
                }
            }
            EventKind::RoomDeleted { .. } => {
                self.say("the room was deleted; the chat ends");
                return Ok(Flow::Quit);
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    async fn on_input(&mut self, input: Input) -> Flow {
        let line = match input {
            Input::Quit => return Flow::Quit,
            Input::Line(l) => l,
        };
        let text = line.trim_end();
        if text.trim().is_empty() {
            return Flow::Continue;
        }
        if let Some(rest) = text.strip_prefix('/')
            && !rest.starts_with('/')
        {
            return slash::run(self, rest).await;
        }
        let text = text
            .strip_prefix('/')
            .filter(|t| t.starts_with('/'))
            .unwrap_or(text);
        if let Err(e) = lifecycle::send_text(&self.client, &self.room, text).await {
            self.fail(&e.context("not sent"));
        }
        Flow::Continue
    }
}

pub(crate) async fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let mut stop = Stop::new();
    let client = ctx.connect().await?;
    let room = match resolve::my_room(&client, &args.room).await {
        Ok(r) => r,
        Err(e) => {
            crate::context::close(&client).await;
            return Err(e);
        }
    };
    let tty = terminal::is_terminal() && !ctx.out.is_json();
    let prompt = format!("{}> ", sanitize(&room.name, ""));
    let (printer, mut input, restore) = terminal::start(tty, prompt)?;
    let last_seq = Arc::new(AtomicU64::new(room.last_seq.saturating_sub(HISTORY)));
    let mut feed = live::spawn(
        client.clone(),
        Some(PollTarget {
            room: room.id,
            last_seq: last_seq.clone(),
        }),
    );
    let mut chat = Chat {
        join_epoch: join_epoch(&client, &room),
        client: client.clone(),
        room,
        printer,
        json: ctx.out.is_json(),
        last_seq,
        pending: BTreeSet::new(),
        started: false,
        offline_said: false,
    };
    let mut by_input = false;
    let result: Result<()> = loop {
        tokio::select! {
            item = feed.recv() => {
                let Some(item) = item else {
                    break Err(anyhow::anyhow!("the event feed stopped"));
                };
                match chat.on_feed(item).await {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Quit) => break Ok(()),
                    Err(e) => break Err(e),
                }
            }
            pending = input.recv() => {
                let Some((line, ack)) = pending else {
                    by_input = true;
                    break Ok(());
                };
                let flow = chat.on_input(line).await;
                let _ = ack.send(flow == Flow::Continue);
                if flow == Flow::Quit {
                    by_input = true;
                    break Ok(());
                }
            }
            () = stop.requested() => break Ok(()),
        }
    };
    restore.restore(!by_input);
    crate::context::close(&client).await;
    result
}
