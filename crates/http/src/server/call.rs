//! One routed request as a handler sees it: the node, the caller, and
//! typed access to the path parameters, the query and the (opened) body.
//! Every parse failure is a 4xx with a stable code, never a panic.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use http::HeaderMap;
use peer_node::{Caller, Node, NodeError};
use peer_proto::ErrorCode;
use serde::de::DeserializeOwned;

use super::Shared;
use super::routes::Params;

/// A request routed to a handler.
pub(crate) struct Call {
    pub(crate) node: Node,
    pub(crate) shared: Arc<Shared>,
    pub(crate) caller: Option<Caller>,
    pub(crate) params: Params,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    pub(crate) peer: SocketAddr,
    pub(crate) sealed: bool,
}

impl Call {
    /// The authenticated caller (always there on `Auth::User` routes).
    pub(crate) fn caller(&self) -> Result<Caller, NodeError> {
        self.caller
            .ok_or_else(|| NodeError::new(ErrorCode::Unauthenticated, "authentication required"))
    }

    /// The JSON body as `T`: `invalid_body` naming the field path on any
    /// problem (syntax, type, missing or unknown field, trailing data).
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, NodeError> {
        if self.body.is_empty() {
            return Err(NodeError::new(
                ErrorCode::InvalidBody,
                "a JSON body is required",
            ));
        }
        parse_json(&self.body)
    }

    /// The JSON body as `T`, or `T::default()` when the body is empty (for
    /// requests whose fields are all optional, so curl can send none).
    pub(crate) fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, NodeError> {
        if self.body.is_empty() {
            return Ok(T::default());
        }
        parse_json(&self.body)
    }

    /// The query string as `T` (absent: all defaults): `invalid_query`.
    pub(crate) fn query<T: DeserializeOwned>(&self) -> Result<T, NodeError> {
        parse_query(self.query.as_deref().unwrap_or(""))
    }

    /// Path parameter `name` parsed with `FromStr`: `invalid_field` naming
    /// it when malformed.
    pub(crate) fn param<T: FromStr>(&self, name: &str) -> Result<T, NodeError> {
        let raw = self.params.get(name).unwrap_or("");
        raw.parse().map_err(|_| {
            NodeError::new(
                ErrorCode::InvalidField,
                format!("{name} (in the path): malformed"),
            )
        })
    }
}

/// Parses JSON with the failing field's path in the message.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, NodeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        NodeError::new(ErrorCode::InvalidBody, message)
    })?;
    de.end()
        .map_err(|e| NodeError::new(ErrorCode::InvalidBody, e.to_string()))?;
    Ok(value)
}

/// Parses a query string into `T`.
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, NodeError> {
    serde_urlencoded::from_str(query)
        .map_err(|e| NodeError::new(ErrorCode::InvalidQuery, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use peer_proto::api::{MessageQuery, PostMessage, TokenRequest};

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<PostMessage>(br#"{"txt":"hi"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidBody);
        assert!(e.message.contains("txt"), "{}", e.message);
        let e = parse_json::<PostMessage>(br#"{"epoch":"one"}"#).unwrap_err();
        assert!(e.message.starts_with("epoch"), "{}", e.message);
        let e = parse_json::<PostMessage>(br#"{"ciphertext":"!!"}"#).unwrap_err();
        assert!(e.message.starts_with("ciphertext"), "{}", e.message);
        let e = parse_json::<TokenRequest>(br#"{} {}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidBody);
        assert!(parse_json::<TokenRequest>(br#"{"ttl_secs":5}"#).is_ok());
    }

    #[test]
    fn queries() {
        let q: MessageQuery = parse_query("after=3&limit=10").unwrap();
        assert_eq!(q.after, Some(3));
        assert_eq!(q.limit, Some(10));
        let q: MessageQuery = parse_query("").unwrap();
        assert_eq!(q, MessageQuery::default());
        for bad in ["after=x", "bogus=1", "limit=-1", "wait=99999999999"] {
            let e = parse_query::<MessageQuery>(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidQuery, "{bad}");
        }
    }
}
