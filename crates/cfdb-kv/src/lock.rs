//! Whole-file `flock` locking, compatible with Python booklet (portalocker), plus an in-process
//! registry so that a second conflicting handle in the same process errors instead of waiting
//! forever (flock treats two handles of one process like two processes).

use std::collections::HashMap;
use std::fs::{File, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{KvError, Result, io_err};

#[derive(Default)]
struct Holders {
    readers: usize,
    writer: bool,
}

fn registry() -> &'static Mutex<HashMap<(u64, u64), Holders>> {
    static REG: OnceLock<Mutex<HashMap<(u64, u64), Holders>>> = OnceLock::new();
    REG.get_or_init(Default::default)
}

/// Proof that this handle holds the file's lock; dropping it leaves the in-process registry.
/// The OS lock itself goes away when the file descriptor closes.
#[derive(Debug)]
pub(crate) struct LockGuard {
    id: (u64, u64),
    exclusive: bool,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = reg.get_mut(&self.id) {
            if self.exclusive {
                h.writer = false;
            } else {
                h.readers = h.readers.saturating_sub(1);
            }
            if !h.writer && h.readers == 0 {
                reg.remove(&self.id);
            }
        }
    }
}

/// Takes `flock` on `file`: shared for readers, exclusive for writers. `None` waits forever.
pub(crate) fn lock(
    file: &File,
    path: &Path,
    exclusive: bool,
    timeout: Option<Duration>,
) -> Result<LockGuard> {
    let meta = file.metadata().map_err(io_err(path))?;
    let id = (meta.dev(), meta.ino());
    {
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        let h = reg.entry(id).or_default();
        if h.writer {
            return Err(KvError::AlreadyOpen {
                path: path.to_path_buf(),
                held: "a writer",
            });
        }
        if exclusive && h.readers > 0 {
            return Err(KvError::AlreadyOpen {
                path: path.to_path_buf(),
                held: "a reader",
            });
        }
        if exclusive {
            h.writer = true;
        } else {
            h.readers += 1;
        }
    }
    let guard = LockGuard { id, exclusive };
    let try_once = || {
        if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        }
    };
    match try_once() {
        Ok(()) => return Ok(guard),
        Err(TryLockError::Error(e)) => return Err(io_err(path)(e)),
        Err(TryLockError::WouldBlock) => {}
    }
    match timeout {
        None => {
            let r = if exclusive {
                file.lock()
            } else {
                file.lock_shared()
            };
            r.map_err(io_err(path))?;
            Ok(guard)
        }
        Some(t) => {
            let start = Instant::now();
            loop {
                std::thread::sleep(Duration::from_millis(20).min(t));
                match try_once() {
                    Ok(()) => return Ok(guard),
                    Err(TryLockError::Error(e)) => return Err(io_err(path)(e)),
                    Err(TryLockError::WouldBlock) => {}
                }
                if start.elapsed() >= t {
                    return Err(KvError::LockTimeout {
                        path: path.to_path_buf(),
                        waited_ms: start.elapsed().as_millis(),
                    });
                }
            }
        }
    }
}
