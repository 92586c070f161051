//! The processes a run measures: peerd (or the baseline server), started on
//! 127.0.0.1 with an OS-chosen port, found by the `listening on` line each
//! prints first on stdout.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a server may take to print its listening line.
const START_BOUND: Duration = Duration::from_secs(30);

/// The peerd settings of every run: loopback, no discovery, nothing on
/// disk, and limits raised so the benchmark measures work, not refusals.
pub(crate) const PEERD_ARGS: &[&str] = &[
    "--listen",
    "127.0.0.1:0",
    "--ephemeral",
    "--discovery",
    "off",
    "--log-level",
    "warn",
    "--session-rate",
    "1000000",
    "--session-burst",
    "1000000",
    "--handshake-rate",
    "1000000",
    "--max-streams-per-user",
    "100000",
    "--memory-max-messages",
    "2000000",
];

/// A server a scenario measures: a process this run started (killed when
/// dropped), or a node the user pointed at (`--url`, with `--pid` for its
/// CPU and memory figures).
pub(crate) struct Server {
    child: Option<Child>,
    pid: Option<u32>,
    url: String,
}

impl Server {
    /// Starts `program args...` and waits for its listening line.
    pub(crate) async fn start(program: &Path, args: &[&str]) -> anyhow::Result<Server> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_BOUND, lines.next_line())
            .await
            .with_context(|| format!("{} printed no listening line", program.display()))??;
        let Some(url) = first
            .as_deref()
            .and_then(|l| l.strip_prefix("listening on "))
            .map(str::to_owned)
        else {
            bail!(
                "{} printed {first:?} instead of its listening line",
                program.display()
            );
        };
        Ok(Server {
            child: Some(child),
            pid: Some(pid),
            url,
        })
    }

    /// A node this run did not start.
    pub(crate) fn external(url: &str, pid: Option<u32>) -> Server {
        Server {
            child: None,
            pid,
            url: url.trim_end_matches('/').to_owned(),
        }
    }

    /// Its process id, where known.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Kills it (if this run started it) and waits for it to go.
    pub(crate) async fn stop(mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }
}

/// The peerd binary: the given path, else `peerd` next to this binary
/// (both are built into the same target directory).
pub(crate) fn find_peerd(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let me = std::env::current_exe().context("locating peer-bench")?;
    let sibling = me
        .parent()
        .map(|dir| dir.join("peerd"))
        .context("peer-bench has no directory")?;
    if !sibling.is_file() {
        bail!(
            "no peerd next to peer-bench ({}): build both with \
             `cargo build --release -p peerd -p peer-bench`, or pass --peerd PATH",
            sibling.display()
        );
    }
    Ok(sibling)
}
