//! MongoDB backend, as a ratio to bare driver calls on the same server
//! (the test server's own speed is not ours): append vs `insert_one`, and
//! list-after(100) vs the same bounded `find` + sort + limit, in rooms of 1k and 100k
//! messages. Runs only when `PEER_TEST_MONGODB_URI` is set.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, Document, doc};
use peer_store::conformance::{owner_of, rid, room, text_message, uid};
use peer_store::{MessageRange, Store};
use peer_store_mongo::{MongoConfig, MongoStore};

fn bin(b: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: b.to_vec(),
    })
}

fn message_doc(room: &[u8], seq: i64) -> Document {
    doc! {
        "room_id": bin(room), "seq": seq, "id": bin(&[7; 16]), "sender_id": bin(&[1; 16]),
        "created_at": 1_700_000_000_i64, "epoch": Bson::Null, "ciphertext": Bson::Null,
        "signature": Bson::Null, "text": "message", "deleted": false,
    }
}

fn bench(c: &mut Criterion) {
    let Ok(uri) = std::env::var("PEER_TEST_MONGODB_URI") else {
        eprintln!("PEER_TEST_MONGODB_URI is not set: skipping the MongoDB benchmarks");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let db_name = format!("pgbench_{}", mongodb::bson::oid::ObjectId::new().to_hex());
    let store = rt
        .block_on(MongoStore::connect(MongoConfig::new(uri, db_name)))
        .unwrap();
    let db = store.database().clone();
    let bare = db.collection::<Document>("bare_messages");
    let messages = db.collection::<Document>("messages");
    let sizes = [1_000u64, 100_000];
    rt.block_on(async {
        bare.create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "room_id": 1, "seq": 1 })
                .options(
                    mongodb::options::IndexOptions::builder()
                        .unique(true)
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
        for (i, &n) in sizes.iter().enumerate() {
            let r = room(i as u64 + 1, uid(1), 10);
            store.create_room(&r, &owner_of(&r), None).await.unwrap();
            // Filled in bulk (through the store it would take minutes),
            // then the counter set to match.
            let mut batch = Vec::new();
            for seq in 1..=n as i64 {
                batch.push(message_doc(r.id.as_bytes(), seq));
                if batch.len() == 10_000 {
                    messages
                        .insert_many(std::mem::take(&mut batch))
                        .await
                        .unwrap();
                }
            }
            if !batch.is_empty() {
                messages.insert_many(batch).await.unwrap();
            }
            db.collection::<Document>("counters")
                .update_one(
                    doc! { "_id": bin(r.id.as_bytes()) },
                    doc! { "$set": { "seq": n as i64 } },
                )
                .await
                .unwrap();
        }
        let a = room(10, uid(1), 10);
        store.create_room(&a, &owner_of(&a), None).await.unwrap();
    });

    let mut group = c.benchmark_group("mongo/append");
    group.sample_size(30);
    let msg = text_message(1, uid(1));
    group.bench_function("store", |b| {
        b.iter(|| {
            rt.block_on(async { black_box(store.append_message(rid(10), &msg).await.unwrap()) })
        })
    });
    let mut seq = 0i64;
    group.bench_function("bare_insert_one", |b| {
        b.iter(|| {
            seq += 1;
            rt.block_on(async {
match bare.insert_one(message_doc(&[9; 16], seq)).await {
                    Ok(r) => {
                        black_box(r);
                    }
                    // A retried insert whose first attempt landed (the test
                    // server keeps no retryable-write records).
                    Err(e) if matches!(
                        &*e.kind,
                        mongodb::error::ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w))
                            if w.code == 11000
                    ) => {}
                    Err(e) => panic!("{e}"),
                }
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("mongo/list_after_100");
    group.sample_size(30);
    for (i, &n) in sizes.iter().enumerate() {
        let id = rid(i as u64 + 1);
        let after = n / 2;
        group.bench_with_input(BenchmarkId::new("store", n), &n, |b, _| {
            b.iter(|| {
                rt.block_on(async {
                    let page = store
                        .list_messages(id, MessageRange::After(after), 100)
                        .await
                        .unwrap();
                    assert_eq!(page.messages.len(), 100);
                    black_box(page)
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("bare_find", n), &n, |b, _| {
            b.iter(|| {
                rt.block_on(async {
                    let mut cursor = messages
                        .find(doc! {
                            "room_id": bin(id.as_bytes()),
                            "seq": { "$gt": after as i64, "$lte": after as i64 + 100 },
                        })
                        .sort(doc! { "room_id": 1, "seq": 1 })
                        .limit(100)
                        .await
                        .unwrap();
                    let mut got = 0;
                    while cursor.advance().await.unwrap() {
                        got += 1;
                    }
                    assert_eq!(got, 100);
                    black_box(got)
                })
            })
        });
    }
    group.finish();
    rt.block_on(store.drop_database()).unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
