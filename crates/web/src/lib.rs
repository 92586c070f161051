//! peergroup's browser client, embedded in the binary.
//!
//! The files under `web/src/` (the app in `web/src/app/`, the WebCrypto
//! client library in `web/src/lib/`) are compiled into this crate by its
//! build script with `include_bytes!`: a node serves them with no file
//! access at run time, no CDN, and no Node.js in the Rust build.
//!
//! URL layout (what [`asset`] answers):
//!
//! | URL path | content |
//! | --- | --- |
//! | `/` | `web/src/app/index.html`, with its subresource-integrity hashes filled in |
//! | `/assets/<path>` | `web/src/<path>`, byte for byte |
//!
//! `index.html` is a template: `{{integrity:PATH}}` becomes the
//! `sha384-...` hash of `web/src/PATH`, and `{{modulepreload}}` becomes one
//! `<link rel="modulepreload" href="/assets/..." integrity="sha384-...">`
//! per embedded JavaScript module, so the browser checks every module of
//! the app against the hashes in the page it loaded (SRI), not only the
//! entry script. What that does and does not protect is in `docs/web.md`.
//!
//! What this crate does not do: HTTP. `peer-http` routes `/` and
//! `/assets/{*path}` here and adds the headers (Content-Security-Policy,
//! `ETag`, ...); [`CONTENT_SECURITY_POLICY`] is the policy it sends.
//!
//! ```
//! let index = peer_web::asset("/").expect("the app is embedded");
//! assert_eq!(index.content_type, "text/html; charset=utf-8");
//! assert!(peer_web::asset("/assets/../Cargo.toml").is_none());
//! ```

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256, Sha384};

/// The Content-Security-Policy every asset is served with: scripts, styles
/// and connections only from the node itself, no inline script or style,
/// no plugins, no framing, no forms posting elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Where the embedded files are served: `/assets/` + their path under
/// `web/src/`.
pub const ASSET_PREFIX: &str = "/assets/";

/// The template of the page served at `/`, relative to `web/src/`.
pub const INDEX: &str = "app/index.html";

/// The embedded files: (path relative to `web/src/`, bytes), sorted.
static FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// One servable file.
#[derive(Clone, PartialEq, Eq)]
pub struct Asset {
    /// The bytes to send.
    pub bytes: &'static [u8],
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    /// A strong entity tag (quoted), from SHA-256 of the bytes.
    pub etag: &'static str,
    /// The subresource-integrity value, `sha384-<base64>`.
    pub integrity: &'static str,
}

impl std::fmt::Debug for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asset")
            .field("len", &self.bytes.len())
            .field("content_type", &self.content_type)
            .field("etag", &self.etag)
            .finish()
    }
}

/// Every embedded file's path relative to `web/src/`, sorted (for tests
/// that compare it with the directory).
pub fn files() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(path, _)| *path)
}

/// The file served at `url_path` (the request's path, without query):
/// `/` is the app's page, `/assets/<path>` the embedded `web/src/<path>`.
/// Anything else, including paths with `..`, `//` or percent escapes (no
/// embedded name has them), is `None`.
pub fn asset(url_path: &str) -> Option<Asset> {
    if url_path == "/" {
        return Some(INDEX_PAGE.clone());
    }
    let rel = url_path.strip_prefix(ASSET_PREFIX)?;
    TABLE
        .iter()
        .find(|(path, _)| *path == rel)
        .map(|(_, a)| a.clone())
}

/// The content type of a file name, by extension (`None`: not a kind the
/// node serves).
pub fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

/// `sha384-<base64>` of `bytes`, as an `integrity` attribute wants it.
pub fn integrity_of(bytes: &[u8]) -> String {
    format!("sha384-{}", STANDARD.encode(Sha384::digest(bytes)))
}

fn make_asset(path: &str, bytes: &'static [u8]) -> Asset {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    Asset {
        bytes,
        content_type: content_type(path).unwrap_or("application/octet-stream"),
        etag: leak(format!("\"{hex}\"")),
        integrity: leak(integrity_of(bytes)),
    }
}

/// Computed once per process, for a fixed set of files: the leak is
/// bounded by the embedded assets.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

static TABLE: LazyLock<Vec<(&'static str, Asset)>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(path, bytes)| (*path, make_asset(path, bytes)))
        .collect()
});

static INDEX_PAGE: LazyLock<Asset> = LazyLock::new(|| {
    let template = FILES
        .iter()
        .find(|(path, _)| *path == INDEX)
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_else(|| {
            "<!doctype html><title>peergroup</title><p>The web client is not built in.".to_owned()
        });
    let page = render_index(&template);
    make_asset(INDEX, leak(page).as_bytes())
});

/// Fills in the template's `{{modulepreload}}` and `{{integrity:PATH}}`
/// markers. An unknown PATH becomes an integrity no file matches, so the
/// browser refuses the resource rather than loading it unchecked.
fn render_index(template: &str) -> String {
    let mut preload = String::new();
    for (path, asset) in TABLE.iter() {
        if path.ends_with(".js") {
            preload.push_str(&format!(
                "<link rel=\"modulepreload\" href=\"{ASSET_PREFIX}{path}\" integrity=\"{}\">\n",
                asset.integrity
            ));
        }
    }
    let mut out = String::with_capacity(template.len() + preload.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let marker = after[..end].trim();
        if marker == "modulepreload" {
            out.push_str(preload.trim_end());
        } else if let Some(path) = marker.strip_prefix("integrity:") {
            match TABLE.iter().find(|(p, _)| *p == path.trim()) {
                Some((_, a)) => out.push_str(a.integrity),
                None => out.push_str("sha384-missing"),
            }
        } else {
            out.push_str(&rest[start..start + 2 + end + 2]);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(
            content_type("a/b.js"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(content_type("x.css"), Some("text/css; charset=utf-8"));
        assert_eq!(content_type("x.exe"), None);
        assert_eq!(content_type("noext"), None);
    }

    #[test]
    fn integrity_is_sha384_base64() {
        // SHA-384("") from FIPS 180-4, base64.
        assert_eq!(
            integrity_of(b""),
            "sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb"
        );
    }

    #[test]
    fn template_markers_are_filled_and_unknown_ones_kept() {
        let out = render_index("a {{integrity: nope.js}} b {{other}} c {{");
        assert_eq!(out, "a sha384-missing b {{other}} c {{");
    }
}
