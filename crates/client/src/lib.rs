//! The peergroup client library: one user talking to one node, with every
//! end-to-end step done here and nothing trusted to the node that it need
//! not be trusted with.
//!
//! What it does:
//! - connects to a node over LAN HTTP and pins the node's key on first use
//!   ([`pins`]: a changed key is a hard error, [`ClientError::NodeKeyChanged`]);
//! - registers the user ([`Client::register`]), runs the handshake
//!   (`ecdh-p256` by default, `rsa-oaep` on request, see [`ClientOptions`])
//!   and authenticates every request with a fresh per-request key; every
//!   response must carry a valid `Peer-Auth` ([`ClientError::TamperedResponse`]
//!   otherwise); bodies are sealed on request;
//! - offers each API call of api.md as a typed async method on [`Client`];
//! - encrypts and signs messages, and verifies and decrypts them, reporting
//!   every failure per message ([`ReadMessage`], [`Verification`]);
//! - makes room keys, wraps them for members, rotates them
//!   ([`Client::create_room`], [`Client::distribute_key`], [`Client::rotate`])
//!   and reacts to key requests like an always-on agent
//!   ([`Client::handle_event`]);
//! - follows the user's event stream ([`Client::events`]).
//!
//! What it does not do: store anything on disk besides the pin file (the
//! identity key is the caller's: `IdentityKey::load_pem`/`save_pem`),
//! discover nodes (give it a URL), speak to several nodes at once, or talk
//! node to node.
//!
//! Data flow of one message:
//!
//! ```text
//!  send_text(room, "hi")
//!    keyring: room key of the current epoch ◀── GET /rooms/{id}/keys (envelopes, each
//!    │                                          verified against its distributor's key,
//!    │                                          which is checked against the user id)
//!    EpochKey::encrypt + sign (sender key)
//!    POST /rooms/{id}/messages ── prepare_request (Peer-Session/Key/Seq/Auth, sealed?) ──▶ node
//!    ◀── Peer-Auth verified (status, seq, body) ── Posted { seq }
//!    epoch_outdated? ─▶ refresh keys, encrypt again, post once more
//!
//!  read(room, after, limit)
//!    GET /rooms/{id}/messages ─▶ for each: sender key (GET /users/{id}, cached, id-checked)
//!    ─▶ verify signature ─▶ open ─▶ ReadMessage { text, verified: Verified | Failed + error, ... }
//! ```
//!
//! # Example
//!
//! ```no_run
//! use peer_client::{Client, ClientOptions, PinFile, RoomSettings};
//! use peer_crypto::{IdentityKey, KeySize};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let key = IdentityKey::generate(&mut peer_crypto::rng::system_rng(), KeySize::Rsa2048)?;
//! let pins = PinFile::new("known_nodes");
//! let alice = Client::connect("http://127.0.0.1:8080", key, &pins, ClientOptions::default()).await?;
//! alice.register("alice").await?;
//! let room = alice.create_room(RoomSettings::new("plans")).await?;
//! alice.send_text(room.id, "hello").await?;
//! for m in alice.read(room.id, 0, 100).await? {
//!     println!("{:?} {:?}: {:?}", m.verified, m.sender_name, m.text);
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod api;
pub mod pins;

mod client;
mod directory;
mod error;
mod events;
mod exchange;
mod keyring;
mod messages;
mod options;
mod rooms;

pub use client::Client;
pub use directory::KnownUser;
pub use error::{ClientError, Result};
pub use events::EventStream;
pub use exchange::unauthenticated_codes;
pub use messages::{MessageError, ReadMessage, ReadPage, Verification};
pub use options::{ClientOptions, Clock, SystemClock};
pub use pins::{MemoryPins, Pin, PinError, PinFile, PinStore};
pub use rooms::{AgentAction, RoomSettings};

/// The wire types this client speaks, re-exported for callers.
pub use peer_proto;
