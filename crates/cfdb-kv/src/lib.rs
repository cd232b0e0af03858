//! A single-file, hash-indexed key-value store, byte-compatible with Python booklet 0.12.10
//! (on-disk version 5). It is the container of cfdb datasets.
//!
//! * [`Reader`] is the read-only handle: a shared `flock`, a memory map, zero-copy lookups,
//!   `Send + Sync` for concurrent readers.
//! * [`Writer`] is the read/write handle (open flags `w`, `c`, `n` as [`Mode`]): an exclusive
//!   `flock`, an in-memory bucket index, append-only data, and a crash-safe [`Writer::sync`].
//!
//! Durability goes beyond the reference, which never fsyncs: after [`Writer::sync`] or
//! [`Writer::close`] returns, everything written so far survives a process crash, and (the
//! sync ends with an fsync) a power loss. A writer killed at any moment leaves a file that
//! reopens; a writable open recovers it in place, a read-only open reads it through an
//! in-memory salvage scan. See `docs/format.md` for the write order that makes this hold.
//!
//! ```
//! use cfdb_kv::{Mode, Reader, Writer};
//! # fn main() -> Result<(), cfdb_kv::KvError> {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("example.blt");
//!
//! let mut w = Writer::open(&path, Mode::Create)?;
//! w.set(b"temperature!0.0", b"chunk bytes")?;
//! w.set_metadata(br#"{"dataset_type":"grid"}"#)?;
//! w.close()?;
//!
//! let r = Reader::open(&path)?;
//! assert_eq!(r.get(b"temperature!0.0")?, Some(&b"chunk bytes"[..]));
//! assert_eq!(r.metadata()?, Some(&br#"{"dataset_type":"grid"}"#[..]));
//! let keys: Vec<&[u8]> = r.keys().collect::<Result<_, _>>()?;
//! assert_eq!(keys, vec![&b"temperature!0.0"[..]]);
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod error;
pub mod format;
mod lock;
mod mmap;
mod reader;
mod recover;
mod source;
mod writer;

use std::path::{Path, PathBuf};

pub use error::{KvError, Result};
pub use format::Kind;
pub use reader::{Items, ReadOptions, Reader};
pub use writer::{Mode, OpenOptions, Writer};

/// Key serializer code for UTF-8 `str` keys (what cfdb uses).
pub const SERIALIZER_STR: u16 = 2;
/// Value serializer code for raw bytes (booklet's default `None`, what cfdb uses).
pub const SERIALIZER_BYTES: u16 = 1;

/// One live item, borrowed from a [`Reader`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    /// The serialized key bytes.
    pub key: &'a [u8],
    /// The serialized value bytes.
    pub value: &'a [u8],
    /// µs since the epoch, when the file has timestamps.
    pub timestamp: Option<u64>,
}

/// One live item, owned (what a [`Writer`] iterates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedItem {
    /// The serialized key bytes.
    pub key: Vec<u8>,
    /// The serialized value bytes.
    pub value: Vec<u8>,
    /// µs since the epoch, when the file has timestamps.
    pub timestamp: Option<u64>,
}

/// Facts from a file's header.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileInfo {
    /// Variable- or fixed-length values.
    pub kind: Kind,
    /// On-disk format version.
    pub version: u16,
    /// Bucket count of the index.
    pub n_buckets: u32,
    /// Key serializer code (2 = `str`).
    pub key_serializer: u16,
    /// Value serializer code (1 = raw bytes).
    pub value_serializer: u16,
    /// Whether blocks carry timestamps.
    pub timestamps: bool,
    /// Value length of fixed-length files.
    pub value_len: u32,
    /// Creation time, µs since the epoch.
    pub file_timestamp: u64,
    /// The file's UUID bytes.
    pub uuid: [u8; 16],
    /// Whether the file was closed cleanly (no recovery was needed to read it).
    pub clean: bool,
}

impl FileInfo {
    fn from_header(h: &format::Header, clean: bool) -> FileInfo {
        FileInfo {
            kind: h.kind,
            version: h.version,
            n_buckets: h.n_buckets,
            key_serializer: h.key_serializer,
            value_serializer: h.value_serializer,
            timestamps: h.timestamps,
            value_len: h.value_len,
            file_timestamp: h.file_timestamp,
            uuid: h.uuid,
            clean,
        }
    }
}

fn reserved_key(slot: u8) -> Result<&'static [u8]> {
    match slot {
        1 => Ok(format::RESERVED1_KEY),
        2 => Ok(format::RESERVED2_KEY),
        _ => Err(KvError::InvalidOption(format!(
            "reserved slot {slot} does not exist (1 or 2)"
        ))),
    }
}

/// The completed-prune sidecar of `path` (see [`Writer::prune`]).
pub(crate) fn prune_sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".cfdbkv-prune");
    PathBuf::from(s)
}

/// The in-progress prune sidecar of `path`.
pub(crate) fn prune_sidecar_tmp(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".cfdbkv-prune.tmp");
    PathBuf::from(s)
}

/// Crash hooks for the crash tests. With the `failpoints` feature, setting
/// `CFDB_KV_FAILPOINT=<name>` (or `<name>:<n>` for the n-th hit) aborts the process right
/// after the named step. Without the feature it compiles to nothing.
#[cfg(feature = "failpoints")]
pub(crate) fn failpoint(name: &str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| {
        let v = std::env::var("CFDB_KV_FAILPOINT").ok()?;
        let (n, c) = v
            .split_once(':')
            .map_or((v.as_str(), 1), |(n, c)| (n, c.parse().unwrap_or(1)));
        Some((n.to_string(), c))
    });
    if let Some((n, c)) = target
        && n == name
        && HITS.fetch_add(1, Ordering::SeqCst) + 1 >= *c
    {
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn failpoint(_name: &str) {}

/// Fuzzing entry point: opens arbitrary bytes as a booklet and reads everything it can.
/// It must never panic or loop forever, whatever the input.
#[doc(hidden)]
pub fn fuzz_open_iter(data: &[u8]) {
    let Ok(r) = Reader::from_bytes(data.to_vec()) else {
        return;
    };
    let _ = r.info();
    let mut keys = Vec::new();
    for item in r.items() {
        match item {
            Ok(i) => {
                if keys.len() < 64 {
                    keys.push(i.key.to_vec());
                }
            }
            Err(_) => break,
        }
    }
    for k in &keys {
        let _ = r.get(k);
        let _ = r.get_timestamp(k);
    }
    let _ = r.metadata();
    let _ = r.get(b"missing key");
    let _ = r.len();
}
