//! The conformance suite against MongoDB (the test server of
//! `scripts/mongo-test-server`, or any MongoDB 6+ named by
//! `PEER_TEST_MONGODB_URI`), with transactions where the deployment has them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use peer_store_mongo::TransactionMode;

async fn fresh() -> Option<common::MongoFixture> {
    common::fresh_with(TransactionMode::Auto).await
}

peer_store::conformance_tests!(fresh);
