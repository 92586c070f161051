//! The listening address: exact addresses, and the port search when no
//! port is given.

use std::net::TcpListener;

use crate::support::Env;

#[test]
fn taken_explicit_address_is_an_error() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let env = Env::new();
    let (status, stdout, stderr) = env.run_to_exit(&["--ephemeral", "--listen", &addr]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains(&addr) && stderr.contains("in use"),
        "{stderr}"
    );
}

#[test]
fn host_without_port_falls_back_to_the_next_free_port() {
    // Hold a port, and make it the default one (hidden test flag): peerd
    // must move on to a later one and say so.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    if port > u16::MAX - 20 {
        eprintln!("NOTICE: port {port} leaves no room for a search; nothing to test");
        return;
    }
    let env = Env::new();
    let default_port = port.to_string();
    let peerd = env.start(&[
        "--ephemeral",
        "--listen",
        "127.0.0.1",
        "--default-port",
        &default_port,
    ]);
    let got = peerd.addr().port();
    assert!(got > port && got < port + 20, "held {port}, got {got}");
    assert_eq!(peerd.get("/healthz").0, 200);
    let (status, _, stderr) = peerd.stop();
    assert_eq!(status.code(), Some(0));
    assert!(
        stderr.contains(&format!(
            "port {port} is in use; listening on port {got} instead"
        )),
        "{stderr}"
    );
}
