//! Crash test: a child process (this test binary again, with
//! `PEER_REDB_CRASH_FILE` set) appends to one room from 8 tasks and prints
//! every acknowledged seq; the parent kills it with SIGKILL at a random
//! moment, reopens the file, and checks that every acknowledged seq is
//! there, that the room's messages are exactly 1..=last_seq (no gap,
//! nothing half-written: each one decodes to what its writer sent), and
//! then runs the next iteration on the same file.
//!
//! `harness = false`: the same binary is parent and child.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use peer_proto::{MessageId, RoomId, UserId};
use peer_store::conformance as fixtures;
use peer_store::{MessageRange, NewMessage, RoomRecord, Store, StoreError};
use peer_store_redb::{RedbConfig, RedbStore};

const CHILD_VAR: &str = "PEER_REDB_CRASH_FILE";
const ITERATIONS: u32 = 6;
const TASKS: u64 = 8;
/// Appends per task at most (the child stops by itself past this).
const EACH_MAX: u64 = 20_000;
/// How long to wait for the child's first acknowledgement (a loaded
/// machine, a debug build).
const BOUND: Duration = Duration::from_secs(60);

fn room_id() -> RoomId {
    RoomId::from_bytes([0x72; 16])
}

fn owner() -> UserId {
    UserId::from_bytes([0x75; 16])
}

/// What task `t` sends as its `i`-th message: the text says who and which,
/// and the id is derived from the same numbers, so a reader can tell a
/// whole message from a mixed-up one.
fn message(t: u64, i: u64) -> NewMessage {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&t.to_be_bytes());
    id[8..].copy_from_slice(&i.to_be_bytes());
    NewMessage {
        id: MessageId::from_bytes(id),
        sender_id: owner(),
        created_at: 1_700_000_000 + i,
        epoch: None,
        ciphertext: None,
        signature: None,
        text: Some(format!("task {t} message {i} {}", "x".repeat(200))),
    }
}

fn child(path: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(RedbStore::open_async(RedbConfig::new(path)).await.unwrap());
        let room = RoomRecord {
            id: room_id(),
            ..fixtures::room(1, owner(), 10)
        };
        let member = fixtures::owner_of(&room);
        match store.create_room(&room, &member, None).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        // Each iteration's tasks use their own numbers (the pid).
        let base = u64::from(std::process::id()) * 100;
        let (tx, rx) = mpsc::channel::<u64>();
        for t in 0..TASKS {
            let store = Arc::clone(&store);
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..EACH_MAX {
                    let m = store
                        .append_message(room_id(), &message(base + t, i))
                        .await
                        .unwrap();
                    if tx.send(m.seq).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        // One printer: every line is one acknowledged seq, flushed at once.
        tokio::task::spawn_blocking(move || {
            let mut out = std::io::stdout().lock();
            for seq in rx {
                writeln!(out, "ack {seq}").unwrap();
                out.flush().unwrap();
            }
        })
        .await
        .unwrap();
    });
}

/// A pseudo-random number from the clock (no dependency needed).
fn random_below(n: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut x = u64::from(nanos) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x % n
}

/// One iteration: run the child, kill it at a random moment, return the
/// seqs it acknowledged.
fn run_and_kill(path: &Path) -> BTreeSet<u64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_VAR, path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acked = BTreeSet::new();
    // Wait for the first acknowledgement (the file is open, the room
    // exists), then let it run 20-600 ms more.
    let first = rx
        .recv_timeout(BOUND)
        .expect("the child acknowledged nothing");
    acked.insert(parse(&first));
    let run_for = Duration::from_millis(20 + random_below(580));
    let until = Instant::now() + run_for;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                acked.insert(parse(&line));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the child ended by itself"),
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    // Lines printed before the kill are acknowledged too.
    while let Ok(line) = rx.try_recv() {
        acked.insert(parse(&line));
    }
    acked
}

fn parse(line: &str) -> u64 {
    line.strip_prefix("ack ")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected child output {line:?}"))
}

/// Reopens the file and checks the room against what was acknowledged;
/// returns the room's last seq.
fn check(path: &Path, acked: &BTreeSet<u64>, before: u64) -> u64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = RedbStore::open_async(RedbConfig::new(path)).await.unwrap();
        let room = store.get_room(room_id()).await.unwrap();
        let count = store.count_messages(room_id()).await.unwrap();
        let last = room.last_seq;
        assert_eq!(
            count.stored, last,
            "stored messages are exactly 1..=last_seq"
        );
        let max_acked = acked.last().copied().unwrap_or(0);
        assert!(
            last >= max_acked,
            "last seq {last} below acknowledged {max_acked}"
        );
        assert!(last > before, "this iteration acknowledged something");
        let mut seen = BTreeSet::new();
        let mut after = 0;
        loop {
            let page = store
                .list_messages(room_id(), MessageRange::After(after), 1000)
                .await
                .unwrap();
            for m in &page.messages {
                assert_eq!(m.seq, after + 1, "no gap");
                after = m.seq;
                let t = u64::from_be_bytes(m.id.as_bytes()[..8].try_into().unwrap());
                let i = u64::from_be_bytes(m.id.as_bytes()[8..].try_into().unwrap());
                let want = message(t, i);
                assert_eq!(m.text, want.text, "seq {} is whole", m.seq);
                assert_eq!(m.created_at, want.created_at);
                assert!(seen.insert((t, i)), "message ({t}, {i}) stored twice");
            }
            if !page.more {
                break;
            }
        }
        assert_eq!(after, last);
        for seq in acked {
            assert!(*seq <= last, "acknowledged seq {seq} lost");
        }
        // The store works on: one more append continues the log.
        let m = store
            .append_message(room_id(), &message(u64::MAX - before, 0))
            .await
            .unwrap();
        assert_eq!(m.seq, last + 1);
        store.close();
        m.seq
    })
}

fn main() {
    if let Some(path) = std::env::var_os(CHILD_VAR) {
        child(Path::new(&path));
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let mut last = 0;
    let mut total_acked = 0;
    for n in 1..=ITERATIONS {
        let acked = run_and_kill(&path);
        total_acked += acked.len();
        last = check(&path, &acked, last);
        println!(
            "crash iteration {n}: {} acknowledged, log now 1..={last}",
            acked.len()
        );
    }
    println!(
        "crash test: {ITERATIONS} iterations, {total_acked} acknowledged appends, all present \
         ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    println!("1 passed, 0 failed");
}
