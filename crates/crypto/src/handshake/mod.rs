//! The handshake (client -> serving node) as explicit state machines, with
//! no I/O: time comes in as `now` (unix seconds), randomness as an RNG.
//!
//! ```text
//! client                                              node
//! ------                                              ----
//! start(rng, user_key, node_id, kex, now)
//!   -> (ExpectReply, Hello) ---------- Hello ------->  verify_hello(&hello, &user_pub, our_id, &replay, now)
//!                                                        -> VerifiedHello (proof)
//!                                                      VerifiedHello::respond(rng, node_key, now, ttl)
//!      <------------------------- HelloReply --------    -> (HelloReply, ServerSession)
//! ExpectReply::finish(rng, &reply, &trusted_node, now)
//!   -> ClientSession
//! ```
//!
//! Each phase consumes itself: a failed phase leaves nothing to retry with
//! (failures are sticky), and a [`VerifiedHello`] can only be made by
//! [`verify_hello`].
//!
//! Key exchange (`Kex`):
//! - `ecdh-p256` (default): ikm = ECDH(client_eph, server_eph); the node's
//!   ephemeral key then serves every request of the session, each request
//!   bringing a fresh client key (forward secrecy per request).
//! - `rsa-oaep`: the node picks a 32-byte `session_secret` and wraps it to the
//!   user's key with RSA-OAEP; ikm = session_secret. No forward secrecy. The
//!   wrapped secret travels in the `server_eph` slot of the signed reply
//!   tuple (a deviation from the design, see docs/protocol.md).
//!
//! Then, in both modes:
//! ```text
//! th        = SHA-256(canonical(HELLO, HelloTbs) ‖ hello.signature ‖ postcard(ReplyParams))
//! k_token   = HKDF(ikm, salt = client_nonce ‖ server_nonce, info = "peergroup/session/v1" ‖ th)
//! reply.sealed_auth_key = seal(k_token, auth_key, aad = session_id)
//! reply.node_signature  = sign(node_key, canonical(REPLY, ReplyTbs{th, session_id, server_eph, server_nonce, expires_at}))
//! ```

mod client;
mod replay;
mod server;

pub use client::{ExpectReply, start};
pub use replay::{DEFAULT_REPLAY_CAPACITY, ReplayCache};
pub use server::{VerifiedHello, verify_hello};

use peer_proto::id::SessionId;
use peer_proto::signed::ReplyParams;

use crate::error::Error;
use crate::kdf::sha256_parts;

/// The transcript hash `th`.
pub(crate) fn transcript_hash(
    hello_signed: &[u8],
    hello_signature: &[u8],
    session_id: SessionId,
    server_eph: &[u8],
    server_nonce: &[u8; 32],
    expires_at: u64,
) -> Result<[u8; 32], Error> {
    let params = peer_proto::canonical::postcard_bytes(&ReplyParams {
        session_id,
        server_eph: Some(server_eph),
        server_nonce,
        expires_at,
    })?;
    Ok(sha256_parts(&[hello_signed, hello_signature, &params]))
}
