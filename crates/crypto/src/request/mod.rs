//! Per-request authentication inside a session ("the next ECDH key for every
//! request").
//!
//! ```text
//! client (ClientSession)                         node (ServerSession)
//! prepare_request(rng, method, target, body, sealed)
//!   seq   = next (1, 2, ...)                     AuthHeaders::parse(headers)
//!   ecdh: fresh key r; ikm = ECDH(r, server_eph)   ecdh: ikm = ECDH(server_eph_secret, Peer-Key)
//!   rsa:  ikm = session_secret                     rsa:  ikm = session_secret
//!   k_mac‖k_req‖k_resp = HKDF(ikm, auth_key, "peergroup/request-keys/v1"‖session_id‖seq BE)
//!   body' = sealed ? seal(k_req, body, "") : body
//!   Peer-Auth = HMAC(k_mac, canonical(REQUEST, (method, target, seq, SHA-256(body'))))
//!   ------------- headers + body' ------------>  verify_request: HMAC (constant time), then the
//!                                                 seq window, then open -> AuthenticatedRequest
//!   <-------- Peer-Auth + body'' --------------  respond(status, body): body'' = sealed ? seal(k_resp, ..) : body
//!   ResponseVerifier::verify(status, Peer-Auth, body'')   Peer-Auth = HMAC(k_mac, canonical(RESPONSE, (status, seq, SHA-256(body''))))
//! ```

mod client;
mod headers;
mod server;
mod window;

pub(crate) use client::ClientKex;
pub use client::{ClientSession, PreparedRequest, ResponseVerifier};
pub use headers::{
    AUTH_HEADER, AuthHeaders, KEY_HEADER, RequestHeaders, SEALED_CONTENT_TYPE, SEQ_HEADER,
    SESSION_HEADER,
};
pub(crate) use server::ServerKex;
pub use server::{
    AuthenticatedRequest, AuthenticatedResponse, Rejection, Responder, ServerSession,
};
pub use window::SeqWindow;
