//! The only I/O of this crate: an identity key as a PKCS#8 PEM file, mode
//! 0600.
//!
//! Saving writes a temporary file in the same directory, created with mode
//! 0600 from the start (`O_CREAT|O_EXCL`, never chmod after writing), syncs
//! it, then hard-links it to the final name and removes the temporary name.
//! Why: the final path either does not exist or holds a complete key (a crash
//! mid-write never leaves a truncated identity behind), and the link fails if
//! a file exists there already, so an identity is never replaced by accident
//! (a rename would silently overwrite it). `O_EXCL` also refuses to follow a
//! symlink planted at the temporary name.
//!
//! Loading opens the file, then checks the mode of the opened file (not of
//! the path, so no swap in between): any permission bit for group or others
//! is refused with an error naming the path and the mode.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zeroize::Zeroizing;

use super::IdentityKey;
use crate::error::{Error, KeyFileError};

/// Largest key file read (an RSA-4096 PKCS#8 PEM is about 3.3 KB).
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl IdentityKey {
    /// Saves the key as PKCS#8 PEM at `path`, mode 0600. Refuses
    /// ([`KeyFileError::Exists`]) when a file exists at `path` already.
    pub fn save_pem(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let pem = self.to_pkcs8_pem()?;
        if fs::symlink_metadata(path).is_ok() {
            return Err(KeyFileError::Exists {
                path: path.to_path_buf(),
            }
            .into());
        }
        let temp = temp_path(path);
        let result = write_new(&temp, pem.as_bytes()).and_then(|()| {
            fs::hard_link(&temp, path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    KeyFileError::Exists {
                        path: path.to_path_buf(),
                    }
                } else {
                    io(path)(e)
                }
            })
        });
        // The temporary name goes in every case; the key lives on under
        // `path` when the link succeeded.
        let _ = fs::remove_file(&temp);
        result?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the new directory entry durable; failure here is not fatal
            // to correctness of the file itself, but report it.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        Ok(())
    }

    /// Loads a PKCS#8 PEM key from `path`, refusing a file that group or
    /// others may read or write ([`KeyFileError::InsecurePermissions`]).
    pub fn load_pem(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let mut file = File::open(path).map_err(io(path))?;
        let meta = file.metadata().map_err(io(path))?;
        if !meta.is_file() {
            return Err(KeyFileError::NotAFile {
                path: path.to_path_buf(),
            }
            .into());
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            }
            .into());
        }
        let mut text = Zeroizing::new(String::new());
        std::io::Read::by_ref(&mut file)
            .take(MAX_KEY_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|_| format_err(path))?;
        if text.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(format_err(path).into());
        }
        IdentityKey::from_pkcs8_pem(&text).map_err(|_| format_err(path).into())
    }
}

fn format_err(path: &Path) -> KeyFileError {
    KeyFileError::Format {
        path: path.to_path_buf(),
    }
}

/// `.<name>.<pid>.<n>.tmp` beside `path`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".to_owned());
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Creates `path` (which must not exist) with mode 0600, writes and syncs.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    // The umask can only remove bits; check nothing widened them anyway.
    let mode = file.metadata().map_err(io(path))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}
