//! redb's errors as [`StoreError`]s, and the errors of opening a file.

use std::path::PathBuf;

use peer_store::StoreError;

/// A redb failure at the trait boundary: I/O problems (a full disk, a
/// failed fsync) are `Unavailable` (the same call may succeed once the
/// operator fixed it), anything else `Internal`. Never document contents.
pub(crate) fn storage(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Io(io) => StoreError::unavailable(format!("database file I/O: {io}")),
        redb::Error::PreviousIo => StoreError::unavailable(
            "an earlier I/O error stopped the database file; restart the process to reopen it",
        ),
        redb::Error::DatabaseClosed => StoreError::unavailable("the store is closed"),
        other => StoreError::internal(format!("redb: {other}")),
    }
}

/// A value that does not decode: corrupted data or a bug.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::internal(format!("a stored {what} does not decode"))
}

/// Why [`RedbStore::open`](crate::RedbStore::open) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process has the file open (a running peerd, a migration).
    #[error("the database file {} is in use by another process", path.display())]
    InUse {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer version of this crate.
    #[error(
        "the database file {} has schema version {found}, newer than this program's {known}: \
         upgrade the program",
        path.display()
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The file's schema.
        found: u8,
        /// The newest schema this program knows.
        known: u8,
    },
    /// The file cannot be opened or created (permissions, not a redb file,
    /// corruption, I/O).
    #[error("cannot open the database file {}: {reason}", path.display())]
    Cannot {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}
