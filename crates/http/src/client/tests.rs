//! The transport against a raw TCP server on 127.0.0.1 that answers with
//! scripted bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// What the scripted server does with one request.
#[derive(Clone)]
enum Answer {
    /// Write these bytes, keep the connection.
    Bytes(Vec<u8>),
    /// Write these bytes, then keep the connection open and silent.
    BytesThenHang(Vec<u8>),
    /// Answer nothing, keep the connection open.
    Hang,
}

struct Server {
    base: BaseUrl,
    connections: Arc<AtomicUsize>,
    requests: Arc<tokio::sync::Mutex<Vec<String>>>,
}

/// Serves every request with `answer(request_head)`.
async fn serve(answer: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let answer = Arc::new(answer);
    let (c, r) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let (answer, r) = (answer.clone(), r.clone());
            tokio::spawn(async move { connection(sock, answer, r).await });
        }
    });
    Server {
        base: BaseUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        connections,
        requests,
    }
}

async fn connection(
    mut sock: TcpStream,
    answer: Arc<impl Fn(&str) -> Answer + Send + Sync>,
    requests: Arc<tokio::sync::Mutex<Vec<String>>>,
) {
    let mut buf = Vec::new();
    loop {
        // Read one request head (and a body by Content-Length).
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let len = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
        buf.drain(..head_end + len);
        requests.lock().await.push(format!("{head}{body}"));
        match answer(&head) {
            Answer::Bytes(b) => {
                if sock.write_all(&b).await.is_err() {
                    return;
                }
            }
            Answer::BytesThenHang(b) => {
                let _ = sock.write_all(&b).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        }
    }
}

fn ok(body: &str) -> Answer {
    Answer::Bytes(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-test: yes\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn small(config: impl FnOnce(&mut ClientConfig)) -> HttpClient {
    let mut c = ClientConfig::default();
    config(&mut c);
    HttpClient::new(c)
}

#[tokio::test]
async fn request_and_keep_alive() {
    let server = serve(|_| ok("{\"ok\":true}")).await;
    let http = HttpClient::default();
    for i in 0..3 {
        let req = Request::new(Method::POST, server.base.join("/api/v1/x?a=1").unwrap())
            .header("Content-Type", "application/json")
            .header("Peer-Seq", i.to_string())
            .body(b"{\"n\":1}".to_vec());
        let resp = http.send(req).await.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-test"), Some("yes"));
        assert_eq!(&resp.body[..], b"{\"ok\":true}");
    }
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "one pooled connection"
    );
    let reqs = server.requests.lock().await;
    assert!(
        reqs[0].starts_with("POST /api/v1/x?a=1 HTTP/1.1\r\n"),
        "{}",
        reqs[0]
    );
    assert!(reqs[2].to_ascii_lowercase().contains("peer-seq: 2\r\n"));
    assert!(reqs[0].ends_with("{\"n\":1}"));
}

#[tokio::test]
async fn connection_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let base = BaseUrl::parse(&format!("http://{addr}")).unwrap();
    let err = HttpClient::default()
        .send(Request::new(Method::GET, base.join("/").unwrap()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TransportError::ConnectRefused {
            authority: addr.to_string()
        }
    );
    assert!(err.is_connect());
}

#[tokio::test]
async fn request_deadline() {
    let server = serve(|_| Answer::Hang).await;
    let http = small(|c| c.request_timeout = Duration::from_millis(300));
    let err = http
        .send(Request::new(Method::GET, server.base.join("/").unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::Timeout(TimeoutPhase::Request));
    // A per-request deadline overrides the configured one.
    let http = small(|c| c.request_timeout = Duration::from_secs(600));
    let err = http
        .send(
            Request::new(Method::GET, server.base.join("/").unwrap())
                .timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    // A body that never completes is bounded too.
    let server = serve(|_| {
        Answer::BytesThenHang(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc".to_vec())
    })
    .await;
    let http = small(|c| c.request_timeout = Duration::from_millis(300));
    let err = http
        .send(Request::new(Method::GET, server.base.join("/").unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::Timeout(TimeoutPhase::Request));
}

#[tokio::test]
async fn body_limit() {
    let server = serve(|head| {
        if head.starts_with("GET /declared") {
            ok(&"x".repeat(101))
        } else if head.starts_with("GET /chunked") {
            let chunk = "y".repeat(60);
            Answer::Bytes(
                format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3c\r\n{chunk}\r\n3c\r\n{chunk}\r\n0\r\n\r\n")
                    .into_bytes(),
            )
        } else {
            ok(&"z".repeat(100))
        }
    })
    .await;
    let http = small(|c| c.max_response_bytes = 100);
    for path in ["/declared", "/chunked"] {
        let err = http
            .send(Request::new(Method::GET, server.base.join(path).unwrap()))
            .await
            .unwrap_err();
        assert_eq!(err, TransportError::TooLarge { limit: 100 }, "{path}");
    }
    let resp = http
        .send(Request::new(
            Method::GET,
            server.base.join("/exact").unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(resp.body.len(), 100);
}

#[tokio::test]
async fn malformed_response() {
    let server = serve(|_| Answer::Bytes(b"HELLO THERE\r\n\r\n".to_vec())).await;
    let err = HttpClient::default()
        .send(Request::new(Method::GET, server.base.join("/").unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::Malformed("response head"));
}

#[tokio::test]
async fn bad_header_is_refused_before_sending() {
    let server = serve(|_| ok("{}")).await;
    let err = HttpClient::default()
        .send(Request::new(Method::GET, server.base.join("/").unwrap()).header("Bad Name", "v"))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::InvalidRequest("header name"));
    let err = HttpClient::default()
        .send(Request::new(Method::GET, server.base.join("/").unwrap()).header("X", "a\nb"))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::InvalidRequest("header value"));
    assert_eq!(server.requests.lock().await.len(), 0);
}

const SSE_HEAD: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

fn chunk(text: &str) -> String {
    format!("{:x}\r\n{text}\r\n", text.len())
}

#[tokio::test]
async fn event_stream_parses_and_skips_heartbeats() {
    let server = serve(|head| {
        assert!(head.to_ascii_lowercase().contains("last-event-id: 4\r\n"));
        let mut out = SSE_HEAD.to_owned();
        out += &chunk(": heartbeat\n\n");
        out += &chunk("id: 5\nevent: message\ndata: {\"a\":");
        out += &chunk("1}\n\n: hb\n\nid: 6\nevent: key_request\ndata: {}\n\n");
        out += "0\r\n\r\n";
        Answer::Bytes(out.into_bytes())
    })
    .await;
    let http = HttpClient::default();
    let resp = http
        .stream(
            Request::new(Method::GET, server.base.join("/api/v1/events").unwrap())
                .header("Last-Event-ID", "4"),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let mut events = resp.into_events();
    let a = events.next().await.unwrap().unwrap();
    assert_eq!(
        (a.id.as_deref(), a.event.as_str(), a.data.as_str()),
        (Some("5"), "message", "{\"a\":1}")
    );
    let b = events.next().await.unwrap().unwrap();
    assert_eq!(
        (b.id.as_deref(), b.event.as_str()),
        (Some("6"), "key_request")
    );
    assert!(events.next().await.is_none(), "the server ended the stream");
    assert_eq!(events.last_event_id(), Some("6"));
}

#[tokio::test]
async fn event_stream_idle_timeout_and_line_limit() {
    let server = serve(|head| {
        if head.starts_with("GET /long") {
            let mut out = SSE_HEAD.to_owned();
            out += &chunk(&format!("data: {}\n\n", "x".repeat(200)));
            Answer::BytesThenHang(out.into_bytes())
        } else {
            let mut out = SSE_HEAD.to_owned();
            out += &chunk("data: first\n\n");
            Answer::BytesThenHang(out.into_bytes())
        }
    })
    .await;
    let http = small(|c| {
        c.stream_idle_timeout = Duration::from_millis(300);
        c.max_event_line = 100;
    });
    let mut events = http
        .stream(Request::new(
            Method::GET,
            server.base.join("/idle").unwrap(),
        ))
        .await
        .unwrap()
        .into_events();
    assert_eq!(events.next().await.unwrap().unwrap().data, "first");
    assert_eq!(
        events.next().await.unwrap().unwrap_err(),
        TransportError::Timeout(TimeoutPhase::StreamIdle)
    );
    assert!(events.next().await.is_none(), "an error ends the stream");

    let mut events = http
        .stream(Request::new(
            Method::GET,
            server.base.join("/long").unwrap(),
        ))
        .await
        .unwrap()
        .into_events();
    assert_eq!(
        events.next().await.unwrap().unwrap_err(),
        TransportError::TooLarge { limit: 100 }
    );
}

#[tokio::test]
async fn stream_answered_with_an_error_body() {
    let server = serve(|_| {
        let body = "{\"error\":{\"code\":\"session_expired\",\"message\":\"x\"}}";
        Answer::Bytes(
            format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    })
    .await;
    let resp = HttpClient::default()
        .stream(Request::new(
            Method::GET,
            server.base.join("/api/v1/events").unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status, 401);
    let body = resp.into_body().await.unwrap();
    assert!(body.starts_with(b"{\"error\""));
}
