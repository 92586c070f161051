//! libFuzzer entry point: see `peer_fuzz::auth_headers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::auth_headers(data));
