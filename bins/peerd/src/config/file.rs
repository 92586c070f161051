//! The TOML settings file (`--config FILE`): the same keys as the flags,
//! with `_` for `-`. Unknown keys are refused, naming the key.

use std::io::Read as _;
use std::path::Path;

use super::UsageError;
use super::layer::Layer;

/// A settings file larger than this is refused (it is a handful of lines).
pub(crate) const MAX_FILE_BYTES: u64 = 64 * 1024;

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
    parse_named(&text, &shown.to_string())
}

/// Parses settings from the TOML text of the file `shown`; a refusal names
/// the file (and the key and line, from the TOML parser).
pub(crate) fn parse_named(text: &str, shown: &str) -> Result<Layer, UsageError> {
    parse(text).map_err(|e| UsageError::new(format!("config file {shown}: {e}")))
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

    /// Every key, with values good and bad, in any combination, order and
    /// duplication, cut anywhere: parsing and then validating never panics,
    /// and refusals name a key, a line or the file.
    mod properties {
        use proptest::prelude::*;

        use crate::config::layer::KEYS;

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                "[ -~]{0,24}".prop_map(|s| format!("{s:?}")),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<bool>().prop_map(|b| b.to_string()),
                Just("\"127.0.0.1:0\"".to_owned()),
                Just("\"mongodb\"".to_owned()),
                Just("[1, 2]".to_owned()),
                Just("{ a = 1 }".to_owned()),
                Just("4294967296".to_owned()),
                Just("\"\\u0000\"".to_owned()),
            ]
        }

        fn file() -> impl Strategy<Value = String> {
            let line =
                (prop::sample::select(KEYS), value()).prop_map(|(k, v)| format!("{k} = {v}\n"));
            (
                prop::collection::vec(line, 0..12),
                any::<prop::sample::Index>(),
            )
                .prop_map(|(lines, cut)| {
                    let text: String = lines.concat();
                    // Cut at a char boundary somewhere, or keep it whole.
                    let at = cut.index(text.len() + 1);
                    let at = (0..=at)
                        .rev()
                        .find(|&i| text.is_char_boundary(i))
                        .unwrap_or(0);
                    text[..at].to_owned()
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn any_text_parses_or_is_refused(text in "\\PC{0,200}") {
                let _ = super::parse(&text);
            }

            #[test]
            fn any_settings_file_loads_or_is_refused_with_a_reason(text in file()) {
                let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
                std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
                let path = f.path().to_str().unwrap().to_owned();
                let vars = [("HOME".into(), "/home/op".into())];
                if let Err(e) = crate::config::load(["peerd", "--config", &path], &vars) {
                    let message = match e {
                        crate::config::LoadError::Clap(e) => e.error.to_string(),
                        crate::config::LoadError::Usage(e) => e.to_string(),
                    };
                    prop_assert!(!message.trim().is_empty());
                }
            }
        }
    }

    #[test]
    fn missing_file_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(&dir.path().join("absent.toml")).err().unwrap();
        assert!(err.to_string().contains("absent.toml"), "{err}");
    }
}
