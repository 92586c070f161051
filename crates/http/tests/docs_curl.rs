//! Runs every `sh` example of docs/api.md, in order, with the real `curl`
//! against a live node, and asserts the status each documents in its
//! `# -> NNN` comment. Without `curl` the test is skipped loudly, except
//! under `CI=true`, where it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

#[path = "http/common.rs"]
#[allow(dead_code)]
mod common;

use std::process::Command;

use common::{User, room_id};
use peer_testkit::keys;
use peer_testkit::node::TestNode;

/// One curl command of the docs and the status it documents.
#[derive(Debug)]
struct Example {
    command: String,
    status: u16,
    line: usize,
}

fn examples(doc: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    let mut start = 0;
    for (i, line) in doc.lines().enumerate() {
        let trimmed = line.trim();
        if !in_sh {
            in_sh = trimmed == "```sh";
            continue;
        }
        if trimmed == "```" {
            assert!(pending.is_empty(), "line {}: unfinished command", start + 1);
            in_sh = false;
            continue;
        }
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if pending.is_empty() {
            start = i;
        }
        if let Some(cont) = trimmed.strip_suffix('\\') {
            pending.push_str(cont.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (command, status) = pending
            .rsplit_once("# -> ")
            .unwrap_or_else(|| panic!("line {}: no `# -> status` comment", i + 1));
        let command = command.trim().to_owned();
        assert!(
            command.starts_with("curl "),
            "line {}: not a curl command",
            start + 1
        );
        out.push(Example {
            command,
            status: status.trim().parse().unwrap(),
            line: start + 1,
        });
        pending.clear();
    }
    out
}

fn curl_available() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn every_curl_example_of_the_api_docs_runs() {
    if !curl_available() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "curl is not installed, but CI=true: the docs examples must run"
        );
        eprintln!("\n\nNOTICE: `curl` not found: SKIPPING the docs/api.md curl examples\n\n");
        return;
    }
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md")).unwrap();
    let examples = examples(&doc);
    assert!(
        examples.len() >= 20,
        "found only {} examples",
        examples.len()
    );

    let node = TestNode::start().await;
    let alice = User::new(&node, keys::alice(), "alice").await;
    let bob = User::new(&node, keys::bob(), "bob").await;
    let carol = User::new(&node, keys::carol(), "carol").await;
    let dir = std::env::temp_dir().join(format!("peer-docs-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body_file = dir.join("body");
    let env = [
        ("NODE", node.url().to_owned()),
        ("TOKEN", alice.token().await),
        ("TOKEN2", bob.token().await),
        ("TOKEN3", carol.token().await),
        ("BOB", bob.id.to_string()),
        ("CAROL", carol.id.to_string()),
        ("ROOM", room_id().to_string()),
        ("BODY", body_file.display().to_string()),
    ];
    for ex in &examples {
        // Our flags first: body to a file, the status on stdout.
        let command = ex
            .command
            .replacen("curl ", r#"curl -s -o "$BODY" -w '%{http_code}' "#, 1);
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(&command);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        let status = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let body = std::fs::read_to_string(&body_file).unwrap_or_default();
        // `--max-time` ends event streams with curl's exit code 28.
        let timed_out = out.status.code() == Some(28) && ex.command.contains("--max-time");
        assert!(
            out.status.success() || timed_out,
            "docs/api.md line {}: curl failed ({:?}): {}",
            ex.line,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            status,
            ex.status.to_string(),
            "docs/api.md line {}: {}\nbody: {body}",
            ex.line,
            ex.command
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    node.stop().await;
}

#[test]
fn the_parser_finds_commands_and_statuses() {
    let doc = "x\n```sh\n# c\ncurl -X POST \"$NODE/a\" \\\n  -d '{}'  # -> 201\ncurl b  # -> 200\n```\n```text\ncurl no\n```\n";
    let ex = examples(doc);
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].command, "curl -X POST \"$NODE/a\" -d '{}'");
    assert_eq!((ex[0].status, ex[0].line), (201, 4));
    assert_eq!(ex[1].status, 200);
}
