//! Credentials of a request: the `Peer-*` authenticator headers of a
//! session, or `Authorization: Bearer <token>`, never both.

use http::HeaderMap;
use http::header::AUTHORIZATION;
use peer_crypto::request::{AUTH_HEADER, AuthHeaders, KEY_HEADER, SEQ_HEADER, SESSION_HEADER};
use peer_node::NodeError;
use peer_proto::ErrorCode;

/// What a request presents.
#[derive(Debug)]
pub(crate) enum Credentials {
    /// Nothing.
    None,
    /// A bearer token (the text after `Bearer `).
    Bearer(String),
    /// A session's authenticator headers, parsed and bounded.
    Session(AuthHeaders),
}

/// True when the request carries any `Peer-*` authenticator header.
pub(crate) fn has_session_headers(headers: &HeaderMap) -> bool {
    [SESSION_HEADER, KEY_HEADER, SEQ_HEADER, AUTH_HEADER]
        .iter()
        .any(|h| headers.contains_key(*h))
}

/// Reads the credentials: both kinds at once is `invalid_header` (400); a
/// malformed or incomplete authenticator is `bad_authenticator` (401); an
/// `Authorization` header of another scheme is `invalid_header`.
pub(crate) fn credentials(headers: &HeaderMap) -> Result<Credentials, NodeError> {
    let session = has_session_headers(headers);
    let bearer = headers.get(AUTHORIZATION);
    match (session, bearer) {
        (true, Some(_)) => Err(NodeError::new(
            ErrorCode::InvalidHeader,
            "send either Peer-* authenticator headers or Authorization, not both",
        )),
        (false, None) => Ok(Credentials::None),
        (false, Some(v)) => {
            let bad = || {
                NodeError::new(
                    ErrorCode::InvalidHeader,
                    "Authorization: expected `Bearer <token>`",
                )
            };
            let text = v.to_str().map_err(|_| bad())?.trim();
            let (scheme, token) = text.split_once(' ').ok_or_else(bad)?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(bad());
            }
            Ok(Credentials::Bearer(token.trim().to_owned()))
        }
        (true, None) => {
            let get = |name: &'static str| -> Result<Option<&str>, NodeError> {
                match headers.get(name) {
                    None => Ok(None),
                    Some(v) => v.to_str().map(Some).map_err(|_| malformed(name)),
                }
            };
            let session = get(SESSION_HEADER)?.ok_or_else(|| missing(SESSION_HEADER))?;
            let key = get(KEY_HEADER)?;
            let seq = get(SEQ_HEADER)?.ok_or_else(|| missing(SEQ_HEADER))?;
            let auth = get(AUTH_HEADER)?.ok_or_else(|| missing(AUTH_HEADER))?;
            AuthHeaders::parse(session, key, seq, auth)
                .map(Credentials::Session)
                .map_err(|e| NodeError::new(e.code(), e.to_string()))
        }
    }
}

fn missing(name: &str) -> NodeError {
    NodeError::new(
        ErrorCode::BadAuthenticator,
        format!("missing {name} header"),
    )
}

fn malformed(name: &str) -> NodeError {
    NodeError::new(
        ErrorCode::BadAuthenticator,
        format!("malformed {name} header"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn kinds() {
        assert!(matches!(credentials(&with(&[])), Ok(Credentials::None)));
        assert!(matches!(
            credentials(&with(&[("authorization", "Bearer abc")])),
            Ok(Credentials::Bearer(t)) if t == "abc"
        ));
        assert!(matches!(
            credentials(&with(&[("authorization", "bearer  abc ")])),
            Ok(Credentials::Bearer(t)) if t == "abc"
        ));
        let e = credentials(&with(&[("authorization", "Basic abc")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidHeader);
        let e = credentials(&with(&[
            ("authorization", "Bearer x"),
            ("peer-session", "x"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidHeader);
        let e = credentials(&with(&[("peer-seq", "1")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadAuthenticator);
        let e = credentials(&with(&[
            ("peer-session", "short"),
            ("peer-seq", "1"),
            ("peer-auth", "x"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadAuthenticator);
    }
}
