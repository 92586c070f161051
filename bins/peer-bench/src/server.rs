//! The processes a run measures: peerd (or the baseline server), started on
//! 127.0.0.1 with an OS-chosen port, found by the `listening on` line each
//! prints first on stdout.
//!
//! Every child gets a piped stdin that this run never writes and holds
//! open while the child should live. When peer-bench ends in any way,
//! even by SIGKILL (where nothing of ours runs), the kernel closes the
//! pipe and the child sees end-of-file and exits: peerd with
//! `--exit-with-stdin`, the baseline server and the mosquitto guard
//! (`peer-bench guard`) by design.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How long a server may take to print its listening line.
const START_BOUND: Duration = Duration::from_secs(30);

/// The peerd settings of every run: loopback, no discovery, nothing on
/// disk, and limits raised so the benchmark measures work, not refusals.
pub(crate) const PEERD_ARGS: &[&str] = &[
    "--exit-with-stdin",
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
    /// The child's stdin, never written: closing it ends the child.
    lifeline: Option<ChildStdin>,
    pid: Option<u32>,
    url: String,
}

impl Server {
    /// Starts `program args...` and waits for its listening line.
    pub(crate) async fn start(program: &Path, args: &[&str]) -> anyhow::Result<Server> {
        let (mut child, pid, lifeline) = spawn(program, args, Stdio::piped())?;
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
            lifeline,
            pid: Some(pid),
            url,
        })
    }

    /// Starts `program args...` without waiting for anything (its stdout
    /// goes to the void); the caller knows its address.
    pub(crate) async fn start_quiet<S: AsRef<std::ffi::OsStr>>(
        program: &Path,
        args: &[S],
    ) -> anyhow::Result<Server> {
        let (child, pid, lifeline) = spawn(program, args, Stdio::null())?;
        Ok(Server {
            child: Some(child),
            lifeline,
            pid: Some(pid),
            url: String::new(),
        })
    }

    /// A node this run did not start.
    pub(crate) fn external(url: &str, pid: Option<u32>) -> Server {
        Server {
            child: None,
            lifeline: None,
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

    /// Ends it (if this run started it) and waits for it to go: closes
    /// its stdin (it exits by itself, and a guard stops what it guards),
    /// and kills it if it is still there after a few seconds.
    pub(crate) async fn stop(mut self) {
        drop(self.lifeline.take());
        if let Some(child) = self.child.as_mut() {
            let exited = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            if exited.is_err() {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            }
        }
    }
}

/// Spawns a child with a piped stdin (its lifeline), killed on drop.
fn spawn<S: AsRef<std::ffi::OsStr>>(
    program: &Path,
    args: &[S],
    stdout: Stdio,
) -> anyhow::Result<(Child, u32, Option<ChildStdin>)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id().context("the server exited at once")?;
    let lifeline = child.stdin.take();
    Ok((child, pid, lifeline))
}

/// `peer-bench guard PROGRAM ARGS...`: runs the program (stdin closed,
/// stdout and stderr inherited) until it exits or until this process's
/// stdin closes, whichever comes first; then kills it and waits for it.
pub(crate) async fn guard(command: Vec<std::ffi::OsString>) -> anyhow::Result<()> {
    let Some((program, args)) = command.split_first() else {
        bail!("guard: no program given");
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.to_string_lossy()))?;
    tokio::select! {
        status = child.wait() => {
            let status = status?;
            if !status.success() {
                bail!("{} exited: {status}", program.to_string_lossy());
            }
        }
        () = stdin_closed() => {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }
    Ok(())
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

/// Resolves when this process's stdin reaches end-of-file (or fails): the
/// parent that holds the other end is gone. Bytes read are ignored.
pub(crate) async fn stdin_closed() {
    use tokio::io::AsyncReadExt as _;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}
