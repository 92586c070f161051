//! The data directory: created with mode 0700, locked while the daemon
//! runs (one daemon per directory), and home of the node's identity key
//! `node.pem` (mode 0600, created on first start, reused after).

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use peer_crypto::{Error as CryptoError, IdentityKey, KeyFileError, KeySize, LocalError};

/// The identity key's file name.
pub(crate) const KEY_FILE: &str = "node.pem";
/// The lock file's name.
const LOCK_FILE: &str = "peerd.lock";

/// An open, locked data directory. The lock is released when this drops
/// (or the process ends).
#[derive(Debug)]
pub(crate) struct DataDir {
    path: PathBuf,
    _lock: File,
}

/// How the identity was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyOrigin {
    /// Read from the existing key file.
    Loaded,
    /// Made now and saved.
    Created,
}

impl DataDir {
    /// Creates `path` (and missing parents) with mode 0700 if absent, and
    /// takes its lock. Fails if another process holds the lock.
    pub(crate) fn open(path: &Path) -> anyhow::Result<DataDir> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .with_context(|| format!("cannot create the data directory {}", path.display()))?;
        let meta = fs::metadata(path)
            .with_context(|| format!("cannot read the data directory {}", path.display()))?;
        if !meta.is_dir() {
            bail!("the data directory {} is not a directory", path.display());
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            tracing::warn!(
                dir = %path.display(),
                mode = format_args!("{mode:04o}"),
                "the data directory is writable by group or others; consider chmod 700"
            );
        }
        Self::lock(path)
    }

    /// Takes the lock of an existing data directory without creating
    /// anything else (`peerd backup` and `peerd migrate` on a stopped
    /// node). Fails if another process holds the lock.
    pub(crate) fn lock(path: &Path) -> anyhow::Result<DataDir> {
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .with_context(|| format!("cannot open the lock file {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => bail!(
                "the data directory {} is in use by another peerd (it holds {}); \
                 give each node its own --data-dir",
                path.display(),
                lock_path.display()
            ),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()));
            }
        }
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The identity key's path.
    pub(crate) fn key_path(&self) -> PathBuf {
        self.path.join(KEY_FILE)
    }

    /// Loads `node.pem`, or makes an RSA-2048 key and saves it (mode 0600)
    /// when there is none.
    pub(crate) fn identity(&self) -> anyhow::Result<(IdentityKey, KeyOrigin)> {
        let path = self.key_path();
        match fs::symlink_metadata(&path) {
            Ok(_) => load(&path).map(|k| (k, KeyOrigin::Loaded)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key =
                    IdentityKey::generate(&mut peer_crypto::rng::system_rng(), KeySize::Rsa2048)
                        .map_err(|e| anyhow!("cannot generate the node key: {e}"))?;
                key.save_pem(&path).map_err(|e| key_error(&path, e))?;
                Ok((key, KeyOrigin::Created))
            }
            Err(e) => {
                Err(e).with_context(|| format!("cannot read the node key {}", path.display()))
            }
        }
    }
}

fn load(path: &Path) -> anyhow::Result<IdentityKey> {
    IdentityKey::load_pem(path).map_err(|e| key_error(path, e))
}

/// An operator-facing message for a key file problem: what is wrong and
/// what to do. Never the key itself (the library's errors name the path
/// only).
fn key_error(path: &Path, e: CryptoError) -> anyhow::Error {
    let shown = path.display();
    match e {
        CryptoError::Local(LocalError::KeyFile(KeyFileError::InsecurePermissions {
            mode, ..
        })) => {
            anyhow!(
                "refusing to start: the node key {shown} has mode {mode:04o}, so other users \
                 may read it. Make it private to its owner and start again:\n    chmod 600 {shown}"
            )
        }
        CryptoError::Local(LocalError::KeyFile(KeyFileError::Format { .. })) => anyhow!(
            "the node key {shown} is not a PKCS#8 PEM RSA key (2048-4096 bits). Restore it from \
             a backup, or move it away to start with a new identity (a new node id)"
        ),
        CryptoError::Local(LocalError::KeyFile(KeyFileError::NotAFile { .. })) => {
            anyhow!("the node key {shown} is not a regular file")
        }
        other => anyhow!("node key {shown}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_dir_and_takes_the_lock() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("a").join("b");
        let dir = DataDir::open(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let err = DataDir::open(&path).unwrap_err().to_string();
        assert!(err.contains("in use by another peerd"), "{err}");
        drop(dir);
        DataDir::open(&path).unwrap();
    }

    #[test]
    fn a_file_is_no_data_dir() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("f");
        fs::write(&path, b"x").unwrap();
        assert!(DataDir::open(&path).is_err());
    }

    #[test]
    fn bad_key_files_are_explained() {
        let root = tempfile::tempdir().unwrap();
        let dir = DataDir::open(root.path()).unwrap();
        let path = dir.key_path();
        fs::write(&path, b"not a key").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = dir.identity().unwrap_err().to_string();
        assert!(err.contains("not a PKCS#8 PEM RSA key"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = dir.identity().unwrap_err().to_string();
        assert!(
            err.contains("mode 0640") && err.contains("chmod 600"),
            "{err}"
        );
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        let err = dir.identity().unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
