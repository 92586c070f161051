//! The conformance suite: one set of test cases, generic over [`Store`],
//! that every backend must pass (feature `conformance`).
//!
//! Each case in [`cases`] is a public `async fn(Arc<dyn Store>)` that panics
//! on the first broken contract. A backend's test file runs all of them,
//! one `#[tokio::test]` each, with [`conformance_tests!`](crate::conformance_tests)
//! and a factory of fresh, empty stores:
//!
//! ```no_run
//! use std::sync::Arc;
//! use peer_store::{MemoryStore, Store};
//!
//! async fn fresh() -> Option<Arc<dyn Store>> {
//!     Some(Arc::new(MemoryStore::default()))
//! }
//!
//! peer_store::conformance_tests!(fresh);
//! # fn main() {}
//! ```
//!
//! The factory returns `None` to skip (after printing why); the value it
//! returns implements [`Fixture`], whose `teardown` runs after a case that
//! passed (a database to drop, say). The calling crate needs `tokio` with
//! the `macros` and `rt-multi-thread` features as a dev-dependency.
//!
//! Every case starts from an empty store and uses ids of its own, so cases
//! run in parallel against separate stores.

// Test code: a broken contract is a panic with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use async_trait::async_trait;

use crate::store::Store;

pub mod cases;
mod fixtures;

pub use fixtures::*;

/// A fresh store for one case, and what to do after it.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// The store under test.
    fn store(&self) -> Arc<dyn Store>;

    /// Cleans up after a case that passed (drop a database, ...).
    async fn teardown(self)
    where
        Self: Sized,
    {
    }
}

#[async_trait]
impl Fixture for Arc<dyn Store> {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self)
    }
}

/// Expands to one `#[tokio::test]` per conformance case, each calling the
/// factory (an `async fn() -> Option<impl Fixture>`) for a fresh store.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::__conformance_cases!($factory;
            health_and_kind,
            users_create_and_get,
            users_conflicts,
            users_list_pagination,
            users_prefix_filter,
            users_unicode_names,
            integers_beyond_i64_are_invalid,
            rooms_create_and_get,
            rooms_create_invalid_and_duplicate,
            rooms_list_pagination_and_filters,
            rooms_update_with_version,
            rooms_concurrent_updates_lose_nothing,
            rooms_delete_cascades,
            members_add_get_list,
            members_errors_and_bans,
            members_remove_and_roles,
            members_concurrent_joins_respect_capacity,
            invites_lifecycle,
            invites_with_joins,
            invites_concurrent_single_use,
            envelopes_put_get_list,
            rotate_epoch_rules,
            rotate_epoch_concurrent_single_winner,
            messages_append_and_list_edges,
            messages_tombstone,
            messages_values_at_size_limits,
            messages_concurrent_appends_are_gapless,
            messages_rooms_are_independent,
            peers_lifecycle,
            audit_append_and_list,
            unknown_room_is_not_found_everywhere,
            bad_limits_and_cursors_are_invalid,
            export_lists_of_a_room,
            import_keeps_fields_and_is_idempotent,
            import_resumes_and_refuses,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(fixture) = $factory().await else {
                    return;
                };
                let store = $crate::conformance::Fixture::store(&fixture);
                $crate::conformance::cases::$case(store).await;
                $crate::conformance::Fixture::teardown(fixture).await;
            }
        )*
    };
}
