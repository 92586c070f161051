//! `peerctl whoami`: the profile's user, from the profile alone (no
//! network): id (from the key), name and node (from `init`).

use anyhow::Result;
use serde::Serialize;

use crate::context::Ctx;

/// `whoami`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl --profile alice whoami
  peerctl --profile alice whoami --json")]
pub(crate) struct Args {}

#[derive(Serialize)]
struct Whoami {
    profile: String,
    dir: String,
    user_id: String,
    name: Option<String>,
    node: String,
    key_file: String,
}

pub(crate) async fn run(_args: Args, ctx: &Ctx) -> Result<()> {
    let profile = &ctx.profile;
    let key = profile.identity()?;
    let settings = profile.settings()?;
    let out = Whoami {
        profile: profile.name().to_owned(),
        dir: profile.dir().display().to_string(),
        user_id: key.user_id().to_string(),
        name: settings.name,
        node: ctx.node_url()?.as_str().to_owned(),
        key_file: profile.key_path().display().to_string(),
    };
    ctx.out.emit(&out, || {
        [
            format!(
                "{} (user {})",
                out.name
                    .as_deref()
                    .unwrap_or("(not registered yet: run init)"),
                out.user_id
            ),
            format!("profile: {} ({})", out.profile, out.dir),
            format!("node:    {}", out.node),
            format!("key:     {}", out.key_file),
        ]
        .join("\n")
    })
}
