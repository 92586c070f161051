//! libFuzzer entry point: see `peer_fuzz::settings_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::settings_file(data));
