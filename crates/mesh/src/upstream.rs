//! The follower's relay: what the HTTP server calls while this node follows
//! a main peer (see `peer_http::server::Upstream`).
//!
//! - `forward`: the client's request goes to the main peer as it came
//!   (method, target, body, the credential and content headers), on the
//!   relay's own connection pool; the answer comes back as it came (status,
//!   body, `Peer-Auth`, content type, `Retry-After`, `Allow`). The follower
//!   neither reads nor changes what it relays, and could not change it
//!   unnoticed: the client checks `Peer-Auth`.
//! - `check_stream`: in this node's peer session, `POST /api/v1/relay/events`
//!   with the client's target and credential headers; the main peer checks
//!   them and answers whom to stream which rooms to.
//!
//! A main peer that cannot be reached makes both answer 503
//! `main_peer_unavailable` (with `Retry-After`), and is reported lost at
//! once.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, Method};
use peer_http::client::Request;
use peer_http::server::{
    FORWARDED_RESPONSE_HEADERS, Relayed, RelayedAnswer, StreamGrant, Upstream, UpstreamFuture,
};
use peer_node::NodeError;
use peer_proto::ErrorCode;
use peer_proto::api::{NodeRole, StreamCheck, StreamVerdict};

use crate::Shared;
use crate::link::LinkError;
use crate::stats::bump;

/// A stream check's deadline.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Relay {
    pub(crate) shared: Arc<Shared>,
}

fn unavailable(why: &str) -> NodeError {
    NodeError::new(
        ErrorCode::MainPeerUnavailable,
        format!("this node follows a main peer that cannot be reached: {why}"),
    )
    .retry_after(Duration::from_secs(5))
}

impl Upstream for Relay {
    fn following(&self) -> bool {
        self.shared.node.role() == NodeRole::Follower
    }

    fn forward(&self, request: Relayed) -> UpstreamFuture<'_, RelayedAnswer> {
        Box::pin(async move {
            let shared = &self.shared;
            bump(&shared.stats.relayed);
            let Some(f) = shared.current() else {
                bump(&shared.stats.relay_failures);
                return Err(unavailable("none found yet"));
            };
            let uri = f
                .url
                .join(&request.target)
                .map_err(|_| NodeError::new(ErrorCode::InvalidHeader, "request target"))?;
            let mut req = Request::new(request.method.clone(), uri);
            for (name, value) in &request.headers {
                if let Ok(v) = value.to_str() {
                    req = req.header(name.as_str(), v);
                }
            }
            match shared.relay_http.send(req.body(request.body)).await {
                Ok(resp) => {
                    shared.main_answered(f.main);
                    let headers = FORWARDED_RESPONSE_HEADERS
                        .iter()
                        .flat_map(|name| {
                            resp.headers
                                .get_all(*name)
                                .iter()
                                .map(|v| (HeaderName::from_static(name), v.clone()))
                                .collect::<Vec<_>>()
                        })
                        .collect();
                    Ok(RelayedAnswer {
                        status: resp.status,
                        headers,
                        body: Bytes::from(resp.body.to_vec()),
                    })
                }
                Err(e) => {
                    bump(&shared.stats.relay_failures);
                    shared.main_unreachable(f.main, &e.to_string());
                    Err(unavailable(&e.to_string()))
                }
            }
        })
    }

    fn check_stream(&self, check: StreamCheck) -> UpstreamFuture<'_, StreamGrant> {
        Box::pin(async move {
            let shared = &self.shared;
            let Some(f) = shared.current() else {
                return Err(unavailable("none found yet"));
            };
            let verdict: Result<StreamVerdict, LinkError> = f
                .link
                .call(Method::POST, "/api/v1/relay/events", &check, CHECK_TIMEOUT)
                .await;
            match verdict {
                Ok(verdict) => {
                    shared.main_answered(f.main);
                    if matches!(verdict, StreamVerdict::Admit { .. }) {
                        bump(&shared.stats.relayed_streams);
                    }
                    Ok(StreamGrant {
                        verdict,
                        follow: f.token.clone(),
                    })
                }
                Err(LinkError::Unreachable(e)) => {
                    shared.main_unreachable(f.main, &e.to_string());
                    Err(unavailable(&e.to_string()))
                }
                Err(e) => {
                    // The main peer answers but refuses this node's session
                    // (it forgot our registration, say): register again.
                    tracing::warn!(error = %e, "the main peer refused a stream check");
                    shared.main_unreachable(f.main, "it refuses this node's peer session");
                    Err(unavailable("it refuses this node's peer session"))
                }
            }
        })
    }
}
