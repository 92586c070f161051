//! The raw command line, as clap parses it: global flags and the command.
//! Nothing here touches the disk or the network; [`crate::context`] turns
//! these into a validated context.

use clap::{Args, Parser, ValueEnum};

use crate::commands::Command;

const ABOUT: &str = "The peergroup command line: rooms, end-to-end encrypted messages, chat";

const LONG_ABOUT: &str = "\
The peergroup command line: register a user, make and join rooms, send and
read end-to-end encrypted messages, chat, and keep room keys flowing.

Every profile (--profile) is one user: an identity key, the node keys it
pinned on first use, and a default node. Profiles live under $PEERCTL_HOME
(default: $XDG_CONFIG_HOME/peergroup, else ~/.config/peergroup), one
directory each.

ROOM is a room id or the name of a room (unique among your rooms, or among
the public rooms); USER is a user id or a user name.

Exit codes: 0 success, 1 failure (one line on stderr ending with the error
code), 2 usage.";

const EXAMPLES: &str = "\
Examples:
  peerctl --profile alice init --name alice --node http://127.0.0.1:8080
  peerctl --profile alice rooms create plans --topic 'the tour'
  peerctl --profile bob rooms join plans
  peerctl --profile alice send plans 'hello bob'
  peerctl --profile bob read plans --json
  peerctl --profile bob chat plans
  peerctl --profile alice agent

Environment: PEERCTL_HOME (where profiles live), PEERCTL_PROFILE (like
--profile), PEERCTL_NODE (like --node), PEERCTL_LOG (log filter, default
warn), PEERCTL_PASSPHRASE (identity file passphrase of export/import, for
scripts). The whole manual: docs/cli.md.";

/// `peerctl [global flags] <command>`.
#[derive(Debug, Parser)]
#[command(
    name = "peerctl",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub(crate) struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes (before or after the command's name).
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// The profile to use: one user (identity key, pinned node keys,
    /// default node) in $PEERCTL_HOME/NAME.
    #[arg(
        long,
        global = true,
        env = "PEERCTL_PROFILE",
        default_value = "default",
        value_name = "NAME"
    )]
    pub(crate) profile: String,

    /// The node to talk to (http://HOST:PORT). Default: the profile's node
    /// (set by `init`), else the main peer found on the LAN (`discover`),
    /// else http://127.0.0.1:8080.
    #[arg(long, global = true, env = "PEERCTL_NODE", value_name = "URL")]
    pub(crate) node: Option<String>,

    /// Print one JSON object per line instead of text (fields: docs/cli.md).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// The handshake's key exchange: ecdh (P-256, forward secret) or rsa
    /// (the node picks the session secret; no forward secrecy).
    #[arg(long, global = true, value_enum, default_value_t = Kex::Ecdh)]
    pub(crate) kex: Kex,

    /// Seal every request and answer body under per-request keys (message
    /// texts of encrypted rooms are end-to-end encrypted either way).
    #[arg(long, global = true)]
    pub(crate) sealed: bool,
}

/// `--kex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kex {
    /// `ecdh-p256`.
    Ecdh,
    /// `rsa-oaep`.
    Rsa,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ids_that_start_with_a_dash_are_values_and_flags_stay_flags() {
        // Room and user ids are base64url: some start with `-`.
        let cli = Cli::try_parse_from([
            "peerctl",
            "rooms",
            "kick",
            "-Ti3YtliSMIEvAk0T5cshw",
            "-bXVzZXJpZGVudGl0eQ",
            "--json",
        ])
        .unwrap();
        assert!(cli.global.json);
        let cmd = format!("{:?}", cli.command);
        assert!(
            cmd.contains("\"-Ti3YtliSMIEvAk0T5cshw\"") && cmd.contains("\"-bXVzZXJpZGVudGl0eQ\""),
            "{cmd}"
        );
        let cli =
            Cli::try_parse_from(["peerctl", "send", "--json", "-room", "-1 is a text"]).unwrap();
        assert!(cli.global.json);
        let cmd = format!("{:?}", cli.command);
        assert!(
            cmd.contains("\"-room\"") && cmd.contains("\"-1 is a text\""),
            "{cmd}"
        );
        // Invite codes are base64url too; so may passwords start with `-`.
        let cli = Cli::try_parse_from([
            "peerctl",
            "rooms",
            "join",
            "-room",
            "--invite",
            "-LD8pPdh-aOjOnL9MvrqiQ",
        ])
        .unwrap();
        assert!(format!("{:?}", cli.command).contains("\"-LD8pPdh-aOjOnL9MvrqiQ\""));
        let cli = Cli::try_parse_from(["peerctl", "rooms", "create", "c", "--password", "-pw"]);
        assert!(format!("{:?}", cli.unwrap().command).contains("\"-pw\""));
        let cli = Cli::try_parse_from(["peerctl", "read", "--json", "plans", "--follow"]).unwrap();
        assert!(cli.global.json);
        assert!(format!("{:?}", cli.command).contains("follow: true"));
    }

    #[test]
    fn every_command_has_examples_in_its_help() {
        fn walk(cmd: &clap::Command, path: &str) {
            let name = format!("{path} {}", cmd.get_name());
            if cmd.has_subcommands() {
                for sub in cmd.get_subcommands() {
                    walk(sub, &name);
                }
                return;
            }
            let help = cmd
                .get_after_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            assert!(
                help.contains("Examples:") && help.contains("peerctl "),
                "{name} has no examples in its help"
            );
        }
        walk(&Cli::command(), "");
    }
}
