//! peergroup storage on MongoDB.
//!
//! [`MongoStore`] implements [`peer_store::Store`] with the official
//! `mongodb` driver (3.x), so that several `peerd` nodes can share one
//! durable deployment. It passes the same conformance suite as the memory
//! backend.
//!
//! What it does:
//!
//! - one collection per entity (`users`, `rooms`, `counters`, `members`,
//!   `bans`, `invites`, `envelopes`, `messages`, `peers`, `audit`), with
//!   indexes created idempotently at [`MongoStore::connect`]; the unique ones
//!   (folded user name, (room, user), (room, epoch, member), (room, seq),
//!   (room, code)) enforce the invariants, and a duplicate key becomes
//!   `Conflict` naming what collided;
//! - message seqs from an atomic `findOneAndUpdate` + `$inc` on the room's
//!   counter document, the unique (room, seq) index as a second guard;
//! - multi-document operations (create/delete a room, join, leave, rotate)
//!   in transactions when the deployment supports them, otherwise as
//!   ordered single-document steps that compensate on failure (see
//!   `docs/storage.md`);
//! - writes with `w: "majority", j: true`: an acknowledged write is durable;
//! - bounded time: server selection and connect fail after
//!   `connect_timeout` (2 s by default) and every call after `op_timeout`,
//!   as `Unavailable`; never a hang;
//! - pagination by key (never `skip`); only standard commands (MongoDB 6+).
//!
//! What it does not: create users or roles on the server, configure the
//! replica set, or log document contents (errors name fields, indexes and
//! codes only).
//!
//! ```no_run
//! use peer_store::Store;
//! use peer_store_mongo::{MongoConfig, MongoStore};
//!
//! # async fn demo() -> Result<(), peer_store::StoreError> {
//! let cfg = MongoConfig::new("mongodb://db1,db2,db3/?replicaSet=rs0", "peergroup");
//! let store = MongoStore::connect(cfg).await?;
//! store.health().await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod codec;
mod config;
mod error;
mod store;

pub use config::{MongoConfig, TransactionMode, redact_uri};
pub use store::MongoStore;
