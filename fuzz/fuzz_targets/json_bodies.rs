//! libFuzzer entry point: see `peer_fuzz::json_bodies`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::json_bodies(data));
