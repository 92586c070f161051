//! The error every [`Store`](crate::Store) method returns.
//!
//! Backends map their own failures onto [`StoreError`] at the trait boundary,
//! so the node maps one type to API codes: `NotFound` to 404, `Conflict` to
//! 409 (its [`ConflictKind`] picks the exact code), `Unavailable` to 503 with
//! `Retry-After`, `Invalid` to 400 and `Internal` to 500. The `Display` text
//! is for logs and people, not API: match on the variant or on
//! [`StoreError::kind`]. No message ever carries document contents, names,
//! keys or password hashes.

use core::fmt;
use core::time::Duration;

/// What a [`StoreError::Conflict`] collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConflictKind {
    /// A user with this id exists.
    UserId,
    /// A user with this name, ignoring case, exists.
    UserName,
    /// A room with this id exists.
    RoomId,
    /// The user is already a member of the room.
    Member,
    /// The user is banned from the room.
    Banned,
    /// The room is full: its member count reached its capacity.
    Capacity,
    /// The new capacity is below the current member count.
    CapacityBelowMembers,
    /// Another writer changed the room since the caller read it (the
    /// expected `version` did not match).
    Version,
    /// The room's key epoch is not the one the caller expected.
    Epoch,
    /// An invite with this code exists in the room.
    InviteCode,
    /// The invite has expired.
    InviteExpired,
    /// The invite has no uses left.
    InviteUsedUp,
    /// A key envelope for this (room, epoch, member) exists.
    Envelope,
    /// A message with this sequence number exists (a backend bug or a
    /// concurrent writer that bypassed the sequence counter).
    MessageSeq,
    /// The backend's configured bound on rooms or users is reached.
    StoreFull,
    /// A unique index the backend did not name.
    Other,
}

impl ConflictKind {
    /// A short stable snake_case name, for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConflictKind::UserId => "user_id",
            ConflictKind::UserName => "user_name",
            ConflictKind::RoomId => "room_id",
            ConflictKind::Member => "member",
            ConflictKind::Banned => "banned",
            ConflictKind::Capacity => "capacity",
            ConflictKind::CapacityBelowMembers => "capacity_below_members",
            ConflictKind::Version => "version",
            ConflictKind::Epoch => "epoch",
            ConflictKind::InviteCode => "invite_code",
            ConflictKind::InviteExpired => "invite_expired",
            ConflictKind::InviteUsedUp => "invite_used_up",
            ConflictKind::Envelope => "envelope",
            ConflictKind::MessageSeq => "message_seq",
            ConflictKind::StoreFull => "store_full",
            ConflictKind::Other => "other",
        }
    }
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong in a store, by who can act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The room, user, member, invite, message, envelope or peer does not
    /// exist. `what` names the kind of thing (`"room"`, `"user"`, ...).
    #[error("{what} not found")]
    NotFound {
        /// The kind of thing that was looked for.
        what: &'static str,
    },
    /// The operation collides with the stored state; retrying the same
    /// request gives the same answer until that state changes.
    #[error("conflict: {what}")]
    Conflict {
        /// What it collided with.
        what: ConflictKind,
    },
    /// The backend cannot be reached or cannot answer now; the same request
    /// may succeed later. Whether a write that failed this way was applied
    /// is unknown, except where a method documents otherwise.
    #[error("store unavailable: {reason}")]
    Unavailable {
        /// A hint for `Retry-After`.
        retry_after: Duration,
        /// Why, in words (no document contents).
        reason: String,
    },
    /// The caller passed a value the store refuses (a malformed cursor, a
    /// limit of 0, a number too large for the backend, mismatched ids).
    #[error("invalid {field}: {problem}")]
    Invalid {
        /// The argument or field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A bug or corrupted data: nothing the caller can fix.
    #[error("store internal error: {0}")]
    Internal(String),
}

/// The kind of a [`StoreError`], without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// [`StoreError::NotFound`].
    NotFound,
    /// [`StoreError::Conflict`].
    Conflict,
    /// [`StoreError::Unavailable`].
    Unavailable,
    /// [`StoreError::Invalid`].
    Invalid,
    /// [`StoreError::Internal`].
    Internal,
}

impl StoreError {
    /// The default `retry_after` hint of [`StoreError::Unavailable`].
    pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

    /// A `NotFound` for this kind of thing.
    pub const fn not_found(what: &'static str) -> Self {
        StoreError::NotFound { what }
    }

    /// A `Conflict` on this.
    pub const fn conflict(what: ConflictKind) -> Self {
        StoreError::Conflict { what }
    }

    /// An `Unavailable` with the default retry hint.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        StoreError::Unavailable {
            retry_after: Self::DEFAULT_RETRY_AFTER,
            reason: reason.into(),
        }
    }

    /// An `Invalid` argument.
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        StoreError::Invalid {
            field,
            problem: problem.into(),
        }
    }

    /// An `Internal` error.
    pub fn internal(message: impl Into<String>) -> Self {
        StoreError::Internal(message.into())
    }

    /// The variant, without details.
    pub const fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::NotFound { .. } => StoreErrorKind::NotFound,
            StoreError::Conflict { .. } => StoreErrorKind::Conflict,
            StoreError::Unavailable { .. } => StoreErrorKind::Unavailable,
            StoreError::Invalid { .. } => StoreErrorKind::Invalid,
            StoreError::Internal(_) => StoreErrorKind::Internal,
        }
    }

    /// True when the same call may succeed later without any change by the
    /// caller (only `Unavailable`).
    pub const fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// The conflict's kind, when this is a `Conflict`.
    pub const fn conflict_kind(&self) -> Option<ConflictKind> {
        match self {
            StoreError::Conflict { what } => Some(*what),
            _ => None,
        }
    }

    /// The `Retry-After` hint, when this is `Unavailable`.
    pub const fn retry_after(&self) -> Option<Duration> {
        match self {
            StoreError::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// True for `NotFound`.
    pub const fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        let e = StoreError::conflict(ConflictKind::Capacity);
        assert_eq!(e.kind(), StoreErrorKind::Conflict);
        assert_eq!(e.conflict_kind(), Some(ConflictKind::Capacity));
        assert!(!e.is_retryable());
        assert_eq!(e.to_string(), "conflict: capacity");
        let u = StoreError::unavailable("no server");
        assert!(u.is_retryable());
        assert_eq!(u.retry_after(), Some(Duration::from_secs(1)));
        assert!(StoreError::not_found("room").is_not_found());
        assert_eq!(StoreError::not_found("room").to_string(), "room not found");
    }
}
