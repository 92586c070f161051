//! Nodes on one MongoDB store (`PEER_TEST_MONGODB_URI`): a follower with a
//! store of its own that follows one of them is pushed to by the others
//! too (its record is in the shared peers collection) and refuses them, as
//! it does not know them; they must not forget it for everyone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use peer_client::{Client, ClientOptions, MemoryPins, RoomSettings};
use peer_mesh::{Join, Timings};
use peer_proto::api::PeerQuery;
use peer_store_mongo::{MongoConfig, MongoStore};
use support::{BOUND, MeshNode, eventually, quick, user_key};

fn mongodb_uri() -> Option<String> {
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

async fn connect(uri: &str, database: &str) -> MongoStore {
    MongoStore::connect(MongoConfig::new(uri.to_owned(), database.to_owned()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_a_shared_store_keep_a_live_follower_they_cannot_push_to() {
    let Some(uri) = mongodb_uri() else { return };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let database = format!("mesh_shared_{}_{nanos}", std::process::id());
    let x = MeshNode::start_with(
        1,
        Arc::new(connect(&uri, &database).await),
        Join::None,
        None,
        quick(),
    )
    .await;
    // Y gives up on a peer after 1 s of failed pushes.
    let y = MeshNode::start_with(
        3,
        Arc::new(connect(&uri, &database).await),
        Join::None,
        None,
        Timings {
            push_give_up: Duration::from_secs(1),
            push_backoff_max: Duration::from_millis(200),
            ..quick()
        },
    )
    .await;
    let f = MeshNode::start(2, x.join()).await;
    f.wait_following(&x).await;
    let f_id = f.node.node_id();

    // Events on Y: Y pushes them to F too (once its push set has F), and F
    // refuses (it knows X only).
    let client = Client::connect(
        &y.url(),
        user_key(),
        &MemoryPins::new(),
        ClientOptions::default(),
    )
    .await
    .unwrap();
    client.register("yolanda").await.unwrap();
    let room = client.create_room(RoomSettings::new("on y")).await.unwrap();
    let failures = || y.mesh.stats().push_failures.load(Ordering::Relaxed);
    let deadline = Instant::now() + BOUND;
    while failures() == 0 {
        assert!(Instant::now() < deadline, "Y never pushed to F");
        client.send_text(room.id, "hello").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let failing = Instant::now();
    let before = failures();
    // Y retries every 200 ms and considers giving up after 1 s.
    eventually(
        "Y's pushes to F failed on past its give-up time",
        || async { failures() > before && failing.elapsed() > Duration::from_millis(2500) },
    )
    .await;

    // F's record is still there for everyone, so X keeps pushing to it.
    let listed = |node: &MeshNode| {
        let node = node.node.clone();
        async move {
            node.list_peers(PeerQuery::default())
                .await
                .unwrap()
                .peers
                .iter()
                .any(|p| p.node_id == f_id)
        }
    };
    assert!(listed(&x).await, "F's record was forgotten");
    assert!(listed(&y).await);
    assert!(f.node.main_peer().is_some_and(|m| m.reachable));

    f.stop().await;
    y.stop().await;
    x.stop().await;
    connect(&uri, &database)
        .await
        .drop_database()
        .await
        .unwrap();
}
