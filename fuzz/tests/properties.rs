//! The fuzz targets as property tests, run in CI: random bytes, the seed
//! inputs mutated, and every saved regression, through each decoder.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use peer_proto::discovery::DatagramKind;
use proptest::prelude::*;

/// The files of `fuzz/<dir>/<target>/`.
fn inputs(dir: &str, target: &str) -> Vec<Vec<u8>> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), dir, target].iter().collect();
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let s = inputs("seeds", target);
    assert!(!s.is_empty(), "no seeds for {target}");
    s
}

/// A seed with some bytes changed, some cut and some inserted.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (
        0..n,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 0..8),
    )
        .prop_map(move |(i, edits)| {
            let mut s = seeds.get(i).cloned().unwrap_or_default();
            for (at, byte, op) in edits {
                if s.is_empty() {
                    s.push(byte);
                    continue;
                }
                let at = at.index(s.len());
                match op {
                    0 => s[at] = byte,
                    1 => s.truncate(at),
                    2 => s.insert(at, byte),
                    _ => {
                        s.remove(at);
                    }
                }
            }
            s
        })
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Genuine signed datagrams, and their encodings cut or bit-flipped.
fn datagrams() -> Vec<Vec<u8>> {
    let key = peer_testkit::keys::node();
    let kinds = [
        DatagramKind::Query,
        DatagramKind::Announce,
        DatagramKind::Leave,
    ];
    kinds
        .iter()
        .map(|&k| {
            peer_testkit::datagram::wire(&peer_testkit::datagram::signed(
                key,
                k,
                "default",
                8080,
                peer_testkit::NOW,
            ))
        })
        .collect()
}

#[test]
fn regressions_replay() {
    type Check = fn(&[u8]);
    let targets: [(&str, Check); 8] = [
        ("json_bodies", peer_fuzz::json_bodies),
        ("discovery_datagram", peer_fuzz::discovery_datagram),
        ("auth_headers", peer_fuzz::auth_headers),
        ("sealed", peer_fuzz::sealed),
        ("sse_stream", peer_fuzz::sse_stream),
        ("ids", peer_fuzz::ids),
        ("http_request", peer_fuzz::http_request),
        ("settings_file", peer_fuzz::settings_file),
    ];
    for (target, check) in targets {
        for input in inputs("regressions", target)
            .iter()
            .chain(&inputs("seeds", target))
        {
            check(input);
        }
    }
}

#[test]
fn genuine_datagrams_decode_and_round_trip() {
    for d in datagrams() {
        assert!(peer_proto::discovery::Datagram::decode(&d).is_ok());
        peer_fuzz::discovery_datagram(&d);
    }
}

#[test]
fn seeds_exist_where_the_script_expects_them() {
    for t in [
        "json_bodies",
        "auth_headers",
        "sse_stream",
        "ids",
        "http_request",
        "settings_file",
    ] {
        seeds(t);
    }
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("regressions")
            .is_dir()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn json_bodies_random(data in bytes(512)) { peer_fuzz::json_bodies(&data); }

    #[test]
    fn json_bodies_mutated(data in mutated(seeds("json_bodies"))) { peer_fuzz::json_bodies(&data); }

    #[test]
    fn datagrams_random(data in bytes(1400)) { peer_fuzz::discovery_datagram(&data); }

    #[test]
    fn datagrams_mutated(data in mutated(datagrams())) { peer_fuzz::discovery_datagram(&data); }

    #[test]
    fn auth_headers_random(data in bytes(256)) { peer_fuzz::auth_headers(&data); }

    #[test]
    fn auth_headers_mutated(data in mutated(seeds("auth_headers"))) { peer_fuzz::auth_headers(&data); }

    #[test]
    fn sealed_random(data in bytes(256)) { peer_fuzz::sealed(&data); }

    #[test]
    fn sse_random(data in bytes(1024)) { peer_fuzz::sse_stream(&data); }

    #[test]
    fn sse_mutated(data in mutated(seeds("sse_stream"))) { peer_fuzz::sse_stream(&data); }

    #[test]
    fn ids_random(data in bytes(64)) { peer_fuzz::ids(&data); }

    #[test]
    fn settings_file_random(data in bytes(512)) { peer_fuzz::settings_file(&data); }

    #[test]
    fn settings_file_mutated(data in mutated(seeds("settings_file"))) { peer_fuzz::settings_file(&data); }
}

proptest! {
    // Each case is a connection to a live node: fewer cases.
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn http_requests_mutated(data in mutated(seeds("http_request"))) { peer_fuzz::http_request(&data); }

    #[test]
    fn http_requests_random(data in bytes(512)) { peer_fuzz::http_request(&data); }
}
