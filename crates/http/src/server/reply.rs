//! What handlers answer, and how an answer (or an error) becomes an HTTP
//! response: JSON bodies, the error format, `Retry-After`, and `Peer-Auth`
//! over the exact status and body bytes sent.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body_util::BodyExt as _;
use http_body_util::Full;
use http_body_util::combinators::UnsyncBoxBody;
use peer_crypto::SEALED_CONTENT_TYPE;
use peer_crypto::request::Responder;
use peer_node::{EventStream, NodeError};

use super::upstream::RelayedAnswer;
use peer_proto::{ErrorBody, ErrorCode};
use serde::Serialize;

/// A response body before connection bookkeeping is attached.
pub(crate) type BoxBody = UnsyncBoxBody<Bytes, Infallible>;

/// `application/json`.
pub(crate) const JSON: &str = "application/json";

/// A handler's successful answer.
pub(crate) enum Reply {
    /// A JSON body with a status.
    Json {
        /// 200, 201, or 503 for an unhealthy `/healthz`.
        status: StatusCode,
        /// The serialized body.
        body: Vec<u8>,
    },
    /// Plain text (Prometheus metrics).
    Text {
        /// The content type.
        content_type: &'static str,
        /// The text.
        body: String,
    },
    /// A Server-Sent Events stream.
    Events(EventStream),
    /// A follower's event stream for a client the main peer admitted:
    /// `peer_auth` is the main peer's authenticator of the head; the stream
    /// ends when `follow` is cancelled.
    RelayedEvents {
        /// The events, from this node's bus.
        stream: EventStream,
        /// The main peer's `Peer-Auth` over status 200 and an empty body.
        peer_auth: Option<String>,
        /// Cancelled when this node stops following that main peer.
        follow: tokio_util::sync::CancellationToken,
    },
    /// The main peer's answer to a relayed request, passed back as is.
    Relayed(RelayedAnswer),
    /// An embedded file of the browser client (`web.rs` adds its headers).
    Asset {
        /// The file.
        asset: peer_web::Asset,
        /// The request's `If-None-Match` names its `ETag`: 304, no body.
        not_modified: bool,
    },
}

impl Reply {
    /// 200 with `value` as JSON.
    pub(crate) fn ok<T: Serialize>(value: &T) -> Result<Reply, NodeError> {
        Reply::json(StatusCode::OK, value)
    }

    /// 201 with `value` as JSON.
    pub(crate) fn created<T: Serialize>(value: &T) -> Result<Reply, NodeError> {
        Reply::json(StatusCode::CREATED, value)
    }

    /// 200 with `{}`: the answer of operations that return nothing.
    pub(crate) fn done() -> Result<Reply, NodeError> {
        Ok(Reply::Json {
            status: StatusCode::OK,
            body: b"{}".to_vec(),
        })
    }

    /// `value` as JSON with `status`.
    pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Reply, NodeError> {
        let body = serde_json::to_vec(value).map_err(|e| {
            tracing::error!(error = %e, "response serialization failed");
            NodeError::internal("response serialization failed")
        })?;
        Ok(Reply::Json { status, body })
    }
}

/// The JSON error body of `e`.
pub(crate) fn error_body(e: &NodeError) -> Vec<u8> {
    let body = ErrorBody::from(e.to_api());
    // An ErrorBody is two strings and an enum: serialization cannot fail,
    // but stay total anyway.
    serde_json::to_vec(&body).unwrap_or_else(|_| {
        br#"{"error":{"code":"internal","message":"error serialization failed"}}"#.to_vec()
    })
}

/// The status of an error code (`500` if the code's number is not a status,
/// which no code has).
pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_secs(after: Option<Duration>) -> u64 {
    let Some(d) = after else { return 1 };
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

/// A full (non-streaming) response ready to be authenticated.
pub(crate) struct Plain {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) allow: Option<String>,
}

impl Plain {
    /// The response of an error.
    pub(crate) fn error(e: &NodeError) -> Plain {
        Plain {
            status: status_of(e.code),
            content_type: JSON,
            body: error_body(e),
            retry_after: e.retry_after,
            allow: None,
        }
    }

    /// With a responder: the body as sent (sealed when the request was) and
    /// the `Peer-Auth` over the status and those bytes. Without one, as is.
    /// An authentication failure (which cannot happen with our own types)
    /// becomes an unauthenticated `internal` error rather than a
    /// forged-looking half response.
    pub(crate) fn authenticate(mut self, responder: Option<Responder>) -> (Plain, Option<String>) {
        let Some(responder) = responder else {
            return (self, None);
        };
        let mut rng = peer_crypto::rng::system_rng();
        match responder.respond(&mut rng, self.status.as_u16(), &self.body) {
            Ok(authed) => {
                self.body = authed.body;
                if let Some(ct) = authed.content_type {
                    self.content_type = ct;
                }
                (self, Some(authed.peer_auth))
            }
            Err(e) => {
                tracing::error!(error = %e, "response authentication failed");
                let err = NodeError::internal("response authentication failed");
                (Plain::error(&err), None)
            }
        }
    }

    /// Builds the response; with a responder, `Peer-Auth` covers the status
    /// and the body bytes sent (sealed when the request was).
    pub(crate) fn into_response(self, responder: Option<Responder>) -> Response<BoxBody> {
        let (plain, peer_auth) = self.authenticate(responder);
        let Plain {
            status,
            content_type,
            body,
            retry_after,
            allow,
        } = plain;
        let mut resp = Response::new(full(body));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(
                RETRY_AFTER,
                HeaderValue::from(retry_after_secs(retry_after)),
            );
        }
        if let Some(allow) = allow
            && let Ok(v) = HeaderValue::from_str(&allow)
        {
            h.insert(http::header::ALLOW, v);
        }
        if let Some(tag) = peer_auth
            && let Ok(v) = HeaderValue::from_str(&tag)
        {
            h.insert(HeaderName::from_static(PEER_AUTH), v);
        }
        resp
    }
}

/// The main peer's answer to a relayed request, as the follower sends it
/// on: status, the forwarded headers and the body, untouched.
pub(crate) fn relayed_response(answer: RelayedAnswer) -> Response<BoxBody> {
    let mut resp = Response::new(full(answer.body.to_vec()));
    *resp.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = resp.headers_mut();
    for (name, value) in answer.headers {
        h.append(name, value);
    }
    resp
}

/// `Peer-Auth` in the lower case that header maps use.
pub(crate) const PEER_AUTH: &str = "peer-auth";

/// A complete body.
pub(crate) fn full(body: Vec<u8>) -> BoxBody {
    Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// True for the sealed content type.
pub(crate) fn is_sealed_type(content_type: &str) -> bool {
    media_type(content_type).eq_ignore_ascii_case(SEALED_CONTENT_TYPE)
}

/// True for `application/json`, with or without parameters.
pub(crate) fn is_json_type(content_type: &str) -> bool {
    media_type(content_type).eq_ignore_ascii_case(JSON)
}

/// The media type without parameters, trimmed.
fn media_type(content_type: &str) -> &str {
    content_type
        .split(';')
        .next()
        .unwrap_or(content_type)
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(None), 1);
        assert_eq!(retry_after_secs(Some(Duration::from_millis(1))), 1);
        assert_eq!(retry_after_secs(Some(Duration::from_millis(1001))), 2);
        assert_eq!(retry_after_secs(Some(Duration::from_secs(5))), 5);
        assert_eq!(retry_after_secs(Some(Duration::ZERO)), 1);
    }

    #[test]
    fn media_types() {
        assert!(is_json_type("application/json"));
        assert!(is_json_type("Application/JSON; charset=utf-8"));
        assert!(!is_json_type("application/jsonx"));
        assert!(!is_json_type("text/plain"));
        assert!(is_sealed_type("application/vnd.peergroup.sealed"));
        assert!(!is_sealed_type("application/json"));
    }
}
