//! Running the built `peerd` binary: spawn with a clean environment, wait
//! for its `listening on` line, talk plain HTTP/1.1 to it, signal it, and
//! collect what it printed. Every wait is bounded.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long peerd may take to start (RSA key generation included) or stop,
/// on a loaded machine.
pub(crate) const BOUND: Duration = Duration::from_secs(60);

/// The environment of a test: a private HOME (so a default data directory
/// never lands in the real one) and no inherited `PEERD_*` variable.
pub(crate) struct Env {
    pub(crate) home: tempfile::TempDir,
    vars: Vec<(String, String)>,
    /// Run peerd in this network namespace (`ip netns exec`).
    netns: Option<String>,
    /// Give peerd a pipe as its stdin (else /dev/null).
    stdin_pipe: bool,
}

impl Env {
    pub(crate) fn new() -> Env {
        Env {
            home: tempfile::tempdir().unwrap(),
            vars: Vec::new(),
            netns: None,
            stdin_pipe: false,
        }
    }

    /// Sets a variable for the daemon.
    pub(crate) fn var(mut self, k: &str, v: &str) -> Env {
        self.vars.push((k.into(), v.into()));
        self
    }

    /// Gives peerd a pipe as its stdin, held open until
    /// [`Peerd::close_stdin`] (or the end of the test).
    pub(crate) fn stdin_pipe(mut self) -> Env {
        self.stdin_pipe = true;
        self
    }

    /// Runs peerd inside the network namespace `name` (which `ip netns
    /// exec` replaces itself with: the process id stays peerd's).
    pub(crate) fn in_netns(mut self, name: &str) -> Env {
        self.netns = Some(name.into());
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = match &self.netns {
            None => Command::new(env!("CARGO_BIN_EXE_peerd")),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_peerd")]);
                c
            }
        };
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PEERD_") {
                cmd.env_remove(k);
            }
        }
        // Tests that do not test discovery must not multicast on the
        // machine's network (nor find each other): discovery is off unless
        // a test turns it on (a flag wins over this variable).
        cmd.env("HOME", self.home.path())
            .env("PEERD_DISCOVERY", "off")
            .env_remove("XDG_DATA_HOME")
            .env_remove("RUST_LOG")
            .current_dir(self.home.path())
            .args(args)
            .stdin(if self.stdin_pipe {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts peerd and waits for its `listening on` line.
    pub(crate) fn start(&self, args: &[&str]) -> Peerd {
        let mut child = self.command(args).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = stream_lines(child.stderr.take().unwrap());
        let (tx, rx) = mpsc::channel();
        let stdout_reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            // Everything after the first line (there should be nothing).
            lines.map_while(Result::ok).collect::<Vec<_>>().join("\n")
        });
        let mut peerd = Peerd {
            child,
            addr: None,
            stderr,
            stderr_seen: Vec::new(),
            stdout_rest: Some(stdout_reader),
        };
        match rx.recv_timeout(BOUND) {
            Ok(line) => {
                let addr = line
                    .strip_prefix("listening on http://")
                    .unwrap_or_else(|| panic!("unexpected first stdout line: {line:?}"));
                peerd.addr = Some(addr.parse().unwrap());
            }
            Err(_) => {
                let _ = peerd.child.kill();
                let (status, _, stderr) = peerd.finish();
                panic!("peerd printed no listening line ({status:?}); stderr:\n{stderr}");
            }
        }
        peerd
    }

    /// Runs peerd to its exit (it is expected to refuse to start).
    pub(crate) fn run_to_exit(&self, args: &[&str]) -> (ExitStatus, String, String) {
        let mut child = self.command(args).spawn().unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let status = wait_bounded(&mut child);
        (status, stdout.join().unwrap(), stderr.join().unwrap())
    }
}

fn collect(mut r: impl std::io::Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Sends each line as it comes; the channel closes at EOF.
fn stream_lines(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("peerd did not exit within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running peerd; killed if still running when dropped.
pub(crate) struct Peerd {
    child: Child,
    addr: Option<SocketAddr>,
    stderr: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
    stdout_rest: Option<JoinHandle<String>>,
}

impl Peerd {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr.unwrap()
    }

    /// Closes the pipe of its stdin (see [`Env::stdin_pipe`]).
    pub(crate) fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Sends a signal (`TERM`, `INT`) with kill(1).
    pub(crate) fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Waits for the exit (bounded); returns the status, the stdout after
    /// the listening line, and all of stderr.
    pub(crate) fn finish(mut self) -> (ExitStatus, String, String) {
        let status = wait_bounded(&mut self.child);
        let rest = self.stdout_rest.take().unwrap().join().unwrap();
        // The process is gone, so its stderr is at EOF: drain what is left.
        while let Ok(line) = self.stderr.recv_timeout(BOUND) {
            self.stderr_seen.push(line);
        }
        (status, rest, self.stderr_seen.join("\n"))
    }

    /// Waits (bounded) until a line of stderr contains `needle`.
    pub(crate) fn wait_for_log(&mut self, needle: &str) {
        if self.stderr_seen.iter().any(|l| l.contains(needle)) {
            return;
        }
        let deadline = Instant::now() + BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.stderr_seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?}; stderr so far:\n{}",
                    self.stderr_seen.join("\n")
                ),
            }
        }
    }

    /// SIGTERM, then [`Peerd::finish`].
    pub(crate) fn stop(self) -> (ExitStatus, String, String) {
        self.signal("TERM");
        self.finish()
    }

    /// `GET path`: the status code and the body.
    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr(), path)
    }

    /// `GET /api/v1/node` as JSON.
    pub(crate) fn node_info(&self) -> serde_json::Value {
        let (status, body) = self.get("/api/v1/node");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Peerd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`); the
/// server sends `content-length`, so the body is what follows the head.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, BOUND).unwrap();
    stream.set_read_timeout(Some(BOUND)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// Unix permission bits of a path.
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file and directory under `dir` (relative paths).
pub(crate) fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// Waits (bounded) until connecting to `addr` is refused.
pub(crate) fn wait_until_refused(addr: SocketAddr) {
    let deadline = Instant::now() + BOUND;
    while TcpStream::connect(addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
