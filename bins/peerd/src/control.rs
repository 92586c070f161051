//! The control socket: `peerd.sock`, a Unix domain socket in the data
//! directory, through which `peerd backup` gets a consistent snapshot of
//! the redb store from the running daemon.
//!
//! Why a Unix socket: redb lets one process at a time open the file (the
//! multi-process modes of redb 4.5+ would force two fsyncs per commit and
//! are new), so the snapshot must be taken by the daemon itself, in a read
//! transaction that does not stop its writer. A socket in the data
//! directory (mode 0700) is reachable only by the directory's owner and
//! root, is never on the network, and needs no token; the daemon also
//! checks the peer's uid (`SO_PEERCRED`) against the directory's owner.
//!
//! The protocol is one request line and one answer, each connection:
//!
//! ```text
//! -> backup\n
//! <- ok <bytes>\n<the snapshot file's bytes>
//! <- error <why>\n
//! ```
//!
//! The daemon writes the snapshot to a temporary file in the data directory,
//! streams it, and removes it; the client writes it where it wants it.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use peer_store_redb::RedbStore;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// The socket's file name in the data directory.
pub(crate) const SOCKET_FILE: &str = "peerd.sock";
/// The only request.
pub(crate) const BACKUP: &str = "backup";
/// Longest request line read.
const MAX_REQUEST: u64 = 64;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The serving socket; removed when dropped.
pub(crate) struct ControlSocket {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

struct Shared {
    dir: PathBuf,
    owner: u32,
    store: Option<Arc<RedbStore>>,
    /// One backup at a time.
    busy: Mutex<()>,
    serial: AtomicU64,
}

/// Serves the control socket of a locked data directory. `store` is the
/// redb store, when that is the store in use (other stores refuse
/// backups with a message saying what to use instead).
pub(crate) fn serve(dir: &Path, store: Option<Arc<RedbStore>>) -> anyhow::Result<ControlSocket> {
    let path = dir.join(SOCKET_FILE);
    // The data directory is locked by this process: a socket file left
    // here is from a peerd that died.
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("cannot create the control socket {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private", path.display()))?;
    let owner = std::fs::metadata(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .uid();
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        owner,
        store,
        busy: Mutex::new(()),
        serial: AtomicU64::new(0),
    });
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        if let Err(e) = answer(&shared, stream).await {
                            tracing::warn!(error = %format!("{e:#}"), "control socket request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    tracing::debug!(socket = %path.display(), "control socket ready");
    Ok(ControlSocket { path, task })
}

async fn answer(shared: &Shared, mut stream: UnixStream) -> anyhow::Result<()> {
    let uid = stream
        .peer_cred()
        .context("cannot read the peer's credentials")?
        .uid();
    if uid != shared.owner && uid != 0 {
        let msg = "error only the owner of the data directory may ask\n";
        stream.write_all(msg.as_bytes()).await?;
        anyhow::bail!("refused a control request of uid {uid}");
    }
    let (read, mut write) = stream.split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST));
    tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line))
        .await
        .context("the request did not come in time")??;
    if line.trim_end() != BACKUP {
        write.write_all(b"error unknown request\n").await?;
        return Ok(());
    }
    let Some(store) = &shared.store else {
        write
            .write_all(
                b"error this peerd does not use the redb store: back up MongoDB with its own \
                  tools (mongodump); the memory store holds nothing durable\n",
            )
            .await?;
        return Ok(());
    };
    let _one = shared.busy.lock().await;
    let n = shared.serial.fetch_add(1, Ordering::Relaxed);
    let tmp = shared
        .dir
        .join(format!("backup-{}-{n}.redb.tmp", std::process::id()));
    let started = std::time::Instant::now();
    let result = store.snapshot_to_async(tmp.clone()).await;
    let outcome = async {
        let stats = match result {
            Ok(stats) => stats,
            Err(e) => {
                write.write_all(format!("error {e}\n").as_bytes()).await?;
                return Ok(());
            }
        };
        let mut file = tokio::fs::File::open(&tmp).await?;
        let len = file.metadata().await?.len();
        write.write_all(format!("ok {len}\n").as_bytes()).await?;
        tokio::io::copy(&mut file, &mut write).await?;
        write.flush().await?;
        tracing::info!(
            bytes = len,
            users = stats.users,
            rooms = stats.rooms,
            messages = stats.messages,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "backup snapshot sent"
        );
        anyhow::Ok(())
    }
    .await;
    let _ = tokio::fs::remove_file(&tmp).await;
    outcome
}
