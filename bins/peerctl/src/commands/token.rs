//! `peerctl token`: a bearer token of this user, for curl. Whoever holds
//! it acts as this user until it expires; it cannot read end-to-end
//! encrypted messages (no room key), but unencrypted rooms, yes.

use anyhow::Result;

use crate::context::{Ctx, Doing as _};
use crate::output::{duration, note};

/// `token`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  TOKEN=$(peerctl token)
  curl -sS \"$PEERCTL_NODE/api/v1/rooms\" -H \"Authorization: Bearer $TOKEN\"
  peerctl token --ttl 600 --json

Prints the token alone (--json: {\"token\", \"expires_at\"}). Treat it like a
password: it acts as you until it expires.")]
pub(crate) struct Args {
    /// Lifetime in seconds (1-86400; default 3600).
    #[arg(long, value_name = "SECS")]
    ttl: Option<u64>,
}

pub(crate) async fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let client = ctx.connect().await?;
    let result = client
        .issue_token(args.ttl)
        .await
        .doing(|| "cannot get a bearer token".into());
    crate::context::close(&client).await;
    let token = result?;
    if !ctx.out.is_json() {
        note(&format!(
            "bearer token valid for {} (it acts as you: keep it secret)",
            duration(args.ttl.unwrap_or(3600))
        ));
    }
    ctx.out.emit(&token, || token.token.clone())
}
