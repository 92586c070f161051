//! Fault test: the server goes away in the middle of a run of appends and
//! comes back on the same directory and port.
//!
//! The test starts its own directory-backed server with
//! `scripts/mongo-test-server start --port N --dir TMP`, so it needs python3
//! (the script makes its virtualenv); it runs where the other MongoDB tests
//! run (`PEER_TEST_MONGODB_URI` set, or `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use peer_store::conformance::{owner_of, room, text_message, uid};
use peer_store::{MessageRange, Store, StoreError};
use peer_store_mongo::{MongoConfig, MongoStore};

const LIMIT: Duration = Duration::from_secs(3);

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mongo-test-server")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The script's state directory for this test's server: its own, so that
/// starting and stopping it leaves the shared test server's default alone.
fn state_dir(dir: &Path) -> PathBuf {
    dir.join("state")
}

fn start(port: u16, dir: &Path) -> String {
    let out = Command::new(script())
        .env("PEER_MONGO_STATE", state_dir(dir))
        .args(["start", "--port", &port.to_string(), "--dir"])
        .arg(dir.join("data"))
        .output()
        .expect("run mongo-test-server");
    assert!(
        out.status.success(),
        "mongo-test-server start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn stop(port: u16, dir: &Path) {
    let _ = Command::new(script())
        .env("PEER_MONGO_STATE", state_dir(dir))
        .args(["stop", "--port", &port.to_string()])
        .output();
}

/// Stops the server even when the test fails.
struct Server(u16, PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        stop(self.0, &self.1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_gives_unavailable_and_loses_no_acknowledged_append() {
    if common::uri().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let uri = start(port, dir.path());
    let _server = Server(port, dir.path().to_owned());

    let cfg = MongoConfig::new(uri, common::db_name("pgfault"));
    let store = Arc::new(MongoStore::connect(cfg).await.unwrap());
    let r = room(1, uid(1), 10);
    store.create_room(&r, &owner_of(&r), None).await.unwrap();

    // One task appends without pause and records what was acknowledged.
    let stop_flag = Arc::new(AtomicBool::new(false));
    let appender = {
        let store = store.clone();
        let stop_flag = stop_flag.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut failures = Vec::new();
            let mut n = 0u64;
            while !stop_flag.load(Ordering::Relaxed) {
                n += 1;
                let t = Instant::now();
                match store.append_message(r.id, &text_message(n, uid(1))).await {
                    Ok(m) => acked.push((m.seq, m.id)),
                    Err(e) => {
                        failures.push((t.elapsed(), e));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            (acked, failures)
        })
    };
    // Let it run, then pull the server out from under it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = Instant::now();
    let dir_path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || stop(port, &dir_path))
        .await
        .unwrap();
    eprintln!("server stopped in {:?}", stopping.elapsed());

    // While it is down every kind of call is Unavailable, within 3 s.
    for round in 0..1 {
        let checks: Vec<(&str, Result<(), StoreError>, Duration)> = vec![
            timed(
                "append",
                store.append_message(r.id, &text_message(1_000_000 + round, uid(1))),
            )
            .await,
            timed("get_room", store.get_room(r.id)).await,
            timed(
                "list",
                store.list_messages(r.id, MessageRange::After(0), 100),
            )
            .await,
            timed(
                "add_member",
                store.add_member(r.id, &peer_store::conformance::joiner(uid(2)), None),
            )
            .await,
            timed("health", store.health()).await,
        ];
        for (what, res, took) in checks {
            eprintln!("down: {what} -> {res:?} in {took:?}");
            assert!(
                matches!(res, Err(StoreError::Unavailable { .. })),
                "{what} while down: {res:?}"
            );
            assert!(res.as_ref().err().is_some_and(StoreError::is_retryable));
            assert!(
                took < LIMIT,
                "{what} took {took:?} while the server was down"
            );
        }
    }
    stop_flag.store(true, Ordering::Relaxed);
    let (acked, failures) = appender.await.unwrap();
    assert!(
        acked.len() > 20,
        "only {} appends before the outage",
        acked.len()
    );
    assert!(
        !failures.is_empty(),
        "the outage was noticed by the appender"
    );
    for (took, e) in &failures {
        assert!(
            matches!(e, StoreError::Unavailable { .. }),
            "append failed with {e:?}"
        );
        assert!(*took < LIMIT, "an append took {took:?} to fail");
    }
    eprintln!(
        "{} appends acknowledged, {} failed during the outage",
        acked.len(),
        failures.len()
    );

    // Same directory, same port: back in business.
    let restarting = Instant::now();
    let dir_path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || start(port, &dir_path))
        .await
        .unwrap();
    eprintln!("server restarted in {:?}", restarting.elapsed());
    let back = Instant::now();
    let next = loop {
        match store
            .append_message(r.id, &text_message(2_000_000, uid(1)))
            .await
        {
            Ok(m) => break m,
            Err(e) if e.is_retryable() && back.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("append after restart: {e:?}"),
        }
    };
    eprintln!("first append after restart took {:?}", back.elapsed());
    store.health().await.unwrap();

    // Every acknowledged append is there, with its seq, in order; the log
    // has no gap (seqs spent by failed appends hold tombstones).
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .list_messages(r.id, MessageRange::After(after), 500)
            .await
            .unwrap();
        stored.extend(page.messages.iter().map(|m| (m.seq, m.id, m.deleted)));
        match page.messages.last() {
            Some(m) if page.more => after = m.seq,
            _ => break,
        }
    }
    for (i, (seq, _, _)) in stored.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1, "gap or disorder in the log");
    }
    for (seq, id) in &acked {
        let (s, stored_id, deleted) = stored[(*seq - 1) as usize];
        assert_eq!(
            (s, stored_id, deleted),
            (*seq, *id, false),
            "acknowledged append {seq} lost"
        );
    }
    assert!(acked.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(stored.last().map(|m| m.0), Some(next.seq));
    store.drop_database().await.unwrap();
}

async fn timed<T>(
    what: &'static str,
    fut: impl std::future::Future<Output = Result<T, StoreError>>,
) -> (&'static str, Result<(), StoreError>, Duration) {
    let t = Instant::now();
    let r = fut.await.map(|_| ());
    (what, r, t.elapsed())
}
