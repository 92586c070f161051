//! Settings: flags > `PEERD_*` variables > the TOML file > defaults, and
//! refusals with exit code 2.

use crate::support::Env;

fn with_file(text: &str) -> (Env, String) {
    let env = Env::new();
    let path = env.home.path().join("peerd.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (env, path)
}

#[test]
fn flag_beats_variable_beats_file() {
    let (env, file) = with_file("name = \"from-file\"\nregistration = \"closed\"\n");
    let base = ["--ephemeral", "--listen", "127.0.0.1:0", "--config", &file];

    // File only.
    let peerd = env.start(&base);
    let info = peerd.node_info();
    assert_eq!(info["name"], "from-file");
    assert_eq!(info["registration_open"], false);
    drop(peerd);

    // The variable wins over the file; the file still sets the rest.
    let env = env.var("PEERD_NAME", "from-env");
    let peerd = env.start(&base);
    let info = peerd.node_info();
    assert_eq!(info["name"], "from-env");
    assert_eq!(info["registration_open"], false);
    drop(peerd);

    // The flag wins over both.
    let mut args = base.to_vec();
    args.extend(["--name", "from-flag"]);
    let peerd = env.start(&args);
    assert_eq!(peerd.node_info()["name"], "from-flag");
    drop(peerd);

    // The config file itself can come from a variable.
    let env = crate::support::Env::new().var("PEERD_CONFIG", &file);
    let peerd = env.start(&["--ephemeral", "--listen", "127.0.0.1:0"]);
    assert_eq!(peerd.node_info()["name"], "from-file");
}

#[test]
fn empty_variables_count_as_unset() {
    let env = Env::new().var("PEERD_NAME", "").var("PEERD_STORE", "");
    let peerd = env.start(&["--ephemeral", "--listen", "127.0.0.1:0"]);
    let info = peerd.node_info();
    assert_eq!(info["name"], "peerd");
    assert_eq!(info["store"], "memory");
}

#[test]
fn switches_reach_the_node() {
    let env = Env::new().var("PEERD_BEARER_TOKENS", "off");
    let peerd = env.start(&[
        "--ephemeral",
        "--listen",
        "127.0.0.1:0",
        "--metrics",
        "local",
    ]);
    let info = peerd.node_info();
    assert_eq!(info["bearer_tokens"], false);
    assert_eq!(info["registration_open"], true);
    // Local metrics still answer a loopback client.
    let (status, body) = peerd.get("/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("peergroup_http_requests_total"), "{body}");
}

#[test]
fn unknown_file_key_is_exit_2_naming_it() {
    let (env, file) = with_file("name = \"x\"\nlisten_address = \"127.0.0.1:1\"\n");
    let (status, stdout, stderr) =
        env.run_to_exit(&["--ephemeral", "--listen", "127.0.0.1:0", "--config", &file]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("unknown field `listen_address`"),
        "{stderr}"
    );
    assert!(stderr.contains(&file), "names the file: {stderr}");
}

#[test]
fn mongodb_store_without_uri_is_exit_2() {
    let env = Env::new();
    let (status, _, stderr) = env.run_to_exit(&["--store", "mongodb", "--listen", "127.0.0.1:0"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--mongodb-uri"), "{stderr}");
    // Nothing was started, so not even the data directory exists.
    assert!(!env.home.path().join(".local").exists());
}

#[test]
fn usage_errors_are_exit_2() {
    let data = "--data-dir=/nonexistent/peerd";
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case<'_>; 4] = [
        (&["--ephemeral", data], &[], "conflicts with --data-dir"),
        (&["--listen", "nowhere:80"], &[], "expected IP:PORT"),
        (
            &["--ephemeral"],
            &[("PEERD_STORE", "postgres")],
            "PEERD_STORE",
        ),
        (
            &["--ephemeral", "--log-level", "x=loud"],
            &[],
            "not a log filter",
        ),
    ];
    for (args, vars, expect) in cases {
        let mut env = Env::new();
        for (k, v) in vars {
            env = env.var(k, v);
        }
        let (status, stdout, stderr) = env.run_to_exit(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stdout, "");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}

#[test]
fn help_and_version_exit_0() {
    let env = Env::new();
    let (status, stdout, _) = env.run_to_exit(&["--help"]);
    assert_eq!(status.code(), Some(0));
    for flag in [
        "--listen",
        "--data-dir",
        "--ephemeral",
        "--mongodb-uri",
        "PEERD_LOG_LEVEL",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from --help");
    }
    assert!(
        !stdout.contains("--default-port"),
        "test-only flag stays hidden"
    );
    let (status, stdout, _) = env.run_to_exit(&["--version"]);
    assert_eq!(status.code(), Some(0));
    assert!(stdout.starts_with("peerd "), "{stdout}");
}
