//! Embeds `web/src/**` into the crate: writes `$OUT_DIR/assets.rs`, a
//! table of `(path relative to web/src, include_bytes!(absolute path))`,
//! sorted by path. Only Rust runs here: the build needs no Node.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.join("../../web/src");
    // A directory makes cargo rerun this script when anything below it changes.
    println!("cargo::rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for (rel, abs) in &files {
        // ok: writing to a String cannot fail
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({abs:?}) as &[u8]),");
    }
    out.push(']');
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("assets.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display()); // ok: a build script fails by panicking
    }
}

/// Every regular file below `dir` (skipping dot files), as
/// (`/`-separated path relative to `root`, absolute path).
fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => panic!("cannot read {}: {e}", dir.display()), // ok: a build script fails by panicking
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, files);
        } else if path.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let abs = match path.canonicalize() {
                Ok(p) => p,
                Err(e) => panic!("cannot resolve {}: {e}", path.display()), // ok: a build script fails by panicking
            };
            files.push((rel, abs.to_string_lossy().into_owned()));
        }
    }
}
