//! Faults, with real peerd processes and clients posting all along: the
//! MongoDB store becoming unreachable (a TCP proxy between peerd and the
//! test server, cut, stalled and restored), `kill -9` of peerd on MongoDB,
//! a follower losing its main peer, and 1,000 idle connections. Each test
//! checks every answer a client got (acknowledged, or the documented
//! refusal with `Retry-After`; never a 500, never a hang) and that every
//! acknowledged post is stored afterwards with its seq. In-process faults
//! (event-stream clients vanishing, slow-header clients, idle keep-alive)
//! are in peer-http's `faults.rs`.

use std::net::SocketAddr;
use std::path::Path;

use peer_client::RoomSettings;
use peer_testkit::load::{
    Load, LoadConfig, Outcome, Post, Target, check_acknowledged, posters_since, read_room,
};
use peer_testkit::node::{RawRequest, send};
use peer_testkit::proxy::Proxy;
use tokio::io::AsyncReadExt as _;

use crate::mesh::{client, eventually, follows, json, node_id, runtime};
use crate::mongodb::mongodb_uri;
use crate::support::{BOUND, Env, Peerd};

/// Clients posting at once.
const POSTERS: usize = 6;
/// Posts acknowledged in each phase before the test moves on.
const PER_PHASE: usize = 20;

/// The `host:port` of the test server's URI (`mongodb://127.0.0.1:N/...`).
fn mongo_addr(uri: &str) -> SocketAddr {
    let rest = uri.strip_prefix("mongodb://").expect("a mongodb:// URI");
    let host = rest.split(['/', '?']).next().unwrap();
    host.parse()
        .unwrap_or_else(|_| panic!("the test server's URI is not mongodb://IP:PORT/...: {uri}"))
}

/// The URI with `addr` in place of the server's address.
fn through(uri: &str, addr: SocketAddr) -> String {
    uri.replacen(&mongo_addr(uri).to_string(), &addr.to_string(), 1)
}

/// [`mongodb::mongo_args`](crate::mongodb::mongo_args), with session
/// limits high enough that one token makes every post.
fn mongo_args<'a>(data: &'a Path, uri: &'a str, database: &'a str) -> Vec<&'a str> {
    let mut args = crate::mongodb::mongo_args(data, uri, database);
    args.extend(["--session-rate", "1000000", "--session-burst", "1000000"]);
    args
}

async fn drop_database(uri: &str, database: &str) {
    let store = peer_store_mongo::MongoStore::connect(peer_store_mongo::MongoConfig::new(
        uri.to_owned(),
        database.to_owned(),
    ))
    .await
    .unwrap();
    store.drop_database().await.unwrap();
}

/// Registers alice (user 0) through `addr`, creates an unencrypted room
/// and issues her a bearer token: what the posters use.
async fn setup(addr: SocketAddr) -> Target {
    let alice = client(addr, 0).await;
    alice.register("alice").await.unwrap();
    let room = alice
        .create_room(RoomSettings::new("faults").unencrypted())
        .await
        .unwrap();
    Target {
        addr,
        token: alice.issue_token(None).await.unwrap().token,
        room: room.id.to_string(),
    }
}

/// A new session and token of alice's through `addr` (after a restart the
/// old ones are gone: they live in the memory of the node that made them).
async fn new_token(addr: SocketAddr) -> String {
    client(addr, 0).await.issue_token(None).await.unwrap().token
}

fn acked_since(posts: &[Post], from: usize) -> usize {
    posts
        .get(from..)
        .unwrap_or_default()
        .iter()
        .filter(|p| p.seq().is_some())
        .count()
}

/// Posters that got a refusal with status `status` since `from`.
fn refused_since(posts: &[Post], from: usize, status: u16) -> usize {
    posters_since(
        posts,
        from,
        |p| matches!(p.outcome, Outcome::Refused { status: s, .. } if s == status),
    )
}

async fn wait_acked(load: &Load, from: usize, what: &str) {
    load.wait_until(what, BOUND, |p| acked_since(p, from) >= PER_PHASE)
        .await
        .unwrap_or_else(|e| panic!("{e}; posts: {:?}", summary(&load.posts())));
}

/// Counts of the outcomes, for failure messages and the report.
fn summary(posts: &[Post]) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for p in posts {
        let key = match &p.outcome {
            Outcome::Acked { .. } => "201".to_owned(),
            Outcome::Refused {
                status,
                code,
                retry_after,
            } => format!("{status} {code} retry-after={retry_after:?}"),
            Outcome::NoAnswer(e) => format!("no answer: {e}"),
        };
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

/// A refusal as api.md documents it: `status` with `code` and a
/// `Retry-After` of whole seconds, at least 1.
fn is_documented_refusal(outcome: &Outcome, status: u16, code: &str) -> bool {
    matches!(outcome, Outcome::Refused { status: s, code: c, retry_after: Some(r) }
        if *s == status && c == code && r.parse::<u64>().is_ok_and(|n| n >= 1))
}

/// `GET /healthz`: (status, body).
fn health(peerd: &Peerd) -> (u16, serde_json::Value) {
    json(peerd.addr(), "/healthz")
}

fn metric(peerd: &Peerd, name: &str) -> f64 {
    let (status, text) = peerd.get("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[test]
fn mongodb_outage_under_load_answers_503_loses_nothing_and_recovers() {
    let Some(uri) = mongodb_uri() else { return };
    let database = crate::mongodb::fresh_database("peerd_faults_outage");
    let rt = runtime();
    rt.block_on(async {
        let proxy = Proxy::start(mongo_addr(&uri)).await.unwrap();
        let proxied = through(&uri, proxy.addr());
        let env = Env::new();
        let data = env.home.path().join("data");
        let peerd = env.start(&mongo_args(&data, &proxied, &database));
        let target = setup(peerd.addr()).await;
        let load = Load::start(target.clone(), POSTERS, LoadConfig::default());
        wait_acked(&load, 0, "posts acknowledged before the outage").await;

        // The store becomes unreachable: connections are closed and new
        // ones refused. Every poster is refused; /healthz says so.
        let cut = load.mark();
        proxy.cut();
        eventually("/healthz reports the store down", || {
            let (status, h) = health(&peerd);
            status == 503 && h["status"] == "degraded" && h["store_ok"] == false
        });
        load.wait_until("every poster refused during the cut", BOUND, |p| {
            refused_since(p, cut, 503) == POSTERS
        })
        .await
        .unwrap();

        // Back: the same process serves again, without a restart.
        proxy.restore();
        eventually("/healthz reports the store back", || {
            let (status, h) = health(&peerd);
            status == 200 && h["store_ok"] == true
        });
        let back = load.mark();
        wait_acked(&load, back, "posts acknowledged after the cut").await;

        // A partition: nothing forwarded, connections held open. Calls fail
        // at the store's own deadline instead of hanging.
        let stalled = load.mark();
        proxy.stall();
        eventually("/healthz reports the stalled store down", || {
            health(&peerd).0 == 503
        });
        load.wait_until("every poster refused during the stall", BOUND, |p| {
            refused_since(p, stalled, 503) == POSTERS
        })
        .await
        .unwrap();
        proxy.restore();
        eventually("/healthz reports the store back after the stall", || {
            health(&peerd).0 == 200
        });
        let back = load.mark();
        wait_acked(&load, back, "posts acknowledged after the stall").await;
        let posts = load.stop().await;

        // Every answer was 201 or 503 `store_unavailable` with Retry-After.
        let odd: Vec<&Post> = posts
            .iter()
            .filter(|p| {
                p.seq().is_none() && !is_documented_refusal(&p.outcome, 503, "store_unavailable")
            })
            .collect();
        assert!(odd.is_empty(), "undocumented answers: {odd:?}");
        // Nothing acknowledged is lost; no seq was given twice.
        let stored = read_room(&target, BOUND).await.unwrap();
        let acked = check_acknowledged(&posts, &stored).unwrap();
        assert!(metric(&peerd, "peergroup_store_errors_total") >= POSTERS as f64);
        println!(
            "store outage under load ({POSTERS} posters): {acked} acknowledged, all stored; \
             answers: {:?}",
            summary(&posts)
        );
        let (status, _, stderr) = peerd.stop();
        assert_eq!(status.code(), Some(0), "{stderr}");
        drop_database(&uri, &database).await;
    });
}

#[test]
fn kill_9_on_mongodb_loses_no_acknowledged_post() {
    let Some(uri) = mongodb_uri() else { return };
    let database = crate::mongodb::fresh_database("peerd_faults_kill");
    let env = Env::new();
    let data = env.home.path().join("data");
    let args = mongo_args(&data, &uri, &database);
    let rt = runtime();
    rt.block_on(async {
        let peerd = env.start(&args);
        let target = setup(peerd.addr()).await;
        let load = Load::start(target.clone(), POSTERS, LoadConfig::default());
        wait_acked(&load, 0, "posts acknowledged before the kill").await;

        let killed = load.mark();
        peerd.signal("KILL");
        let (status, _, _) = peerd.finish();
        assert_eq!(status.code(), None, "killed by a signal");
        load.wait_until("every poster noticed", BOUND, |p| {
            posters_since(p, killed, |p| matches!(p.outcome, Outcome::NoAnswer(_))) == POSTERS
        })
        .await
        .unwrap();

        // Restart on the same database (and data directory: the same node
        // key). Clients make new sessions and go on.
        let peerd = env.start(&args);
        let restarted = Target {
            addr: peerd.addr(),
            token: new_token(peerd.addr()).await,
            room: target.room.clone(),
        };
        let back = load.mark();
        load.retarget(restarted.clone());
        wait_acked(&load, back, "posts acknowledged after the restart").await;
        let posts = load.stop().await;

        for (i, p) in posts.iter().enumerate() {
            let fine = match (p.generation, &p.outcome) {
                (_, Outcome::Acked { .. }) => true,
                // Sent to the killed process.
                (0, Outcome::NoAnswer(_)) => i >= killed,
                // The old token, should the new process get the old port.
                (
                    0,
                    Outcome::Refused {
                        status: 401, code, ..
                    },
                ) => i >= killed && code == "invalid_token",
                _ => false,
            };
            assert!(fine, "post {i}: {p:?}");
        }
        let stored = read_room(&restarted, BOUND).await.unwrap();
        let acked = check_acknowledged(&posts, &stored).unwrap();
        // Seqs go on after the last one acknowledged before the kill.
        let before = posts
            .iter()
            .filter(|p| p.generation == 0)
            .filter_map(Post::seq)
            .max()
            .unwrap();
        let after = posts
            .iter()
            .filter(|p| p.generation == 1)
            .filter_map(Post::seq)
            .min()
            .unwrap();
        assert!(after > before, "seqs continue: {before} then {after}");
        println!(
            "kill -9 on MongoDB ({POSTERS} posters): {acked} acknowledged, all stored; \
             last seq before the kill {before}, first after the restart {after}; answers: {:?}",
            summary(&posts)
        );
        let (status, _, stderr) = peerd.stop();
        assert_eq!(status.code(), Some(0), "{stderr}");
        drop_database(&uri, &database).await;
    });
}

#[test]
fn a_follower_losing_its_main_peer_under_load_answers_503_and_recovers() {
    let env = Env::new();
    let data = env.home.path().join("main");
    let main_args = |listen: &str| {
        vec![
            "--listen".to_owned(),
            listen.to_owned(),
            "--data-dir".to_owned(),
            data.to_str().unwrap().to_owned(),
            "--name".to_owned(),
            "main".to_owned(),
            // One token makes every post.
            "--session-rate".to_owned(),
            "1000000".to_owned(),
            "--session-burst".to_owned(),
            "1000000".to_owned(),
        ]
    };
    let start_main = |listen: &str| {
        let args = main_args(listen);
        env.start(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // The main peer keeps its data in redb (durable), so what it
    // acknowledged is there after the kill; it comes back on its port.
    let main = start_main("127.0.0.1:0");
    let main_addr = main.addr();
    let main_id = node_id(&main);
    let url = format!("http://{main_addr}");
    let follower = env.start(&[
        "--ephemeral",
        "--listen",
        "127.0.0.1:0",
        "--join",
        &url,
        "--name",
        "follower",
    ]);
    eventually("the follower follows the main peer", || {
        follows(&follower, &main_id)
    });
    let rt = runtime();
    rt.block_on(async {
        // Everything goes through the follower.
        let target = setup(follower.addr()).await;
        let load = Load::start(target.clone(), POSTERS, LoadConfig::default());
        wait_acked(&load, 0, "posts acknowledged through the follower").await;

        let killed = load.mark();
        main.signal("KILL");
        let _ = main.finish();
        load.wait_until("every poster refused by the follower", BOUND, |p| {
            refused_since(p, killed, 503) == POSTERS
        })
        .await
        .unwrap();
        eventually("the follower reports its main peer lost", || {
            let (status, h) = health(&follower);
            status == 503 && h["status"] == "degraded" && h["main_peer_ok"] == false
        });

        // The main peer comes back on its address and data directory; the
        // follower follows it again and serves.
        let main = start_main(&main_addr.to_string());
        assert_eq!(node_id(&main), main_id, "the same node key");
        eventually("the follower follows the main peer again", || {
            follows(&follower, &main_id)
        });
        let back = load.mark();
        load.retarget(Target {
            token: new_token(follower.addr()).await,
            ..target.clone()
        });
        wait_acked(&load, back, "posts acknowledged after the main came back").await;
        let posts = load.stop().await;

        for (i, p) in posts.iter().enumerate() {
            let fine = match (p.generation, &p.outcome) {
                (_, Outcome::Acked { .. }) => true,
                (_, o) if i >= killed && is_documented_refusal(o, 503, "main_peer_unavailable") => {
                    true
                }
                // The old token after the main peer's restart (tokens live
                // in its memory): refused as unauthenticated.
                (0, Outcome::Refused { status: 401, .. }) => i >= killed,
                _ => false,
            };
            assert!(fine, "post {i}: {p:?}");
        }
        // What the follower acknowledged is in the main peer's store.
        let on_main = Target {
            addr: main.addr(),
            token: new_token(main.addr()).await,
            room: target.room.clone(),
        };
        let stored = read_room(&on_main, BOUND).await.unwrap();
        let acked = check_acknowledged(&posts, &stored).unwrap();
        println!(
            "follower losing its main peer ({POSTERS} posters): {acked} acknowledged, all on \
             the main peer; answers: {:?}",
            summary(&posts)
        );
        for p in [follower, main] {
            let (status, _, stderr) = p.stop();
            assert_eq!(status.code(), Some(0), "{stderr}");
        }
    });
}

/// Connections held at once.
const IDLE: usize = 1_000;

#[test]
fn a_thousand_idle_connections_do_not_block_new_clients_and_are_closed() {
    // Both ends of every connection live on this machine: the test's end
    // here, the server's in peerd (which inherits the limit).
    peer_testkit::fd::ensure_open_files(IDLE as u64 + 512).unwrap();
    let env = Env::new();
    let peerd = env.start(&["--ephemeral", "--listen", "127.0.0.1:0"]);
    let addr = peerd.addr();
    let rt = runtime();
    rt.block_on(async {
        // Connected, not a byte sent.
        let mut idle = Vec::with_capacity(IDLE);
        for _ in 0..IDLE {
            idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        eventually("peerd holds the idle connections", || {
            metric(&peerd, "peergroup_http_connections") >= IDLE as f64
        });
        // A new client is served: plain requests and a whole session.
        let resp = send(addr, RawRequest::get("/healthz")).await.unwrap();
        assert_eq!(resp.status, 200, "{}", resp.text());
        let target = setup(addr).await;
        let got = peer_testkit::load::post_once(&target, "served", BOUND).await;
        assert!(matches!(got, Outcome::Acked { seq: 1 }), "{got:?}");

        // The header read timeout (10 s, api.md) closes each of them,
        // without an answer.
        let mut answered = Vec::new();
        for (i, mut s) in idle.into_iter().enumerate() {
            let mut buf = [0u8; 64];
            match tokio::time::timeout(BOUND, s.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => {}
                Ok(Ok(n)) => answered.push((i, String::from_utf8_lossy(&buf[..n]).into_owned())),
                Err(_) => panic!("idle connection {i} still open after {BOUND:?}"),
            }
        }
        assert!(
            answered.is_empty(),
            "idle connections answered: {answered:?}"
        );
        eventually("peerd released them", || {
            metric(&peerd, "peergroup_http_connections") < 10.0
        });
    });
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
}
