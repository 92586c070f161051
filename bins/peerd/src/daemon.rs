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
use peer_node::Node;
use peer_proto::api::NodeRole;
use peer_store::{MemoryStore, Store};
use peer_store_mongo::{MongoStore, redact_uri};

use crate::config::{IdentityPlan, RunSettings, StorePlan};
use crate::datadir::{DataDir, KeyOrigin};
use crate::{listen, signals};

/// Runs the daemon until SIGINT or SIGTERM, then drains and returns.
pub(crate) async fn run(settings: RunSettings) -> anyhow::Result<()> {
    let RunSettings {
        listen,
        identity,
        store,
        node: node_config,
        server: server_config,
    } = settings;
    // First of all: a signal during the start-up is then not fatal but
    // stops the daemon as soon as it serves (the start-up is bounded).
    let shutdown = signals::shutdown()?;

    // Held until the end of this function: one daemon per data directory.
    let (identity, _data_dir) = open_identity(&identity)?;
    let store = open_store(store).await?;
    let node = Node::new(identity, store, node_config);
    // No discovery yet: the node serves on its own.
    node.set_role(NodeRole::Standalone);

    let listener = listen::bind(&listen).await?;
    let metrics_public = server_config.metrics_public;
    let server = Server::new(listener, node.clone(), server_config);
    let addr = server.local_addr();
    let config = node.config();
    tracing::info!(
        %addr,
        node_id = %node.node_id(),
        name = %config.name,
        registration_open = config.registration_open,
        bearer_tokens = config.bearer_tokens,
        metrics_public,
        "peerd is ready"
    );
    announce(&format!("listening on http://{addr}"))?;

    server
        .run(shutdown)
        .await
        .context("the HTTP server failed")?;
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

async fn open_store(plan: StorePlan) -> anyhow::Result<Arc<dyn Store>> {
    match plan {
        StorePlan::Memory(config) => {
            tracing::info!("store: memory (volatile: everything is lost when peerd stops)");
            Ok(Arc::new(MemoryStore::new(config)))
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
            Ok(Arc::new(store))
        }
    }
}

/// Writes `line` to stdout and flushes it (stdout carries nothing else).
fn announce(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}
