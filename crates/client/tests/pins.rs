//! Trust on first use against a node on 127.0.0.1, with a pin file.

use peer_client::{Client, ClientError, ClientOptions, PinFile, PinStore};
use peer_proto::bytes::encode_b64;
use peer_testkit::keys;
use peer_testkit::node::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_use_pins_and_a_changed_key_is_a_hard_error() {
    let node = TestNode::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_nodes");

    // First use: the node's key is pinned for its URL.
    let c = Client::connect_with_pin_file(
        node.url(),
        keys::alice().clone(),
        &path,
        ClientOptions::default(),
    )
    .await
    .unwrap();
    let node_id = c.node_id();
    assert_eq!(node_id, keys::node().node_id());
    let pins = PinFile::new(&path).pins().unwrap();
    assert_eq!(pins.len(), 1);
    assert_eq!(pins[0].url.as_str(), node.url());
    assert_eq!(pins[0].node_id, node_id);
    assert_eq!(&pins[0].spki_hash, keys::node().public().spki_hash());
    // Again: accepted, nothing added.
    let before = std::fs::read_to_string(&path).unwrap();
    Client::connect_with_pin_file(
        node.url(),
        keys::bob().clone(),
        &path,
        ClientOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    // Another node key pinned for this URL: the node we reach now is refused.
    let other = keys::node_key(1);
    let forged = format!(
        "{} {} {}\n",
        node.url(),
        other.node_id(),
        encode_b64(other.public().spki_hash())
    );
    std::fs::write(&path, &forged).unwrap();
    match Client::connect_with_pin_file(
        node.url(),
        keys::alice().clone(),
        &path,
        ClientOptions::default(),
    )
    .await
    {
        Err(ClientError::NodeKeyChanged {
            url,
            pinned,
            presented,
        }) => {
            assert_eq!(url.as_str(), node.url());
            assert_eq!(pinned, other.node_id());
            assert_eq!(presented, node_id);
        }
        other => panic!("expected NodeKeyChanged, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        forged,
        "never re-pinned"
    );

    // The same node id pinned with another key hash (at another URL).
    let mut hash = *keys::node().public().spki_hash();
    hash[31] ^= 1;
    let tampered = format!("http://192.0.2.9:1 {} {}\n", node_id, encode_b64(&hash));
    std::fs::write(&path, &tampered).unwrap();
    assert!(matches!(
        Client::connect_with_pin_file(
            node.url(),
            keys::alice().clone(),
            &path,
            ClientOptions::default()
        )
        .await,
        Err(ClientError::NodeKeyChanged { .. })
    ));

    // A pin file that does not parse is an error, not a fresh start.
    std::fs::write(&path, "garbage\n").unwrap();
    assert!(matches!(
        Client::connect_with_pin_file(
            node.url(),
            keys::alice().clone(),
            &path,
            ClientOptions::default()
        )
        .await,
        Err(ClientError::Pins(_))
    ));
    node.stop().await;
}
