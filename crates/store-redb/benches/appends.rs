//! Appends per second with 1, 8 and 64 concurrent writers, with group
//! commit (the default batch of 256) and without (a batch of 1: one
//! transaction and one fsync per append).
//!
//! `cargo bench -p peer-store-redb --bench appends` (release profile). The
//! file lives in `PEER_BENCH_DIR` (default: the system's temporary
//! directory), so the numbers are those of that disk's fsync. Each
//! configuration appends to one room for `PEER_BENCH_SECS` seconds (default
//! 3) on a fresh file; every append is durable when it returns.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use peer_proto::api::{JoinRule, Role, Visibility};
use peer_proto::{MessageId, RoomId, UserId};
use peer_store::{MemberRecord, NewMessage, RoomRecord, Store};
use peer_store_redb::{RedbConfig, RedbStore};

fn room() -> (RoomRecord, MemberRecord) {
    let owner = UserId::from_bytes([1; 16]);
    let room = RoomRecord {
        id: RoomId::from_bytes([2; 16]),
        name: "bench".into(),
        topic: String::new(),
        visibility: Visibility::Public,
        join_rule: JoinRule::Open,
        password_hash: None,
        capacity: 10,
        encrypted: false,
        owner_id: owner,
        epoch: 0,
        rotation_due: false,
        member_count: 0,
        last_seq: 0,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
        version: 0,
    };
    let member = MemberRecord {
        room_id: room.id,
        user_id: owner,
        role: Role::Owner,
        join_epoch: 0,
        joined_at: 1_700_000_000,
    };
    (room, member)
}

async fn measure(writers: usize, max_batch: usize, secs: u64, dir: &std::path::Path) -> f64 {
    let path = dir.join(format!("bench-{writers}-{max_batch}.redb"));
    let _ = std::fs::remove_file(&path);
    let mut config = RedbConfig::new(&path);
    config.max_batch = max_batch;
    let store = Arc::new(RedbStore::open_async(config).await.unwrap());
    let (r, m) = room();
    store.create_room(&r, &m, None).await.unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for w in 0..writers {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&(w as u64).to_be_bytes());
                id[8..].copy_from_slice(&i.to_be_bytes());
                let msg = NewMessage {
                    id: MessageId::from_bytes(id),
                    sender_id: UserId::from_bytes([1; 16]),
                    created_at: 1_700_000_000,
                    epoch: None,
                    ciphertext: None,
                    signature: None,
                    text: Some("a message of about two hundred bytes ".repeat(5)),
                };
                store.append_message(r.id, &msg).await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    store.close();
    drop(store);
    let _ = std::fs::remove_file(&path);
    rate
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once
    // quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs = std::env::var("PEER_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 0 } else { 3 });
    let dir = std::env::var_os("PEER_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| writers | group commit (batch 256) | one commit per append | ratio |");
    println!("| --- | --- | --- | --- |");
    for writers in [1usize, 8, 64] {
        let batched = rt.block_on(measure(writers, 256, secs, &dir));
        let single = rt.block_on(measure(writers, 1, secs, &dir));
        println!(
            "| {writers} | {batched:.0} appends/s | {single:.0} appends/s | {:.1}x |",
            batched / single.max(1.0)
        );
    }
}
