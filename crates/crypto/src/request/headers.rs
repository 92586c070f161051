//! The authenticator headers: names, the values a client sends, and their
//! strict parsing on the node.
//!
//! | header | value |
//! | --- | --- |
//! | `Peer-Session` | session_id, base64url without padding (22 chars) |
//! | `Peer-Key` | ecdh sessions only: the request's P-256 key, SEC1 uncompressed, base64url (87 chars) |
//! | `Peer-Seq` | decimal u64, 1..=20 ASCII digits, no sign, no leading zero |
//! | `Peer-Auth` | HMAC-SHA256 tag, base64url (43 chars) |
//!
//! Lengths are checked before anything is decoded. Any malformed value is
//! [`PeerMisbehaved::MalformedHeader`] (answered `bad_authenticator`, 401).

use std::str::FromStr as _;

use peer_proto::bytes::decode_b64;
use peer_proto::id::SessionId;

use crate::ecdh::POINT_LEN;
use crate::error::PeerMisbehaved;

/// `Peer-Session`.
pub const SESSION_HEADER: &str = "Peer-Session";
/// `Peer-Key`.
pub const KEY_HEADER: &str = "Peer-Key";
/// `Peer-Seq`.
pub const SEQ_HEADER: &str = "Peer-Seq";
/// `Peer-Auth`.
pub const AUTH_HEADER: &str = "Peer-Auth";
/// The content type of a sealed body (request or response).
pub const SEALED_CONTENT_TYPE: &str = "application/vnd.peergroup.sealed";

const SESSION_CHARS: usize = 22;
const KEY_CHARS: usize = 87;
const AUTH_CHARS: usize = 43;
const MAX_SEQ_DIGITS: usize = 20;

/// The header values of one authenticated request, as the client sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaders {
    /// `Peer-Session`.
    pub session: String,
    /// `Peer-Key` (ecdh sessions only).
    pub key: Option<String>,
    /// `Peer-Seq`.
    pub seq: String,
    /// `Peer-Auth`.
    pub auth: String,
}

impl RequestHeaders {
    /// `(name, value)` pairs, ready to add to a request.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![(SESSION_HEADER, self.session.as_str())];
        if let Some(k) = &self.key {
            v.push((KEY_HEADER, k.as_str()));
        }
        v.push((SEQ_HEADER, self.seq.as_str()));
        v.push((AUTH_HEADER, self.auth.as_str()));
        v
    }
}

/// Parsed and bounded authenticator headers, not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthHeaders {
    pub(crate) session_id: SessionId,
    pub(crate) key: Option<[u8; POINT_LEN]>,
    pub(crate) seq: u64,
    pub(crate) auth: [u8; 32],
}

impl std::fmt::Debug for AuthHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthHeaders")
            .field("session_id", &self.session_id)
            .field("has_key", &self.key.is_some())
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl AuthHeaders {
    /// Parses the four header values (`key` absent in rsa-oaep sessions).
    pub fn parse(
        session: &str,
        key: Option<&str>,
        seq: &str,
        auth: &str,
    ) -> Result<Self, PeerMisbehaved> {
        if session.len() != SESSION_CHARS {
            return Err(PeerMisbehaved::MalformedHeader(SESSION_HEADER));
        }
        let session_id = SessionId::from_str(session)
            .map_err(|_| PeerMisbehaved::MalformedHeader(SESSION_HEADER))?;
        let key = match key {
            None => None,
            Some(k) => Some(fixed_b64::<POINT_LEN>(k, KEY_CHARS, KEY_HEADER)?),
        };
        let seq = parse_seq(seq)?;
        let auth = fixed_b64::<32>(auth, AUTH_CHARS, AUTH_HEADER)?;
        Ok(AuthHeaders {
            session_id,
            key,
            seq,
            auth,
        })
    }

    /// The session the request claims: look it up, then call
    /// [`ServerSession::verify_request`](crate::ServerSession::verify_request).
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The claimed sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

fn fixed_b64<const N: usize>(
    text: &str,
    chars: usize,
    name: &'static str,
) -> Result<[u8; N], PeerMisbehaved> {
    if text.len() != chars {
        return Err(PeerMisbehaved::MalformedHeader(name));
    }
    let v = decode_b64(text).map_err(|_| PeerMisbehaved::MalformedHeader(name))?;
    v.as_slice()
        .try_into()
        .map_err(|_| PeerMisbehaved::MalformedHeader(name))
}

/// Decimal, 1..=20 ASCII digits, no sign, no leading zero, fits u64, not 0.
pub(crate) fn parse_seq(text: &str) -> Result<u64, PeerMisbehaved> {
    const ERR: PeerMisbehaved = PeerMisbehaved::MalformedHeader(SEQ_HEADER);
    let b = text.as_bytes();
    if b.is_empty()
        || b.len() > MAX_SEQ_DIGITS
        || !b.iter().all(u8::is_ascii_digit)
        || b.first() == Some(&b'0')
    {
        return Err(ERR);
    }
    text.parse::<u64>().map_err(|_| ERR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_is_strict_decimal() {
        assert_eq!(parse_seq("1"), Ok(1));
        assert_eq!(parse_seq("18446744073709551615"), Ok(u64::MAX));
        for bad in [
            "",
            "0",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "0x10",
            "18446744073709551616",
            "123456789012345678901",
            "١",
        ] {
            assert!(parse_seq(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lengths_are_checked() {
        let s = "AAAAAAAAAAAAAAAAAAAAAA";
        let a = "A".repeat(43);
        assert!(AuthHeaders::parse(s, None, "1", &a).is_ok());
        assert!(AuthHeaders::parse(&s[1..], None, "1", &a).is_err());
        assert!(AuthHeaders::parse(s, None, "1", &a[1..]).is_err());
        assert!(AuthHeaders::parse(s, Some("AAAA"), "1", &a).is_err());
        assert!(AuthHeaders::parse(s, None, "1", &format!("{a}=")).is_err());
        // 43 chars whose last char has non-zero trailing bits: not canonical.
        let mut b = "A".repeat(42);
        b.push('B');
        assert!(AuthHeaders::parse(s, None, "1", &b).is_err());
    }
}
