//! Shared by the MongoDB tests: where the test server is, and fresh
//! databases on it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use peer_store::Store;
use peer_store::conformance::Fixture;
use peer_store_mongo::{MongoConfig, MongoStore, TransactionMode};

/// The variable naming the test server.
pub(crate) const URI_VAR: &str = "PEER_TEST_MONGODB_URI";

/// The test server's URI. Without one: a failure under CI (`CI=true`), a
/// skip with a notice elsewhere (`None`).
pub(crate) fn uri() -> Option<String> {
    match std::env::var(URI_VAR) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "{URI_VAR} is not set but CI=true: MongoDB tests must run in CI \
                 (start one with scripts/mongo-test-server start)"
            );
            eprintln!(
                "NOTICE: {URI_VAR} is not set: skipping a MongoDB test \
                 (export {URI_VAR}=$(scripts/mongo-test-server start))"
            );
            None
        }
    }
}

/// A database name of its own for one test.
pub(crate) fn db_name(prefix: &str) -> String {
    format!("{prefix}_{}", mongodb::bson::oid::ObjectId::new().to_hex())
}

/// A store on a fresh database; dropped at teardown.
pub(crate) struct MongoFixture {
    pub(crate) store: Arc<MongoStore>,
}

#[async_trait]
impl Fixture for MongoFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn teardown(self) {
        let _ = self.store.drop_database().await;
    }
}

pub(crate) async fn fresh_with(mode: TransactionMode) -> Option<MongoFixture> {
    let uri = uri()?;
    let mut cfg = MongoConfig::new(uri, db_name("pgtest"));
    cfg.transactions = mode;
    let store = MongoStore::connect(cfg)
        .await
        .expect("connect to the test server");
    Some(MongoFixture {
        store: Arc::new(store),
    })
}
