//! Every limit of api.md: body size (Content-Length and chunked), header
//! count and size, the header read timeout, idle keep-alive, rate limits.

use std::sync::Arc;
use std::time::Duration;

use peer_http::server::ServerConfig;
use peer_node::NodeConfig;
use peer_node::ratelimit::Rate;
use peer_proto::api::Kex;
use peer_store::MemoryStore;
use peer_testkit::keys;
use peer_testkit::node::{RawRequest, TestNode, send};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{PATIENCE, User, assert_error, code_of, handshake, register_raw};

async fn raw_exchange(addr: std::net::SocketAddr, head: &[u8], body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head).await.unwrap();
    if !body.is_empty() {
        // The server may answer (and close) before reading all of it.
        let _ = s.write_all(body).await;
    }
    read_all(&mut s).await
}

async fn read_all(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

#[tokio::test]
async fn body_too_large_by_content_length_and_by_stream() {
    let node = TestNode::start().await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let token = alice.token().await;
    let max = peer_proto::limits::MAX_BODY_BYTES;

    // Declared too large: refused before any byte of the body is read.
    let head = format!(
        "POST /api/v1/rooms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        max + 1
    );
    let resp = raw_exchange(node.addr(), head.as_bytes(), b"").await;
    assert!(status_line(&resp).contains(" 413 "), "{resp}");
    assert!(resp.contains(r#""code":"body_too_large""#), "{resp}");

    // Chunked, no length given: counted as it streams in.
    let head = format!(
        "POST /api/v1/rooms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    let chunk = vec![b' '; 64 * 1024];
    let mut body = Vec::new();
    for _ in 0..(max / chunk.len() + 1) {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let resp = raw_exchange(node.addr(), head.as_bytes(), &body).await;
    assert!(
        status_line(&resp).contains(" 413 "),
        "{}",
        status_line(&resp)
    );
    assert!(resp.contains(r#""code":"body_too_large""#));

    // Exactly at the limit is fine as far as size goes (here: bad JSON).
    let resp = send(
        node.addr(),
        RawRequest::post("/api/v1/rooms")
            .bearer(&token)
            .json(vec![b' '; max]),
    )
    .await
    .unwrap();
    assert_error(&resp, "invalid_body");
    node.stop().await;
}

#[tokio::test]
async fn header_limits_answer_431() {
    let node = TestNode::start().await;
    let addr = node.addr();
    // Over the configured count: a JSON 431.
    let mut req = RawRequest::get("/api/v1/node");
    for i in 0..70 {
        req = req.header(&format!("x-h{i}"), "v");
    }
    let resp = send(addr, req).await.unwrap();
    assert_error(&resp, "headers_too_large");
    // Over the configured size: a JSON 431.
    let resp = send(
        addr,
        RawRequest::get("/api/v1/node").header("x-big", &"a".repeat(20_000)),
    )
    .await
    .unwrap();
    assert_error(&resp, "headers_too_large");
    // Far over either: the HTTP parser answers a bare 431 and closes.
    let mut head = String::from("GET /api/v1/node HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        head.push_str(&format!("x-h{i}: v\r\n"));
    }
    head.push_str("\r\n");
    let resp = raw_exchange(addr, head.as_bytes(), b"").await;
    assert!(status_line(&resp).contains(" 431 "), "{resp}");
    let head = format!(
        "GET /api/v1/node HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let resp = raw_exchange(addr, head.as_bytes(), b"").await;
    assert!(status_line(&resp).contains(" 431 "), "{resp}");
    // Just under both limits: served.
    let mut req = RawRequest::get("/api/v1/node");
    for i in 0..60 {
        req = req.header(&format!("x-h{i}"), "v");
    }
    assert_eq!(send(addr, req).await.unwrap().status, 200);
    node.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let config = ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        NodeConfig::default(),
        config,
    )
    .await;
    // Slowloris: a head that never ends.
    let mut s = TcpStream::connect(node.addr()).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .expect("the server closes the connection")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    // A connection that sends nothing at all is cut off too.
    let mut s = TcpStream::connect(node.addr()).await.unwrap();
    let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .expect("closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    node.stop().await;
}

#[tokio::test]
async fn keep_alive_outlives_the_header_timeout_and_idles_out() {
    let config = ServerConfig {
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(1500),
        ..ServerConfig::default()
    };
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        NodeConfig::default(),
        config,
    )
    .await;
    let mut s = TcpStream::connect(node.addr()).await.unwrap();
    let req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(req).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Longer than the header timeout, shorter than the idle timeout.
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.write_all(req).await.unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "the keep-alive connection still serves"
    );
    // Then idle: closed.
    let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .expect("idle connection closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    node.stop().await;
}

#[tokio::test]
async fn session_rate_limit_answers_429_with_retry_after_and_peer_auth() {
    let config = NodeConfig {
        session_rate: Rate {
            per_sec: 1,
            burst: 3,
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
    let mut limited = None;
    for _ in 0..10 {
        let c = alice.call("GET", "/api/v1/rooms", None).await; // verifies Peer-Auth
        if c.status == 429 {
            limited = Some(c);
            break;
        }
        assert_eq!(c.status, 200);
    }
    let c = limited.expect("the burst runs out");
    c.expect_error("rate_limited");
    assert_error(&c.raw, "rate_limited");
    node.stop().await;
}

#[tokio::test]
async fn handshakes_per_address_are_limited() {
    let config = NodeConfig {
        handshake_rate: Rate {
            per_sec: 1,
            burst: 2,
        },
        ..NodeConfig::default()
    };
    let node = TestNode::start_with(
        Arc::new(MemoryStore::default()),
        config,
        ServerConfig::default(),
    )
    .await;
    let resp = register_raw(&node, keys::alice(), "alice").await; // 1
    assert_eq!(resp.status, 201);
    handshake(&node, keys::alice(), Kex::EcdhP256).await; // 2
    let mut rng = peer_crypto::rng::system_rng();
    let (_, hello) = peer_crypto::handshake::start(
        &mut rng,
        keys::alice(),
        node.node().node_id(),
        Kex::EcdhP256,
        crate::common::now(),
    )
    .unwrap();
    let resp = crate::common::hello_raw(&node, &hello).await; // 3
    assert_error(&resp, "rate_limited");
    assert_eq!(code_of(&resp.body), "rate_limited");
    node.stop().await;
}
