//! Loading and validation, end to end from argv (the environment is given
//! as a list; the process has no `PEERD_*` variables in tests).

use super::*;

fn home() -> Vec<(OsString, OsString)> {
    vec![("HOME".into(), "/home/op".into())]
}

fn load_args(args: &[&str]) -> Result<Settings, String> {
    let mut argv = vec!["peerd"];
    argv.extend_from_slice(args);
    load(argv, &home()).map_err(|e| match e {
        LoadError::Clap(e) => format!("clap: {}", e.error),
        LoadError::Usage(e) => e.to_string(),
    })
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults() {
    let s = load_args(&[]).unwrap();
    assert_eq!(
        s.run.listen,
        ListenPlan::Search {
            ip: "0.0.0.0".parse().unwrap(),
            first: 8080,
            tries: 20
        }
    );
    assert_eq!(
        s.run.identity,
        IdentityPlan::DataDir("/home/op/.local/share/peergroup".into())
    );
    let StorePlan::Redb(redb) = &s.run.store else {
        panic!("the default store with a data directory is redb")
    };
    assert_eq!(
        redb.path,
        std::path::Path::new("/home/op/.local/share/peergroup/peergroup.redb")
    );
    assert_eq!(s.run.node.name, "peerd");
    assert!(s.run.node.registration_open);
    assert!(s.run.node.bearer_tokens);
    assert!(s.run.server.metrics_public);
    assert_eq!(s.log.format, LogFormat::Text);
    assert!(s.warnings.is_empty());
}

#[test]
fn data_dir_defaults_follow_xdg() {
    let mut vars = home();
    vars.push(("XDG_DATA_HOME".into(), "/data".into()));
    let s = load(["peerd"], &vars).ok().unwrap();
    assert_eq!(
        s.run.identity,
        IdentityPlan::DataDir("/data/peergroup".into())
    );
    // A relative XDG_DATA_HOME is ignored, as the spec says.
    vars[1].1 = "rel".into();
    let s = load(["peerd"], &vars).ok().unwrap();
    assert_eq!(
        s.run.identity,
        IdentityPlan::DataDir("/home/op/.local/share/peergroup".into())
    );
    let Err(LoadError::Usage(e)) = load(["peerd"], &[]) else {
        panic!("no HOME must be an error");
    };
    assert!(e.to_string().contains("--data-dir"), "{e}");
    // ... unless no data directory is needed.
    assert!(load(["peerd", "--ephemeral"], &[]).is_ok());
}

#[test]
fn relative_data_dir_becomes_absolute() {
    let s = load_args(&["--data-dir", "peerd-data"]).unwrap();
    let IdentityPlan::DataDir(dir) = s.run.identity else {
        panic!()
    };
    assert!(dir.is_absolute() && dir.ends_with("peerd-data"), "{dir:?}");
}

#[test]
fn flag_wins_over_file_per_setting() {
    let f = toml_file("name = \"from-file\"\nregistration = \"closed\"\n");
    let path = f.path().to_str().unwrap();
    let s = load_args(&["--config", path, "--name", "from-flag"]).unwrap();
    assert_eq!(s.run.node.name, "from-flag");
    assert!(
        !s.run.node.registration_open,
        "the file still sets what no flag does"
    );
}

#[test]
fn listen_forms_become_plans() {
    let s = load_args(&["--listen", "127.0.0.1:9000"]).unwrap();
    assert_eq!(
        s.run.listen,
        ListenPlan::Exact {
            addr: "127.0.0.1:9000".parse().unwrap(),
            origin: "--listen".into()
        }
    );
    let s = load_args(&["--listen", "127.0.0.1", "--default-port", "5000"]).unwrap();
    assert_eq!(
        s.run.listen,
        ListenPlan::Search {
            ip: "127.0.0.1".parse().unwrap(),
            first: 5000,
            tries: 20
        }
    );
    let e = load_args(&["--default-port", "0"]).unwrap_err();
    assert!(e.contains("--default-port"), "{e}");
}

#[test]
fn ephemeral_conflicts_name_both_sources() {
    let e = load_args(&["--ephemeral", "--data-dir", "/x"]).unwrap_err();
    assert!(e.contains("--ephemeral") && e.contains("--data-dir"), "{e}");

    let f = toml_file("ephemeral = true\n");
    let path = f.path().to_str().unwrap();
    let e = load_args(&["--config", path, "--data-dir", "/x"]).unwrap_err();
    assert!(
        e.contains("`ephemeral` in ") && e.contains("--data-dir"),
        "{e}"
    );

    let e = load_args(&[
        "--ephemeral",
        "--store",
        "mongodb",
        "--mongodb-uri",
        "mongodb://h/",
    ])
    .unwrap_err();
    assert!(e.contains("--store") && e.contains("memory store"), "{e}");

    // `--ephemeral=false` is no conflict.
    assert!(load_args(&["--ephemeral=false", "--data-dir", "/x"]).is_ok());
}

#[test]
fn mongodb_settings() {
    let e = load_args(&["--store", "mongodb"]).unwrap_err();
    assert!(
        e.contains("--mongodb-uri") && e.contains("PEERD_MONGODB_URI"),
        "{e}"
    );

    let e = load_args(&["--mongodb-uri", "mongodb://h/"]).unwrap_err();
    assert!(
        e.contains("--mongodb-uri is set, but the store is redb"),
        "{e}"
    );
    let e = load_args(&["--store", "memory", "--mongodb-database", "x"]).unwrap_err();
    assert!(
        e.contains("--mongodb-database is set, but the store is memory"),
        "{e}"
    );

    let e = load_args(&["--store=mongodb", "--mongodb-uri", "http://u:hunter2@h/"]).unwrap_err();
    assert!(e.contains("not a MongoDB connection string"), "{e}");
    assert!(
        !e.contains("hunter2"),
        "the password must not be shown: {e}"
    );

    let e = load_args(&[
        "--store=mongodb",
        "--mongodb-uri=mongodb://h/",
        "--mongodb-database=a.b",
    ])
    .unwrap_err();
    assert!(e.contains("--mongodb-database") && e.contains("a.b"), "{e}");

    let s = load_args(&[
        "--store=mongodb",
        "--mongodb-uri=mongodb://u:pw@h/?replicaSet=rs0",
    ])
    .unwrap();
    let StorePlan::Mongo(cfg) = &s.run.store else {
        panic!()
    };
    assert_eq!(cfg.database, "peergroup");
    assert_eq!(cfg.uri, "mongodb://u:pw@h/?replicaSet=rs0");
    assert!(
        !format!("{s:?}").contains("pw@"),
        "Debug must redact the URI"
    );
}

#[test]
fn node_settings() {
    let s = load_args(&[
        "--name",
        "hall",
        "--registration",
        "closed",
        "--bearer-tokens",
        "off",
        "--metrics",
        "local",
    ])
    .unwrap();
    assert_eq!(s.run.node.name, "hall");
    assert!(!s.run.node.registration_open);
    assert!(!s.run.node.bearer_tokens);
    assert!(!s.run.server.metrics_public);

    for bad in ["", "a\u{7}b", &"x".repeat(65)] {
        let e = load_args(&["--name", bad]).unwrap_err();
        assert!(e.contains("--name: a node name is 1-64 bytes"), "{e}");
    }
    assert!(load_args(&["--name", &"x".repeat(64)]).is_ok());
}

#[test]
fn log_settings() {
    let s = load_args(&[
        "--log-format",
        "json",
        "--log-level",
        "warn,peer_http=debug",
    ])
    .unwrap();
    assert_eq!(s.log.format, LogFormat::Json);
    let e = load_args(&["--log-level", "peer_http=loud"]).unwrap_err();
    assert!(
        e.contains("--log-level") && e.contains("not a log filter"),
        "{e}"
    );
}

#[test]
fn unknown_file_key_and_missing_file() {
    let f = toml_file("name = \"a\"\nlisen = \"127.0.0.1:1\"\n");
    let e = load_args(&["--config", f.path().to_str().unwrap()]).unwrap_err();
    assert!(e.contains("unknown field `lisen`"), "{e}");
    let e = load_args(&["--config", "/nonexistent/peerd.toml"]).unwrap_err();
    assert!(
        e.contains("cannot read the config file /nonexistent/peerd.toml"),
        "{e}"
    );
}

#[test]
fn unknown_peerd_variables_are_warned_about() {
    let mut vars = home();
    vars.push(("PEERD_LISTN".into(), "x".into()));
    vars.push(("PEERD_LISTEN".into(), "x".into()));
    vars.push(("PEERD_CONFIG".into(), "x".into()));
    vars.push(("PEER_TEST_MONGODB_URI".into(), "x".into()));
    let s = load(["peerd"], &vars).ok().unwrap();
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("PEERD_LISTN"));
}

#[test]
fn store_choice() {
    let s = load_args(&["--data-dir", "/srv/pg"]).unwrap();
    let StorePlan::Redb(cfg) = &s.run.store else {
        panic!("redb with a data directory")
    };
    assert_eq!(cfg.path, std::path::Path::new("/srv/pg/peergroup.redb"));
    let s = load_args(&["--data-dir", "/srv/pg", "--store", "redb"]).unwrap();
    assert!(matches!(s.run.store, StorePlan::Redb(_)));
    let s = load_args(&["--data-dir", "/srv/pg", "--store", "memory"]).unwrap();
    assert!(matches!(s.run.store, StorePlan::Memory(_)));
    let s = load_args(&["--ephemeral"]).unwrap();
    assert!(matches!(s.run.store, StorePlan::Memory(_)));
    let s = load_args(&["--ephemeral", "--store", "memory"]).unwrap();
    assert!(matches!(s.run.store, StorePlan::Memory(_)));
    let e = load_args(&["--ephemeral", "--store", "redb"]).unwrap_err();
    assert!(
        e.contains("--ephemeral conflicts with --store") && e.contains("memory store"),
        "{e}"
    );
}

#[test]
fn limits_reach_the_node_and_the_memory_store() {
    let s = load_args(&[
        "--ephemeral",
        "--session-rate",
        "5000",
        "--session-burst",
        "9000",
        "--handshake-rate",
        "300",
        "--max-sessions",
        "42",
        "--max-streams-per-user",
        "1200",
        "--memory-max-messages",
        "2000000",
    ])
    .unwrap();
    let node = &s.run.node;
    assert_eq!(
        (node.session_rate.per_sec, node.session_rate.burst),
        (5000, 9000)
    );
    assert_eq!(
        (node.handshake_rate.per_sec, node.handshake_rate.burst),
        (300, 300)
    );
    assert_eq!(node.max_sessions, 42);
    assert_eq!(node.max_streams_per_user, 1200);
    let StorePlan::Memory(memory) = &s.run.store else {
        panic!("an ephemeral node uses the memory store")
    };
    assert_eq!(memory.max_messages_per_room, 2_000_000);

    // Unset limits keep the node's defaults.
    let s = load_args(&["--ephemeral"]).unwrap();
    let defaults = NodeConfig::default();
    assert_eq!(s.run.node.session_rate, defaults.session_rate);
    assert_eq!(
        s.run.node.max_streams_per_user,
        defaults.max_streams_per_user
    );
}

#[test]
fn limits_out_of_range_are_refused_naming_the_setting() {
    let e = load_args(&["--ephemeral", "--session-rate", "0"]).unwrap_err();
    assert!(e.contains("--session-rate") && e.contains("not 0"), "{e}");
    let e = load_args(&["--ephemeral", "--handshake-rate", "1000001"]).unwrap_err();
    assert!(e.contains("--handshake-rate"), "{e}");
    let e = load_args(&["--ephemeral", "--max-sessions", "-1"]).unwrap_err();
    assert!(e.starts_with("clap:"), "{e}");
    let f = toml_file("max_streams_per_user = 0\n");
    let e = load_args(&["--ephemeral", "--config", f.path().to_str().unwrap()]).unwrap_err();
    assert!(e.contains("`max_streams_per_user` in"), "{e}");
    // The memory store's cap means nothing to redb.
    let e = load_args(&["--data-dir", "/tmp/x", "--memory-max-messages", "5"]).unwrap_err();
    assert!(
        e.contains("--memory-max-messages") && e.contains("memory store only"),
        "{e}"
    );
}
