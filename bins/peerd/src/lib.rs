//! `peerd_settings`: the decoder of peerd's settings file, as a library,
//! so that a fuzz target (`fuzz/`, target `settings_file`) and its property
//! test can run it in process.
//!
//! The `peerd` binary compiles the same `config` module for itself (see
//! `main.rs`); this library exposes only [`settings_file`], the check the
//! fuzzer runs. It does not start a daemon, touch the network or write a
//! file.

#![forbid(unsafe_code)]

// The binary uses all of it; this library only the file path of it.
#[allow(dead_code, unreachable_pub)]
mod config;

use std::ffi::OsString;

/// Decodes `data` as the text of a settings file (`peerd --config FILE`)
/// and validates it, as peerd does at start-up: bytes that are not UTF-8
/// or larger than the size limit are what peerd refuses before parsing;
/// anything else either gives settings or is refused with a non-empty
/// message. Never panics (a panic is the bug the fuzzer looks for).
pub fn settings_file(data: &[u8]) {
    if data.len() as u64 > config::MAX_FILE_BYTES {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vars = [(OsString::from("HOME"), OsString::from("/home/op"))];
    match config::from_file_text(text, &vars) {
        Ok(settings) => {
            // Accepted settings describe themselves (as peerd's logs do).
            let shown = format!("{settings:?}");
            assert!(!shown.is_empty());
        }
        Err(e) => assert!(
            !e.to_string().trim().is_empty(),
            "a refusal without a reason"
        ),
    }
}
