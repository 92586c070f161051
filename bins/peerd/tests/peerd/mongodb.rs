//! peerd on MongoDB (`PEER_TEST_MONGODB_URI`, started by scripts/test).

use std::time::{SystemTime, UNIX_EPOCH};

use peer_store_mongo::{MongoConfig, MongoStore};

use crate::support::Env;

/// The test server's URI; `None` (with a notice) when it is not set
/// outside CI. In CI a missing URI fails the test.
pub(crate) fn mongodb_uri() -> Option<String> {
    match std::env::var("PEER_TEST_MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but PEER_TEST_MONGODB_URI is not set")
        }
        _ => {
            eprintln!("NOTICE: PEER_TEST_MONGODB_URI not set; skipping the MongoDB test");
            None
        }
    }
}

/// A database of its own for one test.
pub(crate) fn fresh_database(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// peerd's flags for a node on `database` of `uri`, with its data
/// directory (its node key) at `data`, on a free loopback port.
pub(crate) fn mongo_args<'a>(
    data: &'a std::path::Path,
    uri: &'a str,
    database: &'a str,
) -> Vec<&'a str> {
    vec![
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--store",
        "mongodb",
        "--mongodb-uri",
        uri,
        "--mongodb-database",
        database,
    ]
}

#[test]
fn peerd_on_mongodb_reports_the_store_healthy() {
    let Some(uri) = mongodb_uri() else { return };
    let database = fresh_database("peerd_test");

    let env = Env::new();
    let data = env.home.path().join("data");
    let peerd = env.start(&mongo_args(&data, &uri, &database));
    let (status, body) = peerd.get("/healthz");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["store_ok"], true, "{body}");
    assert_eq!(peerd.node_info()["store"], "mongodb");
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("store: mongodb"), "{stderr}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = MongoStore::connect(MongoConfig::new(uri, database))
            .await
            .unwrap();
        store.drop_database().await.unwrap();
    });
}
