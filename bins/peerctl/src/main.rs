//! `peerctl`: the peergroup command line, for people and for scripts.
//!
//! It parses arguments into a validated context ([`flags`] -> [`context`]),
//! then runs one command ([`commands`]) with the `peer-client` library,
//! which does every protocol and end-to-end step. What peerctl adds on top:
//! profiles on disk ([`profile`]), naming rooms and users by name
//! ([`resolve`]), output for people and `--json` for scripts ([`output`],
//! [`render`]), the room-key duties of an online owner or admin
//! ([`lifecycle`]), an event stream that survives failures ([`live`]), and
//! the interactive chat ([`commands::chat`]).
//!
//! Nodes: `--node`, else the profile's, else the main peer found by
//! multicast ([`commands::discover`]). What it does not do: keep messages
//! on disk, or talk to several nodes at once.
//!
//! Exit codes: 0 success, 1 failure (one line on stderr, with the API error
//! code when the node refused), 2 usage.

#![forbid(unsafe_code)]

mod commands;
mod context;
mod error;
mod flags;
mod lifecycle;
mod live;
mod output;
mod passphrase;
mod profile;
mod render;
mod resolve;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = match flags::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version print to stdout and exit 0; usage errors 2.
            let code = e.exit_code();
            let _ = e.print();
            return ExitCode::from(u8::try_from(code).unwrap_or(2));
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peerctl: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(commands::run(cli));
    // A chat's input thread may still wait on the terminal; nothing else
    // outlives the command.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = error::exit_code(&e);
            if code != 0 {
                eprintln!("peerctl: {}", error::describe(&e));
            }
            ExitCode::from(code)
        }
    }
}

/// Logs go to stderr, filtered by `PEERCTL_LOG` (an `EnvFilter` directive;
/// default `warn`). Nothing secret is ever logged by the libraries.
fn init_logging() {
    let filter = std::env::var("PEERCTL_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "warn".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
