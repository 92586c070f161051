use serde::{Deserialize, Serialize};

use crate::bytes::{Bytes, Bytes32};
use crate::id::{NodeId, SessionId, UserId};

/// The key exchange of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Kex {
    /// ECDH on P-256 with a fresh client key per request (default; forward
    /// secret). Postcard variant 0.
    #[default]
    #[serde(rename = "ecdh-p256")]
    EcdhP256,
    /// The node picks the session secret and sends it RSA-OAEP-wrapped to the
    /// user's key (no forward secrecy). Postcard variant 1.
    #[serde(rename = "rsa-oaep")]
    RsaOaep,
}

impl Kex {
    /// The mode's text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kex::EcdhP256 => "ecdh-p256",
            Kex::RsaOaep => "rsa-oaep",
        }
    }
}

/// `POST /api/v1/handshake`: the client hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// Protocol version (1).
    pub version: u16,
    /// Key exchange mode.
    pub kex: Kex,
    /// The user (or node) opening the session.
    pub user_id: UserId,
    /// The client's ephemeral P-256 key, SEC1 uncompressed (ecdh mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_eph: Option<Bytes>,
    /// 32 random bytes.
    pub client_nonce: Bytes32,
    /// Unix seconds.
    pub timestamp: u64,
    /// The node this hello is meant for.
    pub node_id: NodeId,
    /// The user key's signature over the hello (protocol.md).
    pub signature: Bytes,
}

/// The handshake reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloReply {
    /// The new session.
    pub session_id: SessionId,
    /// The node's ephemeral P-256 key (ecdh mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_eph: Option<Bytes>,
    /// The session secret, RSA-OAEP-wrapped to the user's key (rsa-oaep mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_secret: Option<Bytes>,
    /// 32 random bytes.
    pub server_nonce: Bytes32,
    /// When the session ends at the latest (unix seconds).
    pub expires_at: u64,
    /// `seal(k_token, auth_key, aad = session_id)`.
    pub sealed_auth_key: Bytes,
    /// The node key's signature over the transcript.
    pub node_signature: Bytes,
}

/// `POST /api/v1/tokens`: ask for a bearer token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Lifetime in seconds (default 3600; the node caps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
}

/// A bearer token. The node keeps only its SHA-256.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    /// 32 random bytes, base64url: send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Unix seconds.
    pub expires_at: u64,
}

impl core::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
