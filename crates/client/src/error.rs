//! Errors of the client. The variant (and for API errors the stable
//! [`ErrorCode`]) is what callers match on; `Display` is for people. No
//! error holds a key, a token, a password or message text.

use std::time::Duration;

use peer_http::client::{BaseUrl, TransportError};
use peer_proto::{ErrorCode, NodeId, RoomId, UserId};

use crate::pins::PinError;

/// Any failure of a client call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The node answered with an API error.
    #[error("{code} ({status}): {message}")]
    Api {
        /// The stable code.
        code: ErrorCode,
        /// The node's human text (not API).
        message: String,
        /// The HTTP status.
        status: u16,
        /// `Retry-After`, for `rate_limited` and `store_unavailable`.
        retry_after: Option<Duration>,
        /// False when the answer came without a response authenticator,
        /// which the node does only for errors it meets before it can
        /// authenticate (an expired session, a refused authenticator, a
        /// limit): a relay could have forged such an answer.
        authenticated: bool,
    },
    /// The HTTP transport failed (connect, timeout, size, framing).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A cryptographic check or operation failed (a handshake reply that
    /// does not verify, a key that does not unwrap, ...).
    #[error(transparent)]
    Crypto(#[from] peer_crypto::Error),
    /// A response to an authenticated request has no valid `Peer-Auth`
    /// (or its sealed body does not open): something between the client and
    /// the node changed it. Never retried, never ignored.
    #[error("response to {method} {path} failed authentication (status {status})")]
    TamperedResponse {
        /// The request method.
        method: String,
        /// The request path (without the query).
        path: String,
        /// The status of the rejected response.
        status: u16,
    },
    /// The node at `url` presents another key than the one pinned for that
    /// URL or node id: a hard error, never re-pinned silently. Remove the
    /// pin by hand only if the node's key really changed.
    #[error("node key changed for {url} (pinned node {pinned}, presented node {presented})")]
    NodeKeyChanged {
        /// The node's URL.
        url: BaseUrl,
        /// The node id pinned for it.
        pinned: NodeId,
        /// The node id it presents now.
        presented: NodeId,
    },
    /// The node's self-description is inconsistent (its id is not the hash
    /// of its key, or its key is unusable).
    #[error("node at {url} describes itself inconsistently: {problem}")]
    BadNodeInfo {
        /// The node's URL.
        url: BaseUrl,
        /// What is wrong.
        problem: &'static str,
    },
    /// Reading or writing the pin store failed.
    #[error(transparent)]
    Pins(#[from] PinError),
    /// A response body is not what the endpoint returns (named, never
    /// quoted).
    #[error("invalid response from the node: {0}")]
    InvalidResponse(&'static str),
    /// A user's registered key does not hash to the user's id: the node
    /// served a key that is not that user's.
    #[error("the key served for user {0} does not match the id")]
    UserKeyMismatch(UserId),
    /// No key of `epoch` for the room is available to this user (not yet
    /// distributed, or the user joined later).
    #[error("no key for room {room} at epoch {epoch}")]
    NoRoomKey {
        /// The room.
        room: RoomId,
        /// The epoch.
        epoch: u32,
    },
    /// A key envelope for this user failed verification (bad signature, or
    /// addressed to another room, epoch or member).
    #[error("invalid key envelope for room {room} at epoch {epoch}")]
    InvalidEnvelope {
        /// The room.
        room: RoomId,
        /// The epoch.
        epoch: u32,
    },
    /// The user is not a current member of the room (a key is handed only
    /// to current members, as the room's member list says).
    #[error("user {user} is not a member of room {room}")]
    NotAMember {
        /// The room.
        room: RoomId,
        /// The user.
        user: UserId,
    },
    /// The operation needs an encrypted room.
    #[error("room {0} is not encrypted")]
    NotEncrypted(RoomId),
    /// An argument is invalid before anything is sent (named).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl ClientError {
    /// The API error code, for [`ClientError::Api`].
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for an API error with this code.
    pub fn is_api(&self, code: ErrorCode) -> bool {
        self.code() == Some(code)
    }
}

/// Shorthand for client results.
pub type Result<T, E = ClientError> = core::result::Result<T, E>;
