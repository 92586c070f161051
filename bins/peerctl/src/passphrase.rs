//! Where a passphrase for an identity file comes from, first match wins:
//!
//! 1. `--passphrase-file FILE`: the file's first line (for scripts; keep the
//!    file mode 0600);
//! 2. `PEERCTL_PASSPHRASE` in the environment (for scripts; visible to the
//!    user's other processes on some systems, so prefer the file);
//! 3. a prompt on the terminal (`/dev/tty`) with echo turned off; `export`
//!    asks twice. Without a terminal it fails and names the two options
//!    above.
//!
//! The passphrase is never printed or logged, and is zeroized when dropped
//! ([`Passphrase`]).

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;

use anyhow::{Context as _, Result};
use nix::sys::termios::{self, LocalFlags, SetArg};
use peer_crypto::Passphrase;
use zeroize::Zeroizing;

use crate::error::Failure;

/// The environment variable scripts may set.
pub(crate) const ENV: &str = "PEERCTL_PASSPHRASE";

/// The longest passphrase read (bytes).
const MAX_LEN: u64 = 4096;

/// Whether the prompt asks twice (a new passphrase) or once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// Reading an existing file: once.
    Once,
    /// Protecting a new file: twice, both must match.
    Confirm,
}

/// The passphrase from `file`, else the environment, else the terminal.
pub(crate) fn obtain(file: Option<&Path>, ask: Ask, prompt: &str) -> Result<Passphrase> {
    if let Some(path) = file {
        return from_file(path);
    }
    if let Some(v) = std::env::var_os(ENV) {
        let v = Zeroizing::new(
            v.into_string()
                .map_err(|_| Failure::new("invalid_passphrase", format!("{ENV} is not UTF-8")))?,
        );
        return Ok(Passphrase::new(v.as_str()));
    }
    let first = prompt_tty(prompt)?;
    if ask == Ask::Confirm {
        let again = prompt_tty("Repeat the passphrase: ")?;
        if !constant_eq(first.as_str().as_bytes(), again.as_str().as_bytes()) {
            return Err(Failure::new("invalid_passphrase", "the two passphrases differ").into());
        }
    }
    Ok(Passphrase::new(first.as_str()))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The first line of `path`.
fn from_file(path: &Path) -> Result<Passphrase> {
    let file = File::open(path)
        .with_context(|| format!("cannot read the passphrase file {}", path.display()))?;
    let mut line = Zeroizing::new(String::new());
    BufReader::new(file.take(MAX_LEN))
        .read_line(&mut line)
        .with_context(|| format!("cannot read the passphrase file {}", path.display()))?;
    Ok(Passphrase::from_line(line.as_str()))
}

/// Restores the terminal's mode when dropped.
struct EchoOff<'a> {
    tty: &'a File,
    saved: termios::Termios,
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.tty, SetArg::TCSANOW, &self.saved);
    }
}

/// Asks on `/dev/tty` with echo off; one line, without its line end.
fn prompt_tty(prompt: &str) -> Result<Zeroizing<String>> {
    let no_tty = || {
        Failure::new(
            "no_passphrase",
            format!(
                "no terminal to ask for the passphrase: use --passphrase-file FILE or set {ENV}"
            ),
        )
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| no_tty())?;
    let saved = termios::tcgetattr(&tty).map_err(|_| no_tty())?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ICANON);
    (&tty)
        .write_all(prompt.as_bytes())
        .context("cannot write to the terminal")?;
    (&tty).flush().context("cannot write to the terminal")?;
    let line = {
        termios::tcsetattr(&tty, SetArg::TCSANOW, &quiet).map_err(|_| no_tty())?;
        let _restore = EchoOff { tty: &tty, saved };
        let mut line = Zeroizing::new(String::new());
        BufReader::new((&tty).take(MAX_LEN))
            .read_line(&mut line)
            .context("cannot read the passphrase from the terminal")?;
        line
    };
    let _ = (&tty).write_all(b"\n");
    let mut line = line;
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}
