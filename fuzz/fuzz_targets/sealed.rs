//! libFuzzer entry point: see `peer_fuzz::sealed`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::sealed(data));
