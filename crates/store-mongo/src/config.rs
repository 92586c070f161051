//! How to reach the database.

use core::fmt;
use core::time::Duration;

/// Whether multi-document operations run in transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionMode {
    /// Use transactions when the deployment supports them (a replica set or
    /// a sharded cluster), detected at connect time.
    #[default]
    Auto,
    /// Always use transactions; connecting fails if the deployment cannot.
    Always,
    /// Never: multi-document operations run as ordered single-document
    /// steps with compensation (see the crate docs).
    Never,
}

/// Connection settings of a [`MongoStore`](crate::MongoStore).
#[derive(Clone, PartialEq, Eq)]
pub struct MongoConfig {
    /// A MongoDB connection string (`mongodb://` or `mongodb+srv://`).
    /// Redacted in `Debug` (it may hold a password).
    pub uri: String,
    /// The database holding peergroup's collections.
    pub database: String,
    /// How long to wait for a server to be reachable (server selection and
    /// TCP connect) before a call fails with `Unavailable` (default 2 s).
    pub connect_timeout: Duration,
    /// The longest any single store call may take, retries included; past
    /// it the call fails with `Unavailable` (default 10 s).
    pub op_timeout: Duration,
    /// Transactions (default [`TransactionMode::Auto`]).
    pub transactions: TransactionMode,
    /// Write concern: `w: "majority"` always; with `journal` also `j: true`
    /// (default), so that an acknowledged write survives a crash.
    pub journal: bool,
}

impl MongoConfig {
    /// Settings with the defaults for this URI and database.
    pub fn new(uri: impl Into<String>, database: impl Into<String>) -> Self {
        MongoConfig {
            uri: uri.into(),
            database: database.into(),
            connect_timeout: Duration::from_secs(2),
            op_timeout: Duration::from_secs(10),
            transactions: TransactionMode::Auto,
            journal: true,
        }
    }
}

impl fmt::Debug for MongoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoConfig")
            .field("uri", &redact_uri(&self.uri))
            .field("database", &self.database)
            .field("connect_timeout", &self.connect_timeout)
            .field("op_timeout", &self.op_timeout)
            .field("transactions", &self.transactions)
            .field("journal", &self.journal)
            .finish()
    }
}

/// The URI without its user info (`user:password@`).
pub fn redact_uri(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}<redacted>@{}", &uri[..scheme_end + 3], &uri[at + 1..])
        }
        _ => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials() {
        let c = MongoConfig::new("mongodb://peer:s3cret@db1:27017,db2/?replicaSet=rs0", "pg");
        let text = format!("{c:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("db1:27017"));
        assert_eq!(redact_uri("mongodb://h/"), "mongodb://h/");
    }
}
