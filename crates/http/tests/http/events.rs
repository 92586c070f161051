//! Event streams beyond the core flow: heartbeats, a resume gap, malformed
//! `Last-Event-ID`, the per-user stream limit, slow subscribers cut off
//! without delaying others, and long-polls.

use std::sync::Arc;
use std::time::Duration;

use peer_http::server::ServerConfig;
use peer_node::{BusConfig, NodeConfig};
use peer_proto::event::EventKind;
use peer_store::MemoryStore;
use peer_testkit::keys;
use peer_testkit::node::{RawRequest, SseItem, TestNode, open, send};
use serde_json::{Value, json};

use crate::common::{PATIENCE, User, assert_error};
use crate::flows::next_event;

#[tokio::test]
async fn heartbeats_gap_notice_and_bad_last_event_id() {
    let config = ServerConfig {
        sse_heartbeat: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        NodeConfig::default(),
        config,
    )
    .await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let mut s = open(
        node.addr(),
        RawRequest::get("/api/v1/events").bearer(&token),
    )
    .await
    .unwrap();
    assert_eq!(
        s.next_sse().await.unwrap(),
        Some(SseItem::Retry("3000".into()))
    );
    let item = tokio::time::timeout(PATIENCE, s.next_sse())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item, Some(SseItem::Comment("ping".into())));
    drop(s);

    // Last-Event-ID older than anything kept: told to resync first.
    let mut s = open(
        node.addr(),
        RawRequest::get("/api/v1/events")
            .bearer(&token)
            .header("last-event-id", "1"),
    )
    .await
    .unwrap();
    let (id, kind, data) = next_event(&mut s).await;
    assert_eq!((id, kind.as_str()), (None, "error"));
    assert_eq!(data["code"], "conflict");
    assert!(data["message"].as_str().unwrap().contains("re-read"));
    // The stream goes on.
    let room = alice.plain_room("after-gap").await;
    let (_, kind, data) = next_event(&mut s).await;
    assert_eq!(kind, "member_joined");
    assert_eq!(data["room_id"], json!(room));

    let resp = send(
        node.addr(),
        RawRequest::get("/api/v1/events")
            .bearer(&token)
            .header("last-event-id", "seven"),
    )
    .await
    .unwrap();
    assert_error(&resp, "invalid_header");
    node.stop().await;
}

#[tokio::test]
async fn streams_per_user_are_limited() {
    let config = NodeConfig {
        max_streams_per_user: 1,
        ..NodeConfig::default()
    };
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        config,
        ServerConfig::default(),
    )
    .await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let first = open(
        node.addr(),
        RawRequest::get("/api/v1/events").bearer(&token),
    )
    .await
    .unwrap();
    assert_eq!(first.status, 200);
    let resp = send(
        node.addr(),
        RawRequest::get("/api/v1/events").bearer(&token),
    )
    .await
    .unwrap();
    assert_error(&resp, "too_many_streams");
    drop(first);
    // The slot comes back once the first stream is gone.
    let again = crate::common::eventually(30, || {
        let token = token.clone();
        let addr = node.addr();
        async move {
            let s = open(addr, RawRequest::get("/api/v1/events").bearer(&token))
                .await
                .unwrap();
            (s.status == 200).then_some(s)
        }
    })
    .await;
    drop(again);
    node.stop().await;
}

#[tokio::test]
async fn a_stalled_subscriber_is_cut_off_and_never_delays_others() {
    let config = NodeConfig {
        bus: BusConfig {
            ring: 64,
            subscriber_buffer: 8,
        },
        ..NodeConfig::default()
    };
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        config,
        ServerConfig::default(),
    )
    .await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let bob = User::new(&node, keys::bob(), "bob").await;
    let (alice_token, bob_token) = (alice.token().await, bob.token().await);
    let noisy = alice.plain_room("noisy").await;
    let quiet = bob.plain_room("quiet").await;

    // Alice's stream is opened and then never read.
    let mut stalled = open(
        node.addr(),
        RawRequest::get("/api/v1/events").bearer(&alice_token),
    )
    .await
    .unwrap();
    let mut fast = open(
        node.addr(),
        RawRequest::get("/api/v1/events").bearer(&bob_token),
    )
    .await
    .unwrap();
    // Flood Alice's room until her connection backs up and the node cuts
    // her off (bounded: at most 400,000 events).
    let before = node.node().stats().cut_off_subscribers;
    let mut published = 0u64;
    while node.node().stats().cut_off_subscribers == before {
        assert!(published < 400_000, "never cut off");
        for _ in 0..1000 {
            published += 1;
            node.node().publish(EventKind::Message {
                room_id: noisy,
                seq: published,
                sender_id: alice.id,
            });
        }
        tokio::task::yield_now().await;
    }
    // Meanwhile everyone else is served at once.
    let resp = send(
        node.addr(),
        RawRequest::post(&format!("/api/v1/rooms/{quiet}/messages"))
            .bearer(&bob_token)
            .json(r#"{"text":"still here"}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 201);
    let (_, kind, data) = next_event(&mut fast).await;
    assert_eq!(kind, "message");
    assert_eq!(data["room_id"], json!(quiet));

    // Alice reads at last: what was buffered, then the final error event,
    // then the end of the stream.
    let mut last: Option<Value> = None;
    let end = tokio::time::timeout(PATIENCE * 4, async {
        while let Some(item) = stalled.next_sse().await.unwrap() {
            if let SseItem::Event { event, data, .. } = item
                && event == "error"
            {
                last = Some(serde_json::from_str(&data).unwrap());
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the cut-off stream ends");
    assert_eq!(last.expect("a final error event")["code"], "rate_limited");
    let metrics = send(node.addr(), RawRequest::get("/metrics"))
        .await
        .unwrap()
        .text();
    assert!(
        metrics.contains("peergroup_event_subscribers_cut_off_total 1"),
        "{metrics}"
    );
    node.stop().await;
}

#[tokio::test]
async fn long_poll_wakes_on_a_post_and_times_out_empty() {
    let node = TestNode::start().await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let room = alice.plain_room("poll").await;
    let target = format!("/api/v1/rooms/{room}/messages?after=0&wait=60");
    let poll = tokio::spawn({
        let token = token.clone();
        let addr = node.addr();
        async move {
            send(addr, RawRequest::get(&target).bearer(&token))
                .await
                .unwrap()
        }
    });
    // Post once the poll is waiting (a post before it is fine too: the poll
    // then answers at once).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let resp = send(
        node.addr(),
        RawRequest::post(&format!("/api/v1/rooms/{room}/messages"))
            .bearer(&token)
            .json(r#"{"text":"wake up"}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 201);
    let resp = tokio::time::timeout(PATIENCE, poll).await.unwrap().unwrap();
    assert_eq!(resp.status, 200);
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["messages"][0]["text"], "wake up");

    let started = tokio::time::Instant::now();
    let resp = send(
        node.addr(),
        RawRequest::get(&format!("/api/v1/rooms/{room}/messages?after=1&wait=1")).bearer(&token),
    )
    .await
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited");
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["messages"], json!([]));
    assert_eq!(v["last_seq"], 1);
    let resp = send(
        node.addr(),
        RawRequest::get(&format!("/api/v1/rooms/{room}/messages?after=1&wait=61")).bearer(&token),
    )
    .await
    .unwrap();
    assert_error(&resp, "invalid_query");
    node.stop().await;
}
