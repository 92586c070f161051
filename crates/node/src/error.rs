//! The node's error: one stable API code, a human message, and for 429 and
//! 503 the time after which a retry makes sense.

use core::time::Duration;

use peer_proto::{ApiError, ErrorCode};
use peer_store::{ConflictKind, StoreError};

/// An error of a node use case. Maps one-to-one to an API error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct NodeError {
    /// The stable code (and through it, the HTTP status).
    pub code: ErrorCode,
    /// Human text; names the field for 400s. Never holds a secret.
    pub message: String,
    /// For `rate_limited` and `store_unavailable`: when to retry.
    pub retry_after: Option<Duration>,
}

impl NodeError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        NodeError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a retry delay.
    #[must_use]
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// `invalid_field` naming the field.
    pub fn field(field: &str, problem: impl core::fmt::Display) -> Self {
        NodeError::new(ErrorCode::InvalidField, format!("{field}: {problem}"))
    }

    /// `forbidden` with a reason.
    pub fn forbidden(why: impl Into<String>) -> Self {
        NodeError::new(ErrorCode::Forbidden, why)
    }

    /// `internal`: a bug or an unexpected failure (details go to the log).
    pub fn internal(what: impl Into<String>) -> Self {
        NodeError::new(ErrorCode::Internal, what)
    }

    /// The HTTP status of the code.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The API error body.
    pub fn to_api(&self) -> ApiError {
        ApiError::new(self.code, self.message.clone())
    }
}

impl From<peer_proto::limits::LimitError> for NodeError {
    fn from(e: peer_proto::limits::LimitError) -> Self {
        NodeError::new(ErrorCode::InvalidField, e.to_string())
    }
}

impl From<peer_crypto::Error> for NodeError {
    fn from(e: peer_crypto::Error) -> Self {
        NodeError::new(e.code(), e.to_string())
    }
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => {
                let code = match what {
                    "user" => ErrorCode::UserNotFound,
                    "room" => ErrorCode::RoomNotFound,
                    "message" => ErrorCode::MessageNotFound,
                    "peer" => ErrorCode::PeerNotFound,
                    "member" => ErrorCode::NotMember,
                    "invite" => ErrorCode::InvalidInvite,
                    _ => ErrorCode::NotFound,
                };
                NodeError::new(code, format!("{what} not found"))
            }
            StoreError::Conflict { what } => {
                let (code, msg) = match what {
                    ConflictKind::UserName | ConflictKind::UserId => {
                        (ErrorCode::NameTaken, "name or key already registered")
                    }
                    ConflictKind::RoomId => (ErrorCode::RoomExists, "a room with this id exists"),
                    ConflictKind::Member => (ErrorCode::AlreadyMember, "already a member"),
                    ConflictKind::Banned => (ErrorCode::Banned, "banned from this room"),
                    ConflictKind::Capacity => (ErrorCode::RoomFull, "the room is full"),
                    ConflictKind::CapacityBelowMembers => {
                        (ErrorCode::InvalidField, "capacity: below the member count")
                    }
                    ConflictKind::Epoch => (ErrorCode::WrongEpoch, "the room's epoch changed"),
                    ConflictKind::InviteCode => (ErrorCode::Conflict, "invite code exists"),
                    ConflictKind::InviteExpired => (ErrorCode::InvalidInvite, "invite expired"),
                    ConflictKind::InviteUsedUp => (ErrorCode::InvalidInvite, "invite used up"),
                    ConflictKind::StoreFull => (ErrorCode::Conflict, "the node's store is full"),
                    _ => (ErrorCode::Conflict, "conflicting change; try again"),
                };
                NodeError::new(code, msg)
            }
            StoreError::Unavailable { retry_after, .. } => {
                NodeError::new(ErrorCode::StoreUnavailable, "the store is unavailable")
                    .retry_after(retry_after)
            }
            StoreError::Invalid { field, problem } => {
                NodeError::new(ErrorCode::InvalidField, format!("{field}: {problem}"))
            }
            other => {
                tracing::error!(error = %other, "store error");
                NodeError::internal("storage error")
            }
        }
    }
}

/// Shorthand for node results.
pub type Result<T, E = NodeError> = core::result::Result<T, E>;
