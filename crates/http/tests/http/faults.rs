//! Faults, in-process and deterministic: the store switched off under load
//! (the fast variant of peerd's MongoDB outage test), event-stream clients
//! vanishing mid-stream, many slow-header clients at once, and 1,000 idle
//! keep-alive connections. Real processes, MongoDB, `kill -9` and a lost
//! main peer are in peerd's `faults.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use peer_http::server::ServerConfig;
use peer_node::NodeConfig;
use peer_node::ratelimit::Rate;
use peer_store::MemoryStore;
use peer_testkit::keys;
use peer_testkit::load::{
    Load, LoadConfig, Outcome, Target, check_acknowledged, posters_since, read_room,
};
use peer_testkit::node::{RawRequest, SseItem, TestNode, open, send};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::{FlakyStore, PATIENCE, User, eventually};

/// A gauge or counter of `/metrics`.
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let text = send(addr, RawRequest::get("/metrics"))
        .await
        .unwrap()
        .text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

async fn health(addr: SocketAddr) -> (u16, serde_json::Value) {
    let resp = send(addr, RawRequest::get("/healthz")).await.unwrap();
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_under_load_answers_503_loses_nothing_and_recovers() {
    const POSTERS: usize = 6;
    const PER_PHASE: usize = 30;
    let store = FlakyStore::new();
    let node = TestNode::start_with(
        store.clone(),
        NodeConfig {
            // One token makes every post.
            session_rate: Rate {
                per_sec: 100_000,
                burst: 100_000,
            },
            ..NodeConfig::default()
        },
        ServerConfig::default(),
    )
    .await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let target = Target {
        addr: node.addr(),
        token: alice.token().await,
        room: alice.plain_room("outage").await.to_string(),
    };
    let load = Load::start(target.clone(), POSTERS, LoadConfig::default());
    let acked_since = |from: usize| {
        move |p: &[peer_testkit::load::Post]| {
            p.get(from..)
                .unwrap_or_default()
                .iter()
                .filter(|p| p.seq().is_some())
                .count()
                >= PER_PHASE
        }
    };
    load.wait_until("acknowledged before", PATIENCE, acked_since(0))
        .await
        .unwrap();

    let down = load.mark();
    store.set_down(true);
    load.wait_until("every poster refused", PATIENCE, |p| {
        posters_since(p, down, |p| p.seq().is_none()) == POSTERS
    })
    .await
    .unwrap();
    let (status, h) = health(node.addr()).await;
    assert_eq!((status, &h["store_ok"]), (503, &serde_json::json!(false)));

    store.set_down(false);
    let (status, h) = health(node.addr()).await;
    assert_eq!((status, &h["store_ok"]), (200, &serde_json::json!(true)));
    let up = load.mark();
    load.wait_until("acknowledged after", PATIENCE, acked_since(up))
        .await
        .unwrap();
    let posts = load.stop().await;

    // Each answer: 201 with a seq, or 503 store_unavailable with the
    // store's Retry-After (2.5 s, rounded up).
    for p in &posts {
        match &p.outcome {
            Outcome::Acked { .. } => {}
            Outcome::Refused {
                status: 503,
                code,
                retry_after,
            } if code == "store_unavailable" && retry_after.as_deref() == Some("3") => {}
            other => panic!("{:?}: {other:?}", p.text),
        }
    }
    let refused = posts.iter().filter(|p| p.seq().is_none()).count();
    assert!(refused >= POSTERS);
    let stored = read_room(&target, PATIENCE).await.unwrap();
    let acked = check_acknowledged(&posts, &stored).unwrap();
    // Nothing was stored that was refused: the log is exactly the
    // acknowledged posts (a switched-off store refuses before writing).
    assert_eq!(stored.len(), acked);
    assert_eq!(
        metric(node.addr(), "peergroup_store_errors_total").await,
        refused as f64
    );
    node.stop().await;
}

/// Reads `GET /api/v1/events` on a raw connection until the response
/// head is complete.
async fn read_head(s: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
            .await
            .expect("a response head")
            .unwrap();
        assert!(n > 0, "closed before the head");
        head.extend_from_slice(&buf[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_event_stream_clients_are_released_and_others_miss_nothing() {
    const VANISHING: usize = 200;
    const POSTS: u64 = 300;
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        NodeConfig {
            max_streams_per_user: VANISHING + 10,
            // One token opens every stream and makes every post.
            session_rate: Rate {
                per_sec: 100_000,
                burst: 100_000,
            },
            ..NodeConfig::default()
        },
        ServerConfig {
            sse_heartbeat: Duration::from_secs(1),
            ..ServerConfig::default()
        },
    )
    .await;
    let addr = node.addr();
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let room = alice.plain_room("streams").await;

    // Two subscribers that read everything.
    let mut keepers = Vec::new();
    for _ in 0..2 {
        let mut stream = open(addr, RawRequest::get("/api/v1/events").bearer(&token))
            .await
            .unwrap();
        assert_eq!(stream.status, 200);
        keepers.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            while (seqs.len() as u64) < POSTS {
                let item = tokio::time::timeout(PATIENCE, stream.next_sse())
                    .await
                    .expect("the next event in time")
                    .unwrap()
                    .expect("the stream goes on");
                if let SseItem::Event { event, data, .. } = item
                    && event == "message"
                {
                    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
                    seqs.push(v["seq"].as_u64().unwrap());
                }
            }
            seqs
        }));
    }
    eventually(10, || async {
        (node.node().stats().subscribers == 2).then_some(())
    })
    .await;
    let base_connections = metric(addr, "peergroup_http_connections").await;

    // Many more that will vanish: half read the response head first, half
    // never read a byte; half close with a reset, half with a FIN.
    let request =
        format!("GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    let mut vanishing = Vec::new();
    for i in 0..VANISHING {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        if i % 2 == 0 {
            read_head(&mut s).await;
        }
        if i % 4 < 2 {
            s.set_zero_linger().unwrap();
        }
        vanishing.push(s);
    }
    eventually(30, || async {
        (node.node().stats().subscribers == 2 + VANISHING).then_some(())
    })
    .await;
    assert_eq!(
        metric(addr, "peergroup_event_subscribers").await,
        (2 + VANISHING) as f64
    );

    // Posts all along; the vanishing clients go away, all at once, in the
    // middle of it (events are being written to them).
    let posted = Arc::new(AtomicUsize::new(0));
    let poster = {
        let (posted, token) = (posted.clone(), token.clone());
        tokio::spawn(async move {
            for n in 1..=POSTS {
                let resp = send(
                    addr,
                    RawRequest::post(&format!("/api/v1/rooms/{room}/messages"))
                        .bearer(&token)
                        .json(format!(r#"{{"text":"event {n}"}}"#)),
                )
                .await
                .unwrap();
                assert_eq!(resp.status, 201, "{}", resp.text());
                posted.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    eventually(30, || async {
        (posted.load(Ordering::SeqCst) >= 100).then_some(())
    })
    .await;
    drop(vanishing);
    poster.await.unwrap();

    // The node lets them go: subscribers and connections back to where
    // they were (their queues of undelivered events go with them).
    eventually(30, || async {
        (node.node().stats().subscribers == 2).then_some(())
    })
    .await;
    assert_eq!(metric(addr, "peergroup_event_subscribers").await, 2.0);
    eventually(30, || async {
        (metric(addr, "peergroup_http_connections").await <= base_connections).then_some(())
    })
    .await;
    assert_eq!(
        node.node().stats().cut_off_subscribers,
        0,
        "nobody was slow"
    );
    // The others got every event, in order.
    let want: Vec<u64> = (1..=POSTS).collect();
    for k in keepers {
        assert_eq!(k.await.unwrap(), want);
    }
    node.stop().await;
}

/// A slow-header client: sends a request head one header line at a time
/// and never ends it. `Ok` when the server closed the connection without
/// answering; bounded (at most 600 lines, 100 ms apart).
async fn slowloris(addr: SocketAddr) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 256];
    for i in 0..600 {
        tokio::select! {
            r = s.read(&mut buf) => {
                return match r {
                    Ok(0) | Err(_) => Ok(()),
                    Ok(n) => Err(format!("answered: {}", String::from_utf8_lossy(&buf[..n]))),
                };
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if s.write_all(format!("x-slow-{i}: 1\r\n").as_bytes()).await.is_err() {
                    return match tokio::time::timeout(PATIENCE, s.read(&mut buf)).await {
                        Ok(Ok(0) | Err(_)) => Ok(()),
                        Ok(Ok(n)) => Err(format!("answered: {}", String::from_utf8_lossy(&buf[..n]))),
                        Err(_) => Err("half open".into()),
                    };
                }
            }
        }
    }
    Err("still open after 600 header lines".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_slow_header_clients_do_not_starve_others_and_are_cut_off() {
    const SLOW: usize = 300;
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        NodeConfig::default(),
        ServerConfig {
            header_read_timeout: Duration::from_secs(3),
            ..ServerConfig::default()
        },
    )
    .await;
    let addr = node.addr();
    let started = Arc::new(AtomicUsize::new(0));
    let slow: Vec<_> = (0..SLOW)
        .map(|_| {
            let started = started.clone();
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                slowloris(addr).await
            })
        })
        .collect();
    eventually(30, || async {
        (metric(addr, "peergroup_http_connections").await >= (SLOW / 2) as f64).then_some(())
    })
    .await;
    // Meanwhile a normal client is served: a registration, a session, a
    // room and posts.
    let alice = User::new(&node, keys::alice(), "alice").await;
    let room = alice.plain_room("busy").await;
    for i in 0..10 {
        alice
            .call(
                "POST",
                &format!("/api/v1/rooms/{room}/messages"),
                Some(serde_json::json!({ "text": format!("normal {i}") })),
            )
            .await
            .expect(201);
    }
    // Every slow client is closed by the header timeout, unanswered.
    for (i, t) in slow.into_iter().enumerate() {
        let r = tokio::time::timeout(PATIENCE * 4, t)
            .await
            .expect("bounded")
            .unwrap();
        assert_eq!(r, Ok(()), "slow client {i}");
    }
    assert_eq!(started.load(Ordering::SeqCst), SLOW);
    eventually(30, || async {
        (metric(addr, "peergroup_http_connections").await <= 1.0).then_some(())
    })
    .await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_keep_alive_connections_are_closed_and_others_served() {
    const IDLE: usize = 1_000;
    // Both ends of every connection are in this process.
    peer_testkit::fd::ensure_open_files(2 * IDLE as u64 + 512).unwrap();
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        NodeConfig::default(),
        ServerConfig {
            idle_timeout: Duration::from_secs(3),
            ..ServerConfig::default()
        },
    )
    .await;
    let addr = node.addr();
    // Each makes one request, keeps the connection, and goes quiet.
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let mut got = Vec::new();
        // The whole answer: head and its small JSON body.
        while !(got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"}")) {
            let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
                .await
                .expect("an answer")
                .unwrap();
            assert!(n > 0, "closed before answering");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200"));
        idle.push(s);
    }
    // A new client is served.
    let alice = User::new(&node, keys::alice(), "alice").await;
    let target = Target {
        addr,
        token: alice.token().await,
        room: alice.plain_room("idle").await.to_string(),
    };
    let got = peer_testkit::load::post_once(&target, "served", PATIENCE).await;
    assert_eq!(got, Outcome::Acked { seq: 1 });
    // The idle timeout closes every idle one, with nothing more sent.
    for (i, mut s) in idle.into_iter().enumerate() {
        let mut buf = [0u8; 64];
        match tokio::time::timeout(PATIENCE, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {}
            Ok(Ok(n)) => panic!(
                "idle connection {i} got {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_) => panic!("idle connection {i} still open"),
        }
    }
    eventually(30, || async {
        (metric(addr, "peergroup_http_connections").await <= 1.0).then_some(())
    })
    .await;
    node.stop().await;
}
