//! The client side of a session: request authenticators and the one-shot
//! response check.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use p256::{PublicKey, SecretKey};
use peer_proto::api::Kex;
use peer_proto::bytes::{decode_b64, encode_b64};
use peer_proto::id::{NodeId, SessionId, UserId};
use peer_proto::signed::{RequestTbs, ResponseTbs};
use peer_proto::{canonical, labels};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::headers::{RequestHeaders, SEALED_CONTENT_TYPE};
use crate::ecdh;
use crate::error::{ApiMisuse, Error, PeerMisbehaved};
use crate::kdf::{hmac_sha256, hmac_sha256_verify, request_keys, sha256};
use crate::seal::{open, seal};

/// What the client keeps of the key exchange.
pub(crate) enum ClientKex {
    /// The node's session key (its handshake ephemeral).
    Ecdh { server_eph: PublicKey },
    /// The session secret.
    RsaOaep { secret: Zeroizing<[u8; 32]> },
}

/// An established session, client side. Thread-safe: sequence numbers are
/// allocated atomically from `&self`, the first being 1.
pub struct ClientSession {
    session_id: SessionId,
    node_id: NodeId,
    user_id: UserId,
    kex: ClientKex,
    pub(crate) auth_key: Zeroizing<[u8; 32]>,
    expires_at: u64,
    next_seq: AtomicU64,
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("session_id", &self.session_id)
            .field("node_id", &self.node_id)
            .field("kex", &self.kex())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A request ready to send: headers, the body as it goes on the wire, and
/// the check for its response.
#[derive(Debug)]
pub struct PreparedRequest {
    /// `Peer-Session`, `Peer-Key` (ecdh), `Peer-Seq`, `Peer-Auth`.
    pub headers: RequestHeaders,
    /// The body on the wire (sealed under `k_req` when asked).
    pub body: Vec<u8>,
    /// `Some(SEALED_CONTENT_TYPE)` for a sealed body; otherwise the caller
    /// sets its own (JSON).
    pub content_type: Option<&'static str>,
    /// Checks the response to this request, once.
    pub verifier: ResponseVerifier,
}

/// Checks one response: its `Peer-Auth` in constant time, then opens a
/// sealed body. Consumed by use.
pub struct ResponseVerifier {
    seq: u64,
    sealed: bool,
    k_mac: Zeroizing<[u8; 32]>,
    k_resp: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for ResponseVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseVerifier")
            .field("seq", &self.seq)
            .field("sealed", &self.sealed)
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    pub(crate) fn new(
        session_id: SessionId,
        node_id: NodeId,
        user_id: UserId,
        kex: ClientKex,
        auth_key: Zeroizing<[u8; 32]>,
        expires_at: u64,
    ) -> Self {
        ClientSession {
            session_id,
            node_id,
            user_id,
            kex,
            auth_key,
            expires_at,
            next_seq: AtomicU64::new(1),
        }
    }

    /// The session id (`Peer-Session`).
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The node serving the session.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The user (or node) who opened it.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The key exchange mode.
    pub fn kex(&self) -> Kex {
        match self.kex {
            ClientKex::Ecdh { .. } => Kex::EcdhP256,
            ClientKex::RsaOaep { .. } => Kex::RsaOaep,
        }
    }

    /// When the session ends (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// True when the session is over at `now`: handshake again.
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    /// Builds the authenticator of one request and, when `sealed`, seals its
    /// body under `k_req`. `method` is the upper-case HTTP method and
    /// `path_and_query` the request target exactly as sent.
    pub fn prepare_request<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        sealed: bool,
    ) -> Result<PreparedRequest, Error> {
        let request_key = match self.kex {
            ClientKex::Ecdh { .. } => Some(ecdh::generate(rng)),
            ClientKex::RsaOaep { .. } => None,
        };
        self.prepare_with(rng, request_key, method, path_and_query, body, sealed)
    }

    /// [`prepare_request`](Self::prepare_request) with a given request key
    /// (test vectors).
    pub(crate) fn prepare_with<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        request_key: Option<SecretKey>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        sealed: bool,
    ) -> Result<PreparedRequest, Error> {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ApiMisuse::InvalidMethod.into());
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        if seq == 0 || seq == u64::MAX {
            return Err(ApiMisuse::SequenceExhausted.into());
        }
        let (ikm, key_header) = match (&self.kex, &request_key) {
            (ClientKex::Ecdh { server_eph }, Some(k)) => (
                ecdh::shared(k, server_eph),
                Some(encode_b64(&ecdh::encode_point(&k.public_key()))),
            ),
            (ClientKex::RsaOaep { secret }, None) => (secret.clone(), None),
            _ => return Err(ApiMisuse::WrongKexKey.into()),
        };
        let keys = request_keys(&ikm, &self.auth_key, self.session_id, seq);
        let wire = if sealed {
            seal(rng, &keys.k_req, body, b"")
        } else {
            body.to_vec()
        };
        let body_hash = sha256(&wire);
        let tbs = canonical(
            labels::REQUEST,
            &RequestTbs {
                method,
                path_and_query,
                seq,
                body_hash: &body_hash,
            },
        )?;
        let tag = hmac_sha256(&keys.k_mac, &[&tbs]);
        Ok(PreparedRequest {
            headers: RequestHeaders {
                session: self.session_id.to_string(),
                key: key_header,
                seq: seq.to_string(),
                auth: encode_b64(&tag),
            },
            body: wire,
            content_type: sealed.then_some(SEALED_CONTENT_TYPE),
            verifier: ResponseVerifier {
                seq,
                sealed,
                k_mac: Zeroizing::new(keys.k_mac),
                k_resp: Zeroizing::new(keys.k_resp),
            },
        })
    }
}

impl ResponseVerifier {
    /// The sequence number of the request this verifier belongs to.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// True when the request was sealed (so the response is too).
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Checks a response: `peer_auth` is its `Peer-Auth` header and `body`
    /// the bytes on the wire. Returns the body, opened when the request was
    /// sealed.
    ///
    /// A response without `Peer-Auth` is
    /// [`PeerMisbehaved::UnauthenticatedResponse`]: only a 401 rejecting the
    /// authenticator (or a failure before authentication) comes without one,
    /// and the caller may read its error code knowing that a relay could have
    /// forged it.
    pub fn verify(
        self,
        status: u16,
        peer_auth: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let peer_auth = peer_auth.ok_or(PeerMisbehaved::UnauthenticatedResponse)?;
        // 43 characters of base64url hold 32 bytes; refuse anything else
        // before decoding.
        if peer_auth.len() != 43 {
            return Err(PeerMisbehaved::BadAuthenticator.into());
        }
        let tag = decode_b64(peer_auth).map_err(|_| PeerMisbehaved::BadAuthenticator)?;
        let body_hash = sha256(body);
        let tbs = canonical(
            labels::RESPONSE,
            &ResponseTbs {
                status,
                seq: self.seq,
                body_hash: &body_hash,
            },
        )?;
        if !hmac_sha256_verify(&self.k_mac, &[&tbs], &tag) {
            return Err(PeerMisbehaved::BadAuthenticator.into());
        }
        if self.sealed {
            let mut plain = open(&self.k_resp, body, b"")?;
            Ok(std::mem::take(&mut *plain))
        } else {
            Ok(body.to_vec())
        }
    }
}
