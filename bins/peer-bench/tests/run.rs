//! A tiny whole run of the real binaries: peer-bench starts peerd on
//! loopback, runs every scenario with small sizes, and its JSON report must
//! hold a sane figure for each.
//!
//! peerd must be built next to peer-bench (`cargo test --workspace` does
//! that). Without it the test fails under `CI=true` and is skipped with a
//! notice elsewhere.

use std::path::PathBuf;
use std::process::Command;

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
    positive("history (150 messages)", "read p50");
    positive("memory", "peerd RSS idle");
    assert!(report["machine"]["cpus"].as_u64().unwrap() >= 1);
}
