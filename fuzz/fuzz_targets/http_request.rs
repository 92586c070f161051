//! libFuzzer entry point: see `peer_fuzz::http_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::http_request(data));
