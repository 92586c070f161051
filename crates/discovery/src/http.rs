//! The key fetcher over HTTP (feature `http`): `GET /api/v1/node` of the
//! address a datagram came from, for nodes (`peer-mesh`) and clients
//! (`peerctl discover`) alike.

use std::net::SocketAddr;
use std::time::Duration;

use http::Method;
use peer_http::client::{BaseUrl, ClientConfig, HttpClient, Request};
use peer_proto::api::NodeInfo;

use crate::core::FetchedKey;
use crate::driver::{FetchFuture, KeyFetcher};

/// Node descriptions are small: anything larger is not one.
const MAX_INFO_BYTES: usize = 64 * 1024;

/// Fetches a node's key from its description (`GET /api/v1/node`). What
/// comes back is only a claim: the core checks that the key's hash is the
/// node id and the hash the datagram carried before it trusts it.
#[derive(Debug, Clone)]
pub struct HttpKeyFetcher {
    http: HttpClient,
    timeout: Duration,
}

impl HttpKeyFetcher {
    /// A fetcher whose requests give up after `timeout`.
    pub fn new(timeout: Duration) -> HttpKeyFetcher {
        let mut config = ClientConfig::default();
        config.request_timeout = timeout;
        config.max_response_bytes = MAX_INFO_BYTES;
        HttpKeyFetcher {
            http: HttpClient::new(config),
            timeout,
        }
    }
}

impl KeyFetcher for HttpKeyFetcher {
    fn fetch(&self, addr: SocketAddr) -> FetchFuture {
        let http = self.http.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let target = BaseUrl::parse(&format!("http://{addr}"))
                .and_then(|b| b.join("/api/v1/node"))
                .ok()?;
            let resp = match http
                .send(Request::new(Method::GET, target).timeout(timeout))
                .await
            {
                Ok(r) if r.status == 200 => r,
                Ok(r) => {
                    tracing::debug!(%addr, status = r.status, "discovery key fetch refused");
                    return None;
                }
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "discovery key fetch failed");
                    return None;
                }
            };
            let info: NodeInfo = serde_json::from_slice(&resp.body).ok()?;
            Some(FetchedKey {
                node_id: info.node_id,
                spki: info.spki.0,
            })
        })
    }
}
