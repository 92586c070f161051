//! A tiny whole run of the real binaries: peer-bench starts peerd on
//! loopback, runs every scenario with small sizes, and its JSON report must
//! hold a sane figure for each (and the mosquitto baseline when mosquitto
//! is installed). And the processes a run starts end with it, even when it
//! is killed with SIGKILL.
//!
//! peerd must be built next to peer-bench (`cargo test --workspace` does
//! that). Without it the test fails under `CI=true` and is skipped with a
//! notice elsewhere.

#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a child may take to appear or to go, on a loaded machine.
const BOUND: Duration = Duration::from_secs(60);

/// The processes whose parent is `parent`, with their names (from /proc).
fn children(parent: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Some((ppid, name, _)) = stat(pid)
            && ppid == parent
        {
            out.push((pid, name));
        }
    }
    out
}

/// A process's parent, name and state, while it exists.
fn stat(pid: u32) -> Option<(u32, String, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_owned();
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((ppid, name, state))
}

/// Whether `pid` is gone (or a zombie nobody reaped yet: it has exited).
fn gone(pid: u32) -> bool {
    stat(pid).is_none_or(|(_, _, state)| state == 'Z' || state == 'X')
}

/// Waits (bounded) until `f` holds.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {BOUND:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn peerd_does_not_outlive_a_peer_bench_killed_by_sigkill() {
    let Some(peerd) = peerd() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "peerd is not built next to peer-bench: run `cargo test --workspace`"
        );
        eprintln!("NOTICE: peerd not built next to peer-bench; skipping");
        return;
    };
    // A long run (filling a big room), killed as soon as its peerd is up.
    let mut bench = Command::new(env!("CARGO_BIN_EXE_peer-bench"))
        .args(["--peerd", peerd.to_str().unwrap(), "--json"])
        .args(["--only", "history", "--history", "1000000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = None;
    wait_until("peer-bench starts peerd", || {
        child = children(bench.id())
            .into_iter()
            .find(|(_, name)| name == "peerd")
            .map(|(pid, _)| pid);
        child.is_some() || bench.try_wait().unwrap().is_some()
    });
    let child = child.expect("peer-bench ended before starting peerd");
    bench.kill().unwrap(); // SIGKILL: nothing of peer-bench runs any more
    bench.wait().unwrap();
    wait_until("peerd exits after its peer-bench was killed", || {
        gone(child)
    });
}

#[test]
fn guard_kills_its_program_when_its_stdin_closes() {
    // How the mosquitto baseline's broker ends with a killed run.
    let mut guard = Command::new(env!("CARGO_BIN_EXE_peer-bench"))
        .args(["guard", "sleep", "600"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sleeper = None;
    wait_until("the guard starts its program", || {
        sleeper = children(guard.id())
            .into_iter()
            .find(|(_, name)| name == "sleep")
            .map(|(pid, _)| pid);
        sleeper.is_some()
    });
    let sleeper = sleeper.unwrap();
    drop(guard.stdin.take()); // as when its parent dies
    let mut status = None;
    wait_until("the guard exits", || {
        status = guard.try_wait().unwrap();
        status.is_some()
    });
    let mut stderr = String::new();
    guard
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.unwrap().success(), "{stderr}");
    wait_until("the guarded program is gone", || gone(sleeper));
}

fn peerd() -> Option<PathBuf> {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_peer-bench"));
    let peerd = bench.parent()?.join("peerd");
    peerd.is_file().then_some(peerd)
}

#[test]
fn small_run_reports_every_scenario_with_baselines() {
    let Some(peerd) = peerd() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "peerd is not built next to peer-bench: run `cargo test --workspace`"
        );
        eprintln!(
            "NOTICE: peerd not built next to peer-bench; skipping (cargo test --workspace builds it)"
        );
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_peer-bench"))
        .args([
            "--peerd",
            peerd.to_str().unwrap(),
            "--json",
            "--clients",
            "2",
            "--posts",
            "40",
            "--handshakes",
            "10",
            "--subscribers",
            "3",
            "--history",
            "150",
            "--quick",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "peer-bench failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let find = |scenario: &str, metric: &str| {
        rows.iter()
            .find(|r| {
                r["scenario"].as_str().unwrap().starts_with(scenario)
                    && r["metric"].as_str().unwrap() == metric
            })
            .unwrap_or_else(|| panic!("no {scenario} / {metric} in {report:#}"))
    };
    let positive = |scenario: &str, metric: &str| {
        let v = find(scenario, metric)["value"].as_f64().unwrap();
        assert!(v > 0.0, "{scenario} / {metric} = {v}");
        v
    };
    positive("handshakes", "handshakes/s");
    positive("transport", "requests/s");
    positive("posts", "latency p99");
    // posts/s comes with the transport ceiling and a ratio to it.
    let posts = find("posts", "posts/s");
    assert!(posts["value"].as_f64().unwrap() > 0.0);
    assert!(posts["baseline"]["ratio"].as_f64().unwrap() > 0.0);
    // The floor is measured in the same run.
    let cpu = find("posts", "server CPU per post");
    assert_eq!(cpu["baseline"]["name"], "crypto floor");
    assert!(cpu["baseline"]["value"].as_f64().unwrap() > 0.0);
    // Every stream saw every post.
    let delivered = find("fan-out (S=3", "events delivered")["value"]
        .as_f64()
        .unwrap();
    assert_eq!(delivered, 100.0);
    positive("fan-out (S=3", "post-to-event p50");
    // The mosquitto baseline of the same shape when mosquitto is installed,
    // else the table says it is not.
    let mosquitto = rows.iter().any(|r| {
        r["scenario"]
            .as_str()
            .unwrap()
            .starts_with("mosquitto fan-out (S=3")
    });
    if mosquitto {
        let delivered = find("mosquitto fan-out (S=3", "events delivered")["value"]
            .as_f64()
            .unwrap();
        assert_eq!(delivered, 100.0);
        positive("mosquitto fan-out (S=3", "post-to-event p99");
        let ours = find("fan-out (S=3", "events delivered/s");
        assert_eq!(ours["baseline"]["name"], "mosquitto");
        assert!(ours["baseline"]["ratio"].as_f64().unwrap() > 0.0);
    } else {
        let notes = report["notes"].to_string();
        assert!(notes.contains("mosquitto: not installed"), "{notes}");
    }
    positive("history (150 messages)", "read p50");
    positive("memory", "peerd RSS idle");
    assert!(report["machine"]["cpus"].as_u64().unwrap() >= 1);
}
