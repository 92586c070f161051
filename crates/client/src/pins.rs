//! Trust on first use: which node key a client accepts at which URL.
//!
//! On the first connection to a URL the client pins the node's id and the
//! SHA-256 of its key (SPKI DER). Later connections must present the same:
//! a different key at a pinned URL, or a pinned node id with another key,
//! is [`ClientError::NodeKeyChanged`](crate::ClientError::NodeKeyChanged),
//! a hard error. Nothing here ever replaces a pin; an operator removes a
//! line by hand when a node's key really changed (like SSH's known_hosts).
//!
//! [`PinFile`] keeps pins in a text file, one per line:
//!
//! ```text
//! # peergroup pinned nodes: <url> <node id> <SHA-256 of the node key SPKI, base64url>
//! http://127.0.0.1:8080 3q2-7wAAAAAAAAAAAAAAAA 47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU
//! ```
//!
//! The same node may be pinned under several URLs (one line each).
//! [`MemoryPins`] keeps them in memory, for a process that connects once.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use peer_http::client::BaseUrl;
use peer_proto::NodeId;
use peer_proto::bytes::{decode_b64, encode_b64};

/// Largest pin file read (about 8,000 pins).
const MAX_PIN_FILE_BYTES: u64 = 1024 * 1024;

/// One pinned node key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Where the node serves.
    pub url: BaseUrl,
    /// The node's id (self-certifying: the first 16 bytes of `spki_hash`).
    pub node_id: NodeId,
    /// SHA-256 of the node key's SPKI DER.
    pub spki_hash: [u8; 32],
}

impl Pin {
    /// True when `other` pins the same URL or node id to another key.
    pub fn conflicts_with(&self, other: &Pin) -> bool {
        let same_key = self.node_id == other.node_id && self.spki_hash == other.spki_hash;
        (self.url == other.url || self.node_id == other.node_id) && !same_key
    }

    fn to_line(&self) -> String {
        format!(
            "{} {} {}",
            self.url,
            self.node_id,
            encode_b64(&self.spki_hash)
        )
    }

    fn parse_line(line: &str) -> Option<Pin> {
        let mut parts = line.split_whitespace();
        let (Some(url), Some(id), Some(hash), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let url = BaseUrl::parse(url).ok()?;
        let node_id: NodeId = id.parse().ok()?;
        let spki_hash: [u8; 32] = decode_b64(hash).ok()?.try_into().ok()?;
        // Self-certifying: the id is the hash's first 16 bytes.
        if spki_hash.get(..16) != Some(node_id.as_bytes().as_slice()) {
            return None;
        }
        Some(Pin {
            url,
            node_id,
            spki_hash,
        })
    }
}

/// A failure of a pin store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The operating system refused.
    #[error("pin file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line of the pin file is not `<url> <node id> <hash>` (or the id is
    /// not the hash's prefix), or the file is too large.
    #[error("pin file {path}: line {line} is malformed")]
    Format {
        /// The file.
        path: PathBuf,
        /// The line number (from 1; 0 when the file is too large).
        line: usize,
    },
    /// The URL or node id is pinned to another key already.
    #[error("{url} is pinned to node {pinned} already")]
    Conflict {
        /// The URL of the refused pin.
        url: BaseUrl,
        /// The node id pinned already (for that URL, or the refused pin's
        /// own id when that id is pinned to another key).
        pinned: NodeId,
    },
}

/// Where pins live. Implementations must be safe to share between threads
/// and must never replace a pin.
pub trait PinStore: Send + Sync {
    /// Every pin.
    fn pins(&self) -> Result<Vec<Pin>, PinError>;

    /// Adds `pin`. Does nothing when the same pin exists; refuses with
    /// [`PinError::Conflict`] when its URL or node id is pinned to another
    /// key.
    fn add(&self, pin: &Pin) -> Result<(), PinError>;
}

/// The first pin that conflicts with `pin`, if any.
pub(crate) fn find_conflict<'a>(pins: &'a [Pin], pin: &Pin) -> Option<&'a Pin> {
    // A pin for the same URL names the node that belongs there; report it
    // before one that only shares the node id.
    pins.iter()
        .find(|p| p.url == pin.url && p.conflicts_with(pin))
        .or_else(|| pins.iter().find(|p| p.conflicts_with(pin)))
}

fn conflict_error(existing: &Pin, pin: &Pin) -> PinError {
    PinError::Conflict {
        url: pin.url.clone(),
        pinned: existing.node_id,
    }
}

/// Pins in memory, lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryPins {
    pins: Mutex<Vec<Pin>>,
}

impl MemoryPins {
    /// No pins yet.
    pub fn new() -> Self {
        MemoryPins::default()
    }
}

impl PinStore for MemoryPins {
    fn pins(&self) -> Result<Vec<Pin>, PinError> {
        Ok(self.pins.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    fn add(&self, pin: &Pin) -> Result<(), PinError> {
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = find_conflict(&pins, pin) {
            return Err(conflict_error(existing, pin));
        }
        if !pins.contains(pin) {
            pins.push(pin.clone());
        }
        Ok(())
    }
}

/// Pins in a text file (format in the module docs).
///
/// Adding a pin rewrites the whole file atomically: a temporary file beside
/// it is written and synced, then renamed over it, so a crash leaves either
/// the old or the new file, never a torn one. Within one process additions
/// are serialised; two processes adding at the same instant may lose one of
/// the two new lines (never an existing one), which only means that node is
/// pinned again on its next use.
#[derive(Debug)]
pub struct PinFile {
    path: PathBuf,
    lock: Mutex<()>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

const HEADER: &str =
    "# peergroup pinned nodes: <url> <node id> <SHA-256 of the node key SPKI, base64url>\n";

impl PinFile {
    /// Pins kept in the file at `path` (created on the first pin; its
    /// directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PinFile {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> PinError + '_ {
        move |source| PinError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<Vec<Pin>, PinError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io()(e)),
        };
        let mut text = String::new();
        file.take(MAX_PIN_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|_| PinError::Format {
                path: self.path.clone(),
                line: 0,
            })?;
        if text.len() as u64 > MAX_PIN_FILE_BYTES {
            return Err(PinError::Format {
                path: self.path.clone(),
                line: 0,
            });
        }
        let mut pins = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let pin = Pin::parse_line(line).ok_or_else(|| PinError::Format {
                path: self.path.clone(),
                line: i + 1,
            })?;
            pins.push(pin);
        }
        Ok(pins)
    }

    fn write(&self, pins: &[Pin]) -> Result<(), PinError> {
        let mut text = String::from(HEADER);
        for p in pins {
            text.push_str(&p.to_line());
            text.push('\n');
        }
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pins".to_owned());
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = self
            .path
            .with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .map_err(self.io())?;
            f.write_all(text.as_bytes()).map_err(self.io())?;
            f.sync_all().map_err(self.io())?;
            fs::rename(&temp, &self.path).map_err(self.io())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(self.io())?;
        }
        Ok(())
    }
}

impl PinStore for PinFile {
    fn pins(&self) -> Result<Vec<Pin>, PinError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.read()
    }

    fn add(&self, pin: &Pin) -> Result<(), PinError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut pins = self.read()?;
        if let Some(existing) = find_conflict(&pins, pin) {
            return Err(conflict_error(existing, pin));
        }
        if pins.contains(pin) {
            return Ok(());
        }
        pins.push(pin.clone());
        self.write(&pins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(url: &str, seed: u8) -> Pin {
        let mut hash = [seed; 32];
        hash[31] = 0;
        let mut id = [0u8; 16];
        id.copy_from_slice(&hash[..16]);
        Pin {
            url: BaseUrl::parse(url).unwrap(),
            node_id: NodeId::from_bytes(id),
            spki_hash: hash,
        }
    }

    fn stores(dir: &Path) -> Vec<Box<dyn PinStore>> {
        vec![
            Box::new(MemoryPins::new()),
            Box::new(PinFile::new(dir.join("known_nodes"))),
        ]
    }

    #[test]
    fn first_use_pins_and_a_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for store in stores(dir.path()) {
            let a = pin("http://127.0.0.1:1", 1);
            store.add(&a).unwrap();
            store.add(&a).unwrap();
            assert_eq!(store.pins().unwrap(), vec![a.clone()]);
            // Another key at the same URL.
            let b = pin("http://127.0.0.1:1", 2);
            match store.add(&b) {
                Err(PinError::Conflict { pinned, .. }) => assert_eq!(pinned, a.node_id),
                other => panic!("{other:?}"),
            }
            // The same node id with another key hash, at another URL.
            let mut c = pin("http://127.0.0.1:2", 1);
            c.spki_hash[20] ^= 1;
            assert!(matches!(store.add(&c), Err(PinError::Conflict { .. })));
            // The same node at another URL is fine.
            let d = pin("http://127.0.0.1:3", 1);
            store.add(&d).unwrap();
            assert_eq!(store.pins().unwrap(), vec![a, d]);
        }
    }

    #[test]
    fn file_round_trip_and_format_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pins");
        let file = PinFile::new(&path);
        assert!(
            file.pins().unwrap().is_empty(),
            "a missing file has no pins"
        );
        let a = pin("http://node.lan:8080", 7);
        file.add(&a).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# peergroup pinned nodes"));
        assert!(text.contains(&format!("http://node.lan:8080 {} ", a.node_id)));
        // A second PinFile on the same path reads the same pins.
        assert_eq!(PinFile::new(&path).pins().unwrap(), vec![a.clone()]);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        for bad in [
            "http://node.lan x y\n",
            "http://node.lan\n",
            &format!(
                "https://node.lan {} {}\n",
                a.node_id,
                encode_b64(&a.spki_hash)
            ),
            // The id is not the hash's prefix.
            &format!(
                "http://node.lan {} {}\n",
                NodeId::from_bytes([9; 16]),
                encode_b64(&a.spki_hash)
            ),
            &format!("{} extra\n", a.to_line()),
        ] {
            fs::write(&path, format!("# c\n\n{bad}")).unwrap();
            match file.pins() {
                Err(PinError::Format { line: 3, .. }) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
            // A malformed file is never overwritten by an addition.
            assert!(file.add(&a).is_err());
            assert_eq!(fs::read_to_string(&path).unwrap(), format!("# c\n\n{bad}"));
        }
    }
}
