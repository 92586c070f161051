//! From the raw command line, environment and file to validated
//! [`Settings`] that hold the built configuration objects of the libraries.
//!
//! ```text
//! argv + environment ──clap──▶ flag layer ─┐
//!                         └──▶ env layer  ─┼─ Merged (first that has it) ─▶ validate ─▶ Settings
//! --config FILE ──toml──▶ file layer ──────┘
//! ```
//!
//! Precedence: flags > `PEERD_*` variables > the TOML file > defaults.
//! Every problem found here is a [`UsageError`] (exit code 2); nothing here
//! touches the network or writes a file.

mod cli;
mod file;
mod layer;
mod values;

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use peer_http::server::ServerConfig;
use peer_node::NodeConfig;
use peer_store::MemoryConfig;
use peer_store_mongo::{MongoConfig, redact_uri};
use peer_store_redb::RedbConfig;
use tracing_subscriber::EnvFilter;

/// The size limit of a settings file (for the library's fuzz entry point).
#[allow(unused_imports)] // used by the library target, not by the binary
pub(crate) use file::MAX_FILE_BYTES;
pub(crate) use values::LogFormat;

use layer::{Merged, Source, Sourced};
use values::{JoinSpec, ListenSpec, MetricsAccess, Registration, StoreChoice};

/// The port tried first when none is given.
pub(crate) const DEFAULT_PORT: u16 = 8080;
/// Ports tried, from the default one up, when none is given.
pub(crate) const PORT_TRIES: u16 = 20;
/// The data directory's name under `$XDG_DATA_HOME` (or `~/.local/share`).
const DATA_DIR_NAME: &str = "peergroup";
/// The MongoDB database used when none is given.
pub(crate) const DEFAULT_DATABASE: &str = "peergroup";
/// The redb store's file name in the data directory.
pub(crate) const REDB_FILE: &str = "peergroup.redb";

/// A problem with the command line, the environment or the settings file:
/// the daemon does not start, and exits with code 2.
#[derive(Debug)]
pub(crate) struct UsageError(String);

impl UsageError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        UsageError(message.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Why the settings could not be loaded.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// clap's own: usage errors, and `--help` / `--version` (which are not
    /// errors but end the program all the same).
    Clap(cli::ParseError),
    /// Anything found invalid after parsing.
    Usage(UsageError),
}

impl From<UsageError> for LoadError {
    fn from(e: UsageError) -> Self {
        LoadError::Usage(e)
    }
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListenPlan {
    /// This address or nothing.
    Exact {
        /// The address.
        addr: SocketAddr,
        /// Where it was given (`--listen`, `PEERD_LISTEN`, ...).
        origin: String,
    },
    /// The first free port of `first..first + tries` on `ip`.
    Search {
        /// The host.
        ip: IpAddr,
        /// The port tried first.
        first: u16,
        /// How many ports to try.
        tries: u16,
    },
}

/// Where the node's identity comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdentityPlan {
    /// A fresh key in memory, never written.
    Ephemeral,
    /// `node.pem` in this (absolute) data directory, created if absent.
    DataDir(PathBuf),
}

/// The store to open.
#[derive(Debug, Clone)]
pub(crate) enum StorePlan {
    /// In memory.
    Memory(MemoryConfig),
    /// One redb file in the data directory.
    Redb(RedbConfig),
    /// MongoDB (`Debug` of the config redacts credentials).
    Mongo(MongoConfig),
}

/// How to log.
#[derive(Debug)]
pub(crate) struct LogSettings {
    /// Text or JSON.
    pub(crate) format: LogFormat,
    /// Which events.
    pub(crate) filter: EnvFilter,
}

/// Everything peerd needs, validated.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Logging.
    pub(crate) log: LogSettings,
    /// Things worth a warning once logging is up (unknown variables, ...).
    pub(crate) warnings: Vec<String>,
    /// What the daemon runs.
    pub(crate) run: RunSettings,
}

/// What the daemon runs, validated.
#[derive(Debug)]
pub(crate) struct RunSettings {
    /// Where to listen.
    pub(crate) listen: ListenPlan,
    /// Where the identity comes from.
    pub(crate) identity: IdentityPlan,
    /// The store.
    pub(crate) store: StorePlan,
    /// The node's settings.
    pub(crate) node: NodeConfig,
    /// The HTTP server's settings.
    pub(crate) server: ServerConfig,
    /// Discovery and how to join the group.
    pub(crate) mesh: MeshPlan,
    /// `--exit-with-stdin`: shut down when stdin reaches end-of-file.
    pub(crate) exit_with_stdin: bool,
}

/// Discovery and how to join the group, validated.
#[derive(Debug, Clone)]
pub(crate) struct MeshPlan {
    /// Discovery's settings, when it is on.
    pub(crate) discovery: Option<peer_discovery::DiscoveryConfig>,
    /// How to join.
    pub(crate) join: peer_mesh::Join,
}

/// Parses `args` (program name first), the process environment as clap
/// sees it, and the settings file, and validates the result. `vars` are
/// the environment variables (for the default data directory and the check
/// for unknown `PEERD_*` variables).
pub(crate) fn load<I, T>(args: I, vars: &[(OsString, OsString)]) -> Result<Settings, LoadError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cl = cli::parse(args).map_err(LoadError::Clap)?;
    let mut layers = vec![(cl.flags, Source::Flag), (cl.env, Source::Env)];
    if let Some(path) = &cl.config {
        layers.push((file::read(path)?, Source::File(path.clone())));
    }
    let merged = Merged::merge(layers);
    let mut settings = validate(merged, cl.default_port, vars)?;
    settings.run.exit_with_stdin = cl.exit_with_stdin;
    settings.warnings.extend(unknown_variables(vars));
    Ok(settings)
}

/// The settings of a settings file's text on its own (no flags, no
/// variables; `vars` as for [`load`]), validated as `--config FILE` would
/// be: the library's fuzz entry point (`src/lib.rs`); the daemon reads its
/// file with [`load`].
#[allow(dead_code)] // used by the library target, not by the binary
pub(crate) fn from_file_text(
    text: &str,
    vars: &[(OsString, OsString)],
) -> Result<Settings, UsageError> {
    let path = PathBuf::from("settings.toml");
    let layer = file::parse_named(text, &path.display().to_string())?;
    validate(Merged::merge(vec![(layer, Source::File(path))]), None, vars)
}

/// Turns merged values into [`Settings`], applying defaults.
fn validate(
    m: Merged,
    default_port: Option<u16>,
    vars: &[(OsString, OsString)],
) -> Result<Settings, UsageError> {
    let listen = listen_plan(m.listen, default_port)?;
    // `--ephemeral`, when it is on (and where it was said, for conflicts).
    let ephemeral = m.ephemeral.filter(|e| e.value);
    let identity = identity_plan(ephemeral.as_ref(), m.data_dir, vars)?;
    let data_dir = match &identity {
        IdentityPlan::DataDir(dir) => Some(dir.as_path()),
        IdentityPlan::Ephemeral => None,
    };
    let mut store = store_plan(
        ephemeral.as_ref(),
        data_dir,
        m.store,
        m.mongodb_uri,
        m.mongodb_database,
    )?;

    let mut node = NodeConfig::default();
    if let Some(name) = m.name {
        check_node_name(&name)?;
        node.name = name.value;
    }
    if let Some(r) = m.registration {
        node.registration_open = r.value == Registration::Open;
    }
    if let Some(b) = m.bearer_tokens {
        node.bearer_tokens = b.value.is_on();
    }
    if let Some(group) = m.group {
        check_group_name(&group)?;
        node.group = group.value;
    }
    let mesh = mesh_plan(
        m.discovery,
        m.discovery_group,
        m.discovery_interface,
        m.join,
    )?;
    let limits = Limits {
        session_rate: m.session_rate,
        session_burst: m.session_burst,
        handshake_rate: m.handshake_rate,
        max_sessions: m.max_sessions,
        max_streams_per_user: m.max_streams_per_user,
        memory_max_messages: m.memory_max_messages,
    };
    apply_limits(&mut node, &mut store, &limits)?;

    let server = ServerConfig {
        metrics_public: m.metrics.is_none_or(|a| a.value == MetricsAccess::Public),
        ..ServerConfig::default()
    };

    let log = LogSettings {
        format: m.log_format.map_or(LogFormat::Text, |f| f.value),
        filter: log_filter(m.log_level.as_ref())?,
    };

    Ok(Settings {
        log,
        warnings: Vec::new(),
        run: RunSettings {
            listen,
            identity,
            store,
            node,
            server,
            mesh,
            exit_with_stdin: false,
        },
    })
}

/// The rate and size limits an operator may set.
struct Limits {
    session_rate: Option<Sourced<u32>>,
    session_burst: Option<Sourced<u32>>,
    handshake_rate: Option<Sourced<u32>>,
    max_sessions: Option<Sourced<u32>>,
    max_streams_per_user: Option<Sourced<u32>>,
    memory_max_messages: Option<Sourced<u32>>,
}

/// Applies the limits that were set, each checked to lie within its range.
fn apply_limits(
    node: &mut NodeConfig,
    store: &mut StorePlan,
    limits: &Limits,
) -> Result<(), UsageError> {
    const MILLION: u32 = 1_000_000;
    if let Some(n) = within(limits.session_rate.as_ref(), MILLION)? {
        node.session_rate.per_sec = n;
    }
    if let Some(n) = within(limits.session_burst.as_ref(), MILLION)? {
        node.session_rate.burst = n;
    }
    if let Some(n) = within(limits.handshake_rate.as_ref(), MILLION)? {
        node.handshake_rate = peer_node::ratelimit::Rate {
            per_sec: n,
            burst: n,
        };
    }
    if let Some(n) = within(limits.max_sessions.as_ref(), 10 * MILLION)? {
        node.max_sessions = n as usize;
    }
    if let Some(n) = within(limits.max_streams_per_user.as_ref(), 100_000)? {
        node.max_streams_per_user = n as usize;
    }
    if let Some(n) = within(limits.memory_max_messages.as_ref(), 100 * MILLION)? {
        match store {
            StorePlan::Memory(cfg) => cfg.max_messages_per_room = n as usize,
            _ => {
                return Err(UsageError::new(format!(
                    "{} applies to the memory store only",
                    limits.memory_max_messages.as_ref().map_or_else(
                        || "--memory-max-messages".to_owned(),
                        |s| s.origin().to_string()
                    )
                )));
            }
        }
    }
    Ok(())
}

/// A count setting checked to lie in `1..=max`.
fn within(value: Option<&Sourced<u32>>, max: u32) -> Result<Option<u32>, UsageError> {
    match value {
        None => Ok(None),
        Some(v) if (1..=max).contains(&v.value) => Ok(Some(v.value)),
        Some(v) => Err(UsageError::new(format!(
            "{} must be between 1 and {max}, not {}",
            v.origin(),
            v.value
        ))),
    }
}

/// Discovery is on unless switched off; joining is `auto` with discovery
/// and `none` without. `auto` without discovery, and discovery settings
/// while it is off, are refused.
fn mesh_plan(
    discovery: Option<Sourced<values::Switch>>,
    group: Option<Sourced<values::MulticastGroup>>,
    interface: Option<Sourced<std::net::Ipv4Addr>>,
    join: Option<Sourced<JoinSpec>>,
) -> Result<MeshPlan, UsageError> {
    let off = discovery.as_ref().filter(|d| !d.value.is_on());
    if let Some(off) = off {
        let given = group
            .as_ref()
            .map(|g| g.origin().to_string())
            .or_else(|| interface.as_ref().map(|i| i.origin().to_string()));
        if let Some(given) = given {
            return Err(UsageError::new(format!(
                "{given} is set, but discovery is off ({}): remove one of them",
                off.origin()
            )));
        }
        if let Some(j) = join.as_ref().filter(|j| j.value == JoinSpec::Auto) {
            return Err(UsageError::new(format!(
                "{} is auto, which needs discovery, but {} turns it off: \
                 use --join none, or --join http://MAIN:PORT",
                j.origin(),
                off.origin()
            )));
        }
    }
    let config = if off.is_some() {
        None
    } else {
        let mut d = peer_discovery::DiscoveryConfig::default();
        if let Some(g) = group {
            d.group = g.value.0;
        }
        if let Some(i) = interface {
            if i.value.is_multicast() || i.value.is_broadcast() {
                return Err(UsageError::new(format!(
                    "{}: `{}` is not an interface address",
                    i.origin(),
                    i.value
                )));
            }
            d.interface = i.value;
        }
        Some(d)
    };
    let join = match join.map(|j| j.value) {
        Some(JoinSpec::Auto) => peer_mesh::Join::Auto,
        Some(JoinSpec::None) => peer_mesh::Join::None,
        Some(JoinSpec::Url(url)) => {
            peer_mesh::join_url(&url).map_err(|e| UsageError::new(format!("--join: {e}")))?
        }
        None if config.is_some() => peer_mesh::Join::Auto,
        None => peer_mesh::Join::None,
    };
    Ok(MeshPlan {
        discovery: config,
        join,
    })
}

fn check_group_name(group: &Sourced<String>) -> Result<(), UsageError> {
    let g = &group.value;
    let max = peer_proto::discovery::MAX_GROUP_BYTES;
    if g.is_empty() || g.len() > max || g.chars().any(char::is_control) {
        return Err(UsageError::new(format!(
            "{}: a group name is 1-{max} bytes without control characters",
            group.origin()
        )));
    }
    Ok(())
}

fn identity_plan(
    ephemeral: Option<&Sourced<bool>>,
    data_dir: Option<Sourced<PathBuf>>,
    vars: &[(OsString, OsString)],
) -> Result<IdentityPlan, UsageError> {
    match (ephemeral, data_dir) {
        (Some(e), Some(dir)) => Err(conflict(
            e,
            dir.origin(),
            "an ephemeral node has no data directory",
        )),
        (Some(_), None) => Ok(IdentityPlan::Ephemeral),
        (None, Some(dir)) => absolute_dir(&dir).map(IdentityPlan::DataDir),
        (None, None) => default_data_dir(vars).map(IdentityPlan::DataDir),
    }
}

/// The store: `--store` when given, else redb in the data directory, or
/// memory for an ephemeral node (which has no data directory).
fn store_plan(
    ephemeral: Option<&Sourced<bool>>,
    data_dir: Option<&std::path::Path>,
    store: Option<Sourced<StoreChoice>>,
    uri: Option<Sourced<String>>,
    database: Option<Sourced<String>>,
) -> Result<StorePlan, UsageError> {
    let mongodb = store
        .as_ref()
        .is_some_and(|s| s.value == StoreChoice::Mongodb);
    let Some(store) = store.clone().filter(|_| mongodb) else {
        let plan = match (store.as_ref().map(|s| s.value), data_dir) {
            (Some(StoreChoice::Memory), _) | (None, None) => {
                StorePlan::Memory(MemoryConfig::default())
            }
            (_, Some(dir)) => StorePlan::Redb(RedbConfig::new(dir.join(REDB_FILE))),
            (Some(_), None) => {
                // `--store redb` on an ephemeral node.
                let (Some(e), Some(store)) = (ephemeral, store.as_ref()) else {
                    return Err(UsageError::new("the redb store needs a data directory"));
                };
                return Err(conflict(
                    e,
                    store.origin(),
                    "an ephemeral node uses the memory store",
                ));
            }
        };
        // MongoDB settings would be ignored, so refuse them.
        let given = (uri.as_ref().map(|u| u.origin().to_string()))
            .or_else(|| database.as_ref().map(|d| d.origin().to_string()));
        if let Some(given) = given {
            let kind = match plan {
                StorePlan::Redb(_) => "redb",
                _ => "memory",
            };
            return Err(UsageError::new(format!(
                "{given} is set, but the store is {kind}: add --store mongodb, or remove it"
            )));
        }
        return Ok(plan);
    };
    if let Some(e) = ephemeral {
        return Err(conflict(
            e,
            store.origin(),
            "an ephemeral node uses the memory store",
        ));
    }
    let uri = uri.ok_or_else(|| {
        UsageError::new(
            "--store mongodb needs a connection string: --mongodb-uri, \
             PEERD_MONGODB_URI or `mongodb_uri` in the config file",
        )
    })?;
    check_mongodb_uri(&uri)?;
    let database = match database {
        Some(db) => {
            check_database_name(&db)?;
            db.value
        }
        None => DEFAULT_DATABASE.to_owned(),
    };
    Ok(StorePlan::Mongo(MongoConfig::new(uri.value, database)))
}

/// `A conflicts with B: why`, naming where each was said.
fn conflict(ephemeral: &Sourced<bool>, other: impl fmt::Display, why: &str) -> UsageError {
    UsageError::new(format!(
        "{} conflicts with {other}: {why}",
        ephemeral.origin()
    ))
}

fn listen_plan(
    listen: Option<Sourced<ListenSpec>>,
    default_port: Option<u16>,
) -> Result<ListenPlan, UsageError> {
    let first = match default_port {
        Some(0) => return Err(UsageError::new("--default-port must be 1-65535")),
        Some(p) => p,
        None => DEFAULT_PORT,
    };
    let search = |ip| ListenPlan::Search {
        ip,
        first,
        tries: PORT_TRIES,
    };
    Ok(match listen {
        None => match ListenSpec::DEFAULT {
            ListenSpec::Host(ip) => search(ip),
            ListenSpec::Exact(addr) => ListenPlan::Exact {
                addr,
                origin: "the default".into(),
            },
        },
        Some(Sourced {
            value: ListenSpec::Host(ip),
            ..
        }) => search(ip),
        Some(
            ref given @ Sourced {
                value: ListenSpec::Exact(addr),
                ..
            },
        ) => ListenPlan::Exact {
            addr,
            origin: given.origin().to_string(),
        },
    })
}

fn absolute_dir(dir: &Sourced<PathBuf>) -> Result<PathBuf, UsageError> {
    if dir.value.as_os_str().is_empty() {
        return Err(UsageError::new(format!("{} is empty", dir.origin())));
    }
    std::path::absolute(&dir.value).map_err(|e| UsageError::new(format!("{}: {e}", dir.origin())))
}

/// `$XDG_DATA_HOME/peergroup`, or `$HOME/.local/share/peergroup`.
pub(crate) fn default_data_dir(vars: &[(OsString, OsString)]) -> Result<PathBuf, UsageError> {
    let var = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| PathBuf::from(v))
            .filter(|p| !p.as_os_str().is_empty())
    };
    // The XDG spec says a relative XDG_DATA_HOME is to be ignored.
    if let Some(xdg) = var("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join(DATA_DIR_NAME));
    }
    if let Some(home) = var("HOME").filter(|p| p.is_absolute()) {
        return Ok(home.join(".local").join("share").join(DATA_DIR_NAME));
    }
    Err(UsageError::new(
        "no data directory: HOME is not set; give --data-dir DIR, or --ephemeral for none",
    ))
}

fn check_node_name(name: &Sourced<String>) -> Result<(), UsageError> {
    let n = &name.value;
    let max = peer_proto::discovery::MAX_NAME_BYTES;
    if n.is_empty() || n.len() > max || n.chars().any(char::is_control) {
        return Err(UsageError::new(format!(
            "{}: a node name is 1-{max} bytes without control characters",
            name.origin()
        )));
    }
    Ok(())
}

fn check_mongodb_uri(uri: &Sourced<String>) -> Result<(), UsageError> {
    let v = uri.value.trim();
    if v.starts_with("mongodb://") || v.starts_with("mongodb+srv://") {
        Ok(())
    } else {
        // Show the value without credentials: it may hold a password.
        Err(UsageError::new(format!(
            "{}: `{}` is not a MongoDB connection string (mongodb://... or mongodb+srv://...)",
            uri.origin(),
            redact_uri(v)
        )))
    }
}

/// MongoDB's rules for database names (the stricter, Unix ones).
fn check_database_name(db: &Sourced<String>) -> Result<(), UsageError> {
    let n = &db.value;
    if n.is_empty() || n.len() >= 64 || n.chars().any(|c| "/\\. \"$\0".contains(c)) {
        return Err(UsageError::new(format!(
            "{}: `{n}` is not a MongoDB database name (1-63 bytes, none of / \\ . space \" $)",
            db.origin()
        )));
    }
    Ok(())
}

fn log_filter(level: Option<&Sourced<String>>) -> Result<EnvFilter, UsageError> {
    let Some(level) = level else {
        return Ok(EnvFilter::new("info"));
    };
    EnvFilter::builder().parse(&level.value).map_err(|e| {
        UsageError::new(format!(
            "{}: `{}` is not a log filter ({e}); examples: info, debug, warn,peer_http=debug",
            level.origin(),
            level.value
        ))
    })
}

/// `PEERD_*` variables that are no setting (a typo would go unnoticed).
fn unknown_variables(vars: &[(OsString, OsString)]) -> Vec<String> {
    vars.iter()
        .filter_map(|(k, _)| k.to_str())
        .filter(|k| k.starts_with("PEERD_"))
        .filter(|k| {
            *k != "PEERD_CONFIG" && !layer::KEYS.iter().any(|key| layer::env_name(key) == *k)
        })
        .map(|k| format!("ignoring the environment variable {k}: peerd has no such setting"))
        .collect()
}

#[cfg(test)]
mod tests;
