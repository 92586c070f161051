//! peer-bench: measures peerd on loopback and prints each figure next to a
//! baseline from the same run.
//!
//! ```text
//! cargo build --release -p peerd -p peer-bench
//! target/release/peer-bench            # the full run (several minutes)
//! target/release/peer-bench --quick    # smaller sizes
//! target/release/peer-bench --json     # one JSON document on stdout
//! ```
//!
//! Each scenario starts its own peerd (`--ephemeral --discovery off`, on
//! 127.0.0.1 with an OS-chosen port, with rate limits raised so the run
//! measures work rather than refusals) and reads its CPU time and resident
//! memory from `/proc`. `--url` points the run at a running node instead
//! (add `--pid` for CPU and memory figures). Nothing leaves loopback unless
//! `--url` says so.
//!
//! When `mosquitto` is installed, the fan-out scenario also runs the same
//! shape through a mosquitto broker it starts on 127.0.0.1 (the baseline
//! of what a user might pick instead). Every process a run starts exits
//! when the run ends, even when the run is killed with SIGKILL (their
//! stdin is a pipe the run holds: see `server`).

#![forbid(unsafe_code)]

mod baseline;
mod floor;
mod procstat;
mod report;
mod scenarios;
mod server;
mod setup;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use peer_proto::api::Kex;

use crate::report::{Machine, Report};
use crate::scenarios::{Ctx, Sizes, Target};

/// Benchmarks of peerd: handshakes, posts, fan-out, history and memory,
/// each next to a baseline measured in the same run (a minimal hyper
/// server; for fan-out, mosquitto when it is installed).
#[derive(Debug, Parser)]
#[command(version, after_help = EXAMPLES)]
struct Args {
    /// The peerd binary [default: `peerd` next to this binary]
    #[arg(long, value_name = "PATH")]
    peerd: Option<PathBuf>,
    /// Measure the node at this URL instead of starting peerd (its rate
    /// limits apply; raise them with peerd's --session-rate and
    /// --handshake-rate)
    #[arg(long, value_name = "URL", conflicts_with = "peerd")]
    url: Option<String>,
    /// The process id of the node at --url, for CPU and memory figures
    #[arg(long, value_name = "PID", requires = "url")]
    pid: Option<u32>,
    /// Print one JSON document instead of the table
    #[arg(long)]
    json: bool,
    /// Smaller sizes: a run of about a minute
    #[arg(long)]
    quick: bool,
    /// Run only these scenarios
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    only: Vec<Scenario>,
    /// The clients' handshake mode
    #[arg(long, default_value = "ecdh")]
    kex: KexArg,
    /// Concurrent clients for handshakes and posts [default: 8]
    #[arg(long, value_name = "N")]
    clients: Option<usize>,
    /// Posts measured [default: 20000; quick: 2000]
    #[arg(long, value_name = "N")]
    posts: Option<usize>,
    /// Handshakes measured [default: 2000; quick: 300]
    #[arg(long, value_name = "N")]
    handshakes: Option<usize>,
    /// Event-stream subscriber counts [default: 10,100,1000; quick: 10,100]
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    subscribers: Vec<usize>,
    /// Room sizes read from [default: 1000,1000000; quick: 1000,100000]
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    history: Vec<usize>,
    #[command(subcommand)]
    command: Option<Command>,
}

const EXAMPLES: &str = "Examples:
  peer-bench --quick
  peer-bench --only posts,fanout --subscribers 100 --json
  peer-bench --kex rsa --only handshakes,posts
  peer-bench --url http://127.0.0.1:8080 --pid $(pidof peerd) --only posts";

#[derive(Debug, Subcommand)]
enum Command {
    /// The baseline HTTP server (started by the run itself; exits when
    /// its stdin closes)
    #[command(hide = true)]
    BaselineServer,
    /// Runs PROGRAM until this process's stdin closes, then kills it (how
    /// the run starts mosquitto, which has no such option of its own)
    #[command(hide = true)]
    Guard {
        /// The program and its arguments
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<std::ffi::OsString>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Handshakes,
    Posts,
    Fanout,
    History,
    Memory,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KexArg {
    Ecdh,
    Rsa,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("peer-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.command {
        Some(Command::BaselineServer) => runtime.block_on(async {
            tokio::select! {
                r = baseline::serve() => r,
                () = server::stdin_closed() => Ok(()),
            }
        }),
        Some(Command::Guard { command }) => runtime.block_on(server::guard(command)),
        // Ctrl-C drops the run, and with it every peerd it started (they
        // are killed on drop), instead of leaving them behind.
        None => runtime.block_on(async {
            tokio::select! {
                r = run(args) => r,
                _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn sizes(args: &Args) -> Sizes {
    let q = args.quick;
    let pick = |given: Option<usize>, full: usize, quick: usize| {
        given.unwrap_or(if q { quick } else { full })
    };
    let list = |given: &[usize], full: &[usize], quick: &[usize]| {
        if !given.is_empty() {
            given.to_vec()
        } else if q {
            quick.to_vec()
        } else {
            full.to_vec()
        }
    };
    Sizes {
        clients: pick(args.clients, 8, 8).max(1),
        handshakes: pick(args.handshakes, 2000, 300),
        posts: pick(args.posts, 20_000, 2000),
        text_len: 200,
        subscribers: list(&args.subscribers, &[10, 100, 1000], &[10, 100]),
        posters: 2,
        fanout_posts: if q { 50 } else { 100 },
        history: list(&args.history, &[1000, 1_000_000], &[1000, 100_000]),
        history_reads: if q { 500 } else { 2000 },
        memory_sessions: if q { 200 } else { 500 },
        memory_streams: if q { 200 } else { 500 },
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let target = match &args.url {
        Some(url) => Target::Url(url.clone(), args.pid),
        None => Target::Spawn(server::find_peerd(args.peerd.clone())?),
    };
    let mut ctx = Ctx {
        target,
        kex: match args.kex {
            KexArg::Ecdh => Kex::EcdhP256,
            KexArg::Rsa => Kex::RsaOaep,
        },
        sizes: sizes(&args),
        report: Report {
            machine: Machine::here(),
            ..Report::default()
        },
        transport: None,
        fanout_payload: None,
    };
    let wanted = |s: Scenario| args.only.is_empty() || args.only.contains(&s);
    let progress = |what: &str| {
        if !args.json {
            eprintln!("peer-bench: {what}");
        }
    };
    if wanted(Scenario::Handshakes) {
        progress("handshakes");
        scenarios::handshakes::run(&mut ctx).await?;
    }
    if wanted(Scenario::Posts) {
        progress("posts (and the hyper 200 baseline)");
        scenarios::posts::run(&mut ctx).await?;
    }
    if wanted(Scenario::Fanout) {
        for s in ctx.sizes.subscribers.clone() {
            progress(&format!("fan-out to {s} event streams"));
            scenarios::fanout::run(&mut ctx, s).await?;
        }
        match which("mosquitto") {
            Some(mosquitto) => {
                for s in ctx.sizes.subscribers.clone() {
                    progress(&format!(
                        "the same fan-out through mosquitto, {s} subscribers"
                    ));
                    scenarios::mosquitto::run(&mut ctx, &mosquitto, s).await?;
                }
            }
            None => ctx
                .report
                .note("mosquitto: not installed (no MQTT fan-out baseline in this run)"),
        }
    }
    if wanted(Scenario::History) {
        for n in ctx.sizes.history.clone() {
            progress(&format!("history in a room of {n} messages"));
            scenarios::history::run(&mut ctx, n).await?;
        }
    }
    if wanted(Scenario::Memory) {
        progress("memory");
        scenarios::memory::run(&mut ctx).await?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&ctx.report)?);
    } else {
        print!("{}", ctx.report.table());
    }
    Ok(())
}

/// The path of `program` on `PATH` (or in the `sbin` directories, where
/// Debian installs mosquitto), if it is there.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
