//! The command surface: `--json` output of every command parsed, error
//! lines and exit codes, help texts.

use std::os::unix::fs::PermissionsExt as _;

use serde_json::Value;

use crate::support::{Home, bin, node};

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_of_every_command_parses() {
    let node = node().await;
    let home = Home::new(node.url());

    let init = home.json1("alice", &["init", "--name", "alice"]).await;
    assert_eq!(s(&init["registered"]), "new");
    assert_eq!(init["key_created"], true);
    assert_eq!(s(&init["node"]), node.url());
    let alice = s(&init["user_id"]).to_owned();
    let who = home.json1("alice", &["whoami"]).await;
    assert_eq!(
        (s(&who["user_id"]), s(&who["name"])),
        (alice.as_str(), "alice")
    );
    let info = home.json1("alice", &["node", "info"]).await;
    assert_eq!(s(&info["role"]), "standalone");
    // The profile: key 0600 in a 0700 directory, the node's key pinned,
    // the node remembered.
    let dir = home.path().join("alice");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("identity.pem")), 0o600);
    let pins = std::fs::read_to_string(dir.join("known_nodes")).unwrap();
    assert!(
        pins.lines()
            .any(|l| l.starts_with(&format!("{} {} ", node.url(), s(&info["node_id"])))),
        "{pins}"
    );
    let settings = std::fs::read_to_string(dir.join("profile.toml")).unwrap();
    assert!(
        settings.contains(&format!("node = \"{}\"", node.url())),
        "{settings}"
    );
    // Without --node or PEERCTL_NODE: the profile's node, else the default.
    let mut cmd = home.command("alice", &["--json", "whoami"]);
    cmd.env_remove("PEERCTL_NODE");
    let out: Value = serde_json::from_slice(&cmd.output().await.unwrap().stdout).unwrap();
    assert_eq!(s(&out["node"]), node.url());
    let bare = home.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    std::fs::copy(dir.join("identity.pem"), bare.join("identity.pem")).unwrap();
    let mut cmd = home.command("bare", &["--json", "whoami"]);
    cmd.env_remove("PEERCTL_NODE");
    let out: Value = serde_json::from_slice(&cmd.output().await.unwrap().stdout).unwrap();
    assert_eq!(s(&out["node"]), "http://127.0.0.1:8080");
    assert_eq!(out["name"], Value::Null);
    let bob = home.init("bob").await;

    // Owner online: keys are handed out.
    let mut agent = home.spawn("alice", &["--json", "agent"]);
    let online: Value = serde_json::from_str(&agent.expect("\"online\"").await).unwrap();
    assert_eq!(
        (s(&online["event"]), s(&online["user"])),
        ("online", alice.as_str())
    );

    let room = home
        .json1("alice", &["rooms", "create", "plans", "--topic", "q3"])
        .await;
    assert_eq!((s(&room["name"]), s(&room["topic"])), ("plans", "q3"));
    assert_eq!(
        (room["encrypted"].clone(), s(&room["my_role"])),
        (Value::Bool(true), "owner")
    );
    let room_id = s(&room["id"]).to_owned();
    // Text mode prints the id alone, for `ROOM=$(...)`.
    let lobby = home
        .ok("alice", &["rooms", "create", "lobby", "--unencrypted"])
        .await;
    let lobby = lobby.trim().to_owned();
    assert_eq!(lobby.len(), 22, "{lobby:?}");

    let list = home.json("alice", &["rooms", "list"]).await;
    let mut names: Vec<&str> = list.iter().map(|r| s(&r["name"])).collect();
    names.sort_unstable();
    assert_eq!(names, ["lobby", "plans"]);
    let shown = home.json1("alice", &["rooms", "show", &room_id]).await;
    assert_eq!(s(&shown["members"][0]["role"]), "owner");

    let joined = home.json1("bob", &["rooms", "join", "plans"]).await;
    assert_eq!(
        (s(&joined["key"]), joined["join_epoch"].as_u64()),
        ("received", Some(1))
    );
    assert_eq!(s(&joined["room"]), room_id);
    let given: Value = serde_json::from_str(
        &agent
            .expect_by("bob's key", |l| {
                l.contains("key_distributed") && l.contains(&bob)
            })
            .await,
    )
    .unwrap();
    assert_eq!(
        (s(&given["user_name"]), given["epoch"].as_u64()),
        ("bob", Some(1))
    );

    let sent = home.json1("alice", &["send", "plans", "hello bob"]).await;
    assert_eq!(sent["seq"], 1);
    assert_eq!(s(&sent["room"]), room_id);
    assert_eq!(home.ok("alice", &["send", "plans", "second"]).await, "2\n");
    let piped = home
        .run_with_input("bob", &["send", "plans", "-"], Some("third\n\nfourth\r\n"))
        .await;
    assert_eq!(
        (piped.code, piped.stdout.as_str()),
        (0, "3\n4\n"),
        "{}",
        piped.stderr
    );

    let read = home.json("bob", &["read", "plans"]).await;
    assert_eq!(read.len(), 4);
    let texts: Vec<&str> = read.iter().map(|m| s(&m["text"])).collect();
    assert_eq!(texts, ["hello bob", "second", "third", "fourth"]);
    for (i, m) in read.iter().enumerate() {
        assert_eq!(m["seq"], i as u64 + 1);
        assert_eq!(s(&m["room"]), room_id);
        assert_eq!(m["verified"], true);
        assert_eq!(s(&m["status"]), "verified");
        assert!(m["sent_at"].as_u64().unwrap() > 1_600_000_000);
        assert_eq!(m["epoch"], 1);
    }
    assert_eq!(
        (s(&read[0]["sender_id"]), s(&read[0]["sender_name"])),
        (alice.as_str(), "alice")
    );
    assert_eq!(s(&read[2]["sender_name"]), "bob");
    let page = home
        .json("bob", &["read", "plans", "--after", "2", "--limit", "1"])
        .await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["seq"], 3);
    let text = home.ok("bob", &["read", "plans", "--after", "3"]).await;
    assert!(
        text.starts_with("[#4 ") && text.trim_end().ends_with("bob: fourth"),
        "{text:?}"
    );

    let invite = home
        .json1(
            "alice",
            &[
                "rooms",
                "invite",
                "plans",
                "--uses",
                "2",
                "--expires",
                "600",
            ],
        )
        .await;
    assert_eq!(
        (s(&invite["room_id"]), invite["uses"].as_u64()),
        (room_id.as_str(), Some(2))
    );
    assert!(!s(&invite["code"]).is_empty());
    // A private room is invisible to outsiders: joined by its id and a code.
    let inner = home
        .json1(
            "alice",
            &["rooms", "create", "inner", "--private", "--invite-only"],
        )
        .await;
    let inner_id = s(&inner["id"]).to_owned();
    let code = home.ok("alice", &["rooms", "invite", "inner"]).await;
    home.fails("bob", &["rooms", "join", "inner"], "room_not_found")
        .await;
    let j = home
        .json1(
            "bob",
            &["rooms", "join", &inner_id, "--invite", code.trim()],
        )
        .await;
    assert_eq!(
        (s(&j["name"]), s(&j["key"]), j["join_epoch"].as_u64()),
        ("inner", "received", Some(1))
    );
    let member = home
        .json1("alice", &["rooms", "role", "plans", "bob", "admin"])
        .await;
    assert_eq!((s(&member["name"]), s(&member["role"])), ("bob", "admin"));
    let token = home.json1("alice", &["token", "--ttl", "60"]).await;
    assert_eq!(s(&token["token"]).len(), 43);
    assert!(token["expires_at"].as_u64().is_some());
    let plain = home.ok("alice", &["token"]).await;
    assert_eq!(plain.trim().len(), 43, "the token alone: {plain:?}");

    let rotated = home.json1("bob", &["rooms", "rotate", "plans"]).await;
    assert_eq!(
        (rotated["epoch"].as_u64(), rotated["members"].as_u64()),
        (Some(2), Some(2))
    );

    let carol = home.init("carol").await;
    let j = home.json1("carol", &["rooms", "join", "lobby"]).await;
    assert_eq!(
        (s(&j["key"]), j["join_epoch"].clone()),
        ("none", Value::Null)
    );
    let kicked = home
        .json1("alice", &["rooms", "kick", "lobby", "carol", "--ban"])
        .await;
    assert_eq!(
        (
            s(&kicked["user_id"]),
            s(&kicked["reason"]),
            kicked["rotated_to"].clone()
        ),
        (carol.as_str(), "banned", Value::Null)
    );
    let deleted = home.json1("alice", &["rooms", "delete", "lobby"]).await;
    assert_eq!(
        (s(&deleted["room"]), deleted["deleted"].clone()),
        (lobby.as_str(), Value::Bool(true))
    );
    let left = home.json1("bob", &["rooms", "leave", "plans"]).await;
    assert_eq!(s(&left["reason"]), "left");
    // The agent rotates after bob left; every line it printed is JSON.
    let r: Value = serde_json::from_str(&agent.expect("\"rotated\"").await).unwrap();
    assert_eq!(
        (r["epoch"].as_u64(), s(&r["room_name"])),
        (Some(3), "plans")
    );
    agent.terminate();
    let (code, rest, _) = agent.finish().await;
    assert_eq!(code, 0);
    for line in agent_lines(&rest) {
        let _: Value = serde_json::from_str(line).unwrap();
    }
    node.stop().await;
}

fn agent_lines(rest: &[String]) -> impl Iterator<Item = &str> {
    rest.iter().map(String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_line_with_the_code_and_exit_codes_say_what_failed() {
    let node = node().await;
    let home = Home::new(node.url());

    // Usage: exit code 2.
    for args in [
        &["--bogus", "whoami"][..],
        &["rooms", "role", "plans", "bob", "owner"],
        &["rooms", "create", "x", "--password", "pw", "--invite-only"],
        &["--node", "https://example.org", "whoami"],
        &["read"],
    ] {
        let out = home.run("alice", args).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = home.run("../evil", &["whoami"]).await;
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "peerctl: invalid profile name \"../evil\": use 1-64 of A-Z a-z 0-9 _ . - (not starting with a dot)"
    );
    // Help and version: exit code 0, examples for every command.
    for args in [
        &["--help"][..],
        &["rooms", "join", "--help"],
        &["chat", "--help"],
    ] {
        let out = home.run("alice", args).await;
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("Examples:"), "{args:?}");
    }
    assert_eq!(home.run("alice", &["--version"]).await.code, 0);

    // Failures: exit code 1, one line, the code at its end.
    let line = home.fails("alice", &["whoami"], "no_identity").await;
    assert!(
        line.contains("run `peerctl --profile alice init --name NAME`"),
        "{line}"
    );
    let out = home
        .run(
            "alice",
            &["--node", "http://127.0.0.1:1", "init", "--name", "alice"],
        )
        .await;
    assert_eq!(out.code, 1);
    // A note that the key was made, then the one error line.
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(lines[0].starts_with("peerctl: created the identity key "));
    assert!(
        lines[1].starts_with("peerctl: cannot reach a node at http://127.0.0.1:1"),
        "{}",
        lines[1]
    );

    home.init("alice").await;
    let again = home.ok("alice", &["init", "--name", "alice"]).await;
    assert!(again.starts_with("already registered alice"), "{again}");
    home.fails("eve", &["init", "--name", "ALICE"], "name_taken")
        .await;
    home.fails("alice", &["init", "--name", "someone-else"], "name_taken")
        .await;
    // Registered here, not on another node.
    let other = crate::support::node().await;
    let line = home
        .fails(
            "alice",
            &["--node", other.url(), "rooms", "list"],
            "unknown_identity",
        )
        .await;
    assert!(line.contains("is not registered on"), "{line}");

    home.init("bob").await;
    home.init("carol").await;
    home.fails("alice", &["rooms", "show", "nowhere"], "room_not_found")
        .await;
    home.ok("alice", &["rooms", "create", "dup"]).await;
    home.ok("bob", &["rooms", "create", "dup"]).await;
    let line = home
        .fails("carol", &["rooms", "show", "dup"], "ambiguous_name")
        .await;
    assert!(line.contains("2 rooms are called 'dup'"), "{line}");
    // Mine first: no ambiguity for the owners.
    let mine = home.json1("alice", &["rooms", "show", "dup"]).await;
    assert_eq!(s(&mine["my_role"]), "owner");

    home.ok(
        "alice",
        &["rooms", "create", "club", "--password", "sesame"],
    )
    .await;
    let line = home
        .fails(
            "carol",
            &["rooms", "join", "club", "--password", "nope"],
            "wrong_password",
        )
        .await;
    assert!(
        line.starts_with("peerctl: cannot join room 'club': "),
        "{line}"
    );
    home.fails("carol", &["read", "club"], "not_member").await;
    home.ok(
        "carol",
        &[
            "rooms",
            "join",
            "club",
            "--password",
            "sesame",
            "--wait",
            "0",
        ],
    )
    .await;
    home.fails("carol", &["rooms", "kick", "club", "alice"], "forbidden")
        .await;
    home.fails(
        "carol",
        &["rooms", "join", "club", "--password", "sesame"],
        "already_member",
    )
    .await;
    home.fails(
        "alice",
        &["rooms", "kick", "club", "nobody"],
        "user_not_found",
    )
    .await;
    let line = home
        .fails("carol", &["send", "club", "hi"], "key_pending")
        .await;
    assert!(
        line.contains("an owner or admin hands it out when online"),
        "{line}"
    );
    let line = home
        .fails("alice", &["rooms", "leave", "club"], "forbidden")
        .await;
    assert!(line.contains("cannot leave room 'club'"), "{line}");
    node.stop().await;
}

#[tokio::test]
async fn help_lists_every_command() {
    let out = std::process::Command::new(bin())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "init", "whoami", "node", "rooms", "send", "read", "chat", "agent", "token",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
            "{cmd} missing from --help:\n{help}"
        );
    }
}
