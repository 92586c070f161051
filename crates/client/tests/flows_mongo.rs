//! The whole flow on the MongoDB store (`PEER_TEST_MONGODB_URI`; see
//! `scripts/mongo-test-server`). Each run uses a database of its own,
//! dropped at the end. Kept to two runs: the test server is slow.
#![allow(clippy::expect_used)]

mod common;

use peer_client::ClientOptions;
use peer_proto::api::Kex;

async fn on_mongo(prefix: &str, opts: ClientOptions) {
    let Some(uri) = common::mongo_uri() else {
        return;
    };
    let store = common::mongo_store(&uri, prefix).await;
    common::flow::whole_flow(store.clone(), opts).await;
    store.drop_database().await.expect("drop the test database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongo_ecdh() {
    on_mongo("pgclient_ecdh", ClientOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongo_rsa_oaep_sealed() {
    on_mongo(
        "pgclient_rsa_sealed",
        ClientOptions::default().kex(Kex::RsaOaep).sealed(true),
    )
    .await;
}
