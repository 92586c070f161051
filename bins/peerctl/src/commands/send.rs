//! `peerctl send ROOM TEXT`, or `-` for each line of stdin: encrypted and
//! signed under the room's current key (plain text in an unencrypted
//! room); prints the seq the node assigned.

use std::io::BufRead as _;

use anyhow::{Context as _, Result};
use peer_client::Client;
use peer_proto::api::{Posted, Room};
use serde::Serialize;

use crate::context::Ctx;
use crate::lifecycle;
use crate::resolve;

/// `send`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl send plans 'see you at ten'
  printf 'one\\ntwo\\n' | peerctl send plans -
  peerctl send plans 'hi' --json

Prints each message's seq (--json: {\"seq\", \"room\", \"id\", \"created_at\"}).
With TEXT `-`, every non-empty line of stdin is one message, sent in order.")]
pub(crate) struct Args {
    /// The room (id or name).
    #[arg(allow_hyphen_values = true)]
    room: String,
    /// The text, or `-` to send each line of stdin.
    #[arg(allow_hyphen_values = true)]
    text: String,
}

#[derive(Serialize)]
struct Sent {
    seq: u64,
    room: String,
    id: String,
    created_at: u64,
}

async fn one(ctx: &Ctx, client: &Client, room: &Room, text: &str) -> Result<()> {
    let posted: Posted = lifecycle::send_text(client, room, text).await?;
    let out = Sent {
        seq: posted.seq,
        room: room.id.to_string(),
        id: posted.id.to_string(),
        created_at: posted.created_at,
    };
    ctx.out.emit(&out, || out.seq.to_string())
}

pub(crate) async fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let client = ctx.connect().await?;
    let result = async {
        let room = resolve::my_room(&client, &args.room).await?;
        if args.text != "-" {
            return one(ctx, &client, &room, &args.text).await;
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<String>>(64);
        // Blocking stdin on a thread of its own; lines arrive in order.
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            loop {
                let mut buf = Vec::new();
                match lock.read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\n', '\r'])
                            .to_owned();
                        if tx.blocking_send(Ok(line)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        break;
                    }
                }
            }
        });
        while let Some(line) = rx.recv().await {
            let line = line.context("cannot read standard input")?;
            if line.trim().is_empty() {
                continue;
            }
            one(ctx, &client, &room, &line).await?;
        }
        Ok(())
    }
    .await;
    crate::context::close(&client).await;
    result
}
