//! Fetching a node's description (`GET /api/v1/node`), checked: for whom
//! to follow (discovery's key checks use `peer_discovery::HttpKeyFetcher`).

use std::time::Duration;

use http::Method;
use peer_crypto::PublicIdentity;
use peer_http::client::{BaseUrl, HttpClient, Request};
use peer_proto::api::NodeInfo;

/// Why a node's description was not usable.
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    /// Could not be fetched.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
    /// Fetched, but it does not hold together.
    #[error("{url}: {problem}")]
    Invalid {
        /// Where.
        url: String,
        /// What is wrong.
        problem: &'static str,
    },
}

/// `GET {base}/api/v1/node`, checked: the protocol version is ours and the
/// node id is the hash of its key. Returns the description and the key.
pub(crate) async fn node_info(
    http: &HttpClient,
    base: &BaseUrl,
    timeout: Duration,
) -> Result<(NodeInfo, PublicIdentity), InfoError> {
    let unreachable = |reason: String| InfoError::Unreachable {
        url: base.to_string(),
        reason,
    };
    let invalid = |problem| InfoError::Invalid {
        url: base.to_string(),
        problem,
    };
    let target = base
        .join("/api/v1/node")
        .map_err(|e| unreachable(e.to_string()))?;
    let resp = http
        .send(Request::new(Method::GET, target).timeout(timeout))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if resp.status != 200 {
        return Err(unreachable(format!("status {}", resp.status)));
    }
    let info: NodeInfo =
        serde_json::from_slice(&resp.body).map_err(|_| invalid("not a node description"))?;
    if info.protocol_version != peer_proto::PROTOCOL_VERSION {
        return Err(invalid("another protocol version"));
    }
    let key = PublicIdentity::from_spki_der(info.spki.as_slice())
        .map_err(|_| invalid("not an acceptable node key"))?;
    if key.node_id() != info.node_id {
        return Err(invalid("its node id is not the hash of its key"));
    }
    Ok((info, key))
}
