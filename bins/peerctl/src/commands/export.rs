//! `peerctl export [--out FILE]`: the profile's identity as a
//! passphrase-protected identity file (docs/protocol.md, "Identity files"),
//! the format the browser client imports. Without `--out` the file goes to
//! stdout.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use peer_crypto::identity::export::{EXPORT_ITERATIONS, MIN_PASSPHRASE_CHARS};
use serde::Serialize;

use crate::context::Ctx;
use crate::error::Failure;
use crate::passphrase::{self, Ask};

/// `export`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl --profile alice export --out alice.identity
  peerctl --profile alice export > alice.identity
  peerctl --profile alice export --out alice.identity --passphrase-file pass.txt

The file holds the private key, sealed under a key derived from the
passphrase (PBKDF2-HMAC-SHA256, 600,000 iterations); import it with
`peerctl import` or in the browser client. The passphrase is asked twice on
the terminal (no echo), or read from --passphrase-file (first line) or
$PEERCTL_PASSPHRASE. It must have at least 8 characters.")]
pub(crate) struct Args {
    /// Write the file here (mode 0600; refused if it exists) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Read the passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Serialize)]
struct Exported {
    profile: String,
    user_id: String,
    file: Option<String>,
    iterations: u32,
}

pub(crate) async fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let key = ctx.profile.identity()?;
    let user_id = key.user_id().to_string();
    let pass = passphrase::obtain(
        args.passphrase_file.as_deref(),
        Ask::Confirm,
        "Passphrase for the identity file: ",
    )?;
    if pass.chars() < MIN_PASSPHRASE_CHARS {
        return Err(Failure::new(
            "invalid_passphrase",
            format!("the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters"),
        )
        .into());
    }
    // PBKDF2 takes a moment: off the async workers.
    let text = tokio::task::spawn_blocking(move || {
        let mut rng = peer_crypto::rng::system_rng();
        key.export_encrypted(&mut rng, &pass)
    })
    .await
    .context("the export task failed")?
    .context("cannot export the identity")?;
    match &args.out {
        None => ctx.out.line(text.trim_end()),
        Some(path) => {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        anyhow::Error::new(Failure::new(
                            "file_exists",
                            format!("{} exists already: choose another --out", path.display()),
                        ))
                    } else {
                        anyhow::Error::new(e).context(format!("cannot create {}", path.display()))
                    }
                })?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            let out = Exported {
                profile: ctx.profile.name().to_owned(),
                user_id,
                file: Some(path.display().to_string()),
                iterations: EXPORT_ITERATIONS,
            };
            ctx.out.emit(&out, || {
                format!(
                    "exported user {} of profile '{}' to {} (passphrase-protected; keep the passphrase safe)",
                    out.user_id, out.profile, path.display()
                )
            })
        }
    }
}
