//! The core flows on MongoDB (`PEER_TEST_MONGODB_URI`; under `CI=true` a
//! missing URI fails, elsewhere these tests skip with a notice). Each test
//! uses a database of its own, dropped at the end.

use std::sync::Arc;

use peer_http::server::ServerConfig;
use peer_node::NodeConfig;
use peer_store_mongo::{MongoConfig, MongoStore};
use peer_testkit::node::TestNode;

use crate::flows;

const URI_VAR: &str = "PEER_TEST_MONGODB_URI";

async fn mongo_node() -> Option<(TestNode, Arc<MongoStore>)> {
    let uri = match std::env::var(URI_VAR) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "{URI_VAR} is not set but CI=true: the MongoDB variants must run"
            );
            eprintln!("NOTICE: {URI_VAR} is not set: skipping a MongoDB test of peer-http");
            return None;
        }
    };
    let hex: String = crate::common::random::<8>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let db = format!("pghttp_{hex}");
    let store = Arc::new(
        MongoStore::connect(MongoConfig::new(uri, db))
            .await
            .unwrap(),
    );
    let node = TestNode::start_with(
        store.clone(),
        NodeConfig::default(),
        ServerConfig::default(),
    )
    .await;
    assert_eq!(
        node.node().info().store,
        peer_proto::api::StoreKind::Mongodb
    );
    Some((node, store))
}

#[tokio::test]
async fn rooms_messages_and_keys_on_mongodb() {
    let Some((node, store)) = mongo_node().await else {
        return;
    };
    flows::rooms_messages_and_keys(&node).await;
    node.stop().await;
    let _ = store.drop_database().await;
}

#[tokio::test]
async fn curl_path_on_mongodb() {
    let Some((node, store)) = mongo_node().await else {
        return;
    };
    flows::curl_path(&node).await;
    node.stop().await;
    let _ = store.drop_database().await;
}

#[tokio::test]
async fn events_on_mongodb() {
    let Some((node, store)) = mongo_node().await else {
        return;
    };
    flows::events(&node).await;
    node.stop().await;
    let _ = store.drop_database().await;
}
