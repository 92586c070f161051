//! SIGINT and SIGTERM: the first starts a graceful shutdown, a second one
//! during the drain ends the process at once (exit code 1). With
//! `--exit-with-stdin`, stdin reaching end-of-file counts as the first
//! signal, and the drain is then bounded by [`STDIN_DRAIN_BOUND`].

use std::future::Future;
use std::time::Duration;

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

/// How long the drain may take after stdin closed (nobody is left to send
/// a second signal): then the process exits with code 1.
pub(crate) const STDIN_DRAIN_BOUND: Duration = Duration::from_secs(10);

/// [`shutdown`], and, when `watch_stdin`, also the end of stdin (the parent
/// that holds the pipe's other end is gone).
pub(crate) fn shutdown_or_stdin_closed(
    watch_stdin: bool,
) -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let signalled = shutdown()?;
    Ok(async move {
        if !watch_stdin {
            return signalled.await;
        }
        tokio::select! {
            () = signalled => {}
            () = stdin_closed() => {
                tracing::info!("stdin closed: shutting down: no new connections, draining");
                tokio::spawn(async {
                    tokio::time::sleep(STDIN_DRAIN_BOUND).await;
                    tracing::warn!("the drain after stdin closed took too long: exiting");
                    std::process::exit(1);
                });
            }
        }
    })
}

/// Resolves when stdin reaches end-of-file or cannot be read; what is
/// read is ignored.
async fn stdin_closed() {
    use tokio::io::AsyncReadExt as _;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}
