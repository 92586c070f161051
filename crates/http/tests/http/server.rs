//! Public endpoints, metrics, the route table's 404/405, and graceful
//! shutdown.

use std::time::Duration;

use peer_testkit::keys;
use peer_testkit::node::{RawRequest, TestNode, send};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{PATIENCE, User, assert_error, eventually};

#[tokio::test]
async fn public_endpoints() {
    let node = TestNode::start().await;
    let addr = node.addr();
    let resp = send(addr, RawRequest::get("/healthz")).await.unwrap();
    assert_eq!(resp.status, 200);
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["store_ok"].as_bool()),
        (Some("ok"), Some(true))
    );
    let resp = send(addr, RawRequest::get("/api/v1/node")).await.unwrap();
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["node_id"], serde_json::json!(node.node().node_id()));
    assert_eq!(v["store"], "memory");
    let resp = send(addr, RawRequest::get("/api/v1/peers?online=true"))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), r#"{"peers":[]}"#);
    assert_error(
        &send(addr, RawRequest::get("/api/v1/peers?role=boss"))
            .await
            .unwrap(),
        "invalid_query",
    );
    for (m, p) in [("GET", "/api/v1/nope"), ("GET", "/assets/nope.js")] {
        assert_error(
            &send(addr, RawRequest::new(m, p)).await.unwrap(),
            "not_found",
        );
    }
    // Node-to-node routes: a peer node's session, or a signed body.
    for p in ["/api/v1/notify", "/api/v1/relay/events"] {
        assert_error(
            &send(addr, RawRequest::post(p).json("{}")).await.unwrap(),
            "unauthenticated",
        );
    }
    for (m, p) in [
        ("POST", "/api/v1/peers"),
        ("DELETE", "/api/v1/peers/AAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        assert_error(
            &send(addr, RawRequest::new(m, p).json("{}")).await.unwrap(),
            "invalid_body",
        );
    }
    let resp = send(addr, RawRequest::new("DELETE", "/healthz"))
        .await
        .unwrap();
    assert_error(&resp, "method_not_allowed");
    assert_eq!(resp.header("allow"), Some("GET"));
    // Public routes ignore credentials (even both kinds at once).
    let resp = send(
        addr,
        RawRequest::get("/healthz")
            .bearer("x")
            .header("peer-session", "x"),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
    node.stop().await;
}

#[tokio::test]
async fn metrics_count_routes_statuses_and_sessions() {
    let node = TestNode::start().await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    alice.call("GET", "/api/v1/rooms", None).await.expect(200);
    alice
        .call("GET", "/api/v1/rooms/AAAA", None)
        .await
        .expect_error("invalid_field");
    send(node.addr(), RawRequest::get("/nope")).await.unwrap();
    let resp = send(node.addr(), RawRequest::get("/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text();
    for line in [
        r#"peergroup_http_requests_total{route="/api/v1/rooms",method="GET",status="200"} 1"#,
        r#"peergroup_http_requests_total{route="/api/v1/rooms/{room_id}",method="GET",status="400"} 1"#,
        r#"peergroup_http_requests_total{route="/api/v1/users",method="POST",status="201"} 1"#,
        r#"peergroup_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
        r#"peergroup_http_request_duration_seconds_count{route="/api/v1/handshake"} 1"#,
        "peergroup_sessions 1",
        "peergroup_event_subscribers 0",
        "# TYPE peergroup_http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    node.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let node = TestNode::start().await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let room = alice.plain_room("bye").await;
    let addr = node.addr();

    // A long-poll in flight on a raw connection (2 s, then empty).
    let mut inflight = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /api/v1/rooms/{room}/messages?after=0&wait=2 HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    inflight.write_all(req.as_bytes()).await.unwrap();
    // Wait until the server has accepted it (two connections: it and the
    // metrics request itself).
    eventually(30, || async move {
        let text = send(addr, RawRequest::get("/metrics"))
            .await
            .unwrap()
            .text();
        text.lines()
            .find_map(|l| l.strip_prefix("peergroup_http_connections "))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| *n >= 2)
    })
    .await;
    // An idle keep-alive connection is closed by the shutdown.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let stopping = tokio::spawn(node.stop());
    // New connections are refused once the listener is gone.
    eventually(30, || async move {
        TcpStream::connect(addr).await.is_err().then_some(())
    })
    .await;
    let n = tokio::time::timeout(PATIENCE, idle.read(&mut buf))
        .await
        .expect("idle connection closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // The in-flight long-poll still gets its whole answer.
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, inflight.read_to_end(&mut out))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(text.ends_with(r#""more":false}"#), "{text}");
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test]
async fn shutdown_ends_event_streams() {
    let node = TestNode::start().await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let mut s = peer_testkit::node::open(
        node.addr(),
        RawRequest::get("/api/v1/events").bearer(&token),
    )
    .await
    .unwrap();
    assert_eq!(s.status, 200);
    let stopping = tokio::spawn(node.stop());
    let end = tokio::time::timeout(PATIENCE, async {
        while s.next_sse().await.unwrap().is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the stream ends cleanly");
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .unwrap()
        .unwrap();
}
