//! A node serving HTTP on 127.0.0.1 inside the test process, and a raw HTTP
//! client to talk to it (cargo feature `node`).
//!
//! ```no_run
//! use peer_testkit::node::{RawRequest, TestNode, send};
//!
//! # async fn demo() {
//! let node = TestNode::start().await;
//! let resp = send(node.addr(), RawRequest::get("/healthz")).await.unwrap();
//! assert_eq!(resp.status, 200);
//! node.stop().await;
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use peer_http::server::{Server, ServerConfig};
use peer_node::{Node, NodeConfig};
use peer_store::{MemoryStore, Store};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A node with a memory store (or the store given) serving HTTP on
/// `127.0.0.1` at a port of its own. Dropping it shuts the server down in
/// the background; [`TestNode::stop`] waits for that.
#[derive(Debug)]
pub struct TestNode {
    addr: SocketAddr,
    url: String,
    node: Node,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl TestNode {
    /// A node on a memory store with the testkit node key
    /// ([`crate::keys::node`]) and default settings.
    ///
    /// # Panics
    /// When no port can be bound on 127.0.0.1.
    pub async fn start() -> TestNode {
        TestNode::start_with(
            Arc::new(MemoryStore::default()),
            NodeConfig::default(),
            ServerConfig::default(),
        )
        .await
    }

    /// A node on `store` with these settings (and the testkit node key).
    ///
    /// # Panics
    /// When no port can be bound on 127.0.0.1.
    pub async fn start_with(
        store: Arc<dyn Store>,
        node_config: NodeConfig,
        server: ServerConfig,
    ) -> TestNode {
        let node = Node::new(crate::keys::node().clone(), store, node_config);
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("TestNode: cannot bind 127.0.0.1:0: {e}"),
        };
        let server = Server::new(listener, node.clone(), server);
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            // Resolves on stop() and when the TestNode is dropped.
            let _ = stopped.await;
        }));
        TestNode {
            addr,
            url: format!("http://{addr}"),
            node,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node behind the server.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Shuts the server down gracefully and waits until it has.
    ///
    /// # Panics
    /// When the server task panicked or failed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("TestNode: server failed: {e}"),
                Err(e) => panic!("TestNode: server task failed: {e}"),
            }
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A request for [`send`] or [`open`], built by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// The method (upper case).
    pub method: String,
    /// The request target (path and query), sent exactly as given.
    pub target: String,
    /// Headers, in order. `Host` is added when absent.
    pub headers: Vec<(String, String)>,
    /// The body (sent with `Content-Length`).
    pub body: Vec<u8>,
}

impl RawRequest {
    /// A request with no headers and no body.
    pub fn new(method: &str, target: &str) -> Self {
        RawRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `GET target`.
    pub fn get(target: &str) -> Self {
        RawRequest::new("GET", target)
    }

    /// `POST target`.
    pub fn post(target: &str) -> Self {
        RawRequest::new("POST", target)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `Authorization: Bearer <token>`.
    #[must_use]
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A JSON body (`Content-Type: application/json`).
    #[must_use]
    pub fn json(self, body: impl Into<Vec<u8>>) -> Self {
        let mut r = self.header("content-type", "application/json");
        r.body = body.into();
        r
    }

    /// A body with no content type added.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body bytes as received.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A response whose body is still arriving (an event stream, a long-poll).
#[derive(Debug)]
pub struct RawStream {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    body: Incoming,
    buf: BytesMut,
    _conn: JoinHandle<()>,
}

/// One item of a Server-Sent Events stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// An event block.
    Event {
        /// The `id:` field, if any.
        id: Option<String>,
        /// The `event:` field (`message` when absent).
        event: String,
        /// The `data:` lines, joined with newlines.
        data: String,
    },
    /// A comment line (`: ping`), without the colon and one space.
    Comment(String),
    /// A `retry:` field.
    Retry(String),
}

impl RawStream {
    /// The next chunk of the body; `None` at its end.
    ///
    /// # Errors
    /// When the connection fails.
    pub async fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        if !self.buf.is_empty() {
            return Ok(Some(self.buf.split().freeze()));
        }
        self.next_data().await
    }

    async fn next_data(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(io::Error::other(e)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// The rest of the body.
    ///
    /// # Errors
    /// When the connection fails.
    pub async fn read_to_end(mut self) -> io::Result<Vec<u8>> {
        let mut out = self.buf.split().to_vec();
        while let Some(c) = self.next_data().await? {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }

    /// The next item of an event stream; `None` when the stream ended.
    ///
    /// # Errors
    /// When the connection fails or the stream is not UTF-8.
    pub async fn next_sse(&mut self) -> io::Result<Option<SseItem>> {
        loop {
            if let Some(item) = self.take_block()? {
                return Ok(Some(item));
            }
            match self.next_data().await? {
                Some(data) => self.buf.extend_from_slice(&data),
                None => return Ok(None),
            }
        }
    }

    /// Parses one complete block (up to a blank line) out of the buffer.
    fn take_block(&mut self) -> io::Result<Option<SseItem>> {
        let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") else {
            return Ok(None);
        };
        let block = self.buf.split_to(end + 2);
        let text = std::str::from_utf8(&block)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "event stream is not UTF-8"))?;
        let (mut id, mut event, mut data, mut retry) = (None, None, Vec::new(), None);
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(c) = line.strip_prefix(':') {
                return Ok(Some(SseItem::Comment(
                    c.strip_prefix(' ').unwrap_or(c).to_owned(),
                )));
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
            match field {
                "id" => id = Some(value),
                "event" => event = Some(value),
                "data" => data.push(value),
                "retry" => retry = Some(value),
                _ => {}
            }
        }
        if data.is_empty()
            && event.is_none()
            && let Some(r) = retry
        {
            return Ok(Some(SseItem::Retry(r)));
        }
        Ok(Some(SseItem::Event {
            id,
            event: event.unwrap_or_else(|| "message".to_owned()),
            data: data.join("\n"),
        }))
    }
}

/// Sends `req` to `addr` on a new connection and reads the whole response.
///
/// # Errors
/// When connecting, sending or reading fails (a refused connection, a reset).
pub async fn send(addr: SocketAddr, req: RawRequest) -> io::Result<RawResponse> {
    let stream = open(addr, req).await?;
    let (status, headers) = (stream.status, stream.headers.clone());
    let body = stream.read_to_end().await?;
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Sends `req` to `addr` on a new connection and returns once the response
/// head arrived; the body is read from the returned stream.
///
/// # Errors
/// When connecting or sending fails, or the request is malformed.
pub async fn open(addr: SocketAddr, req: RawRequest) -> io::Result<RawStream> {
    let tcp = TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(io::Error::other)?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = Request::builder()
        .method(req.method.as_str())
        .uri(req.target.as_str());
    if !req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("host"))
    {
        builder = builder.header("host", addr.to_string());
    }
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let request = builder
        .body(Full::new(Bytes::from(req.body)))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let resp = sender
        .send_request(request)
        .await
        .map_err(io::Error::other)?;
    let status: StatusCode = resp.status();
    let (parts, body) = resp.into_parts();
    Ok(RawStream {
        status: status.as_u16(),
        headers: parts.headers,
        body,
        buf: BytesMut::new(),
        _conn: driver,
    })
}
