//! Server-Sent Events: an I/O-free parser ([`SseParser`]) and the stream
//! that feeds it from a response body ([`SseStream`]).
//!
//! The parser follows the WHATWG event-stream rules: lines end with CRLF,
//! LF or CR; `:` starts a comment (heartbeats), skipped; `event`, `data` and
//! `id` fields build an event that an empty line dispatches; `retry` and
//! unknown fields are ignored; an event without data is not dispatched
//! (its `id` still counts). Unlike a browser it is bounded: a line longer
//! than the limit, or an event with more data than the limit, ends the
//! stream with [`TransportError::TooLarge`], and text that is not UTF-8 with
//! [`TransportError::Malformed`].

use std::collections::VecDeque;
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::error::{TimeoutPhase, TransportError};

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The last `id:` seen on the stream (resume with `Last-Event-ID`).
    pub id: Option<String>,
    /// The `event:` name (`message` when none was given).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// An incremental, bounded event-stream parser. Feed it bytes as they come;
/// it queues complete events.
///
/// ```
/// use peer_http::client::SseParser;
///
/// let mut p = SseParser::new(1024);
/// let mut out = Vec::new();
/// p.push(b": heartbeat\n\nid: 7\nevent: message\nda", &mut out).unwrap();
/// assert!(out.is_empty());
/// p.push(b"ta: {\"a\":1}\n\n", &mut out).unwrap();
/// assert_eq!(out[0].id.as_deref(), Some("7"));
/// assert_eq!(out[0].event, "message");
/// assert_eq!(out[0].data, "{\"a\":1}");
/// ```
#[derive(Debug)]
pub struct SseParser {
    max_line: usize,
    line: Vec<u8>,
    after_cr: bool,
    at_start: bool,
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
}

impl SseParser {
    /// A parser refusing lines (and per-event data) longer than `max_line`
    /// bytes.
    pub fn new(max_line: usize) -> Self {
        SseParser {
            max_line,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            event: String::new(),
            data: String::new(),
            has_data: false,
            last_id: None,
        }
    }

    /// The last event id seen (also from events that were not dispatched).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Parses `bytes`, appending every event they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), TransportError> {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out)?;
                    // Keep the allocation for the next line.
                    self.line = line;
                    self.line.clear();
                }
                _ => {
                    if self.line.len() >= self.max_line {
                        return Err(TransportError::TooLarge {
                            limit: self.max_line,
                        });
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn line_done(&mut self, raw: &[u8], out: &mut Vec<SseEvent>) -> Result<(), TransportError> {
        let mut line =
            std::str::from_utf8(raw).map_err(|_| TransportError::Malformed("event stream text"))?;
        if self.at_start {
            self.at_start = false;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.data.len() + value.len() + 1 > self.max_line {
                    return Err(TransportError::TooLarge {
                        limit: self.max_line,
                    });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        out.push(SseEvent {
            id: self.last_id.clone(),
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
        });
    }
}

/// The events of a streaming response, read as they arrive.
///
/// Each read waits at most the idle timeout for bytes (heartbeat comments
/// count): a silent connection ends the stream with
/// [`TimeoutPhase::StreamIdle`]. Errors end the stream.
#[derive(Debug)]
pub struct SseStream {
    body: Incoming,
    parser: SseParser,
    queue: VecDeque<SseEvent>,
    idle: Duration,
    done: bool,
}

impl SseStream {
    pub(crate) fn new(body: Incoming, max_line: usize, idle: Duration) -> Self {
        SseStream {
            body,
            parser: SseParser::new(max_line),
            queue: VecDeque::new(),
            idle,
            done: false,
        }
    }

    /// The last event id seen on the stream.
    pub fn last_event_id(&self) -> Option<&str> {
        self.parser.last_event_id()
    }

    /// The next event; `None` once the server closed the stream (or after
    /// an error was returned).
    pub async fn next(&mut self) -> Option<Result<SseEvent, TransportError>> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(Ok(e));
            }
            if self.done {
                return None;
            }
            let frame = match tokio::time::timeout(self.idle, self.body.frame()).await {
                Err(_) => {
                    return Some(Err(
                        self.fail(TransportError::Timeout(TimeoutPhase::StreamIdle))
                    ));
                }
                Ok(None) => {
                    self.done = true;
                    continue;
                }
                Ok(Some(Err(e))) => return Some(Err(self.fail(TransportError::from_body(&e)))),
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                let mut out = Vec::new();
                if let Err(e) = self.parser.push(&data, &mut out) {
                    return Some(Err(self.fail(e)));
                }
                self.queue.extend(out);
            }
        }
    }

    fn fail(&mut self, e: TransportError) -> TransportError {
        self.done = true;
        self.queue.clear();
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Result<Vec<SseEvent>, TransportError> {
        let mut p = SseParser::new(64);
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn fields_comments_and_line_endings() {
        let out = parse_all(&[
            b"\xef\xbb\xbf: hi\r\n\r\nid: 1\r\nevent: a\r\ndata: x\r\ndata:y\r\n\r\n",
            b"data: z\rid: 2\r\r",
            b"event: b\ndata\nretry: 5\nfoo: bar\n\n",
        ])
        .unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[0],
            SseEvent {
                id: Some("1".into()),
                event: "a".into(),
                data: "x\ny".into()
            }
        );
        assert_eq!(
            out[1],
            SseEvent {
                id: Some("2".into()),
                event: "message".into(),
                data: "z".into()
            }
        );
        assert_eq!(out[2].event, "b");
        assert_eq!(out[2].data, "");
        assert_eq!(out[2].id.as_deref(), Some("2"));
    }

    #[test]
    fn split_anywhere_gives_the_same_events() {
        let whole: &[u8] = b"id: 9\nevent: message\ndata: {\"k\":1}\n\n:hb\n\ndata: two\n\n";
        let expected = parse_all(&[whole]).unwrap();
        assert_eq!(expected.len(), 2);
        for cut in 0..whole.len() {
            let (a, b) = whole.split_at(cut);
            assert_eq!(parse_all(&[a, b]).unwrap(), expected, "cut at {cut}");
        }
        // CRLF split between its two bytes.
        assert_eq!(
            parse_all(&[b"data: a\r", b"\n\r", b"\n"]).unwrap(),
            parse_all(&[b"data: a\n\n"]).unwrap()
        );
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let mut p = SseParser::new(64);
        let mut out = Vec::new();
        p.push(b"id: 5\nevent: x\n\n", &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(p.last_event_id(), Some("5"));
        p.push(b"data: d\n\n", &mut out).unwrap();
        assert_eq!(out[0].event, "message", "the event name was reset");
        assert_eq!(out[0].id.as_deref(), Some("5"));
    }

    #[test]
    fn bounded() {
        let long = vec![b'a'; 65];
        assert_eq!(
            parse_all(&[&long]).unwrap_err(),
            TransportError::TooLarge { limit: 64 }
        );
        // Many short data lines adding up past the limit.
        let many = b"data: 0123456789\n".repeat(7);
        assert!(matches!(
            parse_all(&[&many]),
            Err(TransportError::TooLarge { .. })
        ));
        assert_eq!(
            parse_all(&[b"data: \xff\n\n"]).unwrap_err(),
            TransportError::Malformed("event stream text")
        );
        // An unterminated event at the end is not dispatched.
        assert!(parse_all(&[b"data: partial\n"]).unwrap().is_empty());
    }
}
