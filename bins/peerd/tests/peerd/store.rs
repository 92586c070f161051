//! The redb store as an operator meets it: data that survives a restart,
//! one peerd per data directory, `peerd backup` (running and stopped) and
//! its restore, and `peerd migrate` to MongoDB and back.

use std::net::SocketAddr;
use std::path::Path;

use peer_client::{Client, ClientOptions, MemoryPins, RoomSettings};
use peer_proto::RoomId;
use peer_store_redb::SnapshotStats;

use crate::support::{Env, mode};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn client(addr: SocketAddr, user: usize) -> Client {
    let key = peer_testkit::keys::user_key(user).clone();
    Client::connect(
        &format!("http://{addr}"),
        key,
        &MemoryPins::new(),
        ClientOptions::default(),
    )
    .await
    .unwrap()
}

/// Registers alice (user 0) and bob (user 1), makes an encrypted room of
/// alice's and posts `texts` in it.
async fn seed(addr: SocketAddr, texts: &[&str]) -> RoomId {
    let alice = client(addr, 0).await;
    alice.register("alice").await.unwrap();
    client(addr, 1).await.register("bob").await.unwrap();
    let room = alice.create_room(RoomSettings::new("kept")).await.unwrap();
    for t in texts {
        alice.send_text(room.id, t).await.unwrap();
    }
    room.id
}

async fn post(addr: SocketAddr, room: RoomId, text: &str) {
    client(addr, 0).await.send_text(room, text).await.unwrap();
}

/// Alice's fresh client reads the room: (seq, text) of every message.
async fn read(addr: SocketAddr, room: RoomId) -> Vec<(u64, String)> {
    let alice = client(addr, 0).await;
    alice
        .read(room, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.seq, m.text.unwrap_or_default()))
        .collect()
}

fn want(texts: &[&str]) -> Vec<(u64, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u64 + 1, (*t).to_owned()))
        .collect()
}

const TEXTS: [&str; 3] = ["first", "second", "third"];

#[test]
fn restart_keeps_users_rooms_and_messages() {
    // The README's run command: no store flag, the default data directory.
    let env = Env::new();
    let rt = runtime();
    let peerd = env.start(&["--listen", "127.0.0.1:0"]);
    assert_eq!(peerd.node_info()["store"], "redb");
    let room = rt.block_on(seed(peerd.addr(), &TEXTS));
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("store: redb"), "{stderr}");
    let file = env
        .home
        .path()
        .join(".local/share/peergroup/peergroup.redb");
    assert_eq!(mode(&file), 0o600, "the store file is private");

    let peerd = env.start(&["--listen", "127.0.0.1:0"]);
    assert_eq!(rt.block_on(read(peerd.addr(), room)), want(&TEXTS));
    // The users are there too: their names are taken.
    let again = rt.block_on(async { client(peerd.addr(), 1).await.register("bob").await });
    assert!(again.is_err(), "bob is still registered");
    // And the room carries on after its last seq.
    rt.block_on(post(peerd.addr(), room, "fourth"));
    assert_eq!(
        rt.block_on(read(peerd.addr(), room)),
        want(&["first", "second", "third", "fourth"])
    );
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn a_second_peerd_on_the_same_data_dir_is_refused() {
    let env = Env::new();
    let rt = runtime();
    let data = env.home.path().join("data");
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    let first = env.start(&args);
    let (status, stdout, stderr) = env.run_to_exit(&args);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("in use by another peerd"), "{stderr}");
    // The first one is unharmed and keeps writing.
    let room = rt.block_on(seed(first.addr(), &TEXTS));
    assert_eq!(rt.block_on(read(first.addr(), room)), want(&TEXTS));
    let (status, _, stderr) = first.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn backup_while_running_and_restore() {
    let env = Env::new();
    let rt = runtime();
    let data = env.home.path().join("data");
    let data_arg = data.to_str().unwrap();
    let peerd = env.start(&["--data-dir", data_arg, "--listen", "127.0.0.1:0"]);
    let room = rt.block_on(seed(peerd.addr(), &TEXTS));

    let snapshot = env.home.path().join("snap.redb");
    let (status, stdout, stderr) = env.run_to_exit(&[
        "backup",
        "--data-dir",
        data_arg,
        "--to",
        snapshot.to_str().unwrap(),
    ]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("from the running peerd"), "{stdout}");
    assert!(stdout.contains("2 users, 1 rooms"), "{stdout}");
    assert!(stdout.contains("3 messages"), "{stdout}");
    assert_eq!(mode(&snapshot), 0o600);
    // Written after the snapshot: not in it.
    rt.block_on(post(peerd.addr(), room, "after the backup"));
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("backup snapshot sent"), "{stderr}");
    assert!(
        !data.join("peerd.sock").exists(),
        "the socket is removed at exit"
    );

    // Restore: the snapshot becomes a data directory's peergroup.redb.
    let restored = env.home.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&snapshot, restored.join("peergroup.redb")).unwrap();
    std::fs::copy(data.join("node.pem"), restored.join("node.pem")).unwrap();
    let peerd = env.start(&[
        "--data-dir",
        restored.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(rt.block_on(read(peerd.addr(), room)), want(&TEXTS));
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn backup_of_a_stopped_node_and_refusals() {
    let env = Env::new();
    let rt = runtime();
    let data = env.home.path().join("data");
    let data_arg = data.to_str().unwrap();
    let peerd = env.start(&["--data-dir", data_arg, "--listen", "127.0.0.1:0"]);
    rt.block_on(seed(peerd.addr(), &TEXTS));
    let (status, _, _) = peerd.stop();
    assert_eq!(status.code(), Some(0));

    let snapshot = env.home.path().join("cold.redb");
    let (status, stdout, stderr) = env.run_to_exit(&[
        "backup",
        "--data-dir",
        data_arg,
        "--to",
        snapshot.to_str().unwrap(),
    ]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("no peerd running"), "{stdout}");
    let stats = SnapshotStats::of_file(&snapshot).unwrap();
    assert_eq!((stats.users, stats.rooms, stats.messages), (2, 1, 3));

    // A node on the memory store has nothing to back up.
    let mem = env.home.path().join("mem");
    let mem_arg = mem.to_str().unwrap();
    let peerd = env.start(&[
        "--data-dir",
        mem_arg,
        "--store",
        "memory",
        "--listen",
        "127.0.0.1:0",
    ]);
    let (status, _, stderr) = env.run_to_exit(&[
        "backup",
        "--data-dir",
        mem_arg,
        "--to",
        env.home.path().join("x.redb").to_str().unwrap(),
    ]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not use the redb store"), "{stderr}");
    assert!(!env.home.path().join("x.redb").exists());
    peerd.stop();
    // No data directory at all.
    let (status, _, stderr) = env.run_to_exit(&[
        "backup",
        "--data-dir",
        env.home.path().join("none").to_str().unwrap(),
        "--to",
        "y.redb",
    ]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn migrate_refuses_memory_and_bad_stores() {
    let env = Env::new();
    for (args, needle) in [
        (
            &["migrate", "--from", "memory", "--to", "redb:x"][..],
            "volatile",
        ),
        (
            &["migrate", "--from", "redb:x", "--to", "memory"],
            "volatile",
        ),
        (
            &["migrate", "--from", "redb:x", "--to", "redb:x"],
            "the same store",
        ),
        (
            &["migrate", "--from", "pg://h", "--to", "redb:x"],
            "no store",
        ),
        (&["migrate", "--to", "redb:x"], "--from"),
    ] {
        let (status, _, stderr) = env.run_to_exit(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let (status, _, stderr) = env.run_to_exit(&[
        "migrate",
        "--from",
        "redb:/nonexistent/peergroup.redb",
        "--to",
        "redb:y.redb",
    ]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("there is no redb store"), "{stderr}");
}

/// The counts line of `entity` in migrate's output: (total, new, present).
fn counts(stdout: &str, entity: &str) -> (u64, u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{entity}:")))
        .unwrap_or_else(|| panic!("no {entity} line in {stdout}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2])
}

#[test]
fn migrate_to_mongodb_and_back() {
    let Some(uri) = crate::mongodb::mongodb_uri() else {
        return;
    };
    let database = format!(
        "peerd_migrate_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let env = Env::new();
    let rt = runtime();
    let data = env.home.path().join("data");
    let data_arg = data.to_str().unwrap();
    let peerd = env.start(&["--data-dir", data_arg, "--listen", "127.0.0.1:0"]);
    let room = rt.block_on(seed(peerd.addr(), &TEXTS));
    // While peerd runs, its data directory cannot be migrated.
    let (status, _, stderr) = env.run_to_exit(&[
        "migrate",
        "--from",
        &format!("redb:{data_arg}"),
        "--to",
        &uri,
        "--to-database",
        &database,
    ]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in use by another peerd"), "{stderr}");
    let (status, _, _) = peerd.stop();
    assert_eq!(status.code(), Some(0));

    let to_mongo = [
        "migrate",
        "--from",
        &format!("redb:{data_arg}"),
        "--to",
        &uri,
        "--to-database",
        &database,
    ];
    let (status, stdout, stderr) = env.run_to_exit(&to_mongo);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("messages: "), "a progress line: {stderr}");
    assert_eq!(counts(&stdout, "users"), (2, 2, 0));
    assert_eq!(counts(&stdout, "rooms"), (1, 1, 0));
    assert_eq!(counts(&stdout, "members"), (1, 1, 0));
    assert_eq!(counts(&stdout, "envelopes"), (1, 1, 0));
    assert_eq!(counts(&stdout, "messages"), (3, 3, 0));
    let audit = counts(&stdout, "audit entries");
    // The rerun finds everything there and adds nothing.
    let (status, stdout, stderr) = env.run_to_exit(&to_mongo);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(counts(&stdout, "users"), (2, 0, 2));
    assert_eq!(counts(&stdout, "messages"), (3, 0, 3));
    assert_eq!(counts(&stdout, "audit entries"), (audit.0, 0, audit.0));

    // peerd serves the migrated data from MongoDB.
    let mongo_dir = env.home.path().join("on-mongo");
    let peerd = env.start(&[
        "--data-dir",
        mongo_dir.to_str().unwrap(),
        "--store",
        "mongodb",
        "--mongodb-uri",
        &uri,
        "--mongodb-database",
        &database,
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(rt.block_on(read(peerd.addr(), room)), want(&TEXTS));
    rt.block_on(post(peerd.addr(), room, "on mongodb"));
    peerd.stop();

    // And back into a new redb data directory.
    // A data directory that does not exist yet is made.
    let back = env.home.path().join("back");
    let (status, stdout, stderr) = env.run_to_exit(&[
        "migrate",
        "--from",
        &uri,
        "--from-database",
        &database,
        "--to",
        &format!("redb:{}", back.display()),
    ]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(counts(&stdout, "messages"), (4, 4, 0));
    assert!(Path::new(&back.join("peergroup.redb")).is_file());
    let peerd = env.start(&[
        "--data-dir",
        back.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(
        rt.block_on(read(peerd.addr(), room)),
        want(&["first", "second", "third", "on mongodb"])
    );
    peerd.stop();

    rt.block_on(async {
        let store = peer_store_mongo::MongoStore::connect(peer_store_mongo::MongoConfig::new(
            uri, database,
        ))
        .await
        .unwrap();
        store.drop_database().await.unwrap();
    });
}
