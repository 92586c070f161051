//! How a failure reaches the user: one line on stderr,
//! `peerctl: <what failed>: <why> (<api_code>)`, and an exit code.
//!
//! | exit code | meaning |
//! | --- | --- |
//! | 0 | success (also: stdout was closed by its reader, as in `peerctl read ROOM \| head`) |
//! | 1 | a failure: the node refused (the line ends with the API error code), the node is unreachable, a file is wrong |
//! | 2 | usage: an unknown flag or command, a malformed value (clap), an invalid profile name or node URL |

use std::fmt;

use peer_client::ClientError;

/// A usage error found after parsing (exit code 2).
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A failure peerctl found itself, with a stable code shown like the
/// node's API codes (`room_not_found` for a name that matches no room,
/// `ambiguous_name`, `key_pending`, ...).
#[derive(Debug)]
pub(crate) struct Failure {
    /// What went wrong, for people.
    pub(crate) message: String,
    /// The code shown in parentheses.
    pub(crate) code: &'static str,
}

impl Failure {
    /// A failure with `code`.
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for Failure {}

/// Standard output was closed by its reader: stop quietly, exit 0.
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// The exit code for `err`.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|c| c.is::<StdoutClosed>()) {
        0
    } else if err.chain().any(|c| c.is::<Usage>()) {
        2
    } else {
        1
    }
}

/// The API error code in `err`'s chain, if the node refused.
pub(crate) fn api_code(err: &anyhow::Error) -> Option<peer_proto::ErrorCode> {
    err.chain()
        .find_map(|c| c.downcast_ref::<ClientError>())
        .and_then(ClientError::code)
}

/// One line: the context chain joined with `: `, an API error shown as
/// `<node's message> (<code>)`, repeated texts (a transparent error
/// repeating its source) once, and no line breaks.
pub(crate) fn describe(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<ClientError>() {
            Some(ClientError::Api { code, message, .. }) => {
                parts.push(format!("{message} ({code})"));
                break;
            }
            _ => cause.to_string(),
        };
        if parts.last().is_some_and(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    let line = parts.join(": ");
    line.split(['\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;
    use peer_proto::ErrorCode;

    fn api(code: ErrorCode, message: &str) -> ClientError {
        ClientError::Api {
            code,
            message: message.into(),
            status: code.status(),
            retry_after: None,
            authenticated: true,
        }
    }

    #[test]
    fn api_errors_show_the_message_and_the_code() {
        let e = anyhow::Error::new(api(ErrorCode::WrongPassword, "wrong password"))
            .context("cannot join room 'club'");
        assert_eq!(
            describe(&e),
            "cannot join room 'club': wrong password (wrong_password)"
        );
        assert_eq!(exit_code(&e), 1);
        assert_eq!(api_code(&e), Some(ErrorCode::WrongPassword));
    }

    #[test]
    fn usage_is_2_closed_stdout_is_0_and_lines_stay_single() {
        let e = anyhow::Error::new(Usage("bad\nprofile".into()));
        assert_eq!(exit_code(&e), 2);
        assert_eq!(describe(&e), "bad profile");
        let e: anyhow::Error = Err::<(), _>(StdoutClosed).context("x").unwrap_err();
        assert_eq!(exit_code(&e), 0);
        let e = anyhow::Error::new(Failure::new("ambiguous_name", "two rooms"));
        assert_eq!(describe(&e), "two rooms (ambiguous_name)");
        assert_eq!(exit_code(&e), 1);
    }
}
