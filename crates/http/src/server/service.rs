//! The request pipeline: route, bound and read the body, authenticate,
//! check the content type, run the handler, answer (with `Peer-Auth` when
//! the authenticator verified), count.
//!
//! ```text
//! route ─▶ Content-Length ≤ limit ─▶ credentials (either kind, not both)
//!   ─▶ read body (≤ limit, in time) ─▶ authenticate (session: HMAC over
//!   method, target, seq, body; bearer: token) ─▶ content type ─▶ handler
//!   ─▶ response (+ Peer-Auth, sealed if the request was) ─▶ metrics
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::{Body as _, Incoming};
use peer_crypto::request::Responder;
use peer_node::NodeError;
use peer_proto::ErrorCode;

use super::auth::{self, Credentials};
use super::call::Call;
use super::metrics::UNMATCHED;
use super::relay;
use super::reply::{self, BoxBody, JSON, PEER_AUTH, Plain, Reply};
use super::routes::{self, Auth, Lookup, Route, Serve};
use super::sse;
use super::{ServerConfig, Shared};

/// How long an over-long body is still read (and dropped) before the 413
/// goes out, so a client that is still sending sees the answer rather than
/// a reset connection.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// What a request led to, before it is written.
struct Outcome {
    result: Result<Reply, NodeError>,
    /// Present when the authenticator verified: the answer carries
    /// `Peer-Auth`.
    responder: Option<Responder>,
    allow: Option<String>,
}

impl Outcome {
    fn error(e: NodeError) -> Outcome {
        Outcome {
            result: Err(e),
            responder: None,
            allow: None,
        }
    }
}

/// Answers one request. Never fails: every problem is an error response.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<BoxBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let (label, outcome) = run(&shared, peer, req).await;
    if let Err(e) = &outcome.result
        && e.code == ErrorCode::StoreUnavailable
    {
        shared.metrics.store_error();
    }
    let response = respond(&shared, outcome);
    shared.metrics.record(
        label,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn run(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> (&'static str, Outcome) {
    let found = routes::find(req.method(), req.uri().path());
    if let Err(e) = check_head(&req, &shared.config) {
        let label = match &found {
            Lookup::Route(r, _) => r.pattern,
            Lookup::MethodNotAllowed { pattern, .. } => pattern,
            Lookup::NotFound => UNMATCHED,
        };
        return (label, Outcome::error(e));
    }
    let (route, params) = match found {
        Lookup::Route(r, p) => (r, p),
        Lookup::NotFound => {
            return (
                UNMATCHED,
                Outcome::error(NodeError::new(ErrorCode::NotFound, "no such endpoint")),
            );
        }
        Lookup::MethodNotAllowed { pattern, allow } => {
            let mut o = Outcome::error(NodeError::new(
                ErrorCode::MethodNotAllowed,
                format!("this endpoint takes {}", allow.join(", ")),
            ));
            o.allow = Some(allow.join(", "));
            return (pattern, o);
        }
    };
    (
        route.pattern,
        dispatch(shared, peer, route, params, req).await,
    )
}

async fn dispatch(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    route: &'static Route,
    params: routes::Params,
    req: Request<Incoming>,
) -> Outcome {
    let config = &shared.config;
    let (parts, body) = req.into_parts();
    if body.size_hint().lower() > config.max_body_bytes as u64 {
        return Outcome::error(too_large(config.max_body_bytes));
    }
    let mut body = Some(body);
    let mut read = None;
    if route.serve == Serve::Main
        && let Some(upstream) = shared.following()
        && let Some(incoming) = body.take()
    {
        // A follower: the main peer serves the client API, except the
        // handshakes of peer nodes (their sessions are this node's).
        let bytes = match read_body(incoming, config.max_body_bytes, config.body_read_timeout).await
        {
            Ok(b) => b,
            Err(e) => return Outcome::error(e),
        };
        if !relay::is_peer_handshake(shared, route, &bytes).await {
            return Outcome {
                result: relay::serve(shared, upstream, route, &parts, bytes).await,
                responder: None,
                allow: None,
            };
        }
        read = Some(bytes);
    }
    let headers = parts.headers;
    let credentials = match route.auth {
        Auth::Public => Credentials::None,
        Auth::Peer => match auth::credentials(&headers) {
            Ok(c @ Credentials::Session(_)) => c,
            Ok(_) => {
                return Outcome::error(NodeError::new(
                    ErrorCode::Unauthenticated,
                    "this node-to-node endpoint needs a peer node's session (Peer-* headers)",
                ));
            }
            Err(e) => return Outcome::error(e),
        },
        Auth::User => match auth::credentials(&headers) {
            Ok(Credentials::None) => {
                return Outcome::error(NodeError::new(
                    ErrorCode::Unauthenticated,
                    "this endpoint needs a session (Peer-* headers) or a bearer token",
                ));
            }
            Ok(c) => c,
            Err(e) => return Outcome::error(e),
        },
    };
    let body = match (read, body) {
        (Some(bytes), _) => bytes,
        (None, Some(incoming)) => {
            match read_body(incoming, config.max_body_bytes, config.body_read_timeout).await {
                Ok(b) => b,
                Err(e) => return Outcome::error(e),
            }
        }
        (None, None) => Vec::new(),
    };
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let sealed = content_type.is_some_and(reply::is_sealed_type);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let node = shared.node.clone();
    let (caller, body, responder, session) = match credentials {
        Credentials::None => (None, body, None, false),
        Credentials::Bearer(token) => match node.authenticate_bearer(&token) {
            Ok(c) => (Some(c), body, None, false),
            Err(e) => return Outcome::error(e),
        },
        Credentials::Session(h) => {
            match node.authenticate_request(
                &h,
                parts.method.as_str(),
                path_and_query,
                &body,
                sealed,
            ) {
                Ok((c, authed)) => {
                    let (body, responder) = authed.into_parts();
                    (Some(c), body, Some(responder), true)
                }
                Err(refusal) => {
                    return Outcome {
                        result: Err(refusal.error),
                        responder: refusal.responder.map(|r| *r),
                        allow: None,
                    };
                }
            }
        }
    };
    if let Err(e) = check_content_type(content_type, sealed, session, body.is_empty())
        .and_then(|()| check_caller_kind(route.auth, caller.as_ref()))
    {
        return Outcome {
            result: Err(e),
            responder,
            allow: None,
        };
    }
    let query = parts.uri.query().map(str::to_owned);
    let call = Call {
        node,
        shared: shared.clone(),
        caller,
        params,
        query,
        headers,
        body,
        peer,
        sealed,
    };
    Outcome {
        result: (route.handler)(call).await,
        responder,
        allow: None,
    }
}

/// The head limits: at most `max_headers` header lines and
/// `max_header_bytes` bytes of request line and headers, as sent. (hyper
/// refuses heads twice as large before they get here, with a bare 431.)
fn check_head(req: &Request<Incoming>, config: &ServerConfig) -> Result<(), NodeError> {
    let headers = req.headers();
    // "METHOD target HTTP/1.1\r\n", then "name: value\r\n" per line.
    let line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |pq| pq.as_str().len())
        + 12;
    let bytes = headers
        .iter()
        .fold(line, |n, (k, v)| n + k.as_str().len() + v.len() + 4);
    if headers.len() > config.max_headers || bytes > config.max_header_bytes {
        return Err(NodeError::new(
            ErrorCode::HeadersTooLarge,
            format!(
                "request headers: at most {} lines and {} bytes",
                config.max_headers, config.max_header_bytes
            ),
        ));
    }
    Ok(())
}

/// Users' routes refuse peer nodes' sessions, and node-to-node routes
/// everything but them (`forbidden`; the authenticator verified, so the
/// refusal is authenticated).
fn check_caller_kind(auth: Auth, caller: Option<&peer_node::Caller>) -> Result<(), NodeError> {
    let peer = caller.is_some_and(|c| c.peer().is_some());
    match auth {
        Auth::Public => Ok(()),
        Auth::User if peer => Err(NodeError::forbidden(
            "a peer node's session reaches node-to-node endpoints only",
        )),
        Auth::Peer if !peer => Err(NodeError::forbidden(
            "a node-to-node endpoint: only peer nodes' sessions may call it",
        )),
        Auth::User | Auth::Peer => Ok(()),
    }
}

/// JSON (with any parameters), or the sealed type within a session; any
/// other type with a body is `unsupported_media_type`.
fn check_content_type(
    content_type: Option<&str>,
    sealed: bool,
    session: bool,
    empty: bool,
) -> Result<(), NodeError> {
    if sealed && !session {
        return Err(NodeError::new(
            ErrorCode::UnsupportedMediaType,
            "sealed bodies need a session (Peer-* authenticator headers)",
        ));
    }
    if sealed || empty || content_type.is_some_and(reply::is_json_type) {
        return Ok(());
    }
    Err(NodeError::new(
        ErrorCode::UnsupportedMediaType,
        "Content-Type: send application/json",
    ))
}

fn too_large(max: usize) -> NodeError {
    NodeError::new(
        ErrorCode::BodyTooLarge,
        format!("the body is larger than {max} bytes"),
    )
}

/// Reads the whole body, at most `max` bytes, within `timeout`.
async fn read_body(body: Incoming, max: usize, timeout: Duration) -> Result<Vec<u8>, NodeError> {
    match tokio::time::timeout(timeout, collect(body, max)).await {
        Ok(r) => r,
        Err(_) => Err(NodeError::new(
            ErrorCode::InvalidBody,
            format!("the body did not arrive within {} s", timeout.as_secs()),
        )),
    }
}

async fn collect(mut body: Incoming, max: usize) -> Result<Vec<u8>, NodeError> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|_| NodeError::new(ErrorCode::InvalidBody, "the body could not be read"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len().saturating_add(data.len()) > max {
            drain(body, max).await;
            return Err(too_large(max));
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf)
}

/// Reads and drops up to `max` more bytes, for at most [`DRAIN_TIME`].
async fn drain(mut body: Incoming, max: usize) {
    let _ = tokio::time::timeout(DRAIN_TIME, async move {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen = seen.saturating_add(data.len());
                if seen > max {
                    break;
                }
            }
        }
    })
    .await;
}

fn respond(shared: &Shared, outcome: Outcome) -> Response<BoxBody> {
    let Outcome {
        result,
        responder,
        allow,
    } = outcome;
    let plain = match result {
        Err(e) => {
            let mut p = Plain::error(&e);
            p.allow = allow;
            p
        }
        Ok(Reply::Json { status, body }) => Plain {
            status,
            content_type: JSON,
            body,
            retry_after: None,
            allow: None,
        },
        Ok(Reply::Text { content_type, body }) => Plain {
            status: StatusCode::OK,
            content_type,
            body: body.into_bytes(),
            retry_after: None,
            allow: None,
        },
        Ok(Reply::Events(stream)) => {
            let peer_auth = match head_auth(responder) {
                Ok(tag) => tag,
                Err(resp) => return *resp,
            };
            return events_response(shared, stream, peer_auth, None);
        }
        Ok(Reply::RelayedEvents {
            stream,
            peer_auth,
            follow,
        }) => return events_response(shared, stream, peer_auth, Some(follow)),
        Ok(Reply::Relayed(answer)) => return reply::relayed_response(answer),
        Ok(Reply::Asset {
            asset,
            not_modified,
        }) => return super::web::response(&asset, not_modified),
    };
    plain.into_response(responder)
}

/// In a session, the `Peer-Auth` of an event stream's head: status 200 and
/// an empty body (the events are unauthenticated hints).
fn head_auth(responder: Option<Responder>) -> Result<Option<String>, Box<Response<BoxBody>>> {
    let Some(responder) = responder else {
        return Ok(None);
    };
    let mut rng = peer_crypto::rng::system_rng();
    match responder.respond(&mut rng, StatusCode::OK.as_u16(), b"") {
        Ok(authed) => Ok(Some(authed.peer_auth)),
        Err(e) => {
            tracing::error!(error = %e, "response authentication failed");
            Err(Box::new(
                Plain::error(&NodeError::internal("response authentication failed"))
                    .into_response(None),
            ))
        }
    }
}

/// The head of an event stream, and its body: until the events end, the
/// server shuts down, or (a follower's stream) `follow` is cancelled.
fn events_response(
    shared: &Shared,
    stream: peer_node::EventStream,
    peer_auth: Option<String>,
    follow: Option<tokio_util::sync::CancellationToken>,
) -> Response<BoxBody> {
    let body = sse::body(
        stream,
        shared.config.sse_heartbeat,
        shared.shutdown.clone(),
        follow,
        shared.node.now(),
    );
    let mut resp = Response::new(body);
    set_event_headers(resp.headers_mut(), peer_auth);
    resp
}

fn set_event_headers(h: &mut HeaderMap, peer_auth: Option<String>) {
    h.insert(CONTENT_TYPE, HeaderValue::from_static(sse::EVENT_STREAM));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(tag) = peer_auth
        && let Ok(v) = HeaderValue::from_str(&tag)
    {
        h.insert(HeaderName::from_static(PEER_AUTH), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let ok = |ct, sealed, session, empty| check_content_type(ct, sealed, session, empty);
        assert!(ok(Some("application/json"), false, false, false).is_ok());
        assert!(ok(Some("application/json; charset=utf-8"), false, true, false).is_ok());
        assert!(ok(None, false, false, true).is_ok());
        assert!(ok(Some("text/plain"), false, false, true).is_ok());
        assert_eq!(
            ok(Some("text/plain"), false, false, false)
                .unwrap_err()
                .code,
            ErrorCode::UnsupportedMediaType
        );
        assert_eq!(
            ok(None, false, false, false).unwrap_err().code,
            ErrorCode::UnsupportedMediaType
        );
        assert!(ok(Some("application/vnd.peergroup.sealed"), true, true, false).is_ok());
        assert_eq!(
            ok(Some("application/vnd.peergroup.sealed"), true, false, false)
                .unwrap_err()
                .code,
            ErrorCode::UnsupportedMediaType
        );
    }
}
