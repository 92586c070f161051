//! peer-http's server through real sockets on 127.0.0.1: every endpoint
//! family, every limit, both kinds of authentication, sealed bodies, event
//! streams, long-polls, graceful shutdown, and faults (`faults.rs`). Core flows also run on
//! MongoDB (`mongo.rs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod common;
mod errors;
mod events;
mod faults;
mod flows;
mod hostile;
mod limits;
mod mongo;
mod robustness;
mod server;
mod web;

use peer_testkit::node::TestNode;

#[tokio::test]
async fn rooms_messages_and_keys_on_memory() {
    let node = TestNode::start().await;
    flows::rooms_messages_and_keys(&node).await;
    node.stop().await;
}

#[tokio::test]
async fn curl_path_on_memory() {
    let node = TestNode::start().await;
    flows::curl_path(&node).await;
    node.stop().await;
}

#[tokio::test]
async fn events_on_memory() {
    let node = TestNode::start().await;
    flows::events(&node).await;
    node.stop().await;
}
