//! The commands, one module each. A new command is one new file here plus
//! one variant of [`Command`] (and its line in [`Command::run`]).

pub(crate) mod agent;
pub(crate) mod chat;
pub(crate) mod discover;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod init;
pub(crate) mod node;
pub(crate) mod read;
pub(crate) mod rooms;
pub(crate) mod send;
pub(crate) mod token;
pub(crate) mod whoami;

use anyhow::Result;
use clap::Subcommand;

use crate::context::Ctx;
use crate::flags::Cli;

/// Every command.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the profile's identity key if absent and register with the node.
    Init(init::Args),
    /// Show who this profile is (no network).
    Whoami(whoami::Args),
    /// The node: who it is, which peers it knows.
    #[command(subcommand)]
    Node(node::Cmd),
    /// Rooms: list, create, show, join, leave, kick, roles, invites, keys.
    #[command(subcommand)]
    Rooms(rooms::Cmd),
    /// Send a message (or each line of stdin).
    Send(send::Args),
    /// Read messages, verified and decrypted.
    Read(read::Args),
    /// Chat in a room interactively.
    Chat(chat::Args),
    /// Stay online: hand out room keys and rotate rooms that are due.
    Agent(agent::Args),
    /// Print a bearer token for curl.
    Token(token::Args),
    /// List the nodes on the LAN (multicast discovery).
    Discover(discover::Args),
    /// Export the identity as a passphrase-protected file (for another
    /// profile or the browser client).
    Export(export::Args),
    /// Import an identity file (from `export` or the browser client).
    Import(import::Args),
}

impl Command {
    /// Runs the command.
    async fn run(self, ctx: &Ctx) -> Result<()> {
        match self {
            Command::Init(a) => init::run(a, ctx).await,
            Command::Whoami(a) => whoami::run(a, ctx).await,
            Command::Node(c) => node::run(c, ctx).await,
            Command::Rooms(c) => rooms::run(c, ctx).await,
            Command::Send(a) => send::run(a, ctx).await,
            Command::Read(a) => read::run(a, ctx).await,
            Command::Chat(a) => chat::run(a, ctx).await,
            Command::Agent(a) => agent::run(a, ctx).await,
            Command::Token(a) => token::run(a, ctx).await,
            Command::Discover(a) => discover::run(a, ctx).await,
            Command::Export(a) => export::run(a, ctx).await,
            Command::Import(a) => import::run(a, ctx).await,
        }
    }
}

/// Validates the global flags and runs the command.
pub(crate) async fn run(cli: Cli) -> Result<()> {
    let mut ctx = Ctx::new(&cli.global)?;
    // No node named anywhere: the main peer on the LAN, if one answers.
    if !matches!(
        cli.command,
        Command::Whoami(_) | Command::Discover(_) | Command::Export(_) | Command::Import(_)
    ) && !ctx.has_node()?
    {
        ctx.found_node(discover::main_peer().await);
    }
    cli.command.run(&ctx).await
}

/// Ctrl-C (SIGINT) and SIGTERM, listened to from creation on: a signal
/// that arrives while the command is busy is kept until
/// [`Stop::requested`] is awaited (a listener made later would miss it,
/// and the default action no longer applies once one was made).
pub(crate) struct Stop {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Stop {
    /// Starts listening.
    pub(crate) fn new() -> Stop {
        use tokio::signal::unix::{SignalKind, signal};
        Stop {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves once a stop was asked for (at once if one came already).
    pub(crate) async fn requested(&mut self) {
        async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = recv(self.int.as_mut()) => {}
            () = recv(self.term.as_mut()) => {}
        }
    }
}
