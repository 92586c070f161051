//! Memory backend: append, and list-after(100) in rooms of 1k, 100k and 1M
//! messages (the listing must cost the same whatever the room's size).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use peer_store::conformance::{owner_of, rid, room, text_message, uid};
use peer_store::{MemoryConfig, MemoryStore, MessageRange, Store};

/// Memory-store futures never wait: poll once.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a memory store future waited"),
    }
}

fn store_with_rooms(sizes: &[u64]) -> MemoryStore {
    let s = MemoryStore::new(MemoryConfig {
        max_messages_per_room: 2_000_000,
        ..MemoryConfig::default()
    });
    for (i, &n) in sizes.iter().enumerate() {
        let r = room(i as u64 + 1, uid(1), 10);
        ready(s.create_room(&r, &owner_of(&r), None)).unwrap();
        for k in 1..=n {
            ready(s.append_message(r.id, &text_message(k, uid(1)))).unwrap();
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let s = store_with_rooms(&[0]);
    let msg = text_message(1, uid(1));
    c.bench_function("memory/append", |b| {
        b.iter(|| black_box(ready(s.append_message(rid(1), &msg)).unwrap()))
    });

    let sizes = [1_000u64, 100_000, 1_000_000];
    let s = store_with_rooms(&sizes);
    let mut group = c.benchmark_group("memory/list_after_100");
    for (i, &n) in sizes.iter().enumerate() {
        let id = rid(i as u64 + 1);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            // From the middle of the room.
            let after = n / 2;
            b.iter(|| {
                let page = ready(s.list_messages(id, MessageRange::After(after), 100)).unwrap();
                assert_eq!(page.messages.len(), 100);
                black_box(page)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
