//! `peerctl export` / `peerctl import`: an identity exported from one
//! profile and imported into another is the same user (it signs the same
//! bytes identically, verifiably, and the node recognises it), and every
//! refusal is clear.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Output;

use crate::support::{Home, node};

const PASS: &str = "correct horse battery staple";

/// Runs peerctl with `PEERCTL_PASSPHRASE` set (or not), bounded.
async fn run_with_pass(home: &Home, profile: &str, args: &[&str], pass: Option<&str>) -> Output {
    let mut cmd = home.command(profile, args);
    if let Some(p) = pass {
        cmd.env("PEERCTL_PASSPHRASE", p);
    }
    tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("peerctl did not finish")
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_identity_imports_into_another_profile_as_the_same_user() {
    let node = node().await;
    let home = Home::new(node.url());
    let alice_id = home.init("alice").await;
    let file = home.path().join("alice.identity");
    let file_s = file.to_str().unwrap();

    // Export (passphrase from a file), mode 0600, in the shared format.
    let pass_file = home.path().join("pass.txt");
    std::fs::write(&pass_file, format!("{PASS}\n")).unwrap();
    let out = home
        .json1(
            "alice",
            &[
                "export",
                "--out",
                file_s,
                "--passphrase-file",
                pass_file.to_str().unwrap(),
            ],
        )
        .await;
    assert_eq!(out["user_id"].as_str(), Some(alice_id.as_str()));
    assert_eq!(out["iterations"].as_u64(), Some(600_000));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["format"], "peergroup-identity");
    assert_eq!(json["user_id"].as_str(), Some(alice_id.as_str()));
    assert!(!text.contains("PRIVATE KEY"));

    // Import into a fresh profile (passphrase from the environment).
    let o = run_with_pass(&home, "laptop", &["--json", "import", file_s], Some(PASS)).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], "new");
    assert_eq!(v["user_id"].as_str(), Some(alice_id.as_str()));
    let key_mode = std::fs::metadata(home.path().join("laptop/identity.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);

    // Both profiles hold the same key: identical, verifiable signatures.
    let a = home.identity("alice");
    let b = home.identity("laptop");
    assert_eq!(a.spki_der(), b.spki_der());
    let mut rng = peer_crypto::rng::system_rng();
    let msg = b"the same user in two places";
    let sa = a.sign(&mut rng, msg).unwrap();
    let sb = b.sign(&mut rng, msg).unwrap();
    assert_eq!(sa, sb);
    a.public().verify(msg, &sb).unwrap();

    // The node knows it: init recognises the registration, and what the
    // laptop sends, alice's other profile reads as hers, verified.
    let init = home.json1("laptop", &["init", "--name", "alice"]).await;
    assert_eq!(init["registered"], "already");
    home.ok("alice", &["rooms", "create", "plans"]).await;
    home.ok("laptop", &["send", "plans", "from the laptop"])
        .await;
    let read = home.json("alice", &["read", "plans"]).await;
    assert_eq!(read[0]["text"].as_str(), Some("from the laptop"));
    assert_eq!(read[0]["status"].as_str(), Some("verified"));
    assert_eq!(read[0]["sender_id"].as_str(), Some(alice_id.as_str()));

    // Importing again is harmless.
    let o = run_with_pass(&home, "laptop", &["--json", "import", file_s], Some(PASS)).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], "same");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_clear_and_change_nothing() {
    let node = node().await;
    let home = Home::new(node.url());
    home.init("alice").await;
    let bob_id = home.init("bob").await;
    let file = home.path().join("alice.identity");
    let file_s = file.to_str().unwrap();
    let o = run_with_pass(&home, "alice", &["export", "--out", file_s], Some(PASS)).await;
    assert!(o.status.success(), "{}", stderr(&o));

    // Wrong passphrase: exit 1, one line, the code, no passphrase echoed.
    let o = run_with_pass(
        &home,
        "carol",
        &["import", file_s],
        Some("not the passphrase"),
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.trim_end().ends_with("(wrong_passphrase)"), "{err}");
    assert!(!err.contains("not the passphrase"), "{err}");
    assert!(!home.path().join("carol/identity.pem").exists());

    // A profile with another identity is left alone without --force ...
    let o = run_with_pass(&home, "bob", &["import", file_s], Some(PASS)).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).trim_end().ends_with("(identity_exists)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(home.identity("bob").user_id().to_string(), bob_id);
    // ... and replaced with it, the old key kept beside.
    let o = run_with_pass(
        &home,
        "bob",
        &["--json", "import", file_s, "--force"],
        Some(PASS),
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], "replaced");
    let kept = v["replaced_key_file"].as_str().unwrap();
    let old = peer_crypto::IdentityKey::load_pem(kept).unwrap();
    assert_eq!(old.user_id().to_string(), bob_id);
    assert_eq!(
        home.identity("bob").user_id(),
        home.identity("alice").user_id()
    );

    // Export refuses an existing --out and a short passphrase.
    let o = run_with_pass(&home, "alice", &["export", "--out", file_s], Some(PASS)).await;
    assert!(
        stderr(&o).trim_end().ends_with("(file_exists)"),
        "{}",
        stderr(&o)
    );
    let o = run_with_pass(&home, "alice", &["export"], Some("short")).await;
    assert!(
        stderr(&o).trim_end().ends_with("(invalid_passphrase)"),
        "{}",
        stderr(&o)
    );

    // Not an identity file.
    let junk = home.path().join("junk");
    std::fs::write(&junk, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let o = run_with_pass(
        &home,
        "dave",
        &["import", junk.to_str().unwrap()],
        Some(PASS),
    )
    .await;
    assert!(
        stderr(&o).trim_end().ends_with("(invalid_identity_file)"),
        "{}",
        stderr(&o)
    );
    node.stop().await;
}
