//! Opening files with the global lock timeout.

use std::path::Path;
use std::time::Duration;

use cfdb::kv::{self, KvError};
use cfdb::{CoreError, Dataset, OpenMode, OpenOptions, ReadOnly, ReadWrite};
use serde_json::{Map, Value};

use crate::error::{CliError, CliResult};

/// How long the first, silent attempt to take a lock waits when no timeout was given, before
/// saying on stderr that we are waiting.
const QUIET_WAIT: Duration = Duration::from_millis(300);

/// Options shared by every command.
#[derive(Debug)]
pub(crate) struct Ctx {
    lock_timeout: Option<Duration>,
}

fn is_lock_timeout_core(e: &CoreError) -> bool {
    matches!(e, CoreError::Kv(KvError::LockTimeout { .. }))
}

fn is_lock_timeout_kv(e: &KvError) -> bool {
    matches!(e, KvError::LockTimeout { .. })
}

impl Ctx {
    pub(crate) fn new(lock_timeout: Option<Duration>) -> Ctx {
        Ctx { lock_timeout }
    }

    /// Runs `open` with the user's lock timeout; without one, tries briefly, says that the file
    /// is locked, then waits for as long as it takes.
    fn with_lock<T, E>(
        &self,
        path: &Path,
        open: impl Fn(Option<Duration>) -> Result<T, E>,
        is_timeout: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        if self.lock_timeout.is_some() {
            return open(self.lock_timeout);
        }
        match open(Some(QUIET_WAIT)) {
            Err(e) if is_timeout(&e) => {
                eprintln!(
                    "cfdb: {}: locked by another process; waiting (use --lock-timeout SECONDS to give up)",
                    path.display()
                );
                open(None)
            }
            other => other,
        }
    }

    fn options(t: Option<Duration>) -> OpenOptions {
        match t {
            Some(t) => OpenOptions::new().lock_timeout(t),
            None => OpenOptions::new(),
        }
    }

    /// Opens a dataset read-only.
    pub(crate) fn open_ro(&self, path: &Path) -> CliResult<Dataset<ReadOnly>> {
        self.with_lock(path, |t| Self::options(t).open(path), is_lock_timeout_core)
            .map_err(|e| CliError::core(path, e))
    }

    /// Opens an existing dataset for writing.
    pub(crate) fn open_rw(&self, path: &Path) -> CliResult<Dataset<ReadWrite>> {
        self.with_lock(
            path,
            |t| Self::options(t).open_rw(path, OpenMode::Write),
            is_lock_timeout_core,
        )
        .map_err(|e| CliError::core(path, e))
    }

    /// Creates a new dataset (replacing `path`) with `opts` plus the lock timeout.
    pub(crate) fn create(&self, path: &Path, opts: OpenOptions) -> CliResult<Dataset<ReadWrite>> {
        self.with_lock(
            path,
            |t| {
                let o = match t {
                    Some(t) => opts.clone().lock_timeout(t),
                    None => opts.clone(),
                };
                o.open_rw(path, OpenMode::New)
            },
            is_lock_timeout_core,
        )
        .map_err(|e| CliError::core(path, e))
    }

    /// Opens the booklet container read-only.
    pub(crate) fn reader(&self, path: &Path) -> CliResult<kv::Reader> {
        self.reader_kv(path).map_err(|e| CliError::kv(path, e))
    }

    /// [`reader`](Self::reader) with the container's own error.
    pub(crate) fn reader_kv(&self, path: &Path) -> Result<kv::Reader, KvError> {
        self.with_lock(
            path,
            |t| {
                let mut o = kv::ReadOptions::new();
                if let Some(t) = t {
                    o = o.lock_timeout(t);
                }
                o.open(path)
            },
            is_lock_timeout_kv,
        )
    }

    /// Opens the booklet container for writing and runs the full recovery scan (an explicit
    /// repair: also a file cut short without an unclean flag, e.g. a truncated copy).
    pub(crate) fn writer(&self, path: &Path) -> CliResult<kv::Writer> {
        self.with_lock(
            path,
            |t| {
                let mut o = kv::OpenOptions::new().force_recovery(true);
                if let Some(t) = t {
                    o = o.lock_timeout(t);
                }
                o.open(path, kv::Mode::Write)
            },
            is_lock_timeout_kv,
        )
        .map_err(|e| CliError::kv(path, e))
    }

    /// The system metadata exactly as stored (the dtype objects in their stored form), read
    /// through a second shared handle on a dataset that is already open.
    pub(crate) fn stored_metadata(&self, path: &Path) -> CliResult<Map<String, Value>> {
        let r = self.reader(path)?;
        let bytes = r
            .metadata()
            .map_err(|e| CliError::kv(path, e))?
            .ok_or_else(|| CliError::file(path, "not a cfdb dataset (no metadata)"))?;
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(CliError::file(path, "the metadata is not a JSON object")),
            Err(e) => Err(CliError::file(path, format!("invalid metadata JSON: {e}"))),
        }
    }
}

/// The stored dtype object of variable `name` in stored metadata `meta`.
pub(crate) fn stored_dtype(meta: &Map<String, Value>, name: &str) -> Value {
    meta.get("variables")
        .and_then(|v| v.get(name))
        .and_then(|v| v.get("dtype"))
        .cloned()
        .unwrap_or(Value::Null)
}
