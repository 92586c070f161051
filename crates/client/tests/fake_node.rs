//! The client against a scripted node on 127.0.0.1 that misbehaves on
//! purpose: an answer without or with a wrong `Peer-Auth` is a hard error,
//! and `session_expired` is retried after exactly one new handshake.
//!
//! The fake node does the real handshake and request checks of
//! `peer-crypto` (so a well-behaved answer verifies), then answers
//! authenticated requests as its mode says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use peer_client::{Client, ClientError, ClientOptions, MemoryPins};
use peer_crypto::request::AuthHeaders;
use peer_crypto::{IdentityKey, ReplayCache, ServerSession, handshake};
use peer_proto::api::{Hello, NodeInfo, NodeRole, RoomQuery, StoreKind};
use peer_proto::{ErrorCode, SessionId};
use peer_testkit::keys;
use tokio::net::TcpListener;

/// How the fake node answers authenticated requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Properly: 200 with a valid `Peer-Auth`.
    Honest,
    /// 200 with a valid `Peer-Auth` over another body than it sends.
    AlteredBody,
    /// 200 with a well-formed but wrong `Peer-Auth`.
    WrongTag,
    /// 200 without `Peer-Auth`.
    NoTag,
    /// 403 `forbidden` without `Peer-Auth` (a node signs those).
    UnsignedForbidden,
    /// 401 `session_expired` without `Peer-Auth`, every time.
    AlwaysExpired,
    /// A bare 431 with no body, as the HTTP parser answers an oversized head.
    BareHeadersTooLarge,
}

struct Fake {
    mode: Mode,
    node_key: IdentityKey,
    user_key: IdentityKey,
    replay: ReplayCache,
    sessions: Mutex<Vec<Arc<ServerSession>>>,
    handshakes: AtomicUsize,
    requests: AtomicUsize,
    sealed_requests: AtomicUsize,
}

const ROOMS: &[u8] = br#"{"rooms":[]}"#;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn reply(status: u16, body: Vec<u8>, peer_auth: Option<String>) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(tag) = peer_auth {
        b = b.header("peer-auth", tag);
    }
    b.body(Full::new(Bytes::from(body))).unwrap()
}

fn error_body(code: ErrorCode) -> Vec<u8> {
    format!(
        r#"{{"error":{{"code":"{}","message":"scripted"}}}}"#,
        code.as_str()
    )
    .into_bytes()
}

impl Fake {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let path = parts.uri.path();
        if path == "/api/v1/node" {
            let info = NodeInfo {
                node_id: self.node_key.node_id(),
                name: "fake".into(),
                spki: self.node_key.spki_der().to_vec().into(),
                version: "0".into(),
                protocol_version: 1,
                role: NodeRole::Standalone,
                group: "default".into(),
                store: StoreKind::Memory,
                uptime_secs: 0,
                registration_open: true,
                bearer_tokens: false,
                main_peer: None,
            };
            return reply(200, serde_json::to_vec(&info).unwrap(), None);
        }
        if path == "/api/v1/handshake" {
            self.handshakes.fetch_add(1, Ordering::SeqCst);
            let hello: Hello = serde_json::from_slice(&body).unwrap();
            let verified = handshake::verify_hello(
                &hello,
                self.user_key.public(),
                self.node_key.node_id(),
                &self.replay,
                now(),
            )
            .unwrap();
            let (reply_body, session) = verified
                .respond(
                    &mut peer_crypto::rng::system_rng(),
                    &self.node_key,
                    now(),
                    3600,
                )
                .unwrap();
            self.sessions.lock().unwrap().push(Arc::new(session));
            return reply(200, serde_json::to_vec(&reply_body).unwrap(), None);
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        let h = |n: &str| parts.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
        let headers = AuthHeaders::parse(
            &h("peer-session").unwrap(),
            h("peer-key").as_deref(),
            &h("peer-seq").unwrap(),
            &h("peer-auth").unwrap(),
        )
        .unwrap();
        let session_id: SessionId = headers.session_id();
        let session = self
            .sessions
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.session_id() == session_id)
            .cloned()
            .unwrap();
        let target = parts.uri.path_and_query().unwrap().as_str();
        let sealed = h("content-type").as_deref() == Some(peer_crypto::SEALED_CONTENT_TYPE);
        if sealed {
            self.sealed_requests.fetch_add(1, Ordering::SeqCst);
        }
        let authed = session
            .verify_request(
                &headers,
                parts.method.as_str(),
                target,
                &body,
                sealed,
                now(),
            )
            .expect("the client's authenticator verifies");
        let mut rng = peer_crypto::rng::system_rng();
        match self.mode {
            Mode::Honest => {
                let r = authed.respond(&mut rng, 200, ROOMS).unwrap();
                reply(200, r.body, Some(r.peer_auth))
            }
            Mode::AlteredBody => {
                let r = authed.respond(&mut rng, 200, ROOMS).unwrap();
                reply(200, br#"{"rooms":[] }"#.to_vec(), Some(r.peer_auth))
            }
            Mode::WrongTag => reply(200, ROOMS.to_vec(), Some("A".repeat(43))),
            Mode::NoTag => reply(200, ROOMS.to_vec(), None),
            Mode::UnsignedForbidden => reply(403, error_body(ErrorCode::Forbidden), None),
            Mode::AlwaysExpired => reply(401, error_body(ErrorCode::SessionExpired), None),
            Mode::BareHeadersTooLarge => reply(431, Vec::new(), None),
        }
    }
}

async fn start(mode: Mode) -> (Arc<Fake>, SocketAddr) {
    let fake = Arc::new(Fake {
        mode,
        node_key: keys::node_key(1).clone(),
        user_key: keys::alice().clone(),
        replay: ReplayCache::default(),
        sessions: Mutex::new(Vec::new()),
        handshakes: AtomicUsize::new(0),
        requests: AtomicUsize::new(0),
        sealed_requests: AtomicUsize::new(0),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let f = fake.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let f = f.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let f = f.clone();
                    async move { Ok::<_, Infallible>(f.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (fake, addr)
}

async fn client(addr: SocketAddr) -> Client {
    client_with(addr, ClientOptions::default()).await
}

async fn client_with(addr: SocketAddr, opts: ClientOptions) -> Client {
    Client::connect(
        &format!("http://{addr}"),
        keys::alice().clone(),
        &MemoryPins::new(),
        opts,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn an_honest_answer_verifies() {
    let (fake, addr) = start(Mode::Honest).await;
    let c = client(addr).await;
    assert!(
        c.list_rooms(&RoomQuery::default())
            .await
            .unwrap()
            .rooms
            .is_empty()
    );
    assert!(c.list_rooms(&RoomQuery::default()).await.is_ok());
    assert_eq!(
        fake.handshakes.load(Ordering::SeqCst),
        1,
        "the session is reused"
    );
}

#[tokio::test]
async fn sealed_option_seals_requests_and_opens_answers() {
    let (fake, addr) = start(Mode::Honest).await;
    let c = client_with(addr, ClientOptions::default().sealed(true)).await;
    assert!(
        c.list_rooms(&RoomQuery::default())
            .await
            .unwrap()
            .rooms
            .is_empty()
    );
    assert_eq!(fake.sealed_requests.load(Ordering::SeqCst), 1);
    let (fake, addr) = start(Mode::Honest).await;
    let c = client(addr).await;
    c.list_rooms(&RoomQuery::default()).await.unwrap();
    assert_eq!(fake.sealed_requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_tampered_answer_is_a_hard_error() {
    for mode in [
        Mode::AlteredBody,
        Mode::WrongTag,
        Mode::NoTag,
        Mode::UnsignedForbidden,
    ] {
        let (fake, addr) = start(mode).await;
        let c = client(addr).await;
        match c.list_rooms(&RoomQuery::default()).await {
            Err(ClientError::TamperedResponse {
                method,
                path,
                status,
            }) => {
                assert_eq!((method.as_str(), path.as_str()), ("GET", "/api/v1/rooms"));
                assert_eq!(
                    status,
                    if mode == Mode::UnsignedForbidden {
                        403
                    } else {
                        200
                    }
                );
            }
            other => panic!("{mode:?}: expected TamperedResponse, got {other:?}"),
        }
        assert_eq!(
            fake.requests.load(Ordering::SeqCst),
            1,
            "{mode:?}: never retried"
        );
    }
}

#[tokio::test]
async fn session_expired_is_retried_once_after_one_new_handshake() {
    let (fake, addr) = start(Mode::AlwaysExpired).await;
    let c = client(addr).await;
    match c.list_rooms(&RoomQuery::default()).await {
        Err(ClientError::Api {
            code: ErrorCode::SessionExpired,
            status: 401,
            authenticated: false,
            ..
        }) => {}
        other => panic!("expected session_expired, got {other:?}"),
    }
    assert_eq!(
        fake.handshakes.load(Ordering::SeqCst),
        2,
        "one retry handshake"
    );
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        2,
        "the request went twice"
    );
    assert_eq!(c.handshake_count(), 2);
}

#[tokio::test]
async fn a_bare_431_is_an_api_error_not_tampering() {
    let (fake, addr) = start(Mode::BareHeadersTooLarge).await;
    let c = client(addr).await;
    match c.list_rooms(&RoomQuery::default()).await {
        Err(ClientError::Api {
            code: ErrorCode::HeadersTooLarge,
            status: 431,
            authenticated: false,
            ..
        }) => {}
        other => panic!("expected headers_too_large, got {other:?}"),
    }
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1, "not retried");
}
