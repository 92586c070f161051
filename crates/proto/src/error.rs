//! Stable error codes and the error body of the HTTP API.
//!
//! Every error response is `{"error": {"code": "...", "message": "..."}}`.
//! The code is API: clients match on it, it never changes meaning. The
//! message is for people and may change.
//!
//! ```
//! use peer_proto::ErrorCode;
//!
//! assert_eq!(ErrorCode::RotationPending.as_str(), "rotation_pending");
//! assert_eq!(ErrorCode::RotationPending.status(), 409);
//! assert_eq!("room_full".parse::<ErrorCode>().unwrap(), ErrorCode::RoomFull);
//! ```

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = ($text:literal, $status:literal),)*) => {
        /// A stable API error code, with its HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in documentation order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable snake_case text of the code.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }

            /// The HTTP status that carries this code.
            pub const fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }
        }

        impl FromStr for ErrorCode {
            type Err = UnknownErrorCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(ErrorCode::$variant),)*
                    _ => Err(UnknownErrorCode),
                }
            }
        }
    };
}

error_codes! {
    // 400
    /// The body is not valid JSON for this endpoint (syntax, a missing or
    /// unknown field, a wrong type); the message names the field.
    InvalidBody = ("invalid_body", 400),
    /// A field's value is out of range or malformed; the message names it.
    InvalidField = ("invalid_field", 400),
    /// A query parameter is malformed or out of range.
    InvalidQuery = ("invalid_query", 400),
    /// A header is malformed (not an authenticator, those answer 401).
    InvalidHeader = ("invalid_header", 400),
    /// A sealed body did not open.
    InvalidSealedBody = ("invalid_sealed_body", 400),
    // 401
    /// No credentials were given where they are required.
    Unauthenticated = ("unauthenticated", 401),
    /// The handshake's protocol version is not supported.
    UnsupportedVersion = ("unsupported_version", 401),
    /// A signed timestamp is outside the freshness window (120 s).
    StaleTimestamp = ("stale_timestamp", 401),
    /// A nonce was already seen: the message is a replay.
    ReplayedNonce = ("replayed_nonce", 401),
    /// The signing key does not belong to a registered user or peer.
    UnknownIdentity = ("unknown_identity", 401),
    /// A signature does not verify.
    BadSignature = ("bad_signature", 401),
    /// The hello or registration names another node.
    WrongNode = ("wrong_node", 401),
    /// The session expired or is unknown: handshake again.
    SessionExpired = ("session_expired", 401),
    /// The request authenticator does not verify.
    BadAuthenticator = ("bad_authenticator", 401),
    /// The request's sequence number was used already or is too old.
    ReplayedRequest = ("replayed_request", 401),
    /// The bearer token is unknown or expired.
    InvalidToken = ("invalid_token", 401),
    // 403
    /// Authenticated, but not allowed to do this.
    Forbidden = ("forbidden", 403),
    /// Only members of the room may do this.
    NotMember = ("not_member", 403),
    /// The user is banned from the room.
    Banned = ("banned", 403),
    /// The node does not accept new registrations.
    RegistrationClosed = ("registration_closed", 403),
    /// The room's password is missing or wrong.
    WrongPassword = ("wrong_password", 403),
    /// The invite code is missing, unknown, expired or used up.
    InvalidInvite = ("invalid_invite", 403),
    /// Bearer tokens are disabled on this node.
    TokensDisabled = ("tokens_disabled", 403),
    // 404
    /// No such route.
    NotFound = ("not_found", 404),
    /// No such user.
    UserNotFound = ("user_not_found", 404),
    /// No such room (or not visible to the caller).
    RoomNotFound = ("room_not_found", 404),
    /// No such message.
    MessageNotFound = ("message_not_found", 404),
    /// No such peer node.
    PeerNotFound = ("peer_not_found", 404),
    // 405
    /// The route exists, the method does not.
    MethodNotAllowed = ("method_not_allowed", 405),
    // 409
    /// The user name is taken (ignoring case).
    NameTaken = ("name_taken", 409),
    /// A room with this id exists already.
    RoomExists = ("room_exists", 409),
    /// The room is at capacity.
    RoomFull = ("room_full", 409),
    /// The user is a member already.
    AlreadyMember = ("already_member", 409),
    /// The key epoch is neither the current one (distribution) nor the next
    /// one (rotation).
    WrongEpoch = ("wrong_epoch", 409),
    /// A message was encrypted under an epoch older than the current one.
    EpochOutdated = ("epoch_outdated", 409),
    /// A member left or was removed: an owner or admin must rotate the room
    /// key before anyone posts.
    RotationPending = ("rotation_pending", 409),
    /// The request conflicts with the current state (another writer won).
    Conflict = ("conflict", 409),
    // 413, 415
    /// The body is larger than the limit.
    BodyTooLarge = ("body_too_large", 413),
    /// The content type is not `application/json` (or the sealed type).
    UnsupportedMediaType = ("unsupported_media_type", 415),
    // 422
    /// A rotation lacks an envelope for some current member, or has one for
    /// a non-member.
    IncompleteEnvelopes = ("incomplete_envelopes", 422),
    /// An envelope's signature, distributor or fields are invalid.
    InvalidEnvelope = ("invalid_envelope", 422),
    // 429, 431
    /// Too many requests; see `Retry-After`.
    RateLimited = ("rate_limited", 429),
    /// Too many event streams for this user.
    TooManyStreams = ("too_many_streams", 429),
    /// The request headers are too large or too many.
    HeadersTooLarge = ("headers_too_large", 431),
    // 5xx
    /// A bug: the node could not complete the request.
    Internal = ("internal", 500),
    /// The store is unreachable; see `Retry-After`.
    StoreUnavailable = ("store_unavailable", 503),
    /// This node follows a main peer that cannot be reached.
    MainPeerUnavailable = ("main_peer_unavailable", 503),
}

/// Text that is not a known error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code")]
pub struct UnknownErrorCode;

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API error: a code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(deny_unknown_fields)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// Human text; not API.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of the code.
    pub fn status(&self) -> u16 {
        self.code.status()
    }
}

/// The JSON body of every error response: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error.
    pub error: ApiError,
}

impl From<ApiError> for ErrorBody {
    fn from(error: ApiError) -> Self {
        ErrorBody { error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert_eq!(s.parse::<ErrorCode>().unwrap(), code);
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{s}\""));
            assert!((400..600).contains(&code.status()));
        }
    }

    #[test]
    fn body_shape() {
        let body = ErrorBody::from(ApiError::new(ErrorCode::RoomFull, "room is full"));
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"error": {"code": "room_full", "message": "room is full"}})
        );
    }
}
