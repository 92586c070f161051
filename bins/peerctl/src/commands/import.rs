//! `peerctl import FILE`: makes a passphrase-protected identity file (from
//! `peerctl export` or the browser client) this profile's identity. A
//! profile that has another identity is left alone unless `--force`, which
//! keeps the old key beside the new one as `identity.pem.replaced-<time>`.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use peer_crypto::identity::export::MAX_FILE_BYTES;
use peer_crypto::{IdentityFileError, IdentityKey, LocalError, inspect_identity_file};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::context::Ctx;
use crate::error::Failure;
use crate::output::note;
use crate::passphrase::{self, Ask};
use crate::profile::Settings;

/// `import`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  peerctl --profile alice import alice.identity
  peerctl --profile laptop import alice.identity --passphrase-file pass.txt
  peerctl --profile alice import new.identity --force

Then `peerctl --profile alice init --name NAME` registers the identity with
a node (an identity registered there already is recognised). The key is
saved as the profile's identity.pem, mode 0600. A profile with another
identity is refused unless --force (the old key is kept as
identity.pem.replaced-<unix time>).")]
pub(crate) struct Args {
    /// The identity file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Read the passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Replace the profile's identity if it has another one.
    #[arg(long)]
    force: bool,
}

#[derive(Serialize)]
struct Imported {
    profile: String,
    user_id: String,
    key_file: String,
    /// `new`, `same` (the profile had this identity already) or `replaced`.
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaced_key_file: Option<String>,
}

fn read_file(path: &std::path::Path) -> Result<Zeroizing<String>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|_| {
            Failure::new(
                "invalid_identity_file",
                format!("{} is not a peergroup identity file", path.display()),
            )
        })?;
    Ok(text)
}

fn file_error(path: &std::path::Path, e: peer_crypto::Error) -> anyhow::Error {
    match &e {
        peer_crypto::Error::Local(LocalError::IdentityFile(IdentityFileError::WrongPassphrase)) => {
            Failure::new(
                "wrong_passphrase",
                format!(
                    "cannot open {}: wrong passphrase, or the file is damaged",
                    path.display()
                ),
            )
            .into()
        }
        peer_crypto::Error::Local(LocalError::IdentityFile(f)) => {
            Failure::new("invalid_identity_file", format!("{}: {f}", path.display())).into()
        }
        _ => anyhow::Error::new(e).context(format!("cannot import {}", path.display())),
    }
}

pub(crate) async fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let profile = &ctx.profile;
    let text = read_file(&args.file)?;
    // Who it is, before asking anything.
    let info = inspect_identity_file(&text).map_err(|e| file_error(&args.file, e))?;
    let existing = if profile.has_identity() {
        Some(profile.identity()?)
    } else {
        None
    };
    if let Some(old) = &existing
        && old.user_id() != info.user_id
        && !args.force
    {
        return Err(Failure::new(
            "identity_exists",
            format!(
                "profile '{}' has another identity (user {}); use another --profile, or --force to replace it",
                profile.name(),
                old.user_id()
            ),
        )
        .into());
    }
    let pass = passphrase::obtain(
        args.passphrase_file.as_deref(),
        Ask::Once,
        "Passphrase of the identity file: ",
    )?;
    let key: IdentityKey = tokio::task::spawn_blocking(move || {
        let r = IdentityKey::import_encrypted(&text, &pass);
        drop(text);
        r
    })
    .await
    .context("the import task failed")?
    .map_err(|e| file_error(&args.file, e))?;
    let key_path = profile.key_path();
    let (result, replaced) = match existing {
        Some(old) if old.user_id() == key.user_id() => ("same", None),
        Some(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let aside = key_path.with_file_name(format!("identity.pem.replaced-{now}"));
            // A hard link keeps the old key (mode 0600) and refuses to
            // overwrite anything; then the old name goes.
            std::fs::hard_link(&key_path, &aside)
                .with_context(|| format!("cannot keep the old key as {}", aside.display()))?;
            std::fs::remove_file(&key_path)
                .with_context(|| format!("cannot replace {}", key_path.display()))?;
            ("replaced", Some(aside))
        }
        None => ("new", None),
    };
    if result != "same" {
        profile.create_dir()?;
        key.save_pem(&key_path)
            .context("cannot save the identity key")?;
        // The old user's name and id no longer apply; the node stays.
        let settings = profile.settings().unwrap_or_default();
        profile.save_settings(&Settings {
            node: settings.node,
            name: None,
            user_id: Some(key.user_id().to_string()),
        })?;
    }
    if let Some(aside) = &replaced {
        note(&format!(
            "the previous identity key is kept as {}",
            aside.display()
        ));
    }
    let out = Imported {
        profile: profile.name().to_owned(),
        user_id: key.user_id().to_string(),
        key_file: key_path.display().to_string(),
        result,
        replaced_key_file: replaced.map(|p| p.display().to_string()),
    };
    ctx.out.emit(&out, || match result {
        "same" => format!(
            "profile '{}' has this identity already (user {})",
            out.profile, out.user_id
        ),
        _ => format!(
            "imported user {} into profile '{}' ({}); register it with a node: peerctl --profile {} init --name NAME",
            out.user_id, out.profile, out.key_file, out.profile
        ),
    })
}
