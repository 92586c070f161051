//! One list of settings, three sources, one merge.
//!
//! The `settings!` list below is the single place a setting is declared.
//! From it come:
//!
//! - [`Layer`]: every setting as an `Option`, parsed by clap (as a flag
//!   `--data-dir`, with its variable `PEERD_DATA_DIR`) and by serde (as the
//!   TOML key `data_dir`, unknown keys refused);
//! - [`Layer::split_env`]: clap parses flags and variables together; this
//!   moves the values clap took from variables into a layer of their own,
//!   so that a variable can lose to a flag but still win over the file;
//! - [`Merged`]: each setting from the highest layer that has it, with
//!   where it came from ([`Sourced`]), for error messages.

use std::fmt;
use std::path::PathBuf;

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;

use super::values::{
    JoinSpec, ListenSpec, LogFormat, MetricsAccess, MulticastGroup, Registration, StoreChoice,
    Switch,
};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A command-line flag.
    Flag,
    /// A `PEERD_*` environment variable.
    Env,
    /// A key in this TOML file.
    File(PathBuf),
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sourced<T> {
    /// The value.
    pub(crate) value: T,
    /// Its source.
    pub(crate) source: Source,
    /// The setting's key (the TOML name, `data_dir`).
    pub(crate) key: &'static str,
}

impl<T> Sourced<T> {
    /// How the operator wrote it: `--data-dir`, `PEERD_DATA_DIR`, or
    /// `` `data_dir` in /etc/peerd.toml ``.
    pub(crate) fn origin(&self) -> Origin<'_> {
        Origin {
            key: self.key,
            source: &self.source,
        }
    }
}

/// Displays where a setting was written (see [`Sourced::origin`]).
pub(crate) struct Origin<'a> {
    key: &'static str,
    source: &'a Source,
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            Source::Flag => write!(f, "{}", flag_name(self.key)),
            Source::Env => write!(f, "{}", env_name(self.key)),
            Source::File(path) => write!(f, "`{}` in {}", self.key, path.display()),
        }
    }
}

/// The flag of a setting: `data_dir` -> `--data-dir`.
pub(crate) fn flag_name(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

/// The environment variable of a setting: `data_dir` -> `PEERD_DATA_DIR`.
pub(crate) fn env_name(key: &str) -> String {
    format!("PEERD_{}", key.to_ascii_uppercase())
}

/// Declares the settings once; see the module docs.
macro_rules! settings {
    ($(
        $(#[$attr:meta])*
        $field:ident: $ty:ty,
    )*) => {
        /// Every setting as an `Option`: one source's view.
        #[derive(Default, clap::Args, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct Layer {
            $(
                $(#[$attr])*
                pub(crate) $field: Option<$ty>,
            )*
        }

        /// Every setting, from the highest layer that has it.
        #[derive(Default)]
        pub(crate) struct Merged {
            $(pub(crate) $field: Option<Sourced<$ty>>,)*
        }

        /// The keys of all settings (TOML names), in declaration order.
        pub(crate) const KEYS: &[&str] = &[$(stringify!($field)),*];

        impl Layer {
            /// Moves the values clap read from environment variables into
            /// a layer of their own; `self` keeps the flags.
            pub(crate) fn split_env(&mut self, matches: &ArgMatches) -> Layer {
                let mut env = Layer::default();
                $(
                    if matches.value_source(stringify!($field)) == Some(ValueSource::EnvVariable) {
                        env.$field = self.$field.take();
                    }
                )*
                env
            }
        }

        impl Merged {
            /// Each setting from the first layer (highest precedence first)
            /// that has it.
            pub(crate) fn merge(layers: Vec<(Layer, Source)>) -> Merged {
                let mut merged = Merged::default();
                for (layer, source) in layers {
                    $(
                        if merged.$field.is_none() && let Some(value) = layer.$field {
                            merged.$field = Some(Sourced {
                                value,
                                source: source.clone(),
                                key: stringify!($field),
                            });
                        }
                    )*
                }
                merged
            }
        }
    };
}

settings! {
    /// Address to listen on: IP:PORT (exactly this), :PORT (every IPv4
    /// interface), or an IP alone (the default port 8080, or the next free
    /// one of 20 when it is taken) [default: 0.0.0.0]
    #[arg(long, env = "PEERD_LISTEN", value_name = "ADDR")]
    listen: ListenSpec,

    /// Data directory: holds the node key (node.pem) and the redb store
    /// (peergroup.redb) [default:
    /// $XDG_DATA_HOME/peergroup or ~/.local/share/peergroup]
    #[arg(long, env = "PEERD_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,

    /// No data directory at all: a fresh identity in memory, the memory
    /// store, nothing written to disk
    #[arg(
        long,
        env = "PEERD_EPHEMERAL",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
    )]
    ephemeral: bool,

    /// The node's name, shown to clients and peers (1-64 bytes) [default: peerd]
    #[arg(long, env = "PEERD_NAME", value_name = "NAME")]
    name: String,

    /// Storage backend: redb (peergroup.redb in the data directory),
    /// memory (volatile) or mongodb [default: redb; memory with --ephemeral]
    #[arg(long, env = "PEERD_STORE", value_name = "KIND")]
    store: StoreChoice,

    /// MongoDB connection string (mongodb:// or mongodb+srv://), for --store mongodb
    #[arg(long, env = "PEERD_MONGODB_URI", value_name = "URI", hide_env_values = true)]
    mongodb_uri: String,

    /// MongoDB database name, for --store mongodb [default: peergroup]
    #[arg(long, env = "PEERD_MONGODB_DATABASE", value_name = "NAME")]
    mongodb_database: String,

    /// Whether anyone may register a user [default: open]
    #[arg(long, env = "PEERD_REGISTRATION", value_name = "MODE")]
    registration: Registration,

    /// Whether bearer tokens are issued and accepted [default: on]
    #[arg(long, env = "PEERD_BEARER_TOKENS", value_name = "SWITCH")]
    bearer_tokens: Switch,

    /// Who may read /metrics: every client, or loopback clients only [default: public]
    #[arg(long, env = "PEERD_METRICS", value_name = "ACCESS")]
    metrics: MetricsAccess,

    /// UDP multicast discovery of the other nodes of the group [default: on]
    #[arg(long, env = "PEERD_DISCOVERY", value_name = "SWITCH")]
    discovery: Switch,

    /// Discovery's multicast group and port [default: 239.255.77.77:47777]
    #[arg(long, env = "PEERD_DISCOVERY_GROUP", value_name = "ADDR:PORT")]
    discovery_group: MulticastGroup,

    /// The IPv4 address of the interface discovery uses [default: the
    /// interface of the default route]
    #[arg(long, env = "PEERD_DISCOVERY_INTERFACE", value_name = "IP")]
    discovery_interface: std::net::Ipv4Addr,

    /// The group this node belongs to (1-64 bytes): nodes follow and push
    /// to nodes of their own group only [default: default]
    #[arg(long, env = "PEERD_GROUP", value_name = "NAME")]
    group: String,

    /// How to join the group: auto (follow the main peer discovery finds,
    /// or become it), none (follow nobody), or the URL of a node to follow
    /// [default: auto with discovery, none without]
    #[arg(long, env = "PEERD_JOIN", value_name = "auto|none|URL")]
    join: JoinSpec,

    /// Log format, on stderr [default: text]
    #[arg(long, env = "PEERD_LOG_FORMAT", value_name = "FORMAT")]
    log_format: LogFormat,

    /// Log filter, an EnvFilter directive: `info`, `debug`,
    /// `warn,peer_http=debug` [default: info]
    #[arg(long, env = "PEERD_LOG_LEVEL", value_name = "FILTER")]
    log_level: String,

    /// Requests per second each session (and each bearer token) may make,
    /// on average (1-1000000) [default: 50]
    #[arg(long, env = "PEERD_SESSION_RATE", value_name = "PER_SEC")]
    session_rate: u32,

    /// Requests a session may make at once before the average applies
    /// (1-1000000) [default: 200]
    #[arg(long, env = "PEERD_SESSION_BURST", value_name = "N")]
    session_burst: u32,

    /// Handshakes and registrations per second from one source address,
    /// which is also the burst (1-1000000) [default: 10]
    #[arg(long, env = "PEERD_HANDSHAKE_RATE", value_name = "PER_SEC")]
    handshake_rate: u32,

    /// Live sessions the node holds at most (1-10000000) [default: 100000]
    #[arg(long, env = "PEERD_MAX_SESSIONS", value_name = "N")]
    max_sessions: u32,

    /// Event streams one user may hold open (1-100000) [default: 16]
    #[arg(long, env = "PEERD_MAX_STREAMS_PER_USER", value_name = "N")]
    max_streams_per_user: u32,

    /// Messages the memory store keeps per room, dropping the oldest first
    /// (1-100000000) [default: 10000]
    #[arg(long, env = "PEERD_MEMORY_MAX_MESSAGES", value_name = "N")]
    memory_max_messages: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Layer {
        Layer {
            name: Some(name.into()),
            ..Layer::default()
        }
    }

    #[test]
    fn first_layer_with_a_value_wins_per_setting() {
        let file = Source::File("/etc/peerd.toml".into());
        let mut from_file = named("file");
        from_file.log_level = Some("debug".into());
        from_file.store = Some(StoreChoice::Mongodb);
        let mut from_env = named("env");
        from_env.store = Some(StoreChoice::Memory);
        let merged = Merged::merge(vec![
            (named("flag"), Source::Flag),
            (from_env, Source::Env),
            (from_file, file.clone()),
        ]);
        let name = merged.name.unwrap();
        assert_eq!((name.value.as_str(), name.source), ("flag", Source::Flag));
        let store = merged.store.unwrap();
        assert_eq!(
            (store.value, store.source),
            (StoreChoice::Memory, Source::Env)
        );
        let level = merged.log_level.unwrap();
        assert_eq!(
            (level.value.as_str(), level.source.clone()),
            ("debug", file)
        );
        assert_eq!(level.origin().to_string(), "`log_level` in /etc/peerd.toml");
        assert!(merged.listen.is_none());
    }

    #[test]
    fn names_derive_from_keys() {
        assert_eq!(flag_name("mongodb_uri"), "--mongodb-uri");
        assert_eq!(env_name("mongodb_uri"), "PEERD_MONGODB_URI");
        assert!(KEYS.contains(&"bearer_tokens"));
    }
}
