//! The TOML settings file (`--config FILE`): the same keys as the flags,
//! with `_` for `-`. Unknown keys are refused, naming the key.

use std::io::Read as _;
use std::path::Path;

use super::UsageError;
use super::layer::Layer;

/// A settings file larger than this is refused (it is a handful of lines).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Reads and parses the settings file at `path`.
pub(crate) fn read(path: &Path) -> Result<Layer, UsageError> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| UsageError::new(format!("cannot read the config file {shown}: {e}")))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| UsageError::new(format!("cannot read the config file {shown}: {e}")))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(UsageError::new(format!(
            "the config file {shown} is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    parse(&text).map_err(|e| UsageError::new(format!("config file {shown}: {e}")))
}

/// Parses settings from TOML text.
pub(crate) fn parse(text: &str) -> Result<Layer, toml::de::Error> {
    toml::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::values::{ListenSpec, MetricsAccess, StoreChoice};

    #[test]
    fn every_key_parses() {
        let layer = parse(
            r#"
            listen = "127.0.0.1:9000"
            data_dir = "/var/lib/peergroup"
            ephemeral = false
            name = "hall"
            store = "mongodb"
            mongodb_uri = "mongodb://db1/?replicaSet=rs0"
            mongodb_database = "pg"
            registration = "closed"
            bearer_tokens = "off"
            metrics = "local"
            log_format = "json"
            log_level = "info,peer_http=debug"
            "#,
        )
        .unwrap();
        assert_eq!(
            layer.listen,
            Some(ListenSpec::Exact("127.0.0.1:9000".parse().unwrap()))
        );
        assert_eq!(layer.store, Some(StoreChoice::Mongodb));
        assert_eq!(layer.metrics, Some(MetricsAccess::Local));
        assert_eq!(layer.ephemeral, Some(false));
        assert_eq!(layer.name.as_deref(), Some("hall"));
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse("name = \"a\"\nlisten_addr = \"1.2.3.4:5\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = parse("store = \"postgres\"\n").err().unwrap().to_string();
        assert!(err.contains("postgres") && err.contains("mongodb"), "{err}");
        let err = parse("listen = \"nowhere\"\n").err().unwrap().to_string();
        assert!(err.contains("expected IP:PORT"), "{err}");
    }

    #[test]
    fn missing_file_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(&dir.path().join("absent.toml")).err().unwrap();
        assert!(err.to_string().contains("absent.toml"), "{err}");
    }
}
