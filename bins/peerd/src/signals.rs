//! SIGINT and SIGTERM: the first starts a graceful shutdown, a second one
//! during the drain ends the process at once (exit code 1).

use std::future::Future;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

/// Installs the handlers now (so a signal that arrives from here on is
/// never the default "terminate"), and returns the future that resolves at
/// the first signal.
pub(crate) fn shutdown() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down: no new connections, draining");
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::warn!(
                signal = name,
                "second signal: exiting without finishing the drain"
            );
            std::process::exit(1);
        });
    })
}
