//! The cases whose multi-document writes differ without transactions, run
//! with `TransactionMode::Never`: the ordered, compensating code paths that
//! a standalone server uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use peer_store_mongo::TransactionMode;

async fn fresh() -> Option<common::MongoFixture> {
    let f = common::fresh_with(TransactionMode::Never).await?;
    assert!(!f.store.uses_transactions());
    Some(f)
}

peer_store::__conformance_cases!(fresh;
    rooms_create_and_get,
    rooms_create_invalid_and_duplicate,
    rooms_delete_cascades,
    members_add_get_list,
    members_errors_and_bans,
    members_remove_and_roles,
    members_concurrent_joins_respect_capacity,
    invites_with_joins,
    invites_concurrent_single_use,
    rotate_epoch_rules,
    rotate_epoch_concurrent_single_winner,
    envelopes_put_get_list,
);
