//! Benchmarks of peer-crypto: the "crypto floors" of docs/performance.md.
//!
//! `cargo bench -p peer-crypto` (short measurement times: the whole run takes
//! a few minutes on 2 cores).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use peer_crypto::handshake::{self, ReplayCache};
use peer_crypto::request::AuthHeaders;
use peer_crypto::seal::{open, seal};
use peer_crypto::{ClientSession, RoomKey, ServerSession, verify_envelope, wrap_envelope};
use peer_proto::RoomId;
use peer_proto::api::Kex;
use peer_proto::signed::MessageBody;
use peer_testkit::NOW;
use peer_testkit::keys::{alice, bob, node};
use peer_testkit::rng::{TestRng, seeded};

const MODES: [(Kex, &str); 2] = [(Kex::EcdhP256, "ecdh"), (Kex::RsaOaep, "rsa-oaep")];

fn session(kex: Kex, rng: &mut TestRng) -> (ClientSession, ServerSession) {
    let (expect, hello) = handshake::start(rng, alice(), node().node_id(), kex, NOW).unwrap();
    let replay = ReplayCache::default();
    let v =
        handshake::verify_hello(&hello, alice().public(), node().node_id(), &replay, NOW).unwrap();
    let (reply, server) = v.respond(rng, node(), NOW, 3600).unwrap();
    (
        expect.finish(rng, &reply, node().public(), NOW).unwrap(),
        server,
    )
}

fn bench_handshake(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    let mut rng = seeded(1);
    for (kex, name) in MODES {
        g.bench_function(format!("client_start/{name}"), |b| {
            b.iter(|| handshake::start(&mut rng, alice(), node().node_id(), kex, NOW).unwrap())
        });
        let replay = ReplayCache::new(10_000_000);
        g.bench_function(format!("server_verify/{name}"), |b| {
            b.iter_batched(
                || {
                    handshake::start(
                        &mut seeded(rand_u64(&mut rng)),
                        alice(),
                        node().node_id(),
                        kex,
                        NOW,
                    )
                    .unwrap()
                    .1
                },
                |hello| {
                    handshake::verify_hello(
                        &hello,
                        alice().public(),
                        node().node_id(),
                        &replay,
                        NOW,
                    )
                    .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("server_respond/{name}"), |b| {
            b.iter_batched(
                || {
                    let (_, hello) = handshake::start(
                        &mut seeded(rand_u64(&mut rng)),
                        alice(),
                        node().node_id(),
                        kex,
                        NOW,
                    )
                    .unwrap();
                    handshake::verify_hello(
                        &hello,
                        alice().public(),
                        node().node_id(),
                        &replay,
                        NOW,
                    )
                    .unwrap()
                },
                |v| v.respond(&mut seeded(7), node(), NOW, 3600).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("client_finish/{name}"), |b| {
            b.iter_batched(
                || {
                    let (expect, hello) = handshake::start(
                        &mut seeded(rand_u64(&mut rng)),
                        alice(),
                        node().node_id(),
                        kex,
                        NOW,
                    )
                    .unwrap();
                    let v = handshake::verify_hello(
                        &hello,
                        alice().public(),
                        node().node_id(),
                        &replay,
                        NOW,
                    )
                    .unwrap();
                    let (reply, _) = v.respond(&mut seeded(8), node(), NOW, 3600).unwrap();
                    (expect, reply)
                },
                |(expect, reply)| {
                    expect
                        .finish(&mut seeded(9), &reply, node().public(), NOW)
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn rand_u64(rng: &mut TestRng) -> u64 {
    rand_core::Rng::next_u64(rng)
}

fn bench_request(c: &mut Criterion) {
    let mut g = c.benchmark_group("request");
    let body = vec![b'x'; 256];
    for (kex, name) in MODES {
        let mut rng = seeded(2);
        let (client, server) = session(kex, &mut rng);
        g.bench_function(format!("client_prepare/{name}"), |b| {
            b.iter(|| {
                client
                    .prepare_request(&mut rng, "POST", "/api/v1/rooms/x/messages", &body, false)
                    .unwrap()
            })
        });
        g.bench_function(format!("server_verify/{name}"), |b| {
            b.iter_batched(
                || {
                    client
                        .prepare_request(&mut rng, "POST", "/api/v1/rooms/x/messages", &body, false)
                        .unwrap()
                },
                |req| {
                    let h = &req.headers;
                    let parsed =
                        AuthHeaders::parse(&h.session, h.key.as_deref(), &h.seq, &h.auth).unwrap();
                    server
                        .verify_request(
                            &parsed,
                            "POST",
                            "/api/v1/rooms/x/messages",
                            &req.body,
                            false,
                            NOW,
                        )
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("server_respond/{name}"), |b| {
            b.iter_batched(
                || {
                    let req = client
                        .prepare_request(&mut rng, "GET", "/x", b"", false)
                        .unwrap();
                    let h = &req.headers;
                    let parsed =
                        AuthHeaders::parse(&h.session, h.key.as_deref(), &h.seq, &h.auth).unwrap();
                    server
                        .verify_request(&parsed, "GET", "/x", &req.body, false, NOW)
                        .unwrap()
                },
                |authed| authed.respond(&mut seeded(3), 200, &body).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("client_verify_response/{name}"), |b| {
            b.iter_batched(
                || {
                    let req = client
                        .prepare_request(&mut rng, "GET", "/x", b"", false)
                        .unwrap();
                    let h = &req.headers;
                    let parsed =
                        AuthHeaders::parse(&h.session, h.key.as_deref(), &h.seq, &h.auth).unwrap();
                    let resp = server
                        .verify_request(&parsed, "GET", "/x", &req.body, false, NOW)
                        .unwrap()
                        .respond(&mut seeded(3), 200, &body)
                        .unwrap();
                    (req.verifier, resp)
                },
                |(v, resp)| v.verify(200, Some(&resp.peer_auth), &resp.body).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn bench_seal(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal");
    let key = [7u8; 32];
    let mut rng = seeded(4);
    for (size, name) in [(1024usize, "1KiB"), (64 * 1024, "64KiB")] {
        let pt = vec![0x5a; size];
        let sealed = seal(&mut rng, &key, &pt, b"aad");
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("seal/{name}"), |b| {
            b.iter(|| seal(&mut rng, &key, black_box(&pt), b"aad"))
        });
        g.bench_function(format!("open/{name}"), |b| {
            b.iter(|| open(&key, black_box(&sealed), b"aad").unwrap())
        });
    }
    g.finish();
}

fn bench_room(c: &mut Criterion) {
    let mut g = c.benchmark_group("room");
    let mut rng = seeded(5);
    let room = RoomId::from_bytes([1; 16]);
    let master = RoomKey::generate(&mut rng);
    let ek = master.epoch_key(room, 1);
    let body = MessageBody {
        text: "x".repeat(200),
        sent_at: NOW,
        reply_to: None,
    };
    let m = ek.encrypt(&mut rng, alice(), &body).unwrap();
    g.bench_function("epoch_key", |b| {
        b.iter(|| master.epoch_key(room, black_box(2)))
    });
    g.bench_function("message_encrypt_sign", |b| {
        b.iter(|| ek.encrypt(&mut rng, alice(), &body).unwrap())
    });
    g.bench_function("message_verify_decrypt", |b| {
        b.iter(|| {
            ek.decrypt(
                alice().public(),
                alice().user_id(),
                m.ciphertext.as_slice(),
                m.signature.as_slice(),
            )
            .unwrap()
        })
    });
    let env = wrap_envelope(&mut rng, alice(), room, 1, bob().public(), &master).unwrap();
    let verified = verify_envelope(&env, alice().public()).unwrap();
    g.bench_function("envelope_wrap_sign", |b| {
        b.iter(|| wrap_envelope(&mut rng, alice(), room, 1, bob().public(), &master).unwrap())
    });
    g.bench_function("envelope_verify", |b| {
        b.iter(|| verify_envelope(&env, alice().public()).unwrap())
    });
    g.bench_function("envelope_unwrap", |b| {
        b.iter(|| verified.unwrap_key(&mut rng, bob()).unwrap())
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = bench_handshake, bench_request, bench_seal, bench_room }
criterion_main!(benches);
