//! The default limits of the API (api.md, "Limits"), and the checks of names
//! and sizes that every implementation applies the same way. Nodes may be
//! configured with other values; these are the defaults.
//!
//! ```
//! use peer_proto::limits::{check_user_name, check_room_name};
//!
//! assert!(check_user_name("alice_01").is_ok());
//! assert!(check_user_name("al ice").is_err());
//! assert!(check_room_name("Café ☕").is_ok());
//! ```

use core::time::Duration;

/// Largest request body (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest request header block (16 KiB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most request headers.
pub const MAX_HEADERS: usize = 64;
/// Largest message ciphertext (64 KiB), and largest plain text in
/// unencrypted rooms.
pub const MAX_CIPHERTEXT_BYTES: usize = 64 * 1024;
/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 64;
/// Longest room topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 512;
/// Shortest user name.
pub const MIN_USER_NAME_CHARS: usize = 1;
/// Longest user name.
pub const MAX_USER_NAME_CHARS: usize = 32;
/// Smallest room capacity.
pub const MIN_CAPACITY: u32 = 2;
/// Largest room capacity.
pub const MAX_CAPACITY: u32 = 10_000;
/// Room capacity when none is given.
pub const DEFAULT_CAPACITY: u32 = 256;
/// Longest room password, in bytes (argon2 input stays bounded).
pub const MAX_PASSWORD_BYTES: usize = 256;
/// Time allowed to read the request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle keep-alive connections are closed after this.
pub const IDLE_KEEP_ALIVE: Duration = Duration::from_secs(60);
/// Event streams one user may hold open on a node.
pub const MAX_EVENT_STREAMS_PER_USER: usize = 16;
/// Requests per second per session (sustained).
pub const SESSION_RATE_PER_SEC: u32 = 50;
/// Requests per session in a burst.
pub const SESSION_RATE_BURST: u32 = 200;
/// Handshakes per second per source IP.
pub const HANDSHAKES_PER_IP_PER_SEC: u32 = 10;
/// Default page size of lists.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// Largest page size of lists.
pub const MAX_PAGE_LIMIT: u32 = 500;
/// Longest long-poll wait, in seconds.
pub const MAX_WAIT_SECS: u32 = 60;
/// Envelopes in one `POST /keys` (one per member at most).
pub const MAX_ENVELOPES: usize = MAX_CAPACITY as usize;
/// Events in one notify push.
pub const MAX_NOTIFY_EVENTS: usize = 1000;
/// Signed timestamps further than this from the receiver's clock are stale.
pub const FRESHNESS_SECS: u64 = 120;
/// Hello nonces are remembered this long.
pub const NONCE_MEMORY_SECS: u64 = 300;
/// Width of the per-session request sequence window.
pub const SEQ_WINDOW: u64 = 64;
/// Idle session lifetime.
pub const SESSION_IDLE: Duration = Duration::from_secs(3600);
/// Absolute session lifetime.
pub const SESSION_MAX: Duration = Duration::from_secs(24 * 3600);
/// Default bearer token lifetime.
pub const TOKEN_DEFAULT_TTL_SECS: u64 = 3600;
/// Longest bearer token lifetime.
pub const TOKEN_MAX_TTL_SECS: u64 = 24 * 3600;
/// Largest RSA identity key accepted, in bits.
pub const MAX_RSA_BITS: usize = 4096;
/// Smallest RSA identity key accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A value outside its limit. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct LimitError {
    /// The field, as named in the JSON body.
    pub field: &'static str,
    /// What is wrong, in words.
    pub problem: String,
}

impl LimitError {
    /// A problem with a field.
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        LimitError {
            field,
            problem: problem.into(),
        }
    }
}

/// A user name: 1-32 of `[A-Za-z0-9_.-]`.
pub fn check_user_name(name: &str) -> Result<(), LimitError> {
    let n = name.len();
    if !(MIN_USER_NAME_CHARS..=MAX_USER_NAME_CHARS).contains(&n) {
        return Err(LimitError::new(
            "name",
            format!("must be {MIN_USER_NAME_CHARS}-{MAX_USER_NAME_CHARS} characters"),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(LimitError::new(
            "name",
            "may contain only letters, digits, '_', '.' and '-'",
        ));
    }
    Ok(())
}

/// The form of a user name that uniqueness is checked on (ASCII lower case;
/// user names are ASCII).
pub fn fold_user_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A room name: 1-64 characters, no control characters.
pub fn check_room_name(name: &str) -> Result<(), LimitError> {
    check_text("name", name, 1, MAX_ROOM_NAME_CHARS, false)
}

/// A room topic: at most 512 characters, no control characters but newline.
pub fn check_topic(topic: &str) -> Result<(), LimitError> {
    check_text("topic", topic, 0, MAX_TOPIC_CHARS, true)
}

/// A room capacity: 2-10,000.
pub fn check_capacity(capacity: u32) -> Result<(), LimitError> {
    if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return Err(LimitError::new(
            "capacity",
            format!("must be {MIN_CAPACITY}-{MAX_CAPACITY}"),
        ));
    }
    Ok(())
}

/// A room password: 1-256 bytes.
pub fn check_password(password: &str) -> Result<(), LimitError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(LimitError::new(
            "password",
            format!("must be 1-{MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// A page size: 1-500.
pub fn check_page_limit(limit: u32) -> Result<(), LimitError> {
    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(LimitError::new(
            "limit",
            format!("must be 1-{MAX_PAGE_LIMIT}"),
        ));
    }
    Ok(())
}

fn check_text(
    field: &'static str,
    text: &str,
    min: usize,
    max: usize,
    newlines: bool,
) -> Result<(), LimitError> {
    let n = text.chars().count();
    if n < min || n > max {
        return Err(LimitError::new(
            field,
            format!("must be {min}-{max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(newlines && c == '\n'))
    {
        return Err(LimitError::new(
            field,
            "must not contain control characters",
        ));
    }
    if min > 0 && text.trim().is_empty() {
        return Err(LimitError::new(field, "must not be blank"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        assert!(check_user_name("a").is_ok());
        assert!(check_user_name(&"a".repeat(32)).is_ok());
        assert!(check_user_name(&"a".repeat(33)).is_err());
        assert!(check_user_name("").is_err());
        assert!(check_user_name("Zoë").is_err());
        assert!(check_user_name("a/b").is_err());
        assert_eq!(fold_user_name("AliCE"), "alice");
    }

    #[test]
    fn room_names_count_characters_not_bytes() {
        assert!(check_room_name(&"é".repeat(64)).is_ok());
        assert!(check_room_name(&"é".repeat(65)).is_err());
        assert!(check_room_name("").is_err());
        assert!(check_room_name("   ").is_err());
        assert!(check_room_name("a\nb").is_err());
        assert!(check_topic("line one\nline two").is_ok());
        assert!(check_topic(&"x".repeat(513)).is_err());
        assert!(check_topic("bell\u{7}").is_err());
    }

    #[test]
    fn numbers() {
        assert!(check_capacity(1).is_err());
        assert!(check_capacity(2).is_ok());
        assert!(check_capacity(10_000).is_ok());
        assert!(check_capacity(10_001).is_err());
        assert!(check_page_limit(0).is_err());
        assert!(check_page_limit(500).is_ok());
        assert!(check_page_limit(501).is_err());
        assert!(check_password("").is_err());
        assert!(check_password(&"p".repeat(256)).is_ok());
        assert!(check_password(&"p".repeat(257)).is_err());
    }
}
