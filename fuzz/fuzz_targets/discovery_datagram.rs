//! libFuzzer entry point: see `peer_fuzz::discovery_datagram`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::discovery_datagram(data));
