//! The whole node as a decoder: raw bytes sent to its HTTP server on
//! loopback.
//!
//! One node per process, on a memory store, with one registered user, an
//! unencrypted room and a bearer token. The placeholders `@TOKEN@` and
//! `@ROOM@` in an input are replaced by the real token and room id, so
//! that inputs reach the authenticated endpoints too.

use std::sync::OnceLock;
use std::time::Duration;

use peer_client::{Client, ClientOptions, MemoryPins, RoomSettings};
use peer_node::NodeConfig;
use peer_node::ratelimit::Rate;
use peer_store::MemoryStore;
use peer_testkit::node::TestNode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// How long a node may take to answer (or close) before it counts as hung.
const ANSWER_BOUND: Duration = Duration::from_secs(peer_proto::limits::MAX_WAIT_SECS as u64 + 10);
/// Silence after which an answer is complete, or a request is waiting for
/// more bytes.
const QUIET: Duration = Duration::from_millis(150);
/// The most of an answer read.
const READ_LIMIT: usize = 1 << 20;

struct Harness {
    runtime: Runtime,
    node: TestNode,
    token: String,
    room: String,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("harness runtime: {e}"));
        let (node, token, room) = runtime.block_on(async {
            let config = NodeConfig {
                // Fuzzing sends far more than a person would.
                session_rate: Rate {
                    per_sec: 1_000_000,
                    burst: 1_000_000,
                },
                handshake_rate: Rate {
                    per_sec: 1_000_000,
                    burst: 1_000_000,
                },
                ..NodeConfig::default()
            };
            let node = TestNode::start_with(
                std::sync::Arc::new(MemoryStore::default()),
                config,
                peer_http::server::ServerConfig::default(),
            )
            .await;
            let pins = MemoryPins::default();
            let key = peer_testkit::keys::alice().clone();
            let client = Client::connect(node.url(), key, &pins, ClientOptions::default())
                .await
                .unwrap_or_else(|e| panic!("harness connect: {e}"));
            client
                .register("fuzz")
                .await
                .unwrap_or_else(|e| panic!("harness register: {e}"));
            let mut settings = RoomSettings::new("fuzz");
            settings.encrypted = false;
            let room = client
                .create_room(settings)
                .await
                .unwrap_or_else(|e| panic!("harness room: {e}"));
            let token = client
                .issue_token(None)
                .await
                .unwrap_or_else(|e| panic!("harness token: {e}"))
                .token;
            (node, token, room.id.to_string())
        });
        Harness {
            runtime,
            node,
            token,
            room,
        }
    })
}

/// Sends `data` as the bytes of one connection to a live node and checks
/// its answer: never a 500, an answer or a clean close within the bound,
/// and the node still healthy afterwards.
pub fn http_request(data: &[u8]) {
    let h = harness();
    let input = substitute(data, &h.token, &h.room);
    h.runtime.block_on(async {
        let answer = exchange(h.node.addr(), &input).await;
        for status in statuses(&answer) {
            assert_ne!(status, 500, "the node answered 500 to {input:?}");
        }
        let health = exchange(
            h.node.addr(),
            b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(
            statuses(&health).first().copied(),
            Some(200),
            "the node is unhealthy after {input:?}"
        );
    });
}

/// Replaces the placeholders.
fn substitute(data: &[u8], token: &str, room: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix(b"@TOKEN@") {
            out.extend_from_slice(token.as_bytes());
            rest = r;
        } else if let Some(r) = rest.strip_prefix(b"@ROOM@") {
            out.extend_from_slice(room.as_bytes());
            rest = r;
        } else if let Some((&b, r)) = rest.split_first() {
            out.push(b);
            rest = r;
        }
    }
    out
}

/// Writes `input` and reads the answer. A node that says nothing for
/// [`QUIET`] is waiting for more of a request: the sending side is then
/// closed, and the node must answer or close within [`ANSWER_BOUND`]. An
/// answer ends when the node closes, goes quiet, reaches the read limit,
/// or — for an event stream, which stays open by design — with its head.
async fn exchange(addr: std::net::SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to the node: {e}"));
    // The node may close before reading everything (a refused head): a
    // failed write is an answer, not a finding.
    let _ = stream.write_all(input).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut closed_sending = false;
    loop {
        let wait = if answer.is_empty() && closed_sending {
            ANSWER_BOUND
        } else {
            QUIET
        };
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return answer,
            Ok(Ok(n)) => {
                answer.extend_from_slice(buf.get(..n).unwrap_or_default());
                if answer.len() >= READ_LIMIT || streams(&answer) {
                    return answer;
                }
            }
            Err(_) if !answer.is_empty() => return answer,
            Err(_) if !closed_sending => {
                let _ = stream.shutdown().await;
                closed_sending = true;
            }
            Err(_) => panic!(
                "the node neither answered nor closed within {ANSWER_BOUND:?} of the end of {:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }
}

/// Whether the answer so far is the head of an event stream (which stays
/// open by design).
fn streams(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer).to_ascii_lowercase();
    text.contains("\r\n\r\n") && text.contains("content-type: text/event-stream")
}

/// The status codes of every response in `answer`.
fn statuses(answer: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(answer);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, m)| text.get(i + m.len()..i + m.len() + 3))
        .filter_map(|code| code.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_statuses() {
        assert_eq!(substitute(b"a@TOKEN@b@ROOM@@", "t", "r"), b"atbr@");
        let answer = b"HTTP/1.1 404 Not Found\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(statuses(answer), vec![404, 200]);
        assert!(streams(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
        ));
        assert!(!streams(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        ));
    }
}
