//! The client transport: HTTP/1.1 over hyper-util's pooled client, plain
//! TCP (LAN HTTP by design: peergroup authenticates and, when asked, seals
//! every request and response itself; there is no TLS here).
//!
//! What it does: keep-alive connections per node, connect and request
//! deadlines, a bounded response body, and event streams (Server-Sent
//! Events) parsed into [`SseEvent`]s with an idle deadline. What it does
//! not: authenticate, retry, follow redirects, decompress, or interpret a
//! status. `peer-client` builds the peergroup protocol on top.
//!
//! ```text
//!  Request::new(method, uri) ─▶ HttpClient::send ─▶ Response { status, headers, body ≤ limit }
//!                            └▶ HttpClient::stream ─▶ StreamResponse { status, headers, SseStream }
//!                                                        SseStream::next ─▶ SseEvent { id, event, data }
//! ```
//!
//! ```no_run
//! use peer_http::client::{BaseUrl, HttpClient, Request};
//!
//! # async fn demo() -> Result<(), peer_http::client::TransportError> {
//! let http = HttpClient::new(Default::default());
//! let base: BaseUrl = "http://127.0.0.1:8080".parse()?;
//! let resp = http.send(Request::new(http::Method::GET, base.join("/healthz")?)).await?;
//! println!("{} {} bytes", resp.status, resp.body.len());
//! # Ok(())
//! # }
//! ```

mod error;
mod sse;
mod url;

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

pub use error::{TimeoutPhase, TransportError};
pub use sse::{SseEvent, SseParser, SseStream};
pub use url::BaseUrl;

/// Settings of an [`HttpClient`]. The defaults suit a LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Opening a TCP connection (default 5 s).
    pub connect_timeout: Duration,
    /// One whole exchange: connect, send, response head and body (default
    /// 30 s). Long-polls pass a longer one per request.
    pub request_timeout: Duration,
    /// The largest response body read (default 4 MiB); larger is
    /// [`TransportError::TooLarge`].
    pub max_response_bytes: usize,
    /// An event stream that sends nothing, not even a heartbeat, for this
    /// long is dead (default 45 s: three heartbeats of a node, which sends
    /// one every 15 s).
    pub stream_idle_timeout: Duration,
    /// The longest line (and event data) of an event stream (default 64 KiB).
    pub max_event_line: usize,
    /// Idle pooled connections close after this (default 50 s, below the
    /// node's 60 s keep-alive, so the client closes first).
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per node (default 8).
    pub pool_max_idle_per_host: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 4 * 1024 * 1024,
            stream_idle_timeout: Duration::from_secs(45),
            max_event_line: 64 * 1024,
            pool_idle_timeout: Duration::from_secs(50),
            pool_max_idle_per_host: 8,
        }
    }
}

/// A request to send: method, absolute URI, headers, body, and optionally
/// its own deadline.
#[derive(Clone)]
pub struct Request {
    method: Method,
    uri: Uri,
    headers: Vec<(String, String)>,
    body: Bytes,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values and the body may be secret: names and sizes only.
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: Method, uri: Uri) -> Self {
        Request {
            method,
            uri,
            headers: Vec::new(),
            body: Bytes::new(),
            timeout: None,
        }
    }

    /// Adds a header (checked when sent).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// A deadline for this exchange instead of the configured one (a
    /// long-poll waits longer).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    fn authority(&self) -> String {
        self.uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default()
    }

    fn into_hyper(self) -> Result<http::Request<Full<Bytes>>, TransportError> {
        let mut req = http::Request::new(Full::new(self.body));
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        let headers = req.headers_mut();
        for (name, value) in self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| TransportError::InvalidRequest("header name"))?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| TransportError::InvalidRequest("header value"))?;
            headers.append(name, value);
        }
        Ok(req)
    }
}

/// A complete response.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body (at most `max_response_bytes`).
    pub body: Bytes,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Response {
    /// A header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_str(&self.headers, name)
    }
}

/// The head of a streaming response, and its body as an event stream.
#[derive(Debug)]
pub struct StreamResponse {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    body: Incoming,
    max_body: usize,
    max_line: usize,
    idle: Duration,
    deadline: Duration,
}

impl StreamResponse {
    /// A header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_str(&self.headers, name)
    }

    /// The body as Server-Sent Events.
    pub fn into_events(self) -> SseStream {
        SseStream::new(self.body, self.max_line, self.idle)
    }

    /// The whole body, bounded like any response (for an error answer
    /// instead of a stream).
    pub async fn into_body(self) -> Result<Bytes, TransportError> {
        tokio::time::timeout(
            self.deadline,
            read_bounded(self.body, &self.headers, self.max_body),
        )
        .await
        .map_err(|_| TransportError::Timeout(TimeoutPhase::Request))?
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A pooled HTTP/1.1 client. Cheap to clone (the pool is shared); build one
/// and keep it.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    config: ClientConfig,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new(ClientConfig::default())
    }
}

impl HttpClient {
    /// A client with these settings. Must be called inside a Tokio runtime
    /// only when requests are sent (building needs none).
    pub fn new(config: ClientConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .http1_max_headers(limits_max_headers())
            .build(connector);
        HttpClient { client, config }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sends a request and reads the whole response, within the request's
    /// deadline and the body limit.
    pub async fn send(&self, req: Request) -> Result<Response, TransportError> {
        let deadline = req.timeout.unwrap_or(self.config.request_timeout);
        let authority = req.authority();
        let hyper_req = req.into_hyper()?;
        let max = self.config.max_response_bytes;
        let exchange = async {
            let resp = self
                .client
                .request(hyper_req)
                .await
                .map_err(|e| TransportError::from_hyper(&e, &authority))?;
            let (parts, body) = resp.into_parts();
            let body = read_bounded(body, &parts.headers, max).await?;
            Ok(Response {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(deadline, exchange)
            .await
            .map_err(|_| TransportError::Timeout(TimeoutPhase::Request))?
    }

    /// Sends a request whose answer is an event stream: returns once the
    /// response head arrived (within the request deadline); the body is then
    /// read event by event, each wait bounded by the idle timeout.
    pub async fn stream(&self, req: Request) -> Result<StreamResponse, TransportError> {
        let deadline = req.timeout.unwrap_or(self.config.request_timeout);
        let authority = req.authority();
        let hyper_req = req.into_hyper()?;
        let resp = tokio::time::timeout(deadline, self.client.request(hyper_req))
            .await
            .map_err(|_| TransportError::Timeout(TimeoutPhase::Request))?
            .map_err(|e| TransportError::from_hyper(&e, &authority))?;
        let (parts, body) = resp.into_parts();
        Ok(StreamResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            max_body: self.config.max_response_bytes,
            max_line: self.config.max_event_line,
            idle: self.config.stream_idle_timeout,
            deadline,
        })
    }
}

/// Response headers accepted at most (the node sends a handful).
fn limits_max_headers() -> usize {
    peer_proto::limits::MAX_HEADERS
}

/// Reads a body of at most `max` bytes: a larger `Content-Length` is refused
/// before reading, and reading stops as soon as the limit is passed.
async fn read_bounded(
    mut body: Incoming,
    headers: &HeaderMap,
    max: usize,
) -> Result<Bytes, TransportError> {
    if let Some(len) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > max as u64
    {
        return Err(TransportError::TooLarge { limit: max });
    }
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| TransportError::from_body(&e))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(TransportError::TooLarge { limit: max });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests;
