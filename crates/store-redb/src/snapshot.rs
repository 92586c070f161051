//! Consistent copies of a store's file (`peerd backup`).
//!
//! A snapshot is taken in one read transaction: redb's MVCC gives it the
//! state of the last commit before it began, whatever the writer commits
//! meanwhile (and the writer is not held up). Every table is copied into a
//! new redb file next to the destination, which is committed durably and
//! then renamed into place, so the destination is either the previous file
//! or a whole snapshot, never half of one. The copy is itself a database
//! file: restoring is putting it where the store's file was.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use peer_store::StoreError;
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase as _, ReadableTable as _,
    ReadableTableMetadata as _,
};

use crate::error::storage;
use crate::store::RedbStore;
use crate::tables;

/// Entries copied per write transaction of the copy (the last one is
/// committed durably).
const CHUNK: usize = 10_000;

/// What a snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotStats {
    /// Users.
    pub users: u64,
    /// Rooms.
    pub rooms: u64,
    /// Memberships.
    pub members: u64,
    /// Messages.
    pub messages: u64,
    /// Audit entries.
    pub audit: u64,
    /// The file's size in bytes.
    pub bytes: u64,
}

impl SnapshotStats {
    /// Counts what a database file holds: opens it read-only (it must not
    /// be in use by a writer).
    pub fn of_file(path: &Path) -> Result<SnapshotStats, StoreError> {
        let db = redb::Builder::new().open_read_only(path).map_err(storage)?;
        let txn = db.begin_read().map_err(storage)?;
        let mut stats = count(&txn)?;
        stats.bytes = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok(stats)
    }
}

fn count(txn: &ReadTransaction) -> Result<SnapshotStats, StoreError> {
    let len = |def| -> Result<u64, StoreError> {
        txn.open_table(def).map_err(storage)?.len().map_err(storage)
    };
    Ok(SnapshotStats {
        users: len(tables::USERS)?,
        rooms: len(tables::ROOMS)?,
        members: len(tables::MEMBERS)?,
        messages: len(tables::MESSAGES)?,
        audit: len(tables::AUDIT)?,
        bytes: 0,
    })
}

impl RedbStore {
    /// Writes a consistent snapshot of the store to `dest` (a new redb
    /// file, mode 0600, replacing `dest` atomically). Blocking: run it on
    /// a blocking thread ([`RedbStore::snapshot_to_async`]).
    pub fn snapshot_to(&self, dest: &Path) -> Result<SnapshotStats, StoreError> {
        snapshot(self.database(), dest)
    }

    /// [`RedbStore::snapshot_to`] on a blocking thread of the runtime.
    pub async fn snapshot_to_async(&self, dest: PathBuf) -> Result<SnapshotStats, StoreError> {
        let db = Arc::clone(self.database());
        tokio::task::spawn_blocking(move || snapshot(&db, &dest))
            .await
            .map_err(|e| StoreError::internal(format!("the snapshot task failed: {e}")))?
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::unavailable(format!("{what} {}: {e}", path.display()))
}

fn snapshot(db: &Database, dest: &Path) -> Result<SnapshotStats, StoreError> {
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    match fs::remove_file(&partial) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot remove", &partial, e)),
    }
    OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| io("cannot create", &partial, e))?;
    let result = copy(db, &partial);
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    let mut stats = result?;
    fs::rename(&partial, dest).map_err(|e| io("cannot rename into", dest, e))?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is durable once the directory is.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("cannot sync", dir, e))?;
    }
    stats.bytes = fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(stats)
}

fn copy(db: &Database, to: &Path) -> Result<SnapshotStats, StoreError> {
    let src = db.begin_read().map_err(storage)?;
    let out = Database::create(to).map_err(storage)?;
    for def in tables::ALL {
        let table = src.open_table(def).map_err(storage)?;
        let mut entries = table.iter().map_err(storage)?.peekable();
        // Every table exists in the copy, even an empty one.
        let mut first = true;
        while first || entries.peek().is_some() {
            first = false;
            let mut txn = out.begin_write().map_err(storage)?;
            txn.set_durability(Durability::None).map_err(storage)?;
            {
                let mut dst = txn.open_table(def).map_err(storage)?;
                for item in entries.by_ref().take(CHUNK) {
                    let (k, v) = item.map_err(storage)?;
                    dst.insert(k.value(), v.value()).map_err(storage)?;
                }
            }
            txn.commit().map_err(storage)?;
        }
    }
    // One durable commit makes everything before it durable.
    let mut txn = out.begin_write().map_err(storage)?;
    txn.set_durability(Durability::Immediate).map_err(storage)?;
    txn.commit().map_err(storage)?;
    let stats = count(&out.begin_read().map_err(storage)?)?;
    out.close().map_err(storage)?;
    Ok(stats)
}
