//! The embedded browser client: `GET /` and `GET /assets/{*path}`, their
//! security headers, content types, ETags, subresource integrity, and the
//! 404s of everything else (path traversal included).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use peer_testkit::node::{RawRequest, RawResponse, TestNode, send};
use sha2::{Digest as _, Sha384};

use crate::common::assert_error;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[track_caller]
fn assert_hardened(resp: &RawResponse) {
    assert_eq!(resp.header("content-security-policy"), Some(CSP));
    assert_eq!(resp.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(resp.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(resp.header("x-frame-options"), Some("DENY"));
    assert_eq!(resp.header("cache-control"), Some("no-cache"));
    let etag = resp.header("etag").unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "{etag}"
    );
}

/// The value of `name="..."` inside one tag's text.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!(" {name}=\"");
    let start = tag.find(&pat)? + pat.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// Every `<name ...>` start tag of `html`, as text.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        let tail = &rest[i..];
        let end = tail.find('>').unwrap();
        out.push(&tail[..=end]);
        rest = &tail[end..];
    }
    out
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_hardened_with_integrity() {
    let node = TestNode::start().await;
    let addr = node.addr();
    let page = send(addr, RawRequest::get("/")).await.unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_hardened(&page);
    let html = page.text();
    assert!(!html.contains("{{"), "a template marker was left: {html}");
    assert!(!html.contains("<style"), "inline style element");
    assert!(!html.contains(" style="), "inline style attribute");
    for (i, _) in html.match_indices(" on") {
        let name: String = html[i + 3..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        let after = html[i + 3 + name.len()..].chars().next();
        assert!(
            name.is_empty() || after != Some('='),
            "inline event handler on{name}"
        );
    }

    // Every script and stylesheet is external, same-origin and carries
    // the integrity of the bytes the node serves for it.
    let scripts = tags(&html, "script");
    assert!(!scripts.is_empty());
    let mut checked = Vec::new();
    for tag in scripts.iter().chain(tags(&html, "link").iter()) {
        let rel = attr(tag, "rel").unwrap_or("");
        if tag.starts_with("<link") && rel != "stylesheet" && rel != "modulepreload" {
            continue;
        }
        let src = attr(tag, "src")
            .or_else(|| attr(tag, "href"))
            .unwrap_or_else(|| panic!("inline script or link without href: {tag}"));
        assert!(src.starts_with("/assets/"), "{src}");
        let integrity = attr(tag, "integrity").unwrap_or_else(|| panic!("no integrity: {tag}"));
        let asset = send(addr, RawRequest::get(src)).await.unwrap();
        assert_eq!(asset.status, 200, "{src}");
        assert_hardened(&asset);
        let want = format!("sha384-{}", STANDARD.encode(Sha384::digest(&asset.body)));
        assert_eq!(integrity, want, "{src}");
        let ct = asset.header("content-type").unwrap();
        if src.ends_with(".js") {
            assert_eq!(ct, "text/javascript; charset=utf-8");
        } else if src.ends_with(".css") {
            assert_eq!(ct, "text/css; charset=utf-8");
        }
        checked.push(src.trim_start_matches("/assets/").to_owned());
    }
    // Every embedded module is preloaded with its hash: SRI covers the
    // whole module graph, not only the entry script.
    for file in peer_web::files().filter(|f| f.ends_with(".js")) {
        assert!(
            checked.iter().any(|c| c == file),
            "{file} has no integrity in the page"
        );
    }
    assert!(checked.iter().any(|c| c == "app/style.css"));
    node.stop().await;
}

#[tokio::test]
async fn every_embedded_file_is_served_with_its_type() {
    let node = TestNode::start().await;
    let addr = node.addr();
    for file in peer_web::files() {
        let resp = send(addr, RawRequest::get(&format!("/assets/{file}")))
            .await
            .unwrap();
        assert_eq!(resp.status, 200, "{file}");
        assert_eq!(
            resp.header("content-type"),
            peer_web::content_type(file),
            "{file}"
        );
        assert_hardened(&resp);
        assert!(!resp.body.is_empty(), "{file} is empty");
    }
    // A query string does not change what is served.
    let resp = send(addr, RawRequest::get("/assets/app/style.css?v=2"))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    node.stop().await;
}

#[tokio::test]
async fn etags_give_not_modified() {
    let node = TestNode::start().await;
    let addr = node.addr();
    for path in ["/", "/assets/app/main.js"] {
        let first = send(addr, RawRequest::get(path)).await.unwrap();
        let etag = first.header("etag").unwrap().to_owned();
        let again = send(addr, RawRequest::get(path).header("if-none-match", &etag))
            .await
            .unwrap();
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        let other = send(
            addr,
            RawRequest::get(path).header("if-none-match", "\"0000\""),
        )
        .await
        .unwrap();
        assert_eq!(other.status, 200, "{path}");
        assert_eq!(other.body, first.body);
    }
    node.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_traversal_are_404() {
    let node = TestNode::start().await;
    let addr = node.addr();
    for path in [
        "/assets/app/nope.js",
        "/assets/../Cargo.toml",
        "/assets/app/../../Cargo.toml",
        "/assets/app/../lib/../../../../etc/passwd",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/app%2fmain.js",
        "/assets//etc/passwd",
        "/assets/app//main.js",
        "/assets/app/main.js/",
        "/assets/app/./main.js",
        "/assets/APP/MAIN.JS",
        "/assets/app/index.html.bak",
        "/index.html",
        "/app/main.js",
    ] {
        let resp = send(addr, RawRequest::get(path)).await.unwrap();
        assert_error(&resp, "not_found");
        assert!(
            !resp.text().contains("root:") && !resp.text().contains("[workspace]"),
            "{path}"
        );
    }
    for (m, p) in [("POST", "/"), ("DELETE", "/assets/app/main.js")] {
        let resp = send(addr, RawRequest::new(m, p)).await.unwrap();
        assert_error(&resp, "method_not_allowed");
        assert_eq!(resp.header("allow"), Some("GET"));
    }
    node.stop().await;
}
