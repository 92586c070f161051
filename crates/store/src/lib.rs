//! Storage for peergroup nodes.
//!
//! `peer-store` defines what a node stores and how it asks for it:
//!
//! - [`Store`]: one async trait (`Send + Sync`, used as `Arc<dyn Store>`)
//!   over users, rooms, members and bans, invites, key envelopes, messages
//!   with per-room sequence numbers, peers and audit entries, plus a health
//!   check;
//! - [`StoreError`]: the typed error of every method (`NotFound`,
//!   `Conflict { what }`, `Unavailable { retry_after }`, `Invalid`,
//!   `Internal`);
//! - the records ([`records`]) and queries ([`query`]) it speaks in, built
//!   on `peer-proto`'s ids, enums and binary fields;
//! - [`MemoryStore`]: the volatile, bounded backend (ephemeral nodes, tests);
//! - `conformance` (cargo feature `conformance`): the test suite every
//!   backend must pass, generic over `Store`.
//!
//! It does not validate API limits (names, sizes; `peer-node` does that with
//! `peer_proto::limits`), hash passwords, check signatures or read the
//! clock: time enters as arguments. Durable backends live in their own
//! crates (`peer-store-redb`, `peer-store-mongo`).
//!
//! ```text
//! peer-node ──> Arc<dyn Store> ──> MemoryStore          (this crate)
//!                              ├─> RedbStore            (peer-store-redb)
//!                              └─> MongoStore           (peer-store-mongo)
//! ```
//!
//! ```
//! use std::sync::Arc;
//! use peer_store::{MemoryStore, Store, UserRecord};
//! use peer_proto::{Bytes, UserId};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
//! let alice = UserRecord {
//!     id: UserId::from_bytes([1; 16]),
//!     name: "Alice".into(),
//!     spki: Bytes(vec![0x30]),
//!     created_at: 1_700_000_000,
//! };
//! store.create_user(&alice).await?;
//! assert_eq!(store.get_user_by_name("ALICE").await?.id, alice.id);
//! # Ok::<(), peer_store::StoreError>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]

pub mod error;
pub mod memory;
pub mod query;
pub mod records;
mod store;
pub mod validate;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{ConflictKind, StoreError, StoreErrorKind};
pub use memory::{MemoryConfig, MemoryStore};
pub use query::{
    AuditFilter, AuditQuery, Cursor, CursorKind, MAX_LIMIT, MessagePage, MessageRange, Page,
    RoomFilter, RoomQuery, UserQuery,
};
pub use records::{
    AuditRecord, BanRecord, EnvelopeRecord, ImportCount, InviteRecord, MemberRecord, MessageCount,
    MessageRecord, NewAudit, NewMember, NewMessage, PeerRecord, Removal, RoomRecord, RoomUpdate,
    UserRecord,
};
pub use store::Store;
