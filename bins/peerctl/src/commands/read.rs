//! `peerctl read ROOM`: messages after a seq, each verified and decrypted,
//! oldest first; with `--follow`, new ones as they come (long-poll).
//! Messages that cannot be read say why, one by one: sent before I joined
//! (unreadable by design), key not handed to me yet, or a signature that
//! does not verify (marked `!`, text never shown).

use anyhow::Result;
use peer_client::Client;
use peer_proto::api::{MessageQuery, Room};

use crate::commands::Stop;
use crate::context::{Ctx, Doing as _};
use crate::render;
use crate::resolve;

/// Long-poll wait of `--follow`, in seconds.
const FOLLOW_WAIT: u32 = 30;

/// `read`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl read plans
  peerctl read plans --after 40 --limit 10
  peerctl read plans --follow
  peerctl read plans --json | jq -r 'select(.verified) | .text'

Text lines look like `[#SEQ DATE] NAME: TEXT`; `!` marks a message whose
signature did not verify (its text is not shown), `·` one you have no key
for. --json prints one object per message: seq, room, sender_id,
sender_name, text, sent_at, verified, status, reason, epoch, reply_to
(docs/cli.md).")]
pub(crate) struct Args {
    /// The room (id or name).
    #[arg(allow_hyphen_values = true)]
    room: String,
    /// Only messages after this seq.
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    after: u64,
    /// At most this many messages (before --follow goes on); default all.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Keep waiting for new messages (Ctrl-C ends).
    #[arg(long)]
    follow: bool,
}

/// My join epoch in `room` (0 for an unencrypted room).
pub(crate) fn join_epoch(client: &Client, room: &Room) -> u32 {
    room.members
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|m| m.user_id == client.user_id())
        .map_or(0, |m| m.join_epoch)
}

/// Reads one page after `after` and prints it; returns the last seq
/// printed (or `after`), how many were printed, and whether more follow.
async fn page(
    ctx: &Ctx,
    client: &Client,
    room: &Room,
    join_epoch: u32,
    query: MessageQuery,
) -> Result<(u64, u64, bool)> {
    let after = query.after.unwrap_or_default();
    let page = client.read_page(room.id, &query).await.doing(|| {
        format!(
            "cannot read room '{}'",
            crate::output::sanitize(&room.name, "")
        )
    })?;
    let mut last = after;
    let mut n = 0;
    for m in &page.messages {
        let v = render::view(m, join_epoch);
        ctx.out.emit(&v, || v.read_line())?;
        last = last.max(m.seq);
        n += 1;
    }
    Ok((last, n, page.more))
}

pub(crate) async fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let mut stop = Stop::new();
    let client = ctx.connect().await?;
    let result = async {
        let room = resolve::my_room(&client, &args.room).await?;
        let join_epoch = join_epoch(&client, &room);
        let mut after = args.after;
        let mut left = args.limit.unwrap_or(u64::MAX);
        // Bounded: at most 100,000 pages of 500.
        for _ in 0..100_000 {
            if left == 0 {
                break;
            }
            let limit = u32::try_from(left.min(500)).unwrap_or(500);
            let query = MessageQuery {
                after: Some(after),
                limit: Some(limit),
                ..MessageQuery::default()
            };
            let (last, n, more) = page(ctx, &client, &room, join_epoch, query).await?;
            after = last;
            left = left.saturating_sub(n);
            if !more || n == 0 {
                break;
            }
        }
        if !args.follow {
            return Ok(());
        }
        loop {
            let query = MessageQuery {
                after: Some(after),
                limit: Some(500),
                wait: Some(FOLLOW_WAIT),
                ..MessageQuery::default()
            };
            tokio::select! {
                r = page(ctx, &client, &room, join_epoch, query) => after = r?.0,
                () = stop.requested() => return Ok(()),
            }
        }
    }
    .await;
    crate::context::close(&client).await;
    result
}
