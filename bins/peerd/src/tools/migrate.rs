//! `peerd migrate --from STORE --to STORE`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use peer_store::Store;
use peer_store_mongo::{MongoConfig, MongoStore, redact_uri};

use super::transfer::{self, Entity};
use super::{MigrateArgs, ToolError};
use crate::config::REDB_FILE;
use crate::datadir::DataDir;

/// One side of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// A redb file, or a data directory holding one.
    Redb(PathBuf),
    /// A MongoDB deployment and database.
    Mongo { uri: String, database: String },
}

impl Endpoint {
    fn parse(flag: &str, text: &str, database: &str) -> Result<Endpoint, ToolError> {
        let t = text.trim();
        if t == "memory" || t.starts_with("memory:") {
            return Err(ToolError::Usage(format!(
                "{flag}: the memory store is volatile, nothing outlives its process: there is \
                 nothing to migrate from or into it"
            )));
        }
        if let Some(path) = t.strip_prefix("redb:") {
            if path.is_empty() {
                return Err(ToolError::Usage(format!("{flag}: redb: needs a path")));
            }
            return Ok(Endpoint::Redb(PathBuf::from(path)));
        }
        if t.starts_with("mongodb://") || t.starts_with("mongodb+srv://") {
            return Ok(Endpoint::Mongo {
                uri: t.to_owned(),
                database: database.to_owned(),
            });
        }
        Err(ToolError::Usage(format!(
            "{flag}: `{}` is no store: expected redb:PATH or a MongoDB URI (mongodb://...)",
            redact_uri(t)
        )))
    }

    fn shown(&self) -> String {
        match self {
            Endpoint::Redb(p) => format!("redb:{}", p.display()),
            Endpoint::Mongo { uri, database } => {
                format!("{} (database {database})", redact_uri(uri))
            }
        }
    }
}

/// An open side, with the data directory lock when it is one.
struct Opened {
    store: Arc<dyn Store>,
    redb: Option<Arc<peer_store_redb::RedbStore>>,
    _lock: Option<DataDir>,
}

async fn open(end: &Endpoint, source: bool) -> anyhow::Result<Opened> {
    match end {
        Endpoint::Redb(path) => {
            let (file, lock) = if path.is_dir() {
                // A data directory: lock it, so that no peerd starts on it
                // during the copy.
                (path.join(REDB_FILE), Some(DataDir::lock(path)?))
            } else if !source && !path.exists() && !is_redb_file_name(path) {
                // A new data directory for the target (mode 0700, locked).
                (path.join(REDB_FILE), Some(DataDir::open(path)?))
            } else {
                (path.clone(), None)
            };
            if source && !file.is_file() {
                return Err(anyhow!("there is no redb store at {}", file.display()));
            }
            let store =
                Arc::new(crate::daemon::open_redb(peer_store_redb::RedbConfig::new(&file)).await?);
            Ok(Opened {
                store: store.clone(),
                redb: Some(store),
                _lock: lock,
            })
        }
        Endpoint::Mongo { uri, database } => {
            let store = MongoStore::connect(MongoConfig::new(uri.clone(), database.clone()))
                .await
                .map_err(|e| anyhow!("cannot use MongoDB at {}: {e}", end.shown()))?;
            Ok(Opened {
                store: Arc::new(store),
                redb: None,
                _lock: None,
            })
        }
    }
}

/// True for a path naming a redb file rather than a data directory (it
/// ends in `.redb`).
fn is_redb_file_name(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "redb")
}

fn same(a: &Endpoint, b: &Endpoint) -> bool {
    match (a, b) {
        (Endpoint::Redb(x), Endpoint::Redb(y)) => {
            let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            canon(x) == canon(y)
        }
        _ => a == b,
    }
}

pub(super) async fn run(args: MigrateArgs) -> Result<(), ToolError> {
    let from = Endpoint::parse("--from", &args.from, &args.from_database)?;
    let to = Endpoint::parse("--to", &args.to, &args.to_database)?;
    if same(&from, &to) {
        return Err(ToolError::Usage(
            "--from and --to are the same store".to_owned(),
        ));
    }
    let source = open(&from, true).await?;
    let target = open(&to, false).await?;
    eprintln!("peerd: migrating {} -> {}", from.shown(), to.shown());

    let started = Instant::now();
    let mut last_line = Instant::now();
    let mut current: Option<Entity> = None;
    let mut progress = |e: Entity, c: peer_store::ImportCount| {
        // A line when an entity starts, then at most one a second.
        if current != Some(e) || last_line.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "peerd: {e}: {} copied so far ({} new, {} already there)",
                c.inserted + c.present,
                c.inserted,
                c.present
            );
            current = Some(e);
            last_line = Instant::now();
        }
        true
    };
    let totals = transfer::copy_all(&*source.store, &*target.store, args.batch, &mut progress)
        .await
        .map_err(|e| {
            ToolError::Failed(anyhow!(
                "{e}. Nothing copied is lost: run the same command again to complete the \
                 migration"
            ))
        })?;
    for side in [&source, &target] {
        if let Some(r) = &side.redb {
            r.close();
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "migrated {} -> {} in {:.1} s",
        from.shown(),
        to.shown(),
        started.elapsed().as_secs_f64()
    );
    for e in Entity::ALL {
        let c = totals.of(e);
        let _ = writeln!(
            out,
            "{:<14} {:>9}  ({} new, {} already there)",
            format!("{e}:"),
            c.inserted + c.present,
            c.inserted,
            c.present
        );
    }
    let _ = out.flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("--from", "redb:/srv/pg", "x").ok().unwrap();
        assert_eq!(e, Endpoint::Redb("/srv/pg".into()));
        let e = Endpoint::parse("--to", "mongodb://u:pw@h/?replicaSet=rs0", "pg")
            .ok()
            .unwrap();
        assert!(!e.shown().contains("pw"), "{}", e.shown());
        for bad in ["memory", "memory:", "redb:", "postgres://h", "/srv/pg"] {
            match Endpoint::parse("--from", bad, "x") {
                Err(ToolError::Usage(m)) => assert!(m.starts_with("--from"), "{m}"),
                _ => panic!("{bad} accepted"),
            }
        }
        match Endpoint::parse("--from", "memory", "x") {
            Err(ToolError::Usage(m)) => assert!(m.contains("volatile"), "{m}"),
            _ => panic!(),
        }
    }
}
