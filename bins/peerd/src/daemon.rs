//! Wiring: validated settings in, a running node out.
//!
//! Order matters for operators: the signal handlers are installed first,
//! and everything that can fail (data directory, key, store, address) is
//! done before the `listening on` line is printed, so a supervisor that
//! waits for the line knows the node serves, and can stop it at any time.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use peer_crypto::{IdentityKey, KeySize};
use peer_http::server::Server;
use peer_mesh::{Mesh, MeshConfig, Timings};
use peer_node::Node;
use peer_proto::api::NodeRole;
use peer_store::{MemoryStore, Store};
use peer_store_mongo::{MongoStore, redact_uri};
use peer_store_redb::{OpenError, RedbConfig, RedbStore};

use crate::config::{IdentityPlan, RunSettings, StorePlan};
use crate::datadir::{DataDir, KeyOrigin};
use crate::{control, listen, signals};

/// Runs the daemon until SIGINT or SIGTERM, then drains and returns.
pub(crate) async fn run(settings: RunSettings) -> anyhow::Result<()> {
    let RunSettings {
        listen,
        identity,
        store,
        node: node_config,
        server: server_config,
        mesh: mesh_plan,
        exit_with_stdin,
    } = settings;
    // First of all: a signal during the start-up is then not fatal but
    // stops the daemon as soon as it serves (the start-up is bounded).
    let shutdown = signals::shutdown_or_stdin_closed(exit_with_stdin)?;

    // Held until the end of this function: one daemon per data directory.
    let (identity, _data_dir) = open_identity(&identity)?;
    let (store, redb) = open_store(store).await?;
    // `peerd backup` asks the running daemon through this socket.
    let _control = match &_data_dir {
        Some(dir) => control::serve(dir.path(), redb.clone())
            .map_err(|e| tracing::warn!("{e:#}; `peerd backup` cannot reach this daemon"))
            .ok(),
        None => None,
    };
    let node = Node::new(identity, store, node_config);
    // Until the mesh decides (at once, or after discovery's window).
    node.set_role(NodeRole::Standalone);

    let listener = listen::bind(&listen).await?;
    let metrics_public = server_config.metrics_public;
    let server = Server::new(listener, node.clone(), server_config);
    let addr = server.local_addr();
    let mesh = Arc::new(
        Mesh::start(
            node.clone(),
            MeshConfig {
                join: mesh_plan.join.clone(),
                listen: addr,
                discovery: mesh_plan.discovery.clone(),
                timings: Timings::default(),
            },
        )
        .context("cannot start discovery and the peer mesh")?,
    );
    let metrics_mesh = mesh.clone();
    let server = server
        .with_upstream(mesh.upstream())
        .with_extra_metrics(Arc::new(move || metrics_mesh.render_metrics()));
    let config = node.config();
    tracing::info!(
        %addr,
        node_id = %node.node_id(),
        name = %config.name,
        registration_open = config.registration_open,
        bearer_tokens = config.bearer_tokens,
        metrics_public,
        group = %config.group,
        discovery = ?mesh_plan.discovery.as_ref().map(|d| d.group),
        join = ?mesh_plan.join,
        "peerd is ready"
    );
    announce(&format!("listening on http://{addr}"))?;

    // On a signal: leave the group first (a leave datagram, and the signed
    // leave notices to the main peer or the followers), then drain.
    let leaving = mesh.clone();
    server
        .run(async move {
            shutdown.await;
            leaving.stop().await;
        })
        .await
        .context("the HTTP server failed")?;
    if let Some(redb) = redb {
        // Every acknowledged write is already durable; this lets queued
        // ones commit and stops the writer (on a blocking thread: it
        // waits for the last fsync). The file closes cleanly with the last
        // handle (no repair at the next start).
        let _ = tokio::task::spawn_blocking(move || redb.close()).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The identity key, and the locked data directory when there is one.
fn open_identity(plan: &IdentityPlan) -> anyhow::Result<(IdentityKey, Option<DataDir>)> {
    match plan {
        IdentityPlan::Ephemeral => {
            let key = IdentityKey::generate(&mut peer_crypto::rng::system_rng(), KeySize::Rsa2048)
                .map_err(|e| anyhow!("cannot generate the node key: {e}"))?;
            tracing::info!(
                node_id = %key.node_id(),
                "ephemeral node: identity in memory only, nothing is written to disk"
            );
            Ok((key, None))
        }
        IdentityPlan::DataDir(path) => {
            let dir = DataDir::open(path)?;
            let (key, origin) = dir.identity()?;
            let key_path = dir.key_path();
            match origin {
                KeyOrigin::Created => tracing::info!(
                    key = %key_path.display(),
                    node_id = %key.node_id(),
                    "created a new node identity key (keep it private; back it up)"
                ),
                KeyOrigin::Loaded => tracing::info!(
                    key = %key_path.display(),
                    node_id = %key.node_id(),
                    "loaded the node identity key"
                ),
            }
            tracing::debug!(dir = %dir.path().display(), "data directory locked");
            Ok((key, Some(dir)))
        }
    }
}

/// The store, and the redb store again when that is the one (for backups
/// and the clean close).
async fn open_store(plan: StorePlan) -> anyhow::Result<(Arc<dyn Store>, Option<Arc<RedbStore>>)> {
    match plan {
        StorePlan::Memory(config) => {
            tracing::info!("store: memory (volatile: everything is lost when peerd stops)");
            Ok((Arc::new(MemoryStore::new(config)), None))
        }
        StorePlan::Redb(config) => {
            let store = Arc::new(open_redb(config).await?);
            tracing::info!(file = %store.path().display(), "store: redb");
            Ok((store.clone(), Some(store)))
        }
        StorePlan::Mongo(config) => {
            let shown = redact_uri(&config.uri);
            let database = config.database.clone();
            let store = MongoStore::connect(config)
                .await
                .map_err(|e| anyhow!("cannot use MongoDB at {shown} (database {database}): {e}"))?;
            tracing::info!(
                uri = %shown,
                database = %database,
                transactions = store.uses_transactions(),
                "store: mongodb"
            );
            Ok((Arc::new(store), None))
        }
    }
}

/// Opens a redb store with an operator-facing error.
pub(crate) async fn open_redb(config: RedbConfig) -> anyhow::Result<RedbStore> {
    RedbStore::open_async(config).await.map_err(|e| match e {
        OpenError::InUse { path } => anyhow!(
            "the store file {} is in use by another process (a running peerd or peerd \
             migrate): stop it first, or give each node its own --data-dir",
            path.display()
        ),
        other => anyhow!("{other}"),
    })
}

/// Writes `line` to stdout and flushes it (stdout carries nothing else).
fn announce(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}
