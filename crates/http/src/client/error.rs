//! The transport's error: what went wrong on the wire, never what the
//! request or response said (no header value, no body byte is ever put in
//! an error).

use core::fmt;

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Opening the TCP connection.
    Connect,
    /// The whole exchange: connect, send, response head and body.
    Request,
    /// An event stream sent nothing (not even a heartbeat) for too long.
    StreamIdle,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connect",
            TimeoutPhase::Request => "request",
            TimeoutPhase::StreamIdle => "event stream idle",
        })
    }
}

/// A failure of the HTTP transport. The variant is the stable part; the
/// `Display` text is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL is not `http://host[:port]` (no TLS: peergroup is LAN HTTP by
    /// design), or a request target is not an absolute path.
    #[error("invalid URL: {0}")]
    InvalidUrl(&'static str),
    /// A header name or value cannot be sent.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// Nothing listens at the address.
    #[error("connection refused by {authority}")]
    ConnectRefused {
        /// `host:port`.
        authority: String,
    },
    /// The connection could not be opened for another reason (unknown
    /// host, unreachable network, ...).
    #[error("cannot connect to {authority}: {reason}")]
    Connect {
        /// `host:port`.
        authority: String,
        /// What the operating system said.
        reason: String,
    },
    /// A deadline passed.
    #[error("timed out ({0})")]
    Timeout(TimeoutPhase),
    /// The response body (or one line of an event stream) is larger than
    /// the configured limit; the rest was not read.
    #[error("response larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The response is not valid HTTP, or an event stream is not valid
    /// Server-Sent Events (named, never quoted).
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// The connection broke while the request or response was in flight.
    #[error("connection failed: {0}")]
    Io(String),
}

impl TransportError {
    /// True for [`TransportError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransportError::Timeout(_))
    }

    /// True when no connection could be made (refused, or failed to open).
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            TransportError::ConnectRefused { .. }
                | TransportError::Connect { .. }
                | TransportError::Timeout(TimeoutPhase::Connect)
        )
    }

    /// Maps an error of the hyper-util client.
    pub(crate) fn from_hyper(e: &hyper_util::client::legacy::Error, authority: &str) -> Self {
        let io = io_source(e);
        if e.is_connect() {
            return match io.map(std::io::Error::kind) {
                Some(std::io::ErrorKind::ConnectionRefused) => TransportError::ConnectRefused {
                    authority: authority.to_owned(),
                },
                Some(std::io::ErrorKind::TimedOut) => {
                    TransportError::Timeout(TimeoutPhase::Connect)
                }
                _ => TransportError::Connect {
                    authority: authority.to_owned(),
                    reason: io.map_or_else(|| chain_text(e), ToString::to_string),
                },
            };
        }
        if let Some(h) = hyper_source(e)
            && h.is_parse()
        {
            return TransportError::Malformed("response head");
        }
        TransportError::Io(chain_text(e))
    }

    /// Maps an error while reading a response body.
    pub(crate) fn from_body(e: &hyper::Error) -> Self {
        if e.is_parse() {
            TransportError::Malformed("response body framing")
        } else {
            TransportError::Io(chain_text(e))
        }
    }
}

fn io_source<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

fn hyper_source<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a hyper::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            return Some(h);
        }
        cur = err.source();
    }
    None
}

/// The error and its causes, `a: b: c` (transport errors only: no body or
/// header value ever appears in them).
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cur = err.source();
    }
    text
}
