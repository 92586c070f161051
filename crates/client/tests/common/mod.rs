//! Shared by the client's end-to-end tests: nodes on 127.0.0.1, users, the
//! MongoDB test server, and the whole-flow scenario every store and key
//! exchange runs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod flow;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use peer_client::{Client, ClientError, ClientOptions, MemoryPins};
use peer_crypto::IdentityKey;
use peer_proto::ErrorCode;
use peer_proto::event::Event;
use peer_store::Store;

/// Generous bound for anything awaited in a test.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// A client of `url` for `key`, registered as `name`, with fresh in-memory
/// pins.
pub(crate) async fn user(url: &str, key: &IdentityKey, name: &str, opts: &ClientOptions) -> Client {
    let pins = MemoryPins::new();
    let client = Client::connect(url, key.clone(), &pins, opts.clone())
        .await
        .expect("connect");
    client.register(name).await.expect("register");
    client
}

/// Asserts an API error with this code.
#[track_caller]
pub(crate) fn assert_api<T: std::fmt::Debug>(r: Result<T, ClientError>, code: ErrorCode) {
    match r {
        Err(ClientError::Api { code: c, .. }) if c == code => {}
        other => panic!("expected API error {code}, got {other:?}"),
    }
}

/// Awaits `f` within [`PATIENCE`].
pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// The next event of `stream` matching `want`, skipping others (bounded in
/// count and time).
pub(crate) async fn next_matching(
    stream: &mut peer_client::EventStream,
    what: &str,
    want: impl Fn(&Event) -> bool,
) -> Event {
    within(what, async {
        for _ in 0..1000 {
            match stream.next().await {
                Some(Ok(e)) if want(&e) => return e,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("event stream failed while waiting for {what}: {e}"),
                None => panic!("event stream ended while waiting for {what}"),
            }
        }
        panic!("no {what} among 1000 events")
    })
    .await
}

/// The MongoDB test server's URI. Without one: a failure under CI
/// (`CI=true`), a skip with a notice elsewhere (`None`).
pub(crate) fn mongo_uri() -> Option<String> {
    const VAR: &str = "PEER_TEST_MONGODB_URI";
    match std::env::var(VAR) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "{VAR} is not set but CI=true: MongoDB tests must run in CI \
                 (start one with scripts/mongo-test-server start)"
            );
            eprintln!("NOTICE: {VAR} is not set: skipping a MongoDB test");
            None
        }
    }
}

/// A MongoDB store on a database of its own (random name).
pub(crate) async fn mongo_store(uri: &str, prefix: &str) -> Arc<peer_store_mongo::MongoStore> {
    use rand_core::Rng as _;
    let mut suffix = [0u8; 8];
    peer_crypto::rng::system_rng().fill_bytes(&mut suffix);
    let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let cfg = peer_store_mongo::MongoConfig::new(uri, format!("{prefix}_{hex}"));
    Arc::new(
        peer_store_mongo::MongoStore::connect(cfg)
            .await
            .expect("connect to the MongoDB test server"),
    )
}

/// A memory store.
pub(crate) fn memory_store() -> Arc<dyn Store> {
    Arc::new(peer_store::MemoryStore::default())
}
