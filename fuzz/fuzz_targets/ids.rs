//! libFuzzer entry point: see `peer_fuzz::ids`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::ids(data));
