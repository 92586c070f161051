//! Start, serve, stop.

use crate::support::{Env, tree};

#[test]
fn starts_serves_healthz_and_stops_on_sigterm() {
    let env = Env::new();
    let peerd = env.start(&["--ephemeral", "--listen", "127.0.0.1:0"]);
    assert!(peerd.addr().ip().is_loopback());
    assert_ne!(peerd.addr().port(), 0);

    let (status, body) = peerd.get("/healthz");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store_ok"], true);

    let info = peerd.node_info();
    assert_eq!(info["name"], "peerd");
    assert_eq!(info["store"], "memory");
    assert_eq!(info["role"], "standalone");

    let (status, rest, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert_eq!(rest, "", "stdout carries only the listening line");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
}

#[test]
fn sigint_stops_gracefully_too() {
    let env = Env::new();
    let peerd = env.start(&["--ephemeral", "--listen", "127.0.0.1:0"]);
    peerd.signal("INT");
    let (status, _, stderr) = peerd.finish();
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
}

#[test]
fn exit_with_stdin_stops_gracefully_when_stdin_closes() {
    let env = Env::new().stdin_pipe();
    let mut peerd = env.start(&[
        "--ephemeral",
        "--listen",
        "127.0.0.1:0",
        "--exit-with-stdin",
    ]);
    assert_eq!(peerd.get("/healthz").0, 200);
    peerd.close_stdin();
    let (status, _, stderr) = peerd.finish(); // bounded
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("stdin closed"), "{stderr}");
}

#[test]
fn exit_with_stdin_still_stops_on_sigterm_with_stdin_open() {
    // The pending read of stdin must not keep the process alive.
    let env = Env::new().stdin_pipe();
    let peerd = env.start(&[
        "--ephemeral",
        "--listen",
        "127.0.0.1:0",
        "--exit-with-stdin",
    ]);
    let (status, _, stderr) = peerd.stop(); // bounded; stdin still open
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
}

#[test]
fn ephemeral_writes_nothing() {
    let env = Env::new();
    let peerd = env.start(&["--ephemeral", "--listen", "127.0.0.1:0"]);
    assert_eq!(peerd.get("/healthz").0, 200);
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    // HOME (where the default data directory would be) is also the working
    // directory: nothing at all was created in it.
    assert_eq!(tree(env.home.path()), Vec::<String>::new());
}

#[test]
fn json_logs_are_one_object_per_line_on_stderr() {
    let env = Env::new();
    let peerd = env.start(&[
        "--ephemeral",
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--log-level",
        "debug",
    ]);
    let (_, _, stderr) = peerd.stop();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
}

/// Starts a request and leaves it in flight: sends a head with
/// `Expect: 100-continue` and no body, and waits for the `100 Continue`
/// that the server sends once its handler reads the body. The request is
/// then being served until the body arrives (or 30 s pass).
fn start_slow_request(addr: std::net::SocketAddr) -> std::net::TcpStream {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(crate::support::BOUND))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/users HTTP/1.1\r\nHost: {addr}\r\ncontent-type: application/json\r\n\
         expect: 100-continue\r\ncontent-length: 2\r\n\r\n"
    )
    .unwrap();
    let expected = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut got = vec![0u8; expected.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, expected, "{}", String::from_utf8_lossy(&got));
    stream
}

#[test]
fn shutdown_stops_accepting_and_drains_in_flight_requests() {
    use std::io::{Read as _, Write as _};
    let env = Env::new();
    let mut peerd = env.start(&["--ephemeral", "--listen", "127.0.0.1:0"]);
    let addr = peerd.addr();
    let mut slow = start_slow_request(addr);

    peerd.signal("TERM");
    peerd.wait_for_log("shutting down");
    // No new connections while draining...
    crate::support::wait_until_refused(addr);
    // ... but the request in flight gets its answer.
    slow.write_all(b"{}").unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    // The body lacks the fields of a registration: the handler answered it.
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("invalid_body"), "{answer}");
    let (status, _, stderr) = peerd.finish();
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn second_signal_exits_without_finishing_the_drain() {
    let env = Env::new();
    let mut peerd = env.start(&["--ephemeral", "--listen", "127.0.0.1:0"]);
    let _slow = start_slow_request(peerd.addr());
    peerd.signal("TERM");
    peerd.wait_for_log("shutting down");
    peerd.signal("TERM");
    // The drain would wait for the request for 30 s and then exit 0; the
    // second signal ends it at once with 1.
    let (status, _, stderr) = peerd.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
}
