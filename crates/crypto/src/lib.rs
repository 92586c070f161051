//! Cryptography of peergroup (docs/protocol.md), as an I/O-free core.
//!
//! What it does:
//! - [`identity`]: RSA identity keys (users and nodes), self-certifying ids,
//!   RSASSA-PKCS1-v1_5 SHA-256 signatures, RSA-OAEP key transport, and
//!   passphrase-protected identity files ([`identity::export`], PBKDF2 +
//!   `seal`) shared with the browser client;
//! - [`seal`]: `seal`/`open` (AES-256-CBC + HMAC-SHA256, encrypt-then-MAC);
//! - [`handshake`]: the client/node handshake as typestate machines, with
//!   the hello replay cache;
//! - [`request`]: per-request authenticators, sealed bodies, the sequence
//!   window, response authenticators;
//! - [`room`] and [`envelope`]: end-to-end room keys, message encryption and
//!   signatures, key envelopes;
//! - [`register`] and [`peer`]: signed registrations of users and nodes,
//!   leave notices and discovery datagrams.
//!
//! What it does not do: no network I/O, no clock, no storage, no logging.
//! Time comes in as `now` (unix seconds) and randomness as an RNG argument
//! (`rng::system_rng()` in production, a seeded one in tests). The one
//! exception is reading and writing identity key files
//! ([`IdentityKey::save_pem`], [`IdentityKey::load_pem`]).
//!
//! Data flow of a session:
//!
//! ```text
//!  IdentityKey (user)           Hello            IdentityKey (node)
//!  handshake::start ─────────────────────────▶ handshake::verify_hello ─▶ VerifiedHello
//!        │ ExpectReply          HelloReply              │ respond
//!        ▼ finish  ◀────────────────────────────────────┘
//!  ClientSession                                        ServerSession
//!  prepare_request ── Peer-* headers + body ──▶ AuthHeaders::parse → verify_request
//!        │ ResponseVerifier                             │ AuthenticatedRequest
//!        ▼ verify  ◀────── Peer-Auth + body ─────────── respond
//! ```
//!
//! Errors are grouped by blame ([`Error`]) and each maps to a stable
//! `peer_proto::ErrorCode` with [`Error::code`]. No secret appears in any
//! error or `Debug` output.
//!
//! # Example
//!
//! A node key standing in for a user key (as nodes do with each other), so
//! the example makes a single RSA key:
//!
//! ```
//! use peer_crypto::{handshake, IdentityKey, KeySize, ReplayCache};
//! use peer_crypto::request::AuthHeaders;
//! use peer_proto::api::Kex;
//!
//! let mut rng = peer_crypto::rng::system_rng();
//! let now = 1_700_000_000;
//! let node = IdentityKey::generate(&mut rng, KeySize::Rsa2048)?;
//!
//! // Client: hello.
//! let (expect, hello) = handshake::start(&mut rng, &node, node.node_id(), Kex::EcdhP256, now)?;
//! // Node: check it (the caller looked up the key registered for hello.user_id).
//! let replay = ReplayCache::default();
//! let verified = handshake::verify_hello(&hello, node.public(), node.node_id(), &replay, now)?;
//! let (reply, server) = verified.respond(&mut rng, &node, now, 3600)?;
//! // Client: check the reply against the node key it trusts.
//! let client = expect.finish(&mut rng, &reply, node.public(), now)?;
//!
//! // One sealed request and its response.
//! let req = client.prepare_request(&mut rng, "POST", "/api/v1/rooms", b"{}", true)?;
//! let h = &req.headers;
//! let parsed = AuthHeaders::parse(&h.session, h.key.as_deref(), &h.seq, &h.auth)?;
//! let authed = server.verify_request(&parsed, "POST", "/api/v1/rooms", &req.body, true, now)?;
//! assert_eq!(authed.body(), b"{}");
//! let resp = authed.respond(&mut rng, 201, b"{\"ok\":true}")?;
//! let body = req.verifier.verify(201, Some(&resp.peer_auth), &resp.body)?;
//! assert_eq!(body, b"{\"ok\":true}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod envelope;
pub mod error;
pub mod handshake;
pub mod identity;
pub mod kdf;
pub mod peer;
pub mod register;
pub mod request;
pub mod rng;
pub mod room;
pub mod seal;

mod ecdh;
mod signing;

#[cfg(test)]
mod vectors;

pub use ecdh::POINT_LEN;
pub use envelope::{VerifiedEnvelope, verify_envelope, wrap_envelope};
pub use error::{
    ApiMisuse, Error, IdentityFileError, Incompatible, KeyFileError, LocalError, PeerMisbehaved,
};
pub use handshake::{ExpectReply, ReplayCache, VerifiedHello};
pub use identity::export::{IdentityFileInfo, Passphrase, inspect_identity_file};
pub use identity::{IdentityKey, KeySize, PublicIdentity, check_pinned};
pub use request::{
    AuthenticatedRequest, ClientSession, PreparedRequest, ResponseVerifier, SEALED_CONTENT_TYPE,
    ServerSession,
};
pub use room::{EpochKey, RoomKey, SealedMessage};
pub use signing::check_fresh;
