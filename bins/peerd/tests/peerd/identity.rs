//! The data directory and the node key.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use crate::support::{Env, mode};

#[test]
fn key_is_created_private_and_reused_after_restart() {
    let env = Env::new();
    let data = env.home.path().join("data");
    let data_arg = data.to_str().unwrap();
    let args = ["--data-dir", data_arg, "--listen", "127.0.0.1:0"];

    let peerd = env.start(&args);
    let first_id = peerd.node_info()["node_id"].as_str().unwrap().to_owned();
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let key = data.join("node.pem");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&key), 0o600);
    let pem = fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(!stderr.contains("BEGIN PRIVATE KEY"), "no key in the logs");

    let peerd = env.start(&args);
    assert_eq!(peerd.node_info()["node_id"], first_id.as_str());
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        fs::read_to_string(&key).unwrap(),
        pem,
        "the key is never rewritten"
    );
}

#[test]
fn default_data_dir_is_under_xdg_data_home() {
    let env = Env::new();
    let xdg = env.home.path().join("xdg");
    let env = env.var("XDG_DATA_HOME", xdg.to_str().unwrap());
    let peerd = env.start(&["--listen", "127.0.0.1:0"]);
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(mode(&xdg.join("peergroup").join("node.pem")), 0o600);
}

#[test]
fn readable_key_file_refuses_to_start() {
    let env = Env::new();
    let data = env.home.path().join("data");
    let data_arg = data.to_str().unwrap();
    let args = ["--data-dir", data_arg, "--listen", "127.0.0.1:0"];
    let (status, _, _) = env.start(&args).stop();
    assert_eq!(status.code(), Some(0));

    let key = data.join("node.pem");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let (status, stdout, stderr) = env.run_to_exit(&args);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stdout, "", "no listening line");
    assert!(stderr.contains("mode 0644"), "{stderr}");
    assert!(
        stderr.contains(&format!("chmod 600 {}", key.display())),
        "the message says what to run: {stderr}"
    );
    assert_eq!(mode(&key), 0o644, "peerd does not change it by itself");
}

#[test]
fn one_daemon_per_data_dir() {
    let env = Env::new();
    let data = env.home.path().join("data");
    let data_arg = data.to_str().unwrap();
    let args = ["--data-dir", data_arg, "--listen", "127.0.0.1:0"];
    let first = env.start(&args);
    let (status, _, stderr) = env.run_to_exit(&args);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in use by another peerd"), "{stderr}");
    let (status, _, _) = first.stop();
    assert_eq!(status.code(), Some(0));
}
