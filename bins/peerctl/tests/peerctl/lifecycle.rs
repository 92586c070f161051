//! The room-key lifecycle through peerctl: a kicked member keeping its
//! keys, a member offline during rotations, joining without an owner
//! online (and the agent catching up), `rotation_pending` explained, and
//! the agent's event stream surviving a node restart.

use std::sync::Arc;

use peer_http::server::{Server, ServerConfig};
use peer_node::Node;
use peer_proto::RoomId;
use peer_proto::api::MessageQuery;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{Home, node};

async fn room_of(home: &Home, profile: &str, name: &str) -> RoomId {
    let v = home.json1(profile, &["rooms", "show", name]).await;
    v["id"].as_str().unwrap().parse().unwrap()
}

fn texts(read: &[Value]) -> Vec<Option<&str>> {
    read.iter().map(|m| m["text"].as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicked_member_keeps_old_keys_but_reads_nothing_new() {
    let node = node().await;
    let home = Home::new(node.url());
    home.init("alice").await;
    home.init("bob").await;
    home.init("carol").await;
    home.ok("alice", &["rooms", "create", "plans"]).await;
    let room = room_of(&home, "alice", "plans").await;
    let mut agent = home.spawn("alice", &["agent"]);
    agent.expect("online:").await;
    home.ok("bob", &["rooms", "join", "plans"]).await;
    home.ok("carol", &["rooms", "join", "plans"]).await;
    home.ok("alice", &["send", "plans", "before the kick"])
        .await;
    let read = home.json("carol", &["read", "plans"]).await;
    assert_eq!(texts(&read), [Some("before the kick")]);

    // Carol's own client code saves every key it gets while a member.
    let carol = home.client("carol").await;
    assert_eq!(carol.refresh_keys(room).await.unwrap(), 1);
    let saved = carol.room_key(room, 1).expect("carol holds epoch 1");

    let kicked = home
        .json1("alice", &["rooms", "kick", "plans", "carol"])
        .await;
    assert_eq!(kicked["rotated_to"], 2, "kick rotates at once");
    home.ok("alice", &["send", "plans", "after the kick: alice"])
        .await;
    home.ok("bob", &["send", "plans", "after the kick: bob"])
        .await;
    home.fails("carol", &["read", "plans"], "not_member").await;

    // Every ciphertext, as a node or an eavesdropper would hand it over.
    let alice = home.client("alice").await;
    let all = alice
        .list_messages(room, &MessageQuery::default())
        .await
        .unwrap()
        .messages;
    assert_eq!(all.len(), 3);
    assert_eq!(
        all.iter().map(|m| m.epoch).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(2)]
    );
    // With its saved key, carol still reads what it was entitled to...
    let former = home.client("carol").await;
    former.import_room_key(room, 1, saved.clone());
    let old = former.open_message(&all[0]).await.unwrap();
    assert_eq!(old.text.as_deref(), Some("before the kick"));
    assert_eq!(old.verified, peer_client::Verification::Verified);
    // ...but nothing posted after the kick, with any key it holds.
    for m in &all[1..] {
        let sender = alice.known_user(m.sender_id).await.unwrap().key;
        for epoch in [1, 2] {
            assert!(
                saved
                    .epoch_key(room, epoch)
                    .decrypt_message(m, &sender)
                    .is_err(),
                "a saved key opened a message sent after the kick"
            );
        }
        match former.open_message(m).await {
            Err(e) => assert!(e.is_api(peer_proto::ErrorCode::NotMember), "{e}"),
            Ok(r) => assert!(r.text.is_none(), "carol read {r:?}"),
        }
    }
    assert!(
        former.refresh_keys(room).await.is_err(),
        "no more envelopes for carol"
    );
    agent.terminate();
    assert_eq!(agent.finish().await.0, 0);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_member_catches_up_on_rotations() {
    let node = node().await;
    let home = Home::new(node.url());
    for p in ["alice", "bob", "carol"] {
        home.init(p).await;
    }
    home.ok("alice", &["rooms", "create", "plans"]).await;
    let mut agent = home.spawn("alice", &["agent"]);
    agent.expect("online:").await;
    home.ok("bob", &["rooms", "join", "plans"]).await;
    home.ok("carol", &["rooms", "join", "plans"]).await;
    home.ok("bob", &["send", "plans", "bob, before going away"])
        .await;
    // Bob is away (nothing of his runs). Carol leaves: the agent rotates.
    home.ok("carol", &["rooms", "leave", "plans"]).await;
    agent
        .expect("rotate: rotated the key of 'plans' to epoch 2")
        .await;
    home.ok("alice", &["send", "plans", "in epoch 2"]).await;
    home.ok("alice", &["rooms", "rotate", "plans"]).await;
    home.ok("alice", &["send", "plans", "in epoch 3"]).await;
    // Bob is back: his envelopes of epochs 2 and 3 are fetched on reading.
    let read = home.json("bob", &["read", "plans"]).await;
    assert_eq!(
        texts(&read),
        [
            Some("bob, before going away"),
            Some("in epoch 2"),
            Some("in epoch 3")
        ]
    );
    assert!(read.iter().all(|m| m["verified"] == true));
    assert_eq!(
        read.iter().map(|m| m["epoch"].as_u64()).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3)]
    );
    // And he posts in the current epoch without being told about it.
    home.ok("bob", &["send", "plans", "back"]).await;
    let last = home.json("alice", &["read", "plans", "--after", "3"]).await;
    assert_eq!(
        (last[0]["text"].as_str(), last[0]["epoch"].as_u64()),
        (Some("back"), Some(3))
    );
    agent.terminate();
    assert_eq!(agent.finish().await.0, 0);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_without_an_owner_online_and_the_agent_catching_up() {
    let node = node().await;
    let home = Home::new(node.url());
    for p in ["alice", "bob", "dave"] {
        home.init(p).await;
    }
    home.ok("alice", &["rooms", "create", "plans"]).await;
    let mut agent = home.spawn("alice", &["agent"]);
    agent.expect("online:").await;
    home.ok("bob", &["rooms", "join", "plans"]).await;
    home.ok("alice", &["send", "plans", "epoch one"]).await;
    home.ok("alice", &["rooms", "rotate", "plans"]).await;
    home.ok("bob", &["send", "plans", "epoch two"]).await;
    agent.terminate();
    assert_eq!(agent.finish().await.0, 0);

    // Nobody hands out keys now: the join says so, and dave stays a member.
    let line = home
        .fails(
            "dave",
            &["rooms", "join", "plans", "--wait", "1"],
            "key_pending",
        )
        .await;
    assert!(
        line.contains("joined room 'plans', but no owner or admin handed you its key within 1 s"),
        "{line}"
    );
    let pending = home.json("dave", &["read", "plans"]).await;
    assert_eq!(pending.len(), 2);
    assert_eq!(
        (pending[0]["status"].as_str(), pending[0]["reason"].as_str()),
        (Some("unreadable"), Some("before_join"))
    );
    assert_eq!(
        (pending[1]["status"].as_str(), pending[1]["reason"].as_str()),
        (Some("unreadable"), Some("key_pending"))
    );

    // The owner comes online: the agent catches up on dave's key.
    let mut agent = home.spawn("alice", &["agent"]);
    agent
        .expect("key: handed the key of 'plans' (epoch 2) to 1 member(s) who lacked it")
        .await;
    agent.expect("online: agent of user").await;
    let read = home.json("dave", &["read", "plans"]).await;
    // Older history: unreadable by design, not an error.
    assert_eq!(read[0]["status"].as_str(), Some("unreadable"));
    assert_eq!(read[0]["reason"].as_str(), Some("before_join"));
    assert_eq!(read[0]["text"], Value::Null);
    assert_eq!(
        (read[1]["text"].as_str(), read[1]["verified"].as_bool()),
        (Some("epoch two"), Some(true))
    );
    let text = home.ok("dave", &["read", "plans"]).await;
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with("· alice: (sent before you joined: unreadable by design)"),
        "{text}"
    );
    // A later joiner gets the key live, within the wait.
    home.init("erin").await;
    let joined = home.json1("erin", &["rooms", "join", "plans"]).await;
    assert_eq!(joined["key"], "received");
    agent.expect("to erin").await;
    agent.terminate();
    assert_eq!(agent.finish().await.0, 0);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_pending_is_explained_and_a_manager_rotates_before_posting() {
    let node = node().await;
    let home = Home::new(node.url());
    for p in ["alice", "bob", "carol"] {
        home.init(p).await;
    }
    let room = home.json1("alice", &["rooms", "create", "plans"]).await;
    let room: RoomId = room["id"].as_str().unwrap().parse().unwrap();
    home.ok("bob", &["rooms", "join", "plans", "--wait", "0"])
        .await;
    home.ok("carol", &["rooms", "join", "plans", "--wait", "0"])
        .await;
    // Alice's own client code hands out the keys (no agent runs).
    let alice = home.client("alice").await;
    let posted = alice
        .distribute_key_to_members(room)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(posted.stored, 2);
    home.ok("carol", &["rooms", "leave", "plans"]).await;
    let line = home
        .fails("bob", &["send", "plans", "hello?"], "rotation_pending")
        .await;
    assert!(
        line.contains("the room key must be rotated first; an owner or admin must come online"),
        "{line}"
    );
    // The owner posting rotates first.
    home.ok("alice", &["send", "plans", "rotated and sent"])
        .await;
    let shown = home.json1("alice", &["rooms", "show", "plans"]).await;
    assert_eq!(
        (shown["epoch"].as_u64(), shown["rotation_due"].as_bool()),
        (Some(2), Some(false))
    );
    home.ok("bob", &["send", "plans", "now it works"]).await;
    let read = home.json("bob", &["read", "plans"]).await;
    assert_eq!(
        texts(&read),
        [Some("rotated and sent"), Some("now it works")]
    );
    node.stop().await;
}

/// A node whose HTTP server can stop and start again on the same port,
/// keeping its users, sessions and event log.
struct Restartable {
    node: Node,
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Restartable {
    async fn start() -> Restartable {
        let node = Node::new(
            peer_testkit::keys::node().clone(),
            Arc::new(peer_store::MemoryStore::default()),
            crate::support::node_config(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut r = Restartable {
            node,
            addr,
            stop: None,
            task: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: TcpListener) {
        let server = Server::new(listener, self.node.clone(), ServerConfig::default());
        let (stop, stopped) = oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(server.run(async move {
            let _ = stopped.await;
        })));
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving (event streams end) and waits until it has.
    async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    /// Serves again on the same address.
    async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reconnects_and_resumes_after_the_last_event() {
    let mut node = Restartable::start().await;
    let home = Home::new(&node.url());
    home.init("alice").await;
    home.init("bob").await;
    home.ok("alice", &["rooms", "create", "plans"]).await;
    let mut agent = home.spawn("alice", &["agent"]);
    agent.expect("online: agent of user").await;
    home.ok("bob", &["rooms", "join", "plans"]).await;
    agent
        .expect("key: handed the key of 'plans' (epoch 1) to bob")
        .await;

    node.stop().await;
    agent.expect("offline: ").await;
    node.restart().await;
    // Whether the agent is back yet or not, the key request is not lost:
    // it is delivered live, or replayed after Last-Event-ID.
    home.init("carol").await;
    home.ok("carol", &["rooms", "join", "plans"]).await;
    agent
        .expect("online: event stream resumed after event")
        .await;
    agent.expect("to carol").await;
    home.ok("alice", &["send", "plans", "after the restart"])
        .await;
    let read = home.json("carol", &["read", "plans"]).await;
    assert_eq!(texts(&read), [Some("after the restart")]);
    agent.terminate();
    assert_eq!(agent.finish().await.0, 0);
    node.stop().await;
}
