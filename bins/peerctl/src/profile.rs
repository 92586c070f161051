//! A profile: one user's identity and settings, in a directory of its own.
//!
//! ```text
//! $PEERCTL_HOME/                 default $XDG_CONFIG_HOME/peergroup, else ~/.config/peergroup
//!   <profile>/                   mode 0700, made by `init`
//!     identity.pem               the user's RSA key, PKCS#8 PEM, mode 0600, never replaced
//!     known_nodes                node keys pinned on first use (peer_client::pins format)
//!     profile.toml               node = "http://...", name = "alice", user_id = "..."
//! ```
//!
//! The identity key is refused when group or others may read it; it is
//! created with mode 0600 from its first byte and never overwritten (see
//! `peer_crypto::IdentityKey::save_pem`). Room keys are not stored: a
//! member's client fetches its own wrapped keys from the node when it needs
//! them.

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use peer_crypto::{IdentityKey, KeySize};
use serde::{Deserialize, Serialize};

use crate::error::{Failure, Usage};

/// The node a profile talks to when nothing else says.
pub(crate) const DEFAULT_NODE: &str = "http://127.0.0.1:8080";

/// The largest `profile.toml` read.
const MAX_SETTINGS_BYTES: u64 = 64 * 1024;

/// What `profile.toml` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// The default node URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
    /// The name the user registered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// The user id (the hash of the identity key; informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
}

/// One profile's directory and files.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    name: String,
    dir: PathBuf,
}

/// A profile name: 1-64 of `[A-Za-z0-9_.-]`, not starting with a dot.
fn check_name(name: &str) -> Result<(), Usage> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if name.is_empty() || name.len() > 64 || !ok_chars || name.starts_with('.') {
        return Err(Usage(format!(
            "invalid profile name {name:?}: use 1-64 of A-Z a-z 0-9 _ . - (not starting with a dot)"
        )));
    }
    Ok(())
}

/// Where profiles live: `$PEERCTL_HOME`, else `$XDG_CONFIG_HOME/peergroup`
/// (an absolute path), else `$HOME/.config/peergroup`.
fn home(var: impl Fn(&str) -> Option<String>) -> Result<PathBuf, Usage> {
    let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    if let Some(h) = set("PEERCTL_HOME") {
        return Ok(PathBuf::from(h));
    }
    if let Some(x) = set("XDG_CONFIG_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Ok(Path::new(&x).join("peergroup"));
    }
    if let Some(h) = set("HOME") {
        return Ok(Path::new(&h).join(".config").join("peergroup"));
    }
    Err(Usage(
        "no place for profiles: set PEERCTL_HOME (or HOME) to a directory".into(),
    ))
}

impl Profile {
    /// The profile `name` under the profiles' home (from the environment).
    pub(crate) fn locate(name: &str) -> Result<Profile, Usage> {
        check_name(name)?;
        let dir = home(|k| std::env::var(k).ok())?.join(name);
        Ok(Profile {
            name: name.to_owned(),
            dir,
        })
    }

    /// The profile's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Its directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The identity key file.
    pub(crate) fn key_path(&self) -> PathBuf {
        self.dir.join("identity.pem")
    }

    /// The pinned node keys.
    pub(crate) fn pins_path(&self) -> PathBuf {
        self.dir.join("known_nodes")
    }

    /// The settings file.
    pub(crate) fn settings_path(&self) -> PathBuf {
        self.dir.join("profile.toml")
    }

    /// Creates the directory (mode 0700, parents too) if it is missing.
    pub(crate) fn create_dir(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("cannot create the profile directory {}", self.dir.display()))
    }

    /// The settings; defaults when the file does not exist.
    pub(crate) fn settings(&self) -> Result<Settings> {
        let path = self.settings_path();
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut text = String::new();
        file.take(MAX_SETTINGS_BYTES + 1)
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if text.len() as u64 > MAX_SETTINGS_BYTES {
            anyhow::bail!("{} is larger than 64 KiB", path.display());
        }
        toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a valid profile file: {}",
                path.display(),
                e.message()
            )
        })
    }

    /// Writes the settings (mode 0600, replacing the file atomically).
    pub(crate) fn save_settings(&self, settings: &Settings) -> Result<()> {
        let path = self.settings_path();
        let text = toml::to_string(settings).context("cannot encode the profile settings")?;
        let temp = self
            .dir
            .join(format!(".profile.toml.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let _ = fs::remove_file(&temp);
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            f.write_all(b"# peerctl profile settings\n")?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&temp, &path)
        };
        let result = write();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.with_context(|| format!("cannot write {}", path.display()))
    }

    /// True when the identity key file exists.
    pub(crate) fn has_identity(&self) -> bool {
        fs::symlink_metadata(self.key_path()).is_ok()
    }

    /// Loads the identity key; a profile without one is told to run `init`.
    pub(crate) fn identity(&self) -> Result<IdentityKey> {
        if !self.has_identity() {
            return Err(Failure::new(
                "no_identity",
                format!(
                    "profile '{0}' has no identity yet: run `peerctl --profile {0} init --name NAME`",
                    self.name
                ),
            )
            .into());
        }
        IdentityKey::load_pem(self.key_path()).context("cannot load the identity key")
    }

    /// Loads the identity key, or makes and saves a new RSA-2048 one.
    /// Returns the key and whether it is new.
    pub(crate) fn identity_or_create(&self) -> Result<(IdentityKey, bool)> {
        if self.has_identity() {
            return Ok((self.identity()?, false));
        }
        self.create_dir()?;
        let mut rng = peer_crypto::rng::system_rng();
        let key = IdentityKey::generate(&mut rng, KeySize::Rsa2048)
            .context("cannot generate an identity key")?;
        key.save_pem(self.key_path())
            .context("cannot save the identity key")?;
        Ok((key, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_home_follows_peerctl_home_then_xdg_then_home() {
        assert_eq!(
            home(env(&[("PEERCTL_HOME", "/p"), ("HOME", "/h")])).unwrap(),
            PathBuf::from("/p")
        );
        assert_eq!(
            home(env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])).unwrap(),
            PathBuf::from("/x/peergroup")
        );
        // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
        assert_eq!(
            home(env(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")])).unwrap(),
            PathBuf::from("/h/.config/peergroup")
        );
        assert_eq!(
            home(env(&[("PEERCTL_HOME", " "), ("HOME", "/h")])).unwrap(),
            PathBuf::from("/h/.config/peergroup")
        );
        assert!(home(env(&[])).is_err());
    }

    #[test]
    fn profile_names_are_checked() {
        for good in ["alice", "a", "bob-2", "x_y.z"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_round_trip_and_refuse_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = Profile {
            name: "t".into(),
            dir: dir.path().join("t"),
        };
        assert_eq!(p.settings().unwrap(), Settings::default());
        p.create_dir().unwrap();
        let s = Settings {
            node: Some("http://127.0.0.1:9".into()),
            name: Some("alice".into()),
            user_id: None,
        };
        p.save_settings(&s).unwrap();
        assert_eq!(p.settings().unwrap(), s);
        fs::write(p.settings_path(), "nod = \"x\"\n").unwrap();
        let err = p.settings().unwrap_err().to_string();
        assert!(err.contains("nod"), "{err}");
    }
}
