//! `peerd`, the peergroup daemon.
//!
//! This binary only parses its configuration and wires library crates
//! together: `config` turns flags, `PEERD_*` variables and the TOML file
//! into validated settings (the libraries' own config objects); `daemon`
//! opens the data directory, identity key and store, binds, and runs the
//! `peer-http` server over a `peer-node` node until SIGINT or SIGTERM.
//!
//! `peerd migrate` and `peerd backup` (module `tools`) are maintenance
//! commands that run instead of the daemon.
//!
//! Exit codes: 0 after a graceful shutdown, 2 for a usage or settings
//! error (nothing was started), 1 for a failure at run time. See
//! `docs/operations.md`.

#![forbid(unsafe_code)]

mod config;
mod control;
mod daemon;
mod datadir;
mod listen;
mod logging;
mod signals;
mod tools;

use std::ffi::OsString;
use std::process::ExitCode;

use config::LoadError;

/// Exit code of a usage or settings error.
const EXIT_USAGE: u8 = 2;
/// Exit code of a failure at run time.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let args: Vec<OsString> = std::env::args_os().collect();
    if tools::is_tool(&args) {
        return tools::main(args, &vars);
    }
    let settings = match config::load(args, &vars) {
        Ok(settings) => settings,
        Err(LoadError::Clap(e)) => {
            // --help and --version print to stdout and exit 0; usage errors
            // print to stderr and exit 2.
            let _ = e.error.print();
            if let Some(note) = e.note {
                eprintln!("peerd: note: {note}");
            }
            return ExitCode::from(u8::try_from(e.error.exit_code()).unwrap_or(EXIT_USAGE));
        }
        Err(LoadError::Usage(e)) => {
            eprintln!("peerd: {e}");
            eprintln!("peerd: see `peerd --help`");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(e) = logging::init(settings.log) {
        eprintln!("peerd: {e:#}");
        return ExitCode::from(EXIT_FAILURE);
    }
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peerd: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(daemon::run(settings.run));
    // A blocking read of stdin (`--exit-with-stdin`) may still be pending
    // after a signal: do not wait for it (everything else has finished).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A plain line whatever the log settings: a filter that hides
            // this crate's events must not hide why peerd stopped.
            eprintln!("peerd: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
