//! Logs: `tracing` events to stderr, as text or JSON lines. stdout carries
//! only the one `listening on` line.

use std::io::IsTerminal as _;

use anyhow::anyhow;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber.
pub(crate) fn init(log: LogSettings) -> anyhow::Result<()> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log.filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow!("cannot set up logging: {e}"))
}
