//! The browser client: `GET /` and `GET /assets/{*path}` answer the files
//! embedded by `peer-web`, with a strict Content-Security-Policy and the
//! other hardening headers, a strong `ETag` and `Cache-Control: no-cache`
//! (the URLs are not versioned: a browser revalidates each time and gets
//! `304 Not Modified` while the node runs the same build). Unknown paths
//! are the API's 404 `not_found`; nothing here reads a file at run time,
//! so no path can reach outside the embedded set.

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderValue, IF_NONE_MATCH,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use peer_node::NodeError;
use peer_proto::ErrorCode;
use peer_web::Asset;

use super::call::Call;
use super::handlers::HandlerFuture;
use super::reply::{BoxBody, Reply};

/// The assets route; `path` is relative to `web/src/`.
pub(crate) const ASSETS: &str = "/assets/{*path}";

/// `GET /` and `GET /assets/{*path}`.
pub(crate) fn serve(c: Call) -> HandlerFuture {
    Box::pin(async move {
        let url = match c.params.get("path") {
            Some(rel) => format!("{}{rel}", peer_web::ASSET_PREFIX),
            None => "/".to_owned(),
        };
        let asset = peer_web::asset(&url)
            .ok_or_else(|| NodeError::new(ErrorCode::NotFound, "no such file"))?;
        let not_modified = matches_etag(&c.headers, asset.etag);
        Ok(Reply::Asset {
            asset,
            not_modified,
        })
    })
}

/// True when `If-None-Match` lists `etag` (or is `*`).
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// The response for an asset: 200 with the bytes, or 304 without them.
pub(crate) fn response(asset: &Asset, not_modified: bool) -> Response<BoxBody> {
    // The bytes are 'static (embedded): sent without a copy.
    let bytes = if not_modified {
        Bytes::new()
    } else {
        Bytes::from_static(asset.bytes)
    };
    let body = Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = Response::new(body);
    if not_modified {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    if let Ok(v) = HeaderValue::from_str(asset.etag) {
        h.insert(ETAG, v);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(peer_web::CONTENT_SECURITY_POLICY),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        http::header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists() {
        let mut h = HeaderMap::new();
        assert!(!matches_etag(&h, "\"a\""));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"b\", W/\"a\""));
        assert!(matches_etag(&h, "\"a\""));
        assert!(!matches_etag(&h, "\"c\""));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches_etag(&h, "\"c\""));
    }
}
