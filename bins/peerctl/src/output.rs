//! What peerctl prints: text for people, or one JSON object per line
//! (`--json`) for scripts. Data goes to stdout, notes and errors to stderr.
//! Text that came from other users (names, topics, message texts) is made
//! harmless for a terminal first ([`sanitize`]): a member cannot move the
//! cursor, recolour or clear another member's screen.

use std::io::Write as _;

use anyhow::Result;
use serde::Serialize;

use crate::error::StdoutClosed;

/// Text or JSON lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    /// `--json` or not.
    pub(crate) fn new(json: bool) -> Output {
        Output { json }
    }

    /// True with `--json`.
    pub(crate) fn is_json(self) -> bool {
        self.json
    }

    /// Writes one line to stdout and flushes it (a reader that went away
    /// ends the command quietly).
    pub(crate) fn line(self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        let r = writeln!(out, "{text}").and_then(|()| out.flush());
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
            Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
        }
    }

    /// `value` as one JSON line (with `--json`) or `human()` (without).
    pub(crate) fn emit<T: Serialize>(
        self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> Result<()> {
        if self.json {
            self.line(&json_line(value)?)
        } else {
            self.line(&human())
        }
    }
}

/// `value` as compact JSON.
pub(crate) fn json_line<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| anyhow::anyhow!("cannot encode JSON output: {e}"))
}

/// A note for people on stderr (`peerctl: ...`), whatever the output mode.
pub(crate) fn note(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "peerctl: {text}");
}

/// `text` safe to print on a terminal: control characters (escape
/// sequences, carriage returns, ...) and bidirectional overrides become
/// U+FFFD; line breaks become `\n` followed by `indent`, so a multi-line
/// message stays visibly one message.
pub(crate) fn sanitize(text: &str, indent: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => {
                out.push('\n');
                out.push_str(indent);
            }
            '\t' => out.push_str("    "),
            c if c.is_control() || is_bidi_control(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Characters that reorder text on screen (they can make a line read as
/// something else than it is).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Unix seconds as `YYYY-MM-DD HH:MM` in UTC (a `Z` marks the zone).
pub(crate) fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian
/// calendar (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// Seconds as a short duration: `45 s`, `10 min`, `2 h`, `3 d`.
pub(crate) fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// Pads each column to its widest cell (the last column is not padded).
pub(crate) fn table(rows: &[Vec<String>]) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < r.len() {
                    let w = widths.get(i).copied().unwrap_or(0);
                    line.push_str(&" ".repeat(w.saturating_sub(cell.chars().count()) + 2));
                }
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_neutralised() {
        assert_eq!(
            sanitize("hi\x1b[2Jthere\r", ""),
            "hi\u{FFFD}[2Jthere\u{FFFD}"
        );
        assert_eq!(sanitize("a\nb", "  "), "a\n  b");
        assert_eq!(sanitize("x\u{202E}y", ""), "x\u{FFFD}y");
        assert_eq!(sanitize("grüße 🙂", ""), "grüße 🙂");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13Z");
    }

    #[test]
    fn tables_align() {
        let t = table(&[
            vec!["a".into(), "bb".into(), "c".into()],
            vec!["aaa".into(), "b".into(), "c".into()],
        ]);
        assert_eq!(t, vec!["a    bb  c", "aaa  b   c"]);
        assert_eq!(duration(3600), "60 min");
        assert_eq!(duration(86_400), "24 h");
    }
}
