//! The `embed` example runs against a node on 127.0.0.1: its body is
//! compiled into this test and called with the node's URL.

#[allow(dead_code)]
#[path = "../examples/embed.rs"]
mod embed;

use peer_testkit::node::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_example_runs_against_a_node() {
    let node = TestNode::start().await;
    let line = embed::run(node.url()).await.unwrap();
    assert!(line.ends_with(embed::GREETING), "{line}");
    assert!(line.starts_with("alice-"), "{line}");
    // Twice against the same node: the names do not collide.
    embed::run(node.url()).await.unwrap();
    node.stop().await;
}
