//! How to open a [`RedbStore`](crate::RedbStore).

use core::time::Duration;
use std::path::PathBuf;

/// Settings of a [`RedbStore`](crate::RedbStore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedbConfig {
    /// The database file (created with mode 0600 when absent).
    pub path: PathBuf,
    /// The most writes committed together in one transaction (group
    /// commit); 1 commits every write on its own (default 256).
    pub max_batch: usize,
    /// How long the writer waits for more writes once one has arrived and
    /// the batch is not full (default 0: it takes what is queued, and
    /// writes that arrive during a commit's fsync form the next batch).
    pub max_wait: Duration,
    /// Writes queued at most; further callers wait for a free place
    /// (default 4,096).
    pub max_queued: usize,
    /// redb's page cache, in bytes (default 64 MiB).
    pub cache_bytes: usize,
}

impl RedbConfig {
    /// The defaults for this file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RedbConfig {
            path: path.into(),
            max_batch: 256,
            max_wait: Duration::ZERO,
            max_queued: 4096,
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}
