//! The conformance suite against redb: each case on a fresh file in a
//! temporary directory, removed after a passing case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use peer_store::Store;
use peer_store::conformance::Fixture;
use peer_store_redb::{RedbConfig, RedbStore};

struct RedbFixture {
    store: Arc<RedbStore>,
    _dir: tempfile::TempDir,
}

#[async_trait]
impl Fixture for RedbFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

async fn fresh() -> Option<RedbFixture> {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open_async(RedbConfig::new(dir.path().join("peergroup.redb")))
        .await
        .unwrap();
    Some(RedbFixture {
        store: Arc::new(store),
        _dir: dir,
    })
}

peer_store::conformance_tests!(fresh);
