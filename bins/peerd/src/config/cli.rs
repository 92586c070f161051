//! The command line, as clap parses it (flags and `PEERD_*` variables).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue};
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _, Parser};

use super::layer::Layer;

/// peerd: a peergroup node. Serves the HTTP API of a node for clients and
/// peers, with its identity key in a data directory.
///
/// Every flag can also be set by its environment variable or by a key of
/// the TOML file given with --config (`--data-dir` is `data_dir`); a flag
/// wins over a variable, a variable over the file.
///
/// Maintenance commands (each with its own --help): `peerd backup --to FILE`
/// (a snapshot of the redb store, while peerd runs or not) and `peerd
/// migrate --from STORE --to STORE` (redb <-> MongoDB).
#[derive(Parser)]
#[command(name = "peerd", version, max_term_width = 100)]
pub(crate) struct Cli {
    /// A TOML file of settings (keys as the flags, with `_`: data_dir = "...")
    #[arg(long, env = "PEERD_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) settings: Layer,

    /// Test-only: the port tried first when no port is given.
    #[arg(long, hide = true, value_name = "PORT")]
    pub(crate) default_port: Option<u16>,

    /// Shut down (gracefully, as on SIGTERM) when stdin reaches end-of-file:
    /// for a parent that starts peerd with a pipe as its stdin and never
    /// writes to it, so that peerd ends with that parent however the parent
    /// ends (even by SIGKILL). Flag only: no variable, no file key.
    #[arg(long)]
    pub(crate) exit_with_stdin: bool,
}

/// The parsed command line: the flag layer, the variable layer, and the
/// options that exist only as flags (or variables).
pub(crate) struct CommandLine {
    /// Values given as flags.
    pub(crate) flags: Layer,
    /// Values given as `PEERD_*` variables.
    pub(crate) env: Layer,
    /// `--config` / `PEERD_CONFIG`.
    pub(crate) config: Option<PathBuf>,
    /// `--default-port` (hidden).
    pub(crate) default_port: Option<u16>,
    /// `--exit-with-stdin`.
    pub(crate) exit_with_stdin: bool,
}

/// clap's error, and where the bad value came from when that was a
/// variable (clap names the flag only).
#[derive(Debug)]
pub(crate) struct ParseError {
    /// The error, which knows how to print itself and its exit code.
    pub(crate) error: clap::Error,
    /// `the value came from the environment variable PEERD_STORE`.
    pub(crate) note: Option<String>,
}

/// Parses `args` (with the program name first) and the process
/// environment. `--help`, `--version` and usage errors come back as a
/// [`ParseError`].
pub(crate) fn parse<I, T>(args: I) -> Result<CommandLine, ParseError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let fail = |error: clap::Error| ParseError {
        note: env_note(&error, &args),
        error,
    };
    // An empty variable counts as unset (clap would take it as a value).
    let command = Cli::command().mut_args(|arg| {
        let empty = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| v.is_empty());
        if empty { arg.env(None) } else { arg }
    });
    let matches: ArgMatches = command
        .try_get_matches_from(args.iter().cloned())
        .map_err(fail)?;
    let cli = Cli::from_arg_matches(&matches).map_err(fail)?;
    let mut flags = cli.settings;
    let env = flags.split_env(&matches);
    Ok(CommandLine {
        flags,
        env,
        config: cli.config,
        default_port: cli.default_port,
        exit_with_stdin: cli.exit_with_stdin,
    })
}

/// When clap refuses a value of `--x` and no `--x` is on the command line,
/// the value came from the variable: say so.
fn env_note(error: &clap::Error, args: &[OsString]) -> Option<String> {
    let ContextValue::String(arg) = error.get(ContextKind::InvalidArg)? else {
        return None;
    };
    let flag = arg.split_whitespace().next()?;
    let long = flag.strip_prefix("--")?;
    let on_command_line = args.iter().filter_map(|a| a.to_str()).any(|a| {
        a == flag
            || a.strip_prefix(flag)
                .is_some_and(|rest| rest.starts_with('='))
    });
    if on_command_line {
        return None;
    }
    let cmd = Cli::command();
    let env = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long))?
        .get_env()?;
    std::env::var_os(env)?;
    Some(format!(
        "the value came from the environment variable {}",
        env.to_string_lossy()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::layer::{KEYS, env_name, flag_name};
    use crate::config::values::{StoreChoice, Switch};

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_setting_has_its_flag_and_variable() {
        let cmd = Cli::command();
        for key in KEYS {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id() == *key)
                .unwrap_or_else(|| panic!("no argument for {key}"));
            assert_eq!(
                format!("--{}", arg.get_long().unwrap()),
                flag_name(key),
                "{key}"
            );
            assert_eq!(
                arg.get_env().map(|e| e.to_string_lossy().into_owned()),
                Some(env_name(key)),
                "{key}"
            );
        }
    }

    #[test]
    fn flags_land_in_the_flag_layer() {
        // The test process has no PEERD_* variables set (nothing sets them).
        let cl = parse([
            "peerd",
            "--name",
            "n1",
            "--store=mongodb",
            "--bearer-tokens",
            "off",
            "--ephemeral",
        ])
        .unwrap();
        assert_eq!(cl.flags.name.as_deref(), Some("n1"));
        assert_eq!(cl.flags.store, Some(StoreChoice::Mongodb));
        assert_eq!(cl.flags.bearer_tokens, Some(Switch::Off));
        assert_eq!(cl.flags.ephemeral, Some(true));
        assert!(cl.flags.listen.is_none());
        assert!(cl.env.name.is_none());
    }

    #[test]
    fn ephemeral_takes_no_separate_value() {
        let cl = parse(["peerd", "--ephemeral=false"]).unwrap();
        assert_eq!(cl.flags.ephemeral, Some(false));
        // A following word is not taken as its value.
        assert!(parse(["peerd", "--ephemeral", "yes"]).is_err());
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["peerd", "--store", "postgres"][..],
            &["peerd", "--listen", "somewhere"],
            &["peerd", "--registration", "maybe"],
            &["peerd", "--no-such-flag"],
        ] {
            let err = parse(args.iter().copied()).err().unwrap();
            assert_eq!(err.error.exit_code(), 2, "{args:?}");
            assert_eq!(err.note, None, "given as flags, not variables");
        }
    }
}
