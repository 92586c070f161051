//! libFuzzer entry point: see `peer_fuzz::sse_stream`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::sse_stream(data));
