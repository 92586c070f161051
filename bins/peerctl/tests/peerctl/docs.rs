//! docs/cli.md stays true: every curl example runs against a live node
//! with a token from `peerctl token` (its `# -> NNN` status asserted), and
//! every command `peerctl --help` lists has a section with an example.

use std::process::Command;

use crate::support::{Home, bin, node};

fn cli_md() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md")).unwrap()
}

/// `(command, status, line)` of every `curl` line in the `sh` blocks.
fn curl_examples(doc: &str) -> Vec<(String, u16, usize)> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    let mut start = 0;
    for (i, line) in doc.lines().enumerate() {
        let t = line.trim();
        if !in_sh {
            in_sh = t == "```sh";
            continue;
        }
        if t == "```" {
            in_sh = false;
            continue;
        }
        if pending.is_empty() {
            if !t.starts_with("curl ") {
                continue;
            }
            start = i + 1;
        }
        if let Some(cont) = t.strip_suffix('\\') {
            pending.push_str(cont.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        let (cmd, status) = pending
            .rsplit_once("# -> ")
            .unwrap_or_else(|| panic!("docs/cli.md line {start}: no `# -> status`"));
        out.push((cmd.trim().to_owned(), status.trim().parse().unwrap(), start));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_curl_example_of_the_cli_docs_runs() {
    if !curl_available() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!ci, "curl is not installed, but CI=true");
        eprintln!("NOTICE: `curl` not found: SKIPPING the docs/cli.md curl examples");
        return;
    }
    let examples = curl_examples(&cli_md());
    assert!(examples.len() >= 4, "found {} examples", examples.len());
    let node = node().await;
    let home = Home::new(node.url());
    home.init("alice").await;
    let room = home
        .ok("alice", &["rooms", "create", "lobby", "--unencrypted"])
        .await;
    let token = home.ok("alice", &["token"]).await;
    let body = home.path().join("body");
    for (cmd, status, line) in &examples {
        let cmd = cmd.replacen("curl ", r#"curl -s -o "$BODY" -w '%{http_code}' "#, 1);
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .env("NODE", node.url())
            .env("TOKEN", token.trim())
            .env("ROOM", room.trim())
            .env("BODY", &body)
            .output()
            .await
            .unwrap();
        let got = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(
            got,
            status.to_string(),
            "docs/cli.md line {line}: {cmd}\nbody: {}",
            std::fs::read_to_string(&body).unwrap_or_default()
        );
    }
    // What curl posted, peerctl reads.
    let read = home.json("alice", &["read", "lobby"]).await;
    assert_eq!(read[0]["text"].as_str(), Some("hello from curl"));
    assert_eq!(read[0]["status"].as_str(), Some("unencrypted"));
    node.stop().await;
}

/// The subcommands a `--help` text lists under "Commands:".
fn subcommands(args: &[&str]) -> Vec<String> {
    let mut full = args.to_vec();
    full.push("--help");
    let out = Command::new(bin()).args(&full).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn every_command_has_a_section_with_an_example() {
    let doc = cli_md();
    let mut leaves = Vec::new();
    for cmd in subcommands(&[]) {
        let subs = subcommands(&[&cmd]);
        if subs.is_empty() {
            leaves.push(cmd);
        } else {
            leaves.extend(subs.into_iter().map(|s| format!("{cmd} {s}")));
        }
    }
    assert!(leaves.len() >= 18, "{leaves:?}");
    for leaf in &leaves {
        let heading = format!("### `peerctl {leaf}`");
        let at = doc
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/cli.md has no section {heading}"));
        let section = &doc[at + heading.len()..];
        let section = &section[..section.find("\n### ").unwrap_or(section.len())];
        let words: Vec<&str> = leaf.split(' ').collect();
        assert!(
            section.contains("```sh")
                && section
                    .lines()
                    .any(|l| l.contains("peerctl") && words.iter().all(|w| l.contains(w))),
            "{heading} has no example"
        );
    }
}
