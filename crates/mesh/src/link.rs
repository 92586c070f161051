//! A peer session: this node talking to another node, its node key standing
//! in for a user key (protocol.md "Node to node").
//!
//! The first call runs the handshake (`POST /api/v1/handshake`, `ecdh-p256`;
//! the other node accepts it because it stores this node's key: we
//! registered with it, or it registered with us, or we share a store).
//! Every call then carries a per-request authenticator (one ECDH, no RSA),
//! its body sealed, and its answer must carry a valid `Peer-Auth`. An
//! expired session is made again once per call.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use peer_crypto::request::AUTH_HEADER;
use peer_crypto::{ClientSession, IdentityKey, PublicIdentity, handshake};
use peer_http::client::{BaseUrl, HttpClient, Request, TransportError};
use peer_proto::api::{HelloReply, Kex};
use peer_proto::{ErrorBody, ErrorCode, NodeId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::unix_now;

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The peer could not be reached (refused, timed out, broken).
    #[error("peer unreachable: {0}")]
    Unreachable(#[from] TransportError),
    /// The peer answered with an API error.
    #[error("peer refused ({status} {code}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The stable code.
        code: ErrorCode,
        /// Its text.
        message: String,
    },
    /// The answer did not authenticate, or is not what the endpoint
    /// returns.
    #[error("bad answer from the peer: {0}")]
    BadAnswer(String),
}

impl LinkError {
    /// The API code of a refusal.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            LinkError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A session with one peer node. Cheap to share behind an `Arc`.
pub struct PeerLink {
    http: HttpClient,
    base: BaseUrl,
    peer_key: PublicIdentity,
    identity: IdentityKey,
    session: tokio::sync::Mutex<Option<Arc<ClientSession>>>,
}

impl std::fmt::Debug for PeerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerLink")
            .field("peer", &self.peer_key.node_id())
            .field("url", &self.base)
            .finish_non_exhaustive()
    }
}

impl PeerLink {
    /// A link to the node at `base` whose node key is `peer_key`, as the
    /// node holding `identity`.
    pub fn new(
        http: HttpClient,
        base: BaseUrl,
        peer_key: PublicIdentity,
        identity: IdentityKey,
    ) -> PeerLink {
        PeerLink {
            http,
            base,
            peer_key,
            identity,
            session: tokio::sync::Mutex::new(None),
        }
    }

    /// The peer.
    pub fn peer_id(&self) -> NodeId {
        self.peer_key.node_id()
    }

    /// Where it serves.
    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// An authenticated call with a JSON body and a JSON answer.
    pub async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, LinkError> {
        let body = serde_json::to_vec(body)
            .map_err(|_| LinkError::BadAnswer("request body not encodable".into()))?;
        let mut retried = false;
        loop {
            let session = self.session().await?;
            match self.once(&session, &method, path, &body, timeout).await {
                Err(e) if e.code() == Some(ErrorCode::SessionExpired) && !retried => {
                    retried = true;
                    self.forget(&session).await;
                }
                Err(e) => return Err(e),
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes).map_err(|_| {
                        LinkError::BadAnswer("not the JSON this endpoint returns".into())
                    });
                }
            }
        }
    }

    async fn session(&self) -> Result<Arc<ClientSession>, LinkError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref().filter(|s| !s.is_expired(unix_now())) {
            return Ok(s.clone());
        }
        let mut rng = peer_crypto::rng::system_rng();
        let (expect, hello) = handshake::start(
            &mut rng,
            &self.identity,
            self.peer_key.node_id(),
            Kex::EcdhP256,
            unix_now(),
        )
        .map_err(|e| LinkError::BadAnswer(e.to_string()))?;
        let body = serde_json::to_vec(&hello)
            .map_err(|_| LinkError::BadAnswer("hello not encodable".into()))?;
        let req = Request::new(Method::POST, self.base.join("/api/v1/handshake")?)
            .header("content-type", "application/json")
            .body(body);
        let resp = self.http.send(req).await?;
        if !(200..300).contains(&resp.status) {
            return Err(refusal(resp.status, &resp.body));
        }
        let reply: HelloReply = serde_json::from_slice(&resp.body)
            .map_err(|_| LinkError::BadAnswer("not a handshake reply".into()))?;
        let session = expect
            .finish(&mut rng, &reply, &self.peer_key, unix_now())
            .map_err(|e| LinkError::BadAnswer(format!("handshake reply: {e}")))?;
        let session = Arc::new(session);
        *guard = Some(session.clone());
        tracing::debug!(peer = %self.peer_key.node_id(), "peer session established");
        Ok(session)
    }

    async fn forget(&self, session: &Arc<ClientSession>) {
        let mut guard = self.session.lock().await;
        if guard
            .as_ref()
            .is_some_and(|s| s.session_id() == session.session_id())
        {
            *guard = None;
        }
    }

    async fn once(
        &self,
        session: &ClientSession,
        method: &Method,
        path: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, LinkError> {
        let mut rng = peer_crypto::rng::system_rng();
        let prepared = session
            .prepare_request(&mut rng, method.as_str(), path, body, true)
            .map_err(|e| LinkError::BadAnswer(e.to_string()))?;
        let mut req = Request::new(method.clone(), self.base.join(path)?).timeout(timeout);
        for (name, value) in prepared.headers.pairs() {
            req = req.header(name, value);
        }
        if let Some(ct) = prepared.content_type {
            req = req.header("content-type", ct);
        }
        let resp = self.http.send(req.body(prepared.body)).await?;
        let Some(tag) = resp.header(AUTH_HEADER).map(str::to_owned) else {
            // Refused before the authenticator was checked (an unknown or
            // expired session, a limit): the error body is plain JSON.
            return Err(refusal(resp.status, &resp.body));
        };
        let opened = prepared
            .verifier
            .verify(resp.status, Some(&tag), &resp.body)
            .map_err(|_| LinkError::BadAnswer("the answer does not authenticate".into()))?;
        if (200..300).contains(&resp.status) {
            Ok(opened)
        } else {
            Err(refusal(resp.status, &opened))
        }
    }
}

fn refusal(status: u16, body: &[u8]) -> LinkError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => LinkError::Refused {
            status,
            code: error.code,
            message: error.message,
        },
        Err(_) => LinkError::BadAnswer(format!("status {status} without an error body")),
    }
}
