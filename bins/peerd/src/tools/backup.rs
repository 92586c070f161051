//! `peerd backup --to FILE`: a consistent snapshot of a node's redb store.
//!
//! With peerd running on the data directory, the snapshot comes through
//! its control socket (see `control`); with no peerd running, this command
//! takes the data directory's lock and reads the file itself. Either way
//! the snapshot is written to `FILE.partial`, synced, checked (opened and
//! counted), and renamed to `FILE`.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use peer_store_redb::{RedbConfig, SnapshotStats};

use super::{BackupArgs, ToolError};
use crate::config::REDB_FILE;
use crate::control::{BACKUP, SOCKET_FILE};
use crate::datadir::DataDir;

/// How long the daemon may take to answer (it copies the whole store
/// first) before this command gives up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3600);

pub(super) async fn run(args: BackupArgs, vars: &[(OsString, OsString)]) -> Result<(), ToolError> {
    let dir = match args.data_dir {
        Some(d) if d.as_os_str().is_empty() => {
            return Err(ToolError::Usage("--data-dir is empty".into()));
        }
        Some(d) => d,
        None => {
            crate::config::default_data_dir(vars).map_err(|e| ToolError::Usage(e.to_string()))?
        }
    };
    if !dir.is_dir() {
        return Err(ToolError::Failed(anyhow!(
            "the data directory {} does not exist",
            dir.display()
        )));
    }
    let dest = args.to;
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let socket = dir.join(SOCKET_FILE);
    let how = match UnixStream::connect(&socket) {
        Ok(stream) => {
            let dest = partial.clone();
            tokio::task::spawn_blocking(move || from_daemon(stream, &dest))
                .await
                .map_err(|e| anyhow!("the backup task failed: {e}"))??;
            "from the running peerd"
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            // No daemon: read the file under the directory's lock.
            let _lock = DataDir::lock(&dir).context(
                "peerd seems to run on this data directory but its control socket does not \
                 answer",
            )?;
            let file = dir.join(REDB_FILE);
            if !file.is_file() {
                return Err(ToolError::Failed(anyhow!(
                    "there is no redb store in {} (is the node on another store?)",
                    dir.display()
                )));
            }
            let store = crate::daemon::open_redb(RedbConfig::new(&file)).await?;
            store
                .snapshot_to_async(partial.clone())
                .await
                .map_err(|e| anyhow!("the snapshot failed: {e}"))?;
            store.close();
            "from the store file (no peerd running)"
        }
        Err(e) => {
            return Err(ToolError::Failed(anyhow!(
                "cannot reach peerd's control socket {}: {e}",
                socket.display()
            )));
        }
    };
    let stats = finish(&partial, &dest)?;
    println!(
        "backup of {} written to {} ({how}): {} bytes; {} users, {} rooms, {} members, {} \
         messages, {} audit entries",
        dir.display(),
        dest.display(),
        stats.bytes,
        stats.users,
        stats.rooms,
        stats.members,
        stats.messages,
        stats.audit
    );
    Ok(())
}

/// Asks the daemon and writes what it sends to `dest`.
fn from_daemon(mut stream: UnixStream, dest: &Path) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    stream
        .write_all(format!("{BACKUP}\n").as_bytes())
        .context("cannot send the request to peerd")?;
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    (&mut reader)
        .take(4096)
        .read_line(&mut head)
        .context("no answer from peerd")?;
    let head = head.trim_end();
    let len: u64 = match head.split_once(' ') {
        Some(("ok", n)) => n.parse().context("a malformed answer from peerd")?,
        Some(("error", why)) => bail!("peerd refused the backup: {why}"),
        _ => bail!("a malformed answer from peerd"),
    };
    let _ = fs::remove_file(dest);
    let mut file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(dest)
        .with_context(|| format!("cannot create {}", dest.display()))?;
    let copied = std::io::copy(&mut reader.take(len), &mut file)
        .with_context(|| format!("cannot write {}", dest.display()))?;
    if copied != len {
        let _ = fs::remove_file(dest);
        bail!("peerd sent {copied} of {len} bytes: the backup is incomplete and was removed");
    }
    file.sync_all()
        .with_context(|| format!("cannot sync {}", dest.display()))?;
    Ok(())
}

/// Checks the snapshot at `partial` opens, and renames it to `dest`.
fn finish(partial: &Path, dest: &Path) -> anyhow::Result<SnapshotStats> {
    let stats = SnapshotStats::of_file(partial).map_err(|e| {
        let _ = fs::remove_file(partial);
        anyhow!("the snapshot does not open as a database ({e}); it was removed")
    })?;
    fs::rename(partial, dest)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), dest.display()))?;
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", parent.display()))?;
    }
    Ok(stats)
}
