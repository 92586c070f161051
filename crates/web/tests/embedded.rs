//! The embedded set is exactly `web/src/**`, every file of a kind the
//! node serves, and the app keeps to the Content-Security-Policy: no
//! inline script or style, nothing loaded from another origin.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

fn web_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/src")
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).unwrap();
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
}

#[test]
fn the_embedded_files_are_the_files_under_web_src() {
    let root = web_src();
    let mut on_disk = Vec::new();
    walk(&root, &root, &mut on_disk);
    on_disk.sort();
    let embedded: Vec<String> = peer_web::files().map(str::to_owned).collect();
    assert_eq!(
        embedded, on_disk,
        "rebuild peer-web: the embedded list differs from web/src"
    );
    for file in &embedded {
        assert!(
            peer_web::content_type(file).is_some(),
            "web/src/{file}: the node serves no such kind of file; add its type to peer_web::content_type or move it out of web/src"
        );
        let asset = peer_web::asset(&format!("/assets/{file}")).unwrap();
        assert_eq!(
            asset.bytes,
            std::fs::read(root.join(file)).unwrap().as_slice()
        );
    }
    assert!(embedded.iter().any(|f| f == peer_web::INDEX));
    assert!(embedded.iter().any(|f| f == "app/main.js"));
    assert!(embedded.iter().any(|f| f == "lib/client.js"));
}

#[test]
fn the_app_has_no_inline_script_or_style_and_no_other_origin() {
    let root = web_src();
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    for file in files {
        let text = match std::fs::read_to_string(root.join(&file)) {
            Ok(t) => t,
            Err(_) => continue, // binary
        };
        if file.ends_with(".html") {
            let lower = text.to_ascii_lowercase();
            assert!(!lower.contains("<style"), "{file}: <style>");
            assert!(!lower.contains(" style="), "{file}: style attribute");
            assert!(!lower.contains("javascript:"), "{file}: javascript: URL");
            for (i, _) in lower.match_indices("<script") {
                let tag = &lower[i..i + lower[i..].find('>').unwrap()];
                assert!(
                    tag.contains(" src=\"/assets/"),
                    "{file}: inline script {tag}"
                );
            }
            for handler in [
                " onclick=",
                " onload=",
                " onerror=",
                " onsubmit=",
                " oninput=",
            ] {
                assert!(!lower.contains(handler), "{file}: inline handler {handler}");
            }
        }
        if file.starts_with("app/") && !file.ends_with(".svg") {
            for needle in ["http://", "https://", "//cdn", "eval(", "new Function("] {
                assert!(!text.contains(needle), "{file}: contains {needle}");
            }
        }
    }
}

#[test]
fn the_page_has_every_module_with_its_integrity() {
    let page = peer_web::asset("/").unwrap();
    let html = std::str::from_utf8(page.bytes).unwrap();
    for file in peer_web::files().filter(|f| f.ends_with(".js")) {
        let asset = peer_web::asset(&format!("/assets/{file}")).unwrap();
        let link = format!(
            "<link rel=\"modulepreload\" href=\"/assets/{file}\" integrity=\"{}\">",
            asset.integrity
        );
        assert!(html.contains(&link), "missing {link}");
    }
    assert!(
        !html.contains("sha384-missing"),
        "a {{{{integrity:...}}}} names no file"
    );
}
