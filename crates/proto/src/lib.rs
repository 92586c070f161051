//! Wire types of peergroup.
//!
//! `peer-proto` holds everything two peergroup programs must agree on byte for
//! byte, and nothing else:
//!
//! - [`id`]: the 16-byte identifiers (users, nodes, rooms, sessions,
//!   messages), printed as 22-character base64url;
//! - [`bytes`]: binary fields, base64url without padding in JSON and raw
//!   bytes in postcard;
//! - [`canonical()`]: the single function through which every signed or MACed
//!   value is encoded, and the [`signed`] tuples it encodes;
//! - [`api`]: every JSON request and response body of the HTTP API;
//! - [`error`]: the stable error codes with their HTTP status;
//! - [`event`]: the events pushed to clients and between nodes;
//! - [`discovery`]: the UDP multicast datagram;
//! - [`limits`]: the default limits of the API, and validation of names.
//!
//! It does no I/O and no cryptography: it reads no clock, opens no socket and
//! computes no hash. `peer-crypto` signs and verifies what this crate encodes.
//!
//! ```
//! use peer_proto::id::RoomId;
//!
//! let id = RoomId::from_bytes([7; 16]);
//! let text = id.to_string();
//! assert_eq!(text.len(), 22);
//! assert_eq!(text.parse::<RoomId>().unwrap(), id);
//! ```

#![forbid(unsafe_code)]

pub mod api;
pub mod bytes;
pub mod canonical;
pub mod discovery;
pub mod error;
pub mod event;
pub mod id;
pub mod labels;
pub mod limits;
pub mod signed;

pub use bytes::{Bytes, Bytes32};
pub use canonical::{CanonicalError, canonical};
pub use error::{ApiError, ErrorBody, ErrorCode};
pub use id::{MessageId, NodeId, RoomId, SessionId, UserId};

/// The protocol version this crate implements (protocol.md "v1").
pub const PROTOCOL_VERSION: u16 = 1;
