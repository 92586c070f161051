//! peergroup's embedded durable store: the [`peer_store::Store`] trait on
//! one [redb](https://docs.rs/redb) file (pure Rust, ACID, copy-on-write
//! B-trees), `peerd`'s default store (`peergroup.redb` in its data
//! directory).
//!
//! What it does:
//!
//! - **Key layout for the access paths** (module `tables`): every table
//!   maps fixed-width byte keys to postcard-encoded values, so byte order is
//!   list order. Messages are keyed by (room id, seq as big-endian `u64`):
//!   listing after or before a seq is one range scan, whatever the room's
//!   size. Members, bans, invites and envelopes are keyed by room first,
//!   with reverse indexes (memberships, public rooms, audit by room and by
//!   actor) kept in the same transaction.
//! - **Durable acknowledgements**: every write runs in a write transaction
//!   committed with [`redb::Durability::Immediate`] (an fsync) before the
//!   caller gets its answer. A message's seq is allocated inside that
//!   transaction (the room's `last_seq` + 1), so seqs are gapless and an
//!   acknowledged seq survives a crash (`tests/crash.rs` kills a writer
//!   with SIGKILL and checks).
//! - **Group commit**: one dedicated writer thread owns the write side. It
//!   takes every write queued behind the first, up to
//!   [`RedbConfig::max_batch`] (waiting at most [`RedbConfig::max_wait`]
//!   for more), runs them in one transaction and answers them all after
//!   its one fsync. Concurrent writers thus share fsyncs instead of paying
//!   one each (figures in `docs/performance.md`).
//! - **Off the async workers**: reads run in redb read transactions (MVCC
//!   snapshots, never blocked by the writer) on tokio's blocking pool;
//!   writes go to the writer thread and are awaited through a channel.
//!   Opening (which repairs the file after a crash) has an async form,
//!   [`RedbStore::open_async`].
//! - **One process per file**: redb locks the file; a second opener gets
//!   [`OpenError::InUse`].
//! - **Snapshots** ([`RedbStore::snapshot_to`]): a consistent copy of the
//!   whole store, taken in one read transaction while writes go on, written
//!   to a new redb file that can replace the original (`peerd backup`).
//!
//! What it does not do: share data between nodes (one process opens the
//! file; use MongoDB for that), bound the data it keeps (nothing is
//! dropped: the disk is the limit, and a full disk makes writes
//! `Unavailable`), or encrypt the file (it holds what the node holds:
//! ciphertext of encrypted rooms, wrapped keys, and plaintext of
//! unencrypted rooms; it is created with mode 0600).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use peer_store::Store as _;
//! use peer_store_redb::{RedbConfig, RedbStore};
//!
//! let store = RedbStore::open_async(RedbConfig::new("/var/lib/peergroup/peergroup.redb")).await?;
//! store.health().await?;
//! store.close(); // lets queued writes commit; the file closes with the last handle
//! # Ok(())
//! # }
//! ```

mod access;
mod codec;
mod config;
mod error;
mod reads;
mod snapshot;
mod store;
mod tables;
mod writer;
mod writes;

pub use config::RedbConfig;
pub use error::OpenError;
pub use snapshot::SnapshotStats;
pub use store::RedbStore;
