//! The node side of a session: checking request authenticators and
//! authenticating responses.

use std::fmt;
use std::sync::Mutex;

use p256::SecretKey;
use peer_proto::api::Kex;
use peer_proto::bytes::encode_b64;
use peer_proto::id::{SessionId, UserId};
use peer_proto::signed::{RequestTbs, ResponseTbs};
use peer_proto::{canonical, labels};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::headers::{AuthHeaders, KEY_HEADER, SEALED_CONTENT_TYPE};
use super::window::SeqWindow;
use crate::ecdh;
use crate::error::{Error, PeerMisbehaved};
use crate::kdf::{hmac_sha256, hmac_sha256_verify, request_keys, sha256};
use crate::seal::{open, seal};

/// What the node keeps of the key exchange.
pub(crate) enum ServerKex {
    /// The node's ephemeral key of the handshake: the session key.
    Ecdh { eph: SecretKey },
    /// The session secret.
    RsaOaep { secret: Zeroizing<[u8; 32]> },
}

/// An established session, node side. Thread-safe: verification takes
/// `&self`; the sequence window sits behind a mutex.
pub struct ServerSession {
    session_id: SessionId,
    user_id: UserId,
    pub(crate) kex: ServerKex,
    pub(crate) auth_key: Zeroizing<[u8; 32]>,
    expires_at: u64,
    window: Mutex<SeqWindow>,
}

impl fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSession")
            .field("session_id", &self.session_id)
            .field("user_id", &self.user_id)
            .field("kex", &self.kex())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Proof that a request's authenticator verified and its sequence number
/// was fresh; only [`ServerSession::verify_request`] makes one. Holds the
/// (opened) body and what is needed to authenticate the response.
pub struct AuthenticatedRequest {
    session_id: SessionId,
    user_id: UserId,
    body: Vec<u8>,
    responder: Responder,
}

/// Authenticates (and, for sealed requests, seals) the response to one
/// request. Consumed by use.
pub struct Responder {
    seq: u64,
    sealed: bool,
    k_mac: Zeroizing<[u8; 32]>,
    k_resp: Zeroizing<[u8; 32]>,
}

/// Why a request was refused. When its authenticator verified (only the
/// sealed body failed to open), `responder` authenticates the refusal;
/// otherwise the refusal goes out without `Peer-Auth`.
pub struct Rejection {
    /// What failed.
    pub error: Error,
    /// Present when the authenticator verified.
    pub responder: Option<Responder>,
}

impl Rejection {
    fn unverified(e: impl Into<Error>) -> Self {
        Rejection {
            error: e.into(),
            responder: None,
        }
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("error", &self.error)
            .field("authenticated", &self.responder.is_some())
            .finish()
    }
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        r.error
    }
}

/// A response body with its `Peer-Auth` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedResponse {
    /// The `Peer-Auth` header value.
    pub peer_auth: String,
    /// The body on the wire (sealed under `k_resp` when the request was).
    pub body: Vec<u8>,
    /// `Some(SEALED_CONTENT_TYPE)` for a sealed body.
    pub content_type: Option<&'static str>,
}

impl ServerSession {
    pub(crate) fn new(
        session_id: SessionId,
        user_id: UserId,
        kex: ServerKex,
        auth_key: Zeroizing<[u8; 32]>,
        expires_at: u64,
    ) -> Self {
        ServerSession {
            session_id,
            user_id,
            kex,
            auth_key,
            expires_at,
            window: Mutex::new(SeqWindow::new()),
        }
    }

    /// The session id.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The authenticated user (or node).
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The key exchange mode.
    pub fn kex(&self) -> Kex {
        match self.kex {
            ServerKex::Ecdh { .. } => Kex::EcdhP256,
            ServerKex::RsaOaep { .. } => Kex::RsaOaep,
        }
    }

    /// When the session ends (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// True when the session is over at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    /// Verifies one request: [`ServerSession::verify_request_or_reject`]
    /// without the responder of a refusal. `body` is the body as received.
    pub fn verify_request(
        &self,
        headers: &AuthHeaders,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        sealed: bool,
        now: u64,
    ) -> Result<AuthenticatedRequest, Error> {
        self.verify_request_or_reject(headers, method, path_and_query, body, sealed, now)
            .map_err(|r| r.error)
    }

    /// Verifies one request, in this order:
    ///
    /// 1. the headers name this session ([`PeerMisbehaved::BadAuthenticator`]);
    /// 2. the session is not expired at `now` ([`PeerMisbehaved::SessionExpired`]);
    /// 3. `Peer-Key` is present and a valid point in ecdh sessions, absent in
    ///    rsa-oaep ones ([`PeerMisbehaved::MalformedHeader`]);
    /// 4. the HMAC over `(method, path_and_query, seq, SHA-256(body))`, in
    ///    constant time ([`PeerMisbehaved::BadAuthenticator`]);
    /// 5. the sequence number, once, in the 64-wide window
    ///    ([`PeerMisbehaved::ReplayedRequest`]);
    /// 6. when `sealed` (Content-Type [`SEALED_CONTENT_TYPE`]), the body opens
    ///    under `k_req` ([`PeerMisbehaved::Undecryptable`]).
    ///
    /// `body` is the body as received. On failure the [`Rejection`] carries
    /// the [`Responder`] when the authenticator itself verified (a sealed
    /// body that does not open): the answer must then be authenticated.
    pub fn verify_request_or_reject(
        &self,
        headers: &AuthHeaders,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        sealed: bool,
        now: u64,
    ) -> Result<AuthenticatedRequest, Rejection> {
        if headers.session_id != self.session_id {
            return Err(Rejection::unverified(PeerMisbehaved::BadAuthenticator));
        }
        if self.is_expired(now) {
            return Err(Rejection::unverified(PeerMisbehaved::SessionExpired));
        }
        let ikm = match (&self.kex, &headers.key) {
            (ServerKex::Ecdh { eph }, Some(point)) => {
                let request_key = ecdh::parse_point(point, KEY_HEADER).map_err(|_| {
                    Rejection::unverified(PeerMisbehaved::MalformedHeader(KEY_HEADER))
                })?;
                ecdh::shared(eph, &request_key)
            }
            (ServerKex::RsaOaep { secret }, None) => secret.clone(),
            _ => {
                return Err(Rejection::unverified(PeerMisbehaved::MalformedHeader(
                    KEY_HEADER,
                )));
            }
        };
        let keys = request_keys(&ikm, &self.auth_key, self.session_id, headers.seq);
        let body_hash = sha256(body);
        let tbs = canonical(
            labels::REQUEST,
            &RequestTbs {
                method,
                path_and_query,
                seq: headers.seq,
                body_hash: &body_hash,
            },
        )
        .map_err(|e| Rejection {
            error: e.into(),
            responder: None,
        })?;
        if !hmac_sha256_verify(&keys.k_mac, &[&tbs], &headers.auth) {
            return Err(Rejection::unverified(PeerMisbehaved::BadAuthenticator));
        }
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .accept(headers.seq)
            .map_err(Rejection::unverified)?;
        let responder = Responder {
            seq: headers.seq,
            sealed,
            k_mac: Zeroizing::new(keys.k_mac),
            k_resp: Zeroizing::new(keys.k_resp),
        };
        let body = if sealed {
            match open(&keys.k_req, body, b"") {
                Ok(mut plain) => std::mem::take(&mut *plain),
                Err(error) => {
                    // The authenticator verified: the refusal is answered
                    // with an authenticated (and sealed) response.
                    return Err(Rejection {
                        error: error.into(),
                        responder: Some(responder),
                    });
                }
            }
        } else {
            body.to_vec()
        };
        Ok(AuthenticatedRequest {
            session_id: self.session_id,
            user_id: self.user_id,
            body,
            responder,
        })
    }
}

impl AuthenticatedRequest {
    /// The session the request came in.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The authenticated user (or node).
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The request's sequence number.
    pub fn seq(&self) -> u64 {
        self.responder.seq
    }

    /// True when the body came sealed (the response will be sealed too).
    pub fn is_sealed(&self) -> bool {
        self.responder.sealed
    }

    /// The body, opened when it came sealed.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body and the responder, apart.
    pub fn into_parts(self) -> (Vec<u8>, Responder) {
        (self.body, self.responder)
    }

    /// Authenticates the response (see [`Responder::respond`]).
    pub fn respond<R: CryptoRng + ?Sized>(
        self,
        rng: &mut R,
        status: u16,
        body: &[u8],
    ) -> Result<AuthenticatedResponse, Error> {
        self.responder.respond(rng, status, body)
    }
}

impl fmt::Debug for AuthenticatedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedRequest")
            .field("session_id", &self.session_id)
            .field("user_id", &self.user_id)
            .field("seq", &self.responder.seq)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// The sequence number of the request answered.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Seals `body` under `k_resp` when the request was sealed, and computes
    /// `Peer-Auth` = HMAC(k_mac, canonical(RESPONSE, (status, seq,
    /// SHA-256(body on the wire)))).
    pub fn respond<R: CryptoRng + ?Sized>(
        self,
        rng: &mut R,
        status: u16,
        body: &[u8],
    ) -> Result<AuthenticatedResponse, Error> {
        let wire = if self.sealed {
            seal(rng, &self.k_resp, body, b"")
        } else {
            body.to_vec()
        };
        let body_hash = sha256(&wire);
        let tbs = canonical(
            labels::RESPONSE,
            &ResponseTbs {
                status,
                seq: self.seq,
                body_hash: &body_hash,
            },
        )?;
        let tag = hmac_sha256(&self.k_mac, &[&tbs]);
        Ok(AuthenticatedResponse {
            peer_auth: encode_b64(&tag),
            body: wire,
            content_type: self.sealed.then_some(SEALED_CONTENT_TYPE),
        })
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("seq", &self.seq)
            .field("sealed", &self.sealed)
            .finish_non_exhaustive()
    }
}
