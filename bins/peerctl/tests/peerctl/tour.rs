//! The README's five-minute tour, step by step, against the real `peerd`.
//!
//! The commands are read from README.md's "A five-minute tour" section and
//! must be exactly the ones listed in [`STEPS`] (so the README and this
//! test cannot drift apart). They run in one `bash`, as a person would type
//! them, with two deviations a test needs: `peerctl` is the binary cargo
//! built for the tests (on `PATH`, instead of the `alias` line), and
//! `PEERCTL_NODE` is the address of a `peerd --ephemeral --discovery off
//! --listen 127.0.0.1:0` (instead of port 8080). The two chat commands run as
//! processes of their own, fed through pipes, like the extra terminals.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::support::{PATIENCE, Running, bin};

/// What a step of the tour is, for the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Replaced: the `alias` line (peerctl is on PATH).
    Alias,
    /// Replaced: the node's address.
    Node,
    /// Run in the shell; exit code, and a text stdout must contain.
    Run(i32, &'static str),
    /// Run in the background (`&`); its pid is kept to stop it at the end
    /// if the tour does not.
    Background,
    /// A chat in a terminal of its own.
    Chat,
}

/// The tour, as the README has it.
const STEPS: &[(&str, Kind)] = &[
    (
        "alias peerctl='cargo run --release --locked -q -p peerctl --'",
        Kind::Alias,
    ),
    ("export PEERCTL_NODE=http://127.0.0.1:8080", Kind::Node),
    (
        "peerctl --profile alice init --name alice",
        Kind::Run(0, "registered alice"),
    ),
    (
        "peerctl --profile bob init --name bob",
        Kind::Run(0, "registered bob"),
    ),
    (
        "peerctl --profile alice rooms create plans --topic 'the five-minute tour'",
        Kind::Run(0, ""),
    ),
    ("peerctl --profile alice agent &", Kind::Background),
    (
        "peerctl --profile bob rooms join plans",
        Kind::Run(0, "joined 'plans' and received its key (epoch 1)"),
    ),
    (
        "peerctl --profile alice send plans 'welcome, bob'",
        Kind::Run(0, "1"),
    ),
    (
        "peerctl --profile bob read plans",
        Kind::Run(0, "  alice: welcome, bob"),
    ),
    ("peerctl --profile alice chat plans", Kind::Chat),
    ("peerctl --profile bob chat plans", Kind::Chat),
    (
        "peerctl --profile alice rooms rotate plans",
        Kind::Run(
            0,
            "rotated the key of 'plans' to epoch 2 (2 members hold it)",
        ),
    ),
    (
        "peerctl --profile carol init --name carol",
        Kind::Run(0, "registered carol"),
    ),
    (
        "peerctl --profile carol rooms join plans",
        Kind::Run(0, "received its key (epoch 2)"),
    ),
    (
        "peerctl --profile carol read plans",
        Kind::Run(0, "· alice: (sent before you joined: unreadable by design)"),
    ),
    (
        "peerctl --profile alice rooms kick plans carol",
        Kind::Run(0, "removed carol from 'plans'; key rotated to epoch 3"),
    ),
    (
        "peerctl --profile alice send plans 'carol cannot read this'",
        Kind::Run(0, ""),
    ),
    (
        "peerctl --profile carol read plans    # refused: not_member (exit code 1)",
        Kind::Run(1, "(not_member)"),
    ),
    (
        "peerctl --profile bob read plans",
        Kind::Run(0, "  alice: carol cannot read this"),
    ),
    (
        "ROOM=$(peerctl --profile alice rooms create lobby --unencrypted)",
        Kind::Run(0, ""),
    ),
    ("TOKEN=$(peerctl --profile alice token)", Kind::Run(0, "")),
    (
        "curl -sS -X POST \"$PEERCTL_NODE/api/v1/rooms/$ROOM/messages\" -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{\"text\":\"hello from curl\"}'",
        Kind::Run(0, "\"seq\":1"),
    ),
    (
        "curl -sS \"$PEERCTL_NODE/api/v1/rooms/$ROOM/messages\" -H \"Authorization: Bearer $TOKEN\"",
        Kind::Run(0, "\"text\":\"hello from curl\""),
    ),
    (
        "peerctl --profile alice read lobby",
        Kind::Run(0, "  alice: hello from curl"),
    ),
    ("kill %1", Kind::Run(0, "")),
];

/// The commands of the README's tour section (`sh` blocks; continued
/// lines joined).
fn tour_commands(readme: &str) -> Vec<String> {
    let start = readme
        .find("\n## A five-minute tour\n")
        .expect("README has no \"A five-minute tour\" section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in section.lines() {
        let t = line.trim();
        if !in_sh {
            in_sh = t == "```sh";
            continue;
        }
        if t == "```" {
            in_sh = false;
            continue;
        }
        if pending.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(cont) = t.strip_suffix('\\') {
            pending.push_str(cont.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        out.push(std::mem::take(&mut pending));
    }
    out
}

#[test]
fn the_readme_tour_is_the_one_this_test_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let commands = tour_commands(&readme);
    let expected: Vec<&str> = STEPS.iter().map(|(c, _)| *c).collect();
    assert_eq!(commands, expected);
}

/// One `bash` that runs the tour's lines in order.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    background: Vec<u32>,
}

impl Shell {
    fn start(env: &[(&str, String)]) -> Shell {
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc"]);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PEERCTL_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // stdout and stderr on one channel, as a terminal shows them.
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        let tx2 = tx.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(stdout).lines();
            while let Ok(Some(l)) = r.next_line().await {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let mut r = BufReader::new(stderr).lines();
            while let Ok(Some(l)) = r.next_line().await {
                if tx2.send(l).is_err() {
                    break;
                }
            }
        });
        Shell {
            stdin: child.stdin.take().unwrap(),
            child,
            lines,
            background: Vec::new(),
        }
    }

    /// Runs `line`; returns its exit code and what the shell printed
    /// meanwhile on stdout and stderr (a background agent's lines
    /// included).
    async fn run(&mut self, line: &str, background: bool) -> (i32, Vec<String>) {
        // stderr into stdout, one stream in order as a terminal shows it:
        // a step's error line comes before the step's end marker.
        let mut script = format!("exec 2>&1\n{line}\n");
        if background {
            script.push_str("echo \"__TOUR_PID__ $!\"\n");
        }
        // A line break first: curl's output ends without one.
        script.push_str("__tour_rc=$?; printf '\\n__TOUR_DONE__ %s\\n' \"$__tour_rc\"\n");
        self.stdin.write_all(script.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        let mut out = Vec::new();
        loop {
            let l = tokio::time::timeout(PATIENCE, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("{line}: no end within {PATIENCE:?}; printed {out:?}"))
                .unwrap_or_else(|| panic!("{line}: the shell ended; printed {out:?}"));
            if l.is_empty() {
                continue;
            }
            if let Some(pid) = l.strip_prefix("__TOUR_PID__ ") {
                self.background.push(pid.trim().parse().unwrap());
            } else if let Some(code) = l.strip_prefix("__TOUR_DONE__ ") {
                return (code.trim().parse().unwrap(), out);
            } else {
                out.push(l);
            }
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        // Background processes the tour did not stop (a failed test).
        for pid in &self.background {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

/// The two chat terminals: Alice and Bob talk.
async fn chat(env: &[(&str, String)], alice_cmd: &str, bob_cmd: &str) {
    let term = |line: &str, who: &str| {
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-c", &format!("exec {line}")]);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PEERCTL_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped());
        Running::start(cmd, format!("{who}'s chat"))
    };
    let mut alice = term(alice_cmd, "alice");
    let mut bob = term(bob_cmd, "bob");
    alice.expect("* chat in 'plans'").await;
    bob.expect("* chat in 'plans'").await;
    alice.write("hi bob, only we can read this").await;
    bob.expect("  alice: hi bob, only we can read this").await;
    bob.write("/who").await;
    bob.expect("*   bob (member, you)").await;
    bob.write("hello alice").await;
    alice.expect("  bob: hello alice").await;
    for (who, proc) in [("alice", alice), ("bob", bob)] {
        let (code, _, stderr) = proc.finish().await;
        assert_eq!(code, 0, "{who}'s chat: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_five_minute_tour_runs_step_by_step() {
    let home = tempfile::tempdir().unwrap();
    let peerd = crate::support::node().await;
    // `peerctl` on PATH: the binary under test.
    let bin_dir = home.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(bin(), bin_dir.join("peerctl")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = vec![
        ("PATH", path),
        ("HOME", home.path().display().to_string()),
        (
            "PEERCTL_HOME",
            home.path().join("profiles").display().to_string(),
        ),
        ("PEERCTL_NODE", peerd.url().to_owned()),
    ];
    let mut shell = Shell::start(&env);
    let mut chats: Vec<&str> = Vec::new();
    for (line, kind) in STEPS {
        match *kind {
            Kind::Alias => {}
            Kind::Node => {
                let (code, _) = shell
                    .run(&format!("export PEERCTL_NODE={}", peerd.url()), false)
                    .await;
                assert_eq!(code, 0);
            }
            Kind::Background => {
                let (code, _) = shell.run(line, true).await;
                assert_eq!(code, 0, "{line}");
            }
            Kind::Chat => {
                chats.push(line);
                if let [a, b] = chats[..] {
                    chat(&env, a, b).await;
                }
            }
            Kind::Run(want, contains) => {
                let (code, out) = shell.run(line, false).await;
                assert_eq!(code, want, "{line}: exit code; printed {out:?}");
                assert!(
                    contains.is_empty() || out.iter().any(|l| l.contains(contains)),
                    "{line}: no {contains:?} in {out:?}"
                );
            }
        }
    }
    assert_eq!(chats.len(), 2);
    // `kill %1` stopped the agent, which leaves cleanly on SIGTERM.
    let (code, _) = shell.run("wait %1", false).await;
    assert_eq!(code, 0, "the agent's exit code");
    drop(shell);
    peerd.stop().await;
}
