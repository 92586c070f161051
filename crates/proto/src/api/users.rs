use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::id::UserId;

/// `POST /api/v1/users`: register a name and an identity key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterUser {
    /// 1-32 of `[A-Za-z0-9_.-]`, unique ignoring case.
    pub name: String,
    /// The identity key's SPKI DER.
    pub spki: Bytes,
    /// Unix seconds.
    pub timestamp: u64,
    /// The key's signature over the registration (protocol.md).
    pub signature: Bytes,
}

/// A user's public fields (and nothing else).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// First 16 bytes of SHA-256 over `spki`.
    pub id: UserId,
    /// The registered name.
    pub name: String,
    /// The identity key's SPKI DER.
    pub spki: Bytes,
    /// Unix seconds.
    pub created_at: u64,
}

/// `GET /api/v1/users` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Names starting with this text, ignoring case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// At most this many (default 100, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A page of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserList {
    /// The users, by folded name.
    pub users: Vec<User>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
