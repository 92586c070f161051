//! The maintenance subcommands: `peerd migrate` and `peerd backup`. They
//! run instead of the daemon when the first argument names them, with a
//! command line of their own (no settings file, no `PEERD_*` variables
//! except `PEERD_DATA_DIR` for `backup`).

mod backup;
mod migrate;
pub(crate) mod transfer;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{EXIT_FAILURE, EXIT_USAGE};

/// The subcommands' names.
const NAMES: [&str; 2] = ["migrate", "backup"];

/// peerd maintenance commands.
#[derive(Parser)]
#[command(name = "peerd", version, max_term_width = 100)]
struct ToolCli {
    #[command(subcommand)]
    command: Tool,
}

#[derive(Subcommand)]
enum Tool {
    /// Copy every user, room, member, ban, invite, key envelope, message,
    /// peer and audit entry from one store to another (redb <-> MongoDB),
    /// keeping sequence numbers, versions and epochs. Stop the nodes using
    /// either store first. A rerun after an interruption completes the copy
    /// without duplicates.
    Migrate(MigrateArgs),
    /// Write a consistent snapshot of a node's redb store to a file, while
    /// peerd runs (through its control socket) or not (from the file).
    Backup(BackupArgs),
}

/// `peerd migrate`.
#[derive(clap::Args)]
struct MigrateArgs {
    /// The store to copy from: redb:PATH (the peergroup.redb file, or the
    /// data directory holding it) or a MongoDB URI (mongodb://...)
    #[arg(long, value_name = "STORE")]
    from: String,
    /// The store to copy into: redb:PATH (a data directory, made when
    /// absent unless PATH ends in .redb, or a redb file) or a MongoDB URI
    #[arg(long, value_name = "STORE")]
    to: String,
    /// The MongoDB database of --from
    #[arg(long, value_name = "NAME", default_value = crate::config::DEFAULT_DATABASE)]
    from_database: String,
    /// The MongoDB database of --to
    #[arg(long, value_name = "NAME", default_value = crate::config::DEFAULT_DATABASE)]
    to_database: String,
    /// Records read and written per call
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch: u32,
}

/// `peerd backup`.
#[derive(clap::Args)]
struct BackupArgs {
    /// Where to write the snapshot (a redb database file, mode 0600;
    /// replaced atomically if it exists)
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
    /// The node's data directory [default: as peerd's: $XDG_DATA_HOME/peergroup
    /// or ~/.local/share/peergroup]
    #[arg(long, env = "PEERD_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// True when `args` (program name first) name a subcommand.
pub(crate) fn is_tool(args: &[OsString]) -> bool {
    args.get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| NAMES.contains(&a))
}

/// Runs a subcommand to its end.
pub(crate) fn main(args: Vec<OsString>, vars: &[(OsString, OsString)]) -> ExitCode {
    let cli = match ToolCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE));
        }
    };
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
    let result = match cli.command {
        Tool::Migrate(a) => runtime.block_on(migrate::run(a)),
        Tool::Backup(a) => runtime.block_on(backup::run(a, vars)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ToolError::Usage(e)) => {
            eprintln!("peerd: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(ToolError::Failed(e)) => {
            eprintln!("peerd: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// How a subcommand failed: exit code 2 or 1.
enum ToolError {
    /// Bad arguments; nothing was done.
    Usage(String),
    /// A failure while running.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for ToolError {
    fn from(e: anyhow::Error) -> Self {
        ToolError::Failed(e)
    }
}
