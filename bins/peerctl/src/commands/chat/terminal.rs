//! The chat's two ends on the user's side: where lines come from, and
//! where messages go.
//!
//! - On a terminal (stdin and stdout both TTYs): a line editor
//!   (`rustyline`) reads on a thread of its own, and everything the chat
//!   prints goes through the editor's external printer, which clears the
//!   input line, prints above it and redraws it: incoming messages never
//!   garble what the user is typing. Ctrl-C and Ctrl-D end the chat. The
//!   terminal's mode is saved first and restored when the chat ends, even
//!   if the editor is still waiting for a key then.
//! - Otherwise (a pipe, a file): plain lines in, plain lines out, so
//!   scripts and tests can drive a chat; end of input ends the chat.
//!
//! Each line is acknowledged before the next one is read: input is handled
//! strictly in order, and the prompt comes back when the line is done.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use nix::sys::termios;
use rustyline::ExternalPrinter;
use rustyline::error::ReadlineError;
use tokio::sync::{mpsc, oneshot};

/// What the user did.
#[derive(Debug)]
pub(crate) enum Input {
    /// A line (without its line break).
    Line(String),
    /// Ctrl-C, Ctrl-D or the end of input.
    Quit,
}

/// One input and the answer whether to read on (`true`) or stop.
pub(crate) type Pending = (Input, oneshot::Sender<bool>);

enum Sink {
    Stdout,
    Editor(Box<dyn ExternalPrinter + Send>),
}

/// Prints lines for the chat; cheap to clone.
#[derive(Clone)]
pub(crate) struct Printer(Arc<Mutex<Sink>>);

impl Printer {
    /// Prints one line (which may hold line breaks). A closed output is
    /// ignored: the chat ends by its input.
    pub(crate) fn line(&self, text: &str) {
        let mut sink = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *sink {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}").and_then(|()| out.flush());
            }
            Sink::Editor(p) => {
                let _ = p.print(format!("{text}\n"));
            }
        }
    }
}

/// The terminal mode to put back when the chat ends.
pub(crate) struct Restore(Option<termios::Termios>);

impl Restore {
    /// Puts the saved terminal mode back. `newline`: the editor may still
    /// show its input line (the chat ended by itself, not by the user's
    /// input): end that line first.
    pub(crate) fn restore(&self, newline: bool) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin(), termios::SetArg::TCSANOW, saved);
            if newline {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(b"\r\n").and_then(|()| out.flush());
            }
        }
    }
}

/// True when the chat can use a line editor.
pub(crate) fn is_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Starts reading input: with a line editor showing `prompt` when `tty`,
/// plain lines otherwise.
pub(crate) fn start(
    tty: bool,
    prompt: String,
) -> Result<(Printer, mpsc::Receiver<Pending>, Restore)> {
    let (tx, rx) = mpsc::channel::<Pending>(1);
    if !tty {
        std::thread::spawn(move || plain_lines(&tx));
        return Ok((
            Printer(Arc::new(Mutex::new(Sink::Stdout))),
            rx,
            Restore(None),
        ));
    }
    let saved = termios::tcgetattr(std::io::stdin()).ok();
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| anyhow::anyhow!("cannot use the terminal: {e}"))?;
    let printer = editor
        .create_external_printer()
        .map_err(|e| anyhow::anyhow!("cannot use the terminal: {e}"))?;
    std::thread::spawn(move || {
        loop {
            let input = match editor.readline(&prompt) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    Input::Line(line)
                }
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => Input::Quit,
                Err(e) => {
                    tracing::warn!(error = %e, "the line editor failed");
                    Input::Quit
                }
            };
            if !send(&tx, input) {
                break;
            }
        }
    });
    Ok((
        Printer(Arc::new(Mutex::new(Sink::Editor(Box::new(printer))))),
        rx,
        Restore(saved),
    ))
}

/// Hands `input` over and waits for its answer; false: stop reading.
fn send(tx: &mpsc::Sender<Pending>, input: Input) -> bool {
    let quit = matches!(input, Input::Quit);
    let (ack, done) = oneshot::channel();
    if tx.blocking_send((input, ack)).is_err() || quit {
        return false;
    }
    done.blocking_recv().unwrap_or(false)
}

/// Lines of stdin until its end (invalid UTF-8 is replaced, not refused).
fn plain_lines(tx: &mpsc::Sender<Pending>) {
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    loop {
        let mut buf = Vec::new();
        let input = match lock.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => Input::Quit,
            Ok(_) => Input::Line(
                String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_owned(),
            ),
        };
        if !send(tx, input) {
            break;
        }
    }
}
