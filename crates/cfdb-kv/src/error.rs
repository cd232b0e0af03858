//! The error type of cfdb-kv.

use std::path::PathBuf;

/// Everything that can go wrong in cfdb-kv.
///
/// Errors that concern one file carry its path; corruption carries the byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// An operating-system I/O error.
    #[error("{path}: I/O error: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a booklet file (wrong magic, too short, unsupported version).
    #[error("{path}: not a booklet file: {reason}")]
    NotBooklet {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The file's structure is damaged at `offset`.
    #[error("{path}: corrupted at byte {offset}: {reason}")]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// Where the damage was found.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The file lock could not be taken before the timeout ran out.
    #[error("{path}: locked by another handle or process (gave up after {waited_ms} ms)")]
    LockTimeout {
        /// The file.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u128,
    },
    /// This process already holds a conflicting handle on the same file; waiting for it would
    /// deadlock, because `flock` treats two handles of one process like two processes.
    #[error("{path}: already open in this process ({held}); close that handle first")]
    AlreadyOpen {
        /// The file.
        path: PathBuf,
        /// What the existing handle is ("a writer" or "a reader").
        held: &'static str,
    },
    /// The file does not exist and the open flag does not create it.
    #[error("{path}: no such file")]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// A key longer than 65535 bytes.
    #[error("key of {len} bytes is longer than the 65535-byte limit")]
    KeyTooLong {
        /// The key's length.
        len: usize,
    },
    /// A value longer than 4294967295 bytes.
    #[error("value of {len} bytes is longer than the 4294967295-byte limit")]
    ValueTooLong {
        /// The value's length.
        len: usize,
    },
    /// A fixed-length file got a value of another length.
    #[error("fixed-length file takes values of {expected} bytes, got {got}")]
    WrongValueLength {
        /// The file's value length.
        expected: u32,
        /// The given length.
        got: usize,
    },
    /// A user key equal to one of booklet's hidden keys (metadata or reserved slots).
    #[error("key {key:?} is reserved by the booklet format for its metadata/reserved slots")]
    ReservedKey {
        /// The key, lossily decoded.
        key: String,
    },
    /// A timestamp outside 0 ..= 2^56 - 1 microseconds.
    #[error("timestamp {0} µs does not fit the 56-bit timestamp field")]
    TimestampOutOfRange(u64),
    /// The file has no timestamps (created without them, or fixed-length).
    #[error("this file stores no timestamps")]
    NoTimestamps,
    /// The operation is not available on this kind of file (e.g. metadata on fixed-length files).
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// A key that is not present.
    #[error("key {key:?} not found")]
    KeyNotFound {
        /// The key, lossily decoded.
        key: String,
    },
    /// Invalid creation options.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// An earlier write or fsync failed; the handle refuses further writes. Reopen the file to
    /// recover it.
    #[error("{path}: an earlier write failed; the handle is poisoned (reopen to recover)")]
    Poisoned {
        /// The file.
        path: PathBuf,
    },
}

/// Result alias of cfdb-kv.
pub type Result<T, E = KvError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> KvError + '_ {
    move |source| KvError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn lossy(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}
