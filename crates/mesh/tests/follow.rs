//! A main peer and a follower in one process, on real HTTP: registration,
//! the relay with the clients' end-to-end checks intact, event streams
//! served by the follower from pushes, who may call which endpoint, and a
//! main peer that goes away and comes back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use http::Method;
use peer_client::{AgentAction, Client, ClientOptions, MemoryPins, RoomSettings, Verification};
use peer_crypto::PublicIdentity;
use peer_http::client::{BaseUrl, HttpClient};
use peer_mesh::{Join, LinkError, PeerLink};
use peer_proto::api::{CreateInvite, JoinRoom, NodeRole, Notify, PeerDirection, PeerQuery};
use peer_proto::event::EventKind;
use peer_proto::{ErrorCode, NodeId};
use peer_testkit::keys::node_key;
use peer_testkit::node::{RawRequest, send};
use support::{BOUND, MeshNode, eventually, user_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_on_the_follower_chats_end_to_end_with_one_on_the_main_peer() {
    let main = MeshNode::start(1, Join::None).await;
    let follower = MeshNode::start(2, main.join()).await;
    follower.wait_following(&main).await;
    assert_eq!(main.node.role(), NodeRole::Standalone);

    // The main peer lists the follower as inbound, the follower its main
    // peer as outbound.
    let peers = main
        .node
        .list_peers(PeerQuery::default())
        .await
        .unwrap()
        .peers;
    assert!(
        matches!(&peers[..], [p] if p.node_id == follower.node.node_id()
        && p.direction == PeerDirection::Inbound && p.role == NodeRole::Follower && p.online)
    );
    let peers = follower
        .node
        .list_peers(PeerQuery::default())
        .await
        .unwrap()
        .peers;
    assert!(matches!(&peers[..], [p] if p.node_id == main.node.node_id()
        && p.direction == PeerDirection::Outbound));

    let pins = MemoryPins::new();
    let alice = Client::connect(&main.url(), user_key(), &pins, ClientOptions::default())
        .await
        .unwrap();
    // Bob's requests go through the follower, sealed for good measure: the
    // main peer's session, the main peer's answers.
    let bob = Client::connect(
        &follower.url(),
        user_key(),
        &pins,
        ClientOptions::default().sealed(true),
    )
    .await
    .unwrap();
    assert_eq!(bob.node().role, NodeRole::Follower);
    assert_eq!(bob.node_id(), follower.node.node_id());
    assert_eq!(
        bob.node_key().node_id(),
        main.node.node_id(),
        "sessions are the main peer's"
    );
    alice.register("alice").await.unwrap();
    bob.register("bob").await.unwrap();

    let room = alice
        .create_room(RoomSettings::new("over the relay").invite_only())
        .await
        .unwrap();
    let invite = alice
        .create_invite(room.id, &CreateInvite::default())
        .await
        .unwrap();
    let mut alice_events = alice.events(None).await.unwrap();
    bob.join_room(
        room.id,
        &JoinRoom {
            password: None,
            invite: Some(invite.code.clone()),
        },
    )
    .await
    .unwrap();
    tokio::time::timeout(BOUND, async {
        while let Some(e) = alice_events.next().await {
            if let Some(AgentAction::KeyDistributed { user, .. }) =
                alice.handle_event(&e.unwrap()).await.unwrap()
                && user == bob.user_id()
            {
                return;
            }
        }
        panic!("alice's stream ended");
    })
    .await
    .unwrap();

    // Bob's event stream is served by the follower, from pushes.
    let before = follower
        .mesh
        .stats()
        .relayed_streams
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut bob_events = bob.events(None).await.unwrap();
    assert_eq!(
        follower
            .mesh
            .stats()
            .relayed_streams
            .load(std::sync::atomic::Ordering::Relaxed),
        before + 1
    );

    alice
        .send_text(room.id, "hello bob, through a follower")
        .await
        .unwrap();
    let seq = next_message(&mut bob_events).await;
    let read = bob.read(room.id, seq - 1, 10).await.unwrap();
    assert_eq!(read[0].verified, Verification::Verified);
    assert_eq!(
        read[0].text.as_deref(),
        Some("hello bob, through a follower")
    );

    bob.send_text(room.id, "hello alice").await.unwrap();
    let read = alice.read(room.id, seq, 10).await.unwrap();
    assert_eq!(read[0].verified, Verification::Verified);
    assert_eq!(read[0].text.as_deref(), Some("hello alice"));
    assert_eq!(read[0].sender_id, bob.user_id());

    // A post on the main peer reaches the follower's stream: measure.
    let mut took = Vec::new();
    for i in 0..20 {
        let sent = Instant::now();
        alice
            .send_text(room.id, &format!("ping {i}"))
            .await
            .unwrap();
        next_message(&mut bob_events).await;
        took.push(sent.elapsed());
    }
    took.sort();
    println!(
        "post on the main peer -> event on a follower's stream (20 posts, loopback): \
         median {:?}, max {:?}",
        took[took.len() / 2],
        took[took.len() - 1]
    );
    // Generous (loopback takes milliseconds): each within 5 s.
    assert!(took[took.len() - 1] < Duration::from_secs(5), "{took:?}");

    follower.stop().await;
    // The follower told the main peer it left.
    eventually("the follower's record is gone", || async {
        main.node
            .list_peers(PeerQuery::default())
            .await
            .unwrap()
            .peers
            .is_empty()
    })
    .await;
    main.stop().await;
}

/// The seq of the next `message` event.
async fn next_message(events: &mut peer_client::EventStream) -> u64 {
    tokio::time::timeout(BOUND, async {
        loop {
            let e = events.next().await.expect("stream ended").unwrap();
            if let EventKind::Message { seq, .. } = e.kind {
                return seq;
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_passes_refusals_on_unchanged() {
    let main = MeshNode::start(1, Join::None).await;
    let follower = MeshNode::start(2, main.join()).await;
    follower.wait_following(&main).await;
    for target in ["/api/v1/events", "/api/v1/rooms"] {
        let resp = send(
            follower.addr,
            RawRequest::get(target)
                .header("peer-session", "AAAAAAAAAAAAAAAAAAAAAA")
                .header("peer-seq", "1")
                .header("peer-auth", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )
        .await
        .unwrap();
        assert_eq!(resp.status, 401, "{target}: {}", resp.text());
        assert!(resp.text().contains("session_expired"), "{}", resp.text());
        let resp = send(follower.addr, RawRequest::get(target).bearer("bogus"))
            .await
            .unwrap();
        assert_eq!(resp.status, 401, "{target}: {}", resp.text());
        assert!(resp.text().contains("invalid_token"), "{}", resp.text());
        let resp = send(follower.addr, RawRequest::get(target)).await.unwrap();
        assert_eq!(resp.status, 401);
        assert!(resp.text().contains("unauthenticated"), "{}", resp.text());
    }
    // Node-local routes are the follower's own.
    let resp = send(follower.addr, RawRequest::get("/api/v1/node"))
        .await
        .unwrap();
    let info: peer_proto::api::NodeInfo = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(info.node_id, follower.node.node_id());
    let main_peer = info.main_peer.unwrap();
    assert_eq!(main_peer.node_id, main.node.node_id());
    assert!(main_peer.reachable);
    let key = PublicIdentity::from_spki_der(main_peer.spki.as_slice()).unwrap();
    assert_eq!(key.node_id(), main.node.node_id());
    follower.stop().await;
    main.stop().await;
}

fn link(from_key: &peer_crypto::IdentityKey, to: &MeshNode) -> PeerLink {
    PeerLink::new(
        HttpClient::default(),
        BaseUrl::parse(&to.url()).unwrap(),
        to.node.identity().public().clone(),
        from_key.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_sessions_reach_node_endpoints_only_and_users_never_do() {
    let main = MeshNode::start(1, Join::None).await;
    let follower = MeshNode::start(2, main.join()).await;
    follower.wait_following(&main).await;
    let t = Duration::from_secs(10);

    // The follower's node key opens a peer session at the main peer...
    let as_follower = link(node_key(2), &main);
    let e = as_follower
        .call::<_, serde_json::Value>(Method::GET, "/api/v1/rooms", &(), t)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{e}");
    let e = as_follower
        .call::<_, serde_json::Value>(Method::POST, "/api/v1/tokens", &serde_json::json!({}), t)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{e}");
    // ... may not push for another node, nor at all as a follower.
    let other = Notify {
        from: NodeId::from_bytes([7; 16]),
        events: vec![],
    };
    let e = as_follower
        .call::<_, serde_json::Value>(Method::POST, "/api/v1/notify", &other, t)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{e}");
    let own = Notify {
        from: follower.node.node_id(),
        events: vec![],
    };
    let e = as_follower
        .call::<_, serde_json::Value>(Method::POST, "/api/v1/notify", &own, t)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{e}");

    // The main peer pushes to its follower (as every push does).
    let as_main = link(node_key(1), &follower);
    let push = Notify {
        from: main.node.node_id(),
        events: vec![],
    };
    let _: serde_json::Value = as_main
        .call(Method::POST, "/api/v1/notify", &push, t)
        .await
        .unwrap();

    // A user's session never reaches a node endpoint.
    let user = user_key();
    let pins = MemoryPins::new();
    let client = Client::connect(&main.url(), user.clone(), &pins, ClientOptions::default())
        .await
        .unwrap();
    client.register("carol").await.unwrap();
    let as_user = link(&user, &main);
    let own = Notify {
        from: NodeId::from_bytes(*user.user_id().as_bytes()),
        events: vec![],
    };
    let e = as_user
        .call::<_, serde_json::Value>(Method::POST, "/api/v1/notify", &own, t)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{e}");
    let e = as_user
        .call::<_, serde_json::Value>(
            Method::POST,
            "/api/v1/relay/events",
            &serde_json::json!({"target": "/api/v1/events"}),
            t,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{e}");
    // Nor does a bearer token.
    let token = client.issue_token(None).await.unwrap().token;
    let resp = send(
        main.addr,
        RawRequest::post("/api/v1/notify")
            .bearer(&token)
            .json(serde_json::to_vec(&own).unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 401, "{}", resp.text());
    // An unknown key gets no session at all.
    let stranger = link(node_key(5), &main);
    let e = stranger
        .call::<_, serde_json::Value>(Method::POST, "/api/v1/notify", &push, t)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LinkError::Refused {
                code: ErrorCode::UnknownIdentity,
                ..
            }
        ),
        "{e}"
    );
    follower.stop().await;
    main.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_checked() {
    let main = MeshNode::start(1, Join::None).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let register = |group: &str, url: &str, when: u64| {
        peer_crypto::peer::register_peer(
            &mut peer_crypto::rng::system_rng(),
            node_key(3),
            main.node.node_id(),
            "n3",
            group,
            url,
            when,
        )
        .unwrap()
    };
    let post = |body: &peer_proto::api::RegisterPeer| {
        let addr = main.addr;
        let bytes = serde_json::to_vec(body).unwrap();
        async move {
            send(addr, RawRequest::post("/api/v1/peers").json(bytes))
                .await
                .unwrap()
        }
    };
    let ok = register("lab", "http://127.0.0.1:9", now);
    let resp = post(&ok).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let resp = post(&ok).await;
    assert_eq!(resp.status, 401);
    assert!(resp.text().contains("replayed_nonce"), "{}", resp.text());
    let resp = post(&register("other", "http://127.0.0.1:9", now)).await;
    assert_eq!(resp.status, 403, "{}", resp.text());
    let resp = post(&register("lab", "http://192.0.2.9:9", now)).await;
    assert_eq!(
        resp.status,
        403,
        "pushes aimed at another host: {}",
        resp.text()
    );
    let resp = post(&register("lab", "http://127.0.0.1:9", now - 600)).await;
    assert_eq!(resp.status, 401);
    assert!(resp.text().contains("stale_timestamp"), "{}", resp.text());
    let mut tampered = register("lab", "http://127.0.0.1:9", now);
    tampered.name = "n3-renamed".into();
    let resp = post(&tampered).await;
    assert_eq!(resp.status, 401);
    assert!(resp.text().contains("bad_signature"), "{}", resp.text());
    let resp = post(&register("lab", "ftp://127.0.0.1:9", now)).await;
    assert_eq!(resp.status, 400, "{}", resp.text());

    // A leave needs the registered node's signature.
    let forged = peer_crypto::peer::leave_peer(
        &mut peer_crypto::rng::system_rng(),
        node_key(4),
        main.node.node_id(),
        now,
    )
    .unwrap();
    let path = format!("/api/v1/peers/{}", node_key(3).node_id());
    let resp = send(
        main.addr,
        RawRequest::new("DELETE", &path).json(serde_json::to_vec(&forged).unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 401, "{}", resp.text());
    let genuine = peer_crypto::peer::leave_peer(
        &mut peer_crypto::rng::system_rng(),
        node_key(3),
        main.node.node_id(),
        now,
    )
    .unwrap();
    let resp = send(
        main.addr,
        RawRequest::new("DELETE", &path).json(serde_json::to_vec(&genuine).unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let no_peers = || async {
        main.node
            .list_peers(PeerQuery::default())
            .await
            .unwrap()
            .peers
            .is_empty()
    };
    assert!(no_peers().await);

    // A node that has begun leaving takes no new registrations: a follower
    // told of the leave must not follow it again while it shuts down.
    main.node.set_leaving();
    let resp = post(&register("lab", "http://127.0.0.1:9", now)).await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert!(
        resp.text().contains("main_peer_unavailable"),
        "{}",
        resp.text()
    );
    assert!(resp.headers.contains_key("retry-after"));
    assert!(no_peers().await);
    main.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_main_peer_is_reported_and_followed_again_when_back() {
    let main = MeshNode::start(1, Join::None).await;
    let at = main.addr;
    let follower = MeshNode::start(2, main.join()).await;
    follower.wait_following(&main).await;
    let health = send(follower.addr, RawRequest::get("/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status, 200, "{}", health.text());

    main.kill().await;
    // A relayed request finds it gone at once.
    let resp = send(follower.addr, RawRequest::get("/api/v1/rooms").bearer("x"))
        .await
        .unwrap();
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert!(
        resp.text().contains("main_peer_unavailable"),
        "{}",
        resp.text()
    );
    assert!(resp.header("retry-after").is_some());
    let health = send(follower.addr, RawRequest::get("/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status, 503);
    let h: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["main_peer_ok"], false);
    assert!(!follower.node.main_peer().unwrap().reachable);

    // The main peer comes back at its address (a new process: memory
    // store, it forgot the follower): the follower registers again.
    let main = MeshNode::start_on(
        1,
        std::sync::Arc::new(peer_store::MemoryStore::default()),
        Join::None,
        Some(at),
    )
    .await;
    follower.wait_following(&main).await;
    eventually("the main peer knows the follower again", || async {
        main.node
            .list_peers(PeerQuery::default())
            .await
            .unwrap()
            .peers
            .iter()
            .any(|p| p.node_id == follower.node.node_id())
    })
    .await;
    let health = send(follower.addr, RawRequest::get("/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status, 200, "{}", health.text());
    follower.stop().await;
    main.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_main_peer_that_leaves_tells_its_followers() {
    let main = MeshNode::start(1, Join::None).await;
    // Default timings: the follower checks its main peer every 10 s only.
    let follower = MeshNode::start_with(
        2,
        std::sync::Arc::new(peer_store::MemoryStore::default()),
        main.join(),
        None,
        peer_mesh::Timings::default(),
    )
    .await;
    follower.wait_following(&main).await;
    let main_id = main.node.node_id();
    main.stop().await;
    // The signed leave notice arrived: the follower knows at once (not
    // after a probe or 90 s), and reports it.
    let took = eventually("the follower reports its main peer lost", || async {
        follower
            .node
            .main_peer()
            .is_some_and(|m| m.node_id == main_id && !m.reachable)
    })
    .await;
    assert!(
        took < Duration::from_secs(8),
        "noticed by a probe, not the leave: {took:?}"
    );
    follower.stop().await;
}
