//! `peerctl init --name NAME`: the profile's identity key (made if absent,
//! mode 0600), the node's key pinned, the user registered, and the node
//! and name remembered in the profile. Running it again is harmless: an
//! identity registered under that name already is reported as such.

use anyhow::Result;
use peer_proto::ErrorCode;
use serde::Serialize;

use crate::context::{Ctx, Doing as _, retry_rate_limited};
use crate::error::Failure;
use crate::output::note;
use crate::profile::Settings;

/// `init`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl --profile alice init --name alice
  peerctl --profile alice init --name alice --node http://192.168.1.20:8080

Without --node, init uses the profile's node, else the main peer found on
the LAN (`peerctl discover`), else http://127.0.0.1:8080, and remembers the
node it used as the profile's node.")]
pub(crate) struct Args {
    /// The user name to register: 1-32 of A-Z a-z 0-9 _ . - (unique on the
    /// node, ignoring case).
    #[arg(long, value_name = "NAME")]
    name: String,
}

#[derive(Serialize)]
struct Initialized<'a> {
    profile: &'a str,
    dir: String,
    user_id: String,
    name: String,
    node: String,
    node_id: String,
    key_file: String,
    key_created: bool,
    /// `new` or `already`.
    registered: &'static str,
}

pub(crate) async fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let url = ctx.node_url()?;
    let profile = &ctx.profile;
    let (identity, created) = profile.identity_or_create()?;
    if created {
        note(&format!(
            "created the identity key {} (mode 0600): back it up; it is this user",
            profile.key_path().display()
        ));
    }
    let client = ctx.connect_as(&url, identity).await?;
    let registered = match retry_rate_limited(|| client.register(&args.name)).await {
        Ok(_) => "new",
        Err(e) if e.is_api(ErrorCode::NameTaken) => {
            // Taken by this very key (init ran before), or by someone else?
            match retry_rate_limited(|| client.handshake()).await {
                Ok(_) => {
                    let me = client
                        .get_user(client.user_id())
                        .await
                        .doing(|| "cannot read this user's record".into())?;
                    if !me.name.eq_ignore_ascii_case(&args.name) {
                        return Err(Failure::new(
                            "name_taken",
                            format!(
                                "this identity is registered on {url} as '{}' already, not as '{}'",
                                me.name, args.name
                            ),
                        )
                        .into());
                    }
                    "already"
                }
                Err(_) => {
                    return Err(e).doing(|| {
                        format!(
                            "cannot register '{}' on {url}: the name is taken",
                            args.name
                        )
                    });
                }
            }
        }
        Err(e) => return Err(e).doing(|| format!("cannot register '{}' on {url}", args.name)),
    };
    let settings = Settings {
        node: Some(url.as_str().to_owned()),
        name: Some(args.name.clone()),
        user_id: Some(client.user_id().to_string()),
    };
    profile.save_settings(&settings)?;
    crate::context::close(&client).await;
    let out = Initialized {
        profile: profile.name(),
        dir: profile.dir().display().to_string(),
        user_id: client.user_id().to_string(),
        name: args.name.clone(),
        node: url.as_str().to_owned(),
        node_id: client.node_id().to_string(),
        key_file: profile.key_path().display().to_string(),
        key_created: created,
        registered,
    };
    ctx.out.emit(&out, || {
        let what = if registered == "new" {
            "registered"
        } else {
            "already registered"
        };
        format!(
            "{what} {} (user {}) on {} (node {}); profile '{}' in {}",
            out.name, out.user_id, out.node, out.node_id, out.profile, out.dir
        )
    })
}
