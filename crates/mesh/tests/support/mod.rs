//! In-process nodes with their mesh, serving HTTP on 127.0.0.1, and
//! helpers to wait for things (every wait bounded).

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use peer_http::client::BaseUrl;
use peer_http::server::{Server, ServerConfig};
use peer_mesh::{Join, Mesh, MeshConfig, Timings};
use peer_node::{Node, NodeConfig};
use peer_proto::api::NodeRole;
use peer_store::{MemoryStore, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Long enough for anything on a loaded machine.
pub(crate) const BOUND: Duration = Duration::from_secs(30);

/// Timings that make the tests quick (checks every 300 ms).
pub(crate) fn quick() -> Timings {
    Timings {
        probe_every: Duration::from_millis(300),
        probe_timeout: Duration::from_secs(2),
        push_sync_every: Duration::from_millis(200),
        self_record_every: Duration::from_millis(500),
        ..Timings::default()
    }
}

/// A node, its HTTP server and its mesh.
pub(crate) struct MeshNode {
    pub(crate) node: Node,
    pub(crate) mesh: Arc<Mesh>,
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl MeshNode {
    /// A node with node key `key` (testkit), on a memory store, joining as
    /// told, without discovery.
    pub(crate) async fn start(key: usize, join: Join) -> MeshNode {
        MeshNode::start_on(key, Arc::new(MemoryStore::default()), join, None).await
    }

    /// The same on `store`, listening on `at` (or any port).
    pub(crate) async fn start_on(
        key: usize,
        store: Arc<dyn Store>,
        join: Join,
        at: Option<SocketAddr>,
    ) -> MeshNode {
        MeshNode::start_with(key, store, join, at, quick()).await
    }

    /// The same with these timings.
    pub(crate) async fn start_with(
        key: usize,
        store: Arc<dyn Store>,
        join: Join,
        at: Option<SocketAddr>,
        timings: Timings,
    ) -> MeshNode {
        let config = NodeConfig {
            name: format!("node-{key}"),
            group: "lab".into(),
            ..NodeConfig::default()
        };
        let node = Node::new(peer_testkit::keys::node_key(key).clone(), store, config);
        let listener = TcpListener::bind(at.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
        let server = Server::new(listener, node.clone(), ServerConfig::default());
        let addr = server.local_addr();
        let mesh = Arc::new(
            Mesh::start(
                node.clone(),
                MeshConfig {
                    join,
                    listen: addr,
                    discovery: None,
                    timings,
                },
            )
            .unwrap(),
        );
        let server = server.with_upstream(mesh.upstream());
        let (stop, stopped) = oneshot::channel::<()>();
        let leaving = mesh.clone();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
            leaving.stop().await;
        }));
        MeshNode {
            node,
            mesh,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn join(&self) -> Join {
        Join::Url(BaseUrl::parse(&self.url()).unwrap())
    }

    /// Stops gracefully: the mesh leaves (telling its peers), then the
    /// server drains.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(BOUND, task).await;
        }
    }

    /// Stops at once, telling nobody (a crash).
    pub(crate) async fn kill(mut self) {
        self.mesh.abort().await;
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.stop.take();
    }

    /// Waits until this node follows `main`, and `main` reachable.
    pub(crate) async fn wait_following(&self, main: &MeshNode) {
        let main_id = main.node.node_id();
        eventually("following", || async {
            self.node.role() == NodeRole::Follower
                && self
                    .node
                    .main_peer()
                    .is_some_and(|m| m.node_id == main_id && m.reachable)
        })
        .await;
    }
}

/// Waits (bounded by [`BOUND`]) until `check` holds; returns how long it
/// took.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < BOUND, "not within {BOUND:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A fresh RSA-2048 user key.
pub(crate) fn user_key() -> peer_crypto::IdentityKey {
    peer_crypto::IdentityKey::generate(
        &mut peer_crypto::rng::system_rng(),
        peer_crypto::KeySize::Rsa2048,
    )
    .unwrap()
}
