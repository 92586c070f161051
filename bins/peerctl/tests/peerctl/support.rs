//! Running the real `peerctl` binary against the real `peerd` (both
//! processes on 127.0.0.1): a private
//! `PEERCTL_HOME` and `HOME` per test, one-shot runs with their exit code
//! and output, and long-running ones (`chat`, `agent`) whose stdout lines
//! are awaited one by one. Every wait is bounded; every child is killed
//! when its handle drops.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use peer_client::{Client, MemoryPins};
use peer_crypto::IdentityKey;
use peer_node::NodeConfig;
use peer_node::ratelimit::Rate;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Generous bound for anything awaited (a loaded 2-core machine).
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// The peerctl binary cargo built for these tests.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_peerctl")
}

/// Settings for the in-process node of the reconnection test (which must
/// stop and restart its HTTP server and keep its event log): the handshake
/// limit raised (every peerctl run is a process with a handshake of its
/// own) and cheap password hashing.
pub(crate) fn node_config() -> NodeConfig {
    NodeConfig {
        handshake_rate: Rate {
            per_sec: 1000,
            burst: 1000,
        },
        password_cost: peer_node::password::PasswordCost {
            memory_kib: 1024,
            iterations: 1,
        },
        ..NodeConfig::default()
    }
}

/// Builds `peerd` into the target directory these tests were built in
/// (same profile), once per process, and returns its path. Cargo does not
/// offer a binary of another package to tests, so the test asks cargo for
/// it; when nothing changed this is a no-op. `PEER_TEST_PEERD=/path/to/peerd`
/// uses that binary instead.
fn peerd_binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("PEER_TEST_PEERD").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let peerctl = Path::new(bin());
        let profile_dir = peerctl.parent().unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let profile = profile_dir.file_name().unwrap().to_str().unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "build", "--locked", "--quiet", "-p", "peerd", "--bin", "peerd",
            ])
            .env("CARGO_TARGET_DIR", target_dir);
        match profile {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let out = cmd.output().expect("run cargo to build peerd");
        assert!(
            out.status.success(),
            "building peerd failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = profile_dir.join("peerd");
        assert!(path.exists(), "{} missing after the build", path.display());
        path
    })
    .clone()
}

/// The real daemon on 127.0.0.1 (`--ephemeral`: memory store, nothing
/// written; `--discovery off`: no multicast leaves the machine), killed
/// on drop.
pub(crate) struct Peerd {
    child: Child,
    url: String,
    _home: tempfile::TempDir,
}

impl Peerd {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Stops it (SIGKILL: the state is ephemeral anyway).
    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(PATIENCE, self.child.wait()).await;
    }
}

/// Starts a real `peerd` (see [`Peerd`]), the handshake limit raised:
/// every peerctl run is a process with a handshake of its own.
pub(crate) async fn node() -> Peerd {
    node_with(&[]).await
}

/// [`node`] with more `peerd` flags.
pub(crate) async fn node_with(extra: &[&str]) -> Peerd {
    let path = tokio::task::spawn_blocking(peerd_binary).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(path);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PEERD_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args([
            "--ephemeral",
            "--discovery",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--handshake-rate",
            "1000",
            "--log-level",
            "warn",
        ])
        .args(extra)
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("peerd printed no listening line")
        .unwrap()
        .expect("peerd closed stdout");
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    // Keep reading stdout, so peerd never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Peerd {
        child,
        url,
        _home: home,
    }
}

/// What a finished run left.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Profiles of one test, talking to one node.
pub(crate) struct Home {
    dir: tempfile::TempDir,
    node: String,
}

impl Home {
    pub(crate) fn new(node_url: &str) -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
            node: node_url.to_owned(),
        }
    }

    /// `$PEERCTL_HOME`.
    pub(crate) fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The node URL.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// A command with a clean environment: no inherited `PEERCTL_*`, this
    /// test's home, the node.
    pub(crate) fn command(&self, profile: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PEERCTL_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("PEERCTL_HOME", self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("XDG_CONFIG_HOME")
            .env("PEERCTL_NODE", &self.node)
            .arg("--profile")
            .arg(profile)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs to the end (bounded).
    pub(crate) async fn run(&self, profile: &str, args: &[&str]) -> Out {
        self.run_with_input(profile, args, None).await
    }

    /// Runs to the end with `input` on stdin.
    pub(crate) async fn run_with_input(
        &self,
        profile: &str,
        args: &[&str],
        input: Option<&str>,
    ) -> Out {
        let mut cmd = self.command(profile, args);
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(text.as_bytes()).await.unwrap();
            drop(stdin);
        }
        let out = tokio::time::timeout(PATIENCE, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("peerctl {args:?} did not finish within {PATIENCE:?}"))
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts success; returns stdout.
    pub(crate) async fn ok(&self, profile: &str, args: &[&str]) -> String {
        let out = self.run(profile, args).await;
        assert_eq!(
            out.code, 0,
            "peerctl --profile {profile} {args:?} failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Runs with `--json`, asserts success, parses every stdout line.
    pub(crate) async fn json(&self, profile: &str, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(profile, &all).await;
        out.lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?} of {args:?}"))
            })
            .collect()
    }

    /// Runs with `--json`, expecting exactly one object.
    pub(crate) async fn json1(&self, profile: &str, args: &[&str]) -> Value {
        let mut v = self.json(profile, args).await;
        assert_eq!(v.len(), 1, "{args:?}: {v:?}");
        v.remove(0)
    }

    /// Runs and asserts exit code 1 with one stderr line ending in
    /// `(code)`; returns that line.
    pub(crate) async fn fails(&self, profile: &str, args: &[&str], code: &str) -> String {
        let out = self.run(profile, args).await;
        assert_eq!(
            out.code, 1,
            "peerctl {args:?} should fail: stdout {:?} stderr {:?}",
            out.stdout, out.stderr
        );
        // One error line (after the note of a key made, for `init`).
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.starts_with("peerctl: created the identity key "))
            .collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {:?}", out.stderr);
        let line = lines[0];
        assert!(line.starts_with("peerctl: "), "{line}");
        assert!(
            line.ends_with(&format!("({code})")),
            "expected code {code}: {line}"
        );
        line.to_owned()
    }

    /// `init --name <profile>`; returns the user id.
    pub(crate) async fn init(&self, profile: &str) -> String {
        let v = self.json1(profile, &["init", "--name", profile]).await;
        v["user_id"].as_str().unwrap().to_owned()
    }

    /// Starts a long-running peerctl (stdin piped).
    pub(crate) fn spawn(&self, profile: &str, args: &[&str]) -> Running {
        let mut cmd = self.command(profile, args);
        cmd.stdin(Stdio::piped());
        Running::start(cmd, format!("{profile} {args:?}"))
    }

    /// The profile's identity key (what a user's own code would load).
    pub(crate) fn identity(&self, profile: &str) -> IdentityKey {
        IdentityKey::load_pem(self.dir.path().join(profile).join("identity.pem")).unwrap()
    }

    /// A `peer-client` of the profile's user (its own client code).
    pub(crate) async fn client(&self, profile: &str) -> Client {
        let client = Client::connect(
            &self.node,
            self.identity(profile),
            &MemoryPins::new(),
            peer_client::ClientOptions::default(),
        )
        .await
        .unwrap();
        client.handshake().await.unwrap();
        client
    }
}

/// A running process whose stdout lines are read as they come.
pub(crate) struct Running {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    /// Spawns `cmd` (stdout and stderr piped).
    pub(crate) fn start(mut cmd: Command, what: String) -> Running {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut r = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = r.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s).await;
            s
        });
        Running {
            what,
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Every stdout line so far.
    pub(crate) fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Waits for a stdout line containing `text` (after those matched
    /// already are consumed) and returns it.
    pub(crate) async fn expect(&mut self, text: &str) -> String {
        self.expect_by(text, |l| l.contains(text)).await
    }

    /// Waits for a stdout line that `want` accepts.
    pub(crate) async fn expect_by(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Ok(None) => panic!(
                    "{}: stdout ended before {what:?}; seen:\n{}",
                    self.what,
                    self.seen.join("\n")
                ),
                Err(_) => panic!(
                    "{}: no {what:?} within {PATIENCE:?}; seen:\n{}",
                    self.what,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Writes `line` and a line break to stdin.
    pub(crate) async fn write(&mut self, line: &str) {
        self.write_raw(&format!("{line}\n")).await;
    }

    /// Writes bytes to stdin as they are.
    pub(crate) async fn write_raw(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Closes stdin.
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap_or_default()
    }

    /// Sends SIGTERM (like a supervisor stopping it).
    pub(crate) fn terminate(&self) {
        let pid = self.pid();
        assert!(pid > 0);
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit (bounded); returns the code, the remaining stdout
    /// lines and stderr.
    pub(crate) async fn finish(mut self) -> (i32, Vec<String>, String) {
        self.stdin = None;
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit within {PATIENCE:?}", self.what))
            .unwrap();
        let mut rest = Vec::new();
        while let Ok(Some(line)) = tokio::time::timeout(PATIENCE, self.lines.recv()).await {
            rest.push(line);
        }
        let stderr = match self.stderr.take() {
            Some(h) => h.await.unwrap_or_default(),
            None => String::new(),
        };
        (status.code().unwrap_or(-1), rest, stderr)
    }
}
