//! The driver on real sockets, multicast on 127.0.0.1, each test on a group
//! and port of its own: nodes find each other, and every kind of bad
//! datagram is dropped and counted, even in a flood, without stopping real
//! discovery.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peer_crypto::IdentityKey;
use peer_discovery::{
    Discovery, DiscoveryConfig, DropReason, FetchFuture, FetchedKey, KeyFetcher, LocalNode,
    PeerEvent,
};
use peer_proto::api::NodeRole;
use peer_proto::discovery::DatagramKind;
use peer_testkit::datagram::{forged, malformed, oversized, signed, unsigned, wire};
use peer_testkit::keys::node_key;
use tokio_util::sync::CancellationToken;

/// A group and port no other test (nor another run) uses: 239.255.X.Y
/// from the process id and a counter, and a port the OS says is free.
fn unique_config() -> DiscoveryConfig {
    use std::sync::atomic::{AtomicU16, Ordering};
    static N: AtomicU16 = AtomicU16::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id() as u16;
    let x = ((pid >> 8) as u8) ^ 0x40;
    let y = (pid as u8).wrapping_add((n as u8).wrapping_mul(17));
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    DiscoveryConfig {
        group: SocketAddrV4::new(Ipv4Addr::new(239, 255, x, y), port),
        interface: Ipv4Addr::LOCALHOST,
        ..DiscoveryConfig::default()
    }
}

/// Keys served at fake HTTP addresses (no HTTP needed in these tests).
#[derive(Default)]
struct Keys(Mutex<HashMap<SocketAddr, FetchedKey>>);

impl Keys {
    fn serve(&self, port: u16, key: &IdentityKey) {
        self.0.lock().unwrap().insert(
            SocketAddr::from(([127, 0, 0, 1], port)),
            FetchedKey {
                node_id: key.node_id(),
                spki: key.spki_der().to_vec(),
            },
        );
    }
}

impl KeyFetcher for Keys {
    fn fetch(&self, http: SocketAddr) -> FetchFuture {
        let found = self.0.lock().unwrap().get(&http).cloned();
        Box::pin(async move { found })
    }
}

fn start(config: &DiscoveryConfig, i: usize, port: u16, keys: &Arc<Keys>) -> Discovery {
    keys.serve(port, node_key(i));
    Discovery::start(
        config.clone(),
        node_key(i).clone(),
        LocalNode {
            name: format!("node-{i}"),
            group: "lab".into(),
            role: NodeRole::Main,
            http_port: port,
        },
        keys.clone(),
        CancellationToken::new(),
    )
    .unwrap()
}

/// Waits (bounded) until `d` lists the node of key `i` online.
async fn wait_for(d: &Discovery, i: usize, bound: Duration) -> Duration {
    let started = Instant::now();
    let id = node_key(i).node_id();
    loop {
        if d.peers().iter().any(|p| p.node_id == id && p.online) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "node {i} not found within {bound:?}; counts {:?}",
            d.counts()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_find_each_other_and_see_leaves() {
    let config = unique_config();
    let keys = Arc::new(Keys::default());
    let a = start(&config, 1, 9101, &keys);
    let mut a_events = a.subscribe();
    let b = start(&config, 2, 9102, &keys);
    // B's queries reach A; A's unicast answer reaches B.
    let took = wait_for(&b, 1, Duration::from_secs(10)).await;
    wait_for(&a, 2, Duration::from_secs(10)).await;
    println!("found each other in {took:?}");
    assert_eq!(a.peers().len(), 1, "A lists B, never itself");
    assert_eq!(b.peers().len(), 1, "B lists A, never itself");
    let seen = b.peers();
    let pa = seen
        .iter()
        .find(|p| p.node_id == node_key(1).node_id())
        .unwrap();
    assert_eq!(pa.name, "node-1");
    assert_eq!(pa.group, "lab");
    assert_eq!(pa.http, SocketAddr::from(([127, 0, 0, 1], 9101)));
    assert_eq!(pa.spki, node_key(1).spki_der());
    // Multicast loops back to the sender's host: each node hears its own
    // queries, and drops them.
    for d in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while d.counts().dropped(DropReason::Own) == 0 {
            assert!(Instant::now() < deadline, "own datagrams not seen");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // A role change is announced at once.
    b.set_role(NodeRole::Follower);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), a_events.recv()).await {
            Ok(Ok(PeerEvent::Seen(p)))
                if p.node_id == node_key(2).node_id() && p.role == NodeRole::Follower =>
            {
                break;
            }
            Ok(_) => {}
            Err(_) => panic!("no announcement of the new role"),
        }
        assert!(Instant::now() < deadline);
    }

    // A leave datagram removes B from A's table.
    b.stop().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.peers().iter().any(|p| p.node_id == node_key(2).node_id()) {
        assert!(Instant::now() < deadline, "B's leave not seen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_datagrams_are_dropped_by_reason_and_a_flood_does_not_stop_discovery() {
    let config = unique_config();
    let keys = Arc::new(Keys::default());
    let a = start(&config, 1, 9201, &keys);
    // A third node whose datagrams the test sends by hand.
    let k = node_key(3);
    keys.serve(9203, k);
    let send = sender();
    let to = SocketAddr::V4(config.group);
    let now = unix_now();

    // Introduce K with one genuine announce, so its key is known.
    let genuine = wire(&signed(k, DatagramKind::Announce, "lab", 9203, now));
    send.send_to(&genuine, to).unwrap();
    wait_for(&a, 3, Duration::from_secs(10)).await;
    let before = a.counts();

    let per_kind = 20u64;
    let batch: Vec<(Vec<u8>, DropReason)> = (0..per_kind)
        .flat_map(|_| {
            vec![
                (genuine.clone(), DropReason::Replayed),
                (oversized(), DropReason::Oversized),
                (malformed(), DropReason::Malformed),
                (
                    wire(&unsigned(k, DatagramKind::Announce, "lab", 9203, now)),
                    DropReason::Unsigned,
                ),
                (
                    wire(&forged(
                        k,
                        node_key(4),
                        DatagramKind::Announce,
                        "lab",
                        9203,
                        now,
                    )),
                    DropReason::BadSignature,
                ),
                (
                    wire(&signed(k, DatagramKind::Announce, "lab", 9203, now - 600)),
                    DropReason::Stale,
                ),
            ]
        })
        .collect();
    for (bytes, _) in &batch {
        send.send_to(bytes, to).unwrap();
    }
    let expected = |r: DropReason| before.dropped(r) + per_kind;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = a.counts();
        let done = [
            DropReason::Replayed,
            DropReason::Oversized,
            DropReason::Malformed,
            DropReason::Unsigned,
            DropReason::BadSignature,
            DropReason::Stale,
        ]
        .iter()
        .all(|r| c.dropped(*r) >= expected(*r));
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every bad datagram counted: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = a.counts();
    for r in [
        DropReason::Replayed,
        DropReason::Oversized,
        DropReason::Malformed,
        DropReason::Unsigned,
        DropReason::BadSignature,
        DropReason::Stale,
    ] {
        assert_eq!(c.dropped(r), expected(r), "{r}");
    }
    assert_eq!(c.accepted, before.accepted, "nothing bad was accepted");
    let pk = a
        .peers()
        .into_iter()
        .find(|p| p.node_id == k.node_id())
        .unwrap();
    assert_eq!(
        pk.role,
        NodeRole::Main,
        "no forged datagram changed K's entry"
    );

    // A flood (bounded: 3000 datagrams within about 3 s) while a real node
    // starts: it still finds A and A finds it.
    let flood_to = to;
    let flood_batch: Vec<Vec<u8>> = batch.iter().map(|(b, _)| b.clone()).collect();
    let flood = std::thread::spawn(move || {
        let s = sender();
        let started = Instant::now();
        let mut sent = 0;
        'outer: for _ in 0..25 {
            for b in &flood_batch {
                let _ = s.send_to(b, flood_to);
                sent += 1;
                if sent >= 3000 || started.elapsed() > Duration::from_secs(3) {
                    break 'outer;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        sent
    });
    let b = start(&config, 2, 9202, &keys);
    let took = wait_for(&b, 1, Duration::from_secs(20)).await;
    wait_for(&a, 2, Duration::from_secs(20)).await;
    let sent = flood.join().unwrap();
    println!("found each other in {took:?} during a flood of {sent} bad datagrams");
    assert!(a.counts().dropped_total() > c.dropped_total());
    b.stop().await;
    a.stop().await;
}

/// A socket that sends multicast on 127.0.0.1.
fn sender() -> UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    s.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    s.into()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
