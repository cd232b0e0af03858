//! The read/write handle.
//!
//! # Write order (crash safety)
//!
//! All changes first happen in memory: new blocks go to a write buffer, and the bucket index
//! and the next pointers of existing blocks are changed in an in-memory copy (`index`,
//! `known`). Disk sees them in this order:
//!
//! 1. before the first byte of a change epoch reaches the file, the header's `n_keys` is set to
//!    `0xFFFFFFFF` (the unclean flag);
//! 2. blocks are appended only at EOF (a full buffer is flushed early, data only);
//! 3. `sync` fdatasyncs the appended data *and* the flag before any in-place write;
//! 4. then it writes the index (or, after growth: the skip block over an old relocated index,
//!    the header layout, then the new index at EOF) and the changed next pointers;
//! 5. then the real `n_keys` and a clean tag (file length and layout) in the header padding,
//!    and fdatasyncs again.
//!
//! A crash anywhere leaves either a clean file or one that carries the flag (or whose length
//! differs from the clean tag); a writable open then recovers it with a salvage scan that keeps
//! the newest intact live block of every key. Because new data is durable before an old block
//! is killed, the salvage finds each key's old or new value, never neither. `prune` writes the
//! compacted file to an fsynced sidecar first and copies it back under the unclean flag.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{KvError, Result, io_err, lossy};
use crate::format::{
    BUFFER_SIZE, CleanTag, DEFAULT_BUCKETS, DIRTY, HEADER_LEN, HIDDEN_KEYS, Hash, Header, Kind,
    MAX_OFFSET, MAX_TIMESTAMP, METADATA_KEY, PTR_LEN, bucket, encode_block, is_hidden_hash,
    key_hash, next_growth_size, read_u48, skip_block, u48, u56,
};
use crate::lock::{LockGuard, lock};
use crate::recover::salvage;
use crate::source::{FileSource, Layout, Scan};
use crate::{
    FileInfo, OwnedItem, SERIALIZER_BYTES, SERIALIZER_STR, failpoint, prune_sidecar,
    prune_sidecar_tmp, reserved_key,
};

/// How a [`Writer`] opens its file (booklet's flags `w`, `c` and `n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `'w'`: the file must exist.
    Write,
    /// `'c'`: open the file, creating it when it is absent (or empty).
    Create,
    /// `'n'`: always start a new, empty file (the lock is taken before truncating).
    New,
}

/// Options for opening a [`Writer`]. Creation options apply only when a file is created; an
/// existing file keeps what its header says.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    lock_timeout: Option<Duration>,
    n_buckets: u32,
    key_serializer: u16,
    value_serializer: u16,
    timestamps: bool,
    fixed_value_len: Option<u32>,
    force_recovery: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            lock_timeout: None,
            n_buckets: DEFAULT_BUCKETS,
            key_serializer: SERIALIZER_STR,
            value_serializer: SERIALIZER_BYTES,
            timestamps: true,
            fixed_value_len: None,
            force_recovery: false,
        }
    }
}

impl OpenOptions {
    /// Defaults: wait for the lock forever; on creation 12007 buckets, `str` keys, raw-byte
    /// values, timestamps on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Give up with [`KvError::LockTimeout`] when another handle holds the file longer than `t`.
    pub fn lock_timeout(mut self, t: Duration) -> Self {
        self.lock_timeout = Some(t);
        self
    }

    /// Initial bucket count (at least 6; cfdb uses 144013).
    pub fn n_buckets(mut self, n: u32) -> Self {
        self.n_buckets = n;
        self
    }

    /// Serializer codes recorded in the header (`key`, `value`); cfdb uses 2 and 1.
    pub fn serializers(mut self, key: u16, value: u16) -> Self {
        self.key_serializer = key;
        self.value_serializer = value;
        self
    }

    /// Whether blocks carry timestamps (cfdb needs them).
    pub fn timestamps(mut self, on: bool) -> Self {
        self.timestamps = on;
        self
    }

    /// Create the fixed-length kind with values of exactly `len` bytes.
    pub fn fixed_value_len(mut self, len: u32) -> Self {
        self.fixed_value_len = Some(len);
        self
    }

    /// Run the full recovery scan on open even when the cheap checks find the file clean (an
    /// explicit repair: a file cut short by something other than a crash of ours, e.g. a
    /// truncated copy of a Python-written file, which carries no clean tag to compare with).
    pub fn force_recovery(mut self, on: bool) -> Self {
        self.force_recovery = on;
        self
    }

    /// Opens `path` for writing.
    pub fn open(&self, path: impl AsRef<Path>, mode: Mode) -> Result<Writer> {
        Writer::open_impl(path.as_ref(), mode, self)
    }
}

#[derive(Clone, Copy, Debug)]
struct Known {
    hash: Hash,
    next: u64,
    /// The block is on disk and its on-disk next pointer is stale.
    dirty: bool,
}

#[derive(Clone, Copy, Debug)]
enum Link {
    Slot(usize),
    Block(u64, Hash),
}

struct Found {
    pos: u64,
    prev: Link,
    next: u64,
}

/// A read/write booklet handle holding the exclusive lock from open to close.
///
/// Writes are buffered and linked in memory; [`sync`](Writer::sync) makes them durable
/// (fdatasync) and [`close`](Writer::close) syncs and releases the lock. Dropping the handle
/// syncs too, but cannot report errors: call `close` to see them.
///
/// ```
/// # fn main() -> Result<(), cfdb_kv::KvError> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("w.blt");
/// let mut w = cfdb_kv::OpenOptions::new().n_buckets(101).open(&path, cfdb_kv::Mode::New)?;
/// w.set(b"x", b"1")?;
/// w.set(b"x", b"2")?; // overwrite
/// w.set(b"y", b"3")?;
/// assert!(w.delete(b"y")?);
/// assert_eq!(w.get(b"x")?, Some(b"2".to_vec()));
/// assert_eq!(w.len(), 1);
/// w.close()?;
/// # Ok(()) }
/// ```
pub struct Writer {
    path: PathBuf,
    file: File,
    /// The header as it is on disk (layout, on-disk index size).
    disk: Header,
    regions: Vec<(u64, u64)>,
    /// In-memory index (possibly grown past the on-disk one).
    n_buckets: u32,
    index: Vec<u64>,
    slot_dirty: Vec<bool>,
    dirty_slots: Vec<usize>,
    grown: bool,
    disk_eof: u64,
    synced_eof: u64,
    buf: Vec<u8>,
    buf_blocks: Vec<u64>,
    known: HashMap<u64, Known>,
    n_keys: u64,
    dirty_on_disk: bool,
    changed: bool,
    poisoned: bool,
    closed: bool,
    _guard: LockGuard,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("len", &self.n_keys)
            .finish()
    }
}

pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn new_uuid(now_us: u64) -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_us);
    let r1 = h.finish();
    h.write_u64(r1);
    let r2 = h.finish();
    let ms = now_us / 1000;
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().take(6).enumerate() {
        *byte = (ms >> (40 - 8 * i)) as u8;
    }
    b[6..14].copy_from_slice(&r1.to_le_bytes());
    b[14..16].copy_from_slice(&r2.to_le_bytes()[..2]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

fn sync_dir(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn index_bytes(index: &[u64]) -> Vec<u8> {
    let mut v = Vec::with_capacity(index.len() * 6);
    for &p in index {
        v.extend_from_slice(&u48(p));
    }
    v
}

impl Writer {
    /// Opens `path` with default [`OpenOptions`].
    pub fn open(path: impl AsRef<Path>, mode: Mode) -> Result<Writer> {
        Writer::open_impl(path.as_ref(), mode, &OpenOptions::default())
    }

    /// Opens `path`, creating it when absent (flag `'c'`), with default options.
    pub fn create(path: impl AsRef<Path>) -> Result<Writer> {
        Writer::open(path, Mode::Create)
    }

    fn open_impl(path: &Path, mode: Mode, opts: &OpenOptions) -> Result<Writer> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(mode != Mode::Write)
            .truncate(false)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => KvError::NotFound {
                    path: path.to_path_buf(),
                },
                _ => io_err(path)(e),
            })?;
        let guard = lock(&file, path, true, opts.lock_timeout)?;
        let tmp = prune_sidecar_tmp(path);
        if tmp.exists() {
            std::fs::remove_file(&tmp).map_err(io_err(&tmp))?;
        }
        if mode != Mode::New && prune_sidecar(path).exists() {
            apply_sidecar(&file, path)?;
        }
        let len = file.metadata().map_err(io_err(path))?.len();
        let disk = if mode == Mode::New || len == 0 {
            create_fresh(&file, path, opts)?
        } else {
            let mut hb = vec![0u8; usize::try_from(len.min(HEADER_LEN)).unwrap_or(0)];
            file.read_exact_at(&mut hb, 0).map_err(io_err(path))?;
            let header = Header::parse(&hb).map_err(|e| KvError::NotBooklet {
                path: path.to_path_buf(),
                reason: e.0,
            })?;
            if opts.force_recovery || is_unclean(&file, path, &header, len)? {
                recover(&file, path, header)?
            } else {
                header
            }
        };
        let len = file.metadata().map_err(io_err(path))?.len();
        let n = disk.n_buckets as usize;
        let mut raw = vec![0u8; n * 6];
        file.read_exact_at(&mut raw, disk.index_offset())
            .map_err(io_err(path))?;
        let index: Vec<u64> = raw.chunks_exact(6).map(read_u48).collect();
        Ok(Writer {
            path: path.to_path_buf(),
            regions: disk.regions(len),
            n_buckets: disk.n_buckets,
            index,
            slot_dirty: vec![false; n],
            dirty_slots: Vec::new(),
            grown: false,
            disk_eof: len,
            synced_eof: len,
            buf: Vec::new(),
            buf_blocks: Vec::new(),
            known: HashMap::new(),
            n_keys: u64::from(disk.n_keys),
            dirty_on_disk: false,
            changed: false,
            poisoned: false,
            closed: false,
            file,
            disk,
            _guard: guard,
        })
    }

    /// The path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Header facts about the file.
    pub fn info(&self) -> FileInfo {
        let mut h = self.disk.clone();
        h.n_buckets = self.n_buckets;
        FileInfo::from_header(&h, true)
    }

    /// Number of live user keys.
    pub fn len(&self) -> u64 {
        self.n_keys
    }

    /// Whether there are no user keys.
    pub fn is_empty(&self) -> bool {
        self.n_keys == 0
    }

    fn corrupted(&self, offset: u64, reason: &str) -> KvError {
        KvError::Corrupted {
            path: self.path.clone(),
            offset,
            reason: reason.into(),
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.poisoned {
            return Err(KvError::Poisoned {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    fn poison<T>(&mut self, r: Result<T>) -> Result<T> {
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    // ---- reading through the in-memory state ------------------------------------------

    fn head(&self, pos: u64) -> Result<(Hash, u64)> {
        if let Some(k) = self.known.get(&pos) {
            return Ok((k.hash, k.next));
        }
        if pos >= self.disk_eof {
            return Err(self.corrupted(pos, "pointer past the end of the file"));
        }
        let layout = Layout {
            header: &self.disk,
            regions: &self.regions,
            path: &self.path,
        };
        let h = layout.head_at(
            &FileSource {
                file: &self.file,
                len: self.disk_eof,
            },
            pos,
        )?;
        Ok((h.hash, h.next))
    }

    fn max_steps(&self) -> u64 {
        (self.disk_eof + self.buf.len() as u64) / self.disk.head_len() + 2
    }

    fn find(&self, hash: &Hash) -> Result<Option<Found>> {
        let b = bucket(hash, self.n_buckets);
        let mut cur = self.index.get(b).copied().unwrap_or(1);
        let mut prev = Link::Slot(b);
        let mut steps = 0;
        while cur > 1 {
            steps += 1;
            if steps > self.max_steps() {
                return Err(self.corrupted(cur, "bucket chain cycles"));
            }
            let (h, next) = self.head(cur)?;
            if next == 0 {
                return Err(self.corrupted(cur, "dead block inside a bucket chain"));
            }
            if &h == hash {
                return Ok(Some(Found {
                    pos: cur,
                    prev,
                    next,
                }));
            }
            prev = Link::Block(cur, h);
            cur = next;
        }
        Ok(None)
    }

    /// Reads the value and timestamp of the block at `pos` (buffer or disk).
    fn read_block(&self, pos: u64) -> Result<(Vec<u8>, Vec<u8>, Option<u64>)> {
        let hl = self.disk.head_len();
        let mut head = [0u8; 32];
        let head = &mut head[..hl as usize];
        let in_buf = pos >= self.disk_eof;
        let read = |at: u64, out: &mut [u8]| -> Result<()> {
            if in_buf {
                let s = usize::try_from(at - self.disk_eof).unwrap_or(usize::MAX);
                let src = self
                    .buf
                    .get(s..s + out.len())
                    .ok_or_else(|| self.corrupted(at, "block past the buffer"))?;
                out.copy_from_slice(src);
                Ok(())
            } else {
                if at + out.len() as u64 > self.disk_eof {
                    return Err(self.corrupted(pos, "block runs past the end of the file"));
                }
                self.file.read_exact_at(out, at).map_err(io_err(&self.path))
            }
        };
        read(pos, head)?;
        let h = crate::format::BlockHead::parse(&self.disk, head)
            .ok_or_else(|| self.corrupted(pos, "bad block head"))?;
        let mut kv = vec![0u8; (h.key_len + h.value_len) as usize];
        read(pos + hl, &mut kv)?;
        let value = kv.split_off(h.key_len as usize);
        Ok((kv, value, h.timestamp))
    }

    /// The value of `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        match self.find(&key_hash(key.as_ref()))? {
            Some(f) => Ok(Some(self.read_block(f.pos)?.1)),
            None => Ok(None),
        }
    }

    /// Looks up many keys at once.
    pub fn get_many<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.find(&key_hash(key.as_ref()))?.is_some())
    }

    /// The timestamp (µs since the epoch) of `key`'s value.
    pub fn get_timestamp(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        if !self.disk.timestamps {
            return Err(KvError::NoTimestamps);
        }
        match self.find(&key_hash(key.as_ref()))? {
            Some(f) => Ok(self.read_block(f.pos)?.2),
            None => Ok(None),
        }
    }

    /// The metadata bytes.
    pub fn metadata(&self) -> Result<Option<Vec<u8>>> {
        self.get(METADATA_KEY)
    }

    /// The bytes of reserved slot 1 or 2.
    pub fn reserved(&self, slot: u8) -> Result<Option<Vec<u8>>> {
        self.get(reserved_key(slot)?)
    }

    /// All live user items in physical order (flushes the write buffer first).
    pub fn items(&mut self) -> Result<Vec<OwnedItem>> {
        self.check_writable()?;
        let r = self.flush_buffer();
        self.poison(r)?;
        let src = FileSource {
            file: &self.file,
            len: self.disk_eof,
        };
        let mut out = Vec::new();
        for b in Scan::new(
            Layout {
                header: &self.disk,
                regions: &self.regions,
                path: &self.path,
            },
            &src,
        ) {
            let b = b?;
            let next = self.known.get(&b.pos).map_or(b.head.next, |k| k.next);
            if next == 0 {
                continue;
            }
            let (key, value, timestamp) = self.read_block(b.pos)?;
            if HIDDEN_KEYS.contains(&key.as_slice()) {
                continue;
            }
            out.push(OwnedItem {
                key,
                value,
                timestamp,
            });
        }
        Ok(out)
    }

    /// All live user keys in physical order.
    pub fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        Ok(self.items()?.into_iter().map(|i| i.key).collect())
    }

    // ---- in-memory linking ---------------------------------------------------------------

    fn set_next(&mut self, pos: u64, hash: Hash, next: u64) {
        let on_disk = pos < self.disk_eof;
        self.known
            .entry(pos)
            .and_modify(|k| {
                k.next = next;
                k.dirty |= on_disk;
            })
            .or_insert(Known {
                hash,
                next,
                dirty: on_disk,
            });
    }

    fn set_slot(&mut self, b: usize, pos: u64) {
        if let Some(s) = self.index.get_mut(b) {
            *s = pos;
        }
        if !self.grown
            && let Some(d) = self.slot_dirty.get_mut(b)
            && !*d
        {
            *d = true;
            self.dirty_slots.push(b);
        }
    }

    fn set_link(&mut self, link: Link, pos: u64) {
        match link {
            Link::Slot(b) => self.set_slot(b, pos),
            Link::Block(p, h) => self.set_next(p, h, pos),
        }
    }

    fn link(&mut self, hash: Hash, pos: u64, user: bool) -> Result<()> {
        match self.find(&hash)? {
            Some(f) => {
                self.set_next(pos, hash, if f.next > 1 { f.next } else { 1 });
                self.set_link(f.prev, pos);
                self.set_next(f.pos, hash, 0);
            }
            None => {
                let b = bucket(&hash, self.n_buckets);
                let head = self.index.get(b).copied().unwrap_or(1);
                self.set_next(pos, hash, if head > 1 { head } else { 1 });
                self.set_slot(b, pos);
                if user {
                    self.n_keys += 1;
                    self.maybe_grow()?;
                }
            }
        }
        Ok(())
    }

    fn can_grow(&self) -> bool {
        self.disk.index_offset() == HEADER_LEN
            || skip_block(&self.disk, self.disk.index_len()).is_some()
    }

    fn maybe_grow(&mut self) -> Result<()> {
        while self.n_keys > u64::from(self.n_buckets) {
            let Some(new_n) = next_growth_size(self.n_buckets) else {
                break;
            };
            if !self.can_grow() {
                break;
            }
            self.rehash(new_n)?;
        }
        Ok(())
    }

    /// Rebuilds the in-memory index with `new_n` buckets, prepending every block of every old
    /// chain to its new chain (the reference's growth order).
    fn rehash(&mut self, new_n: u32) -> Result<()> {
        let mut new_index = vec![1u64; new_n as usize];
        let bound = self.max_steps();
        let old = std::mem::take(&mut self.index);
        for &start in &old {
            let mut cur = start;
            let mut steps = 0;
            while cur > 1 {
                steps += 1;
                if steps > bound {
                    return Err(self.corrupted(cur, "bucket chain cycles"));
                }
                let (h, next) = self.head(cur)?;
                if next == 0 {
                    return Err(self.corrupted(cur, "dead block inside a bucket chain"));
                }
                let nb = bucket(&h, new_n);
                let head = new_index[nb];
                self.set_next(cur, h, if head > 1 { head } else { 1 });
                new_index[nb] = cur;
                cur = next;
            }
        }
        self.index = new_index;
        self.n_buckets = new_n;
        self.slot_dirty = vec![false; new_n as usize];
        self.dirty_slots.clear();
        self.grown = true;
        Ok(())
    }

    // ---- writes ------------------------------------------------------------------------------

    fn check_sizes(&self, key: &[u8], value: &[u8], ts: u64) -> Result<()> {
        if key.len() > usize::from(u16::MAX) {
            return Err(KvError::KeyTooLong { len: key.len() });
        }
        if value.len() as u64 > u64::from(u32::MAX) {
            return Err(KvError::ValueTooLong { len: value.len() });
        }
        if self.disk.kind == Kind::Fixed && value.len() as u64 != u64::from(self.disk.value_len) {
            return Err(KvError::WrongValueLength {
                expected: self.disk.value_len,
                got: value.len(),
            });
        }
        if ts > MAX_TIMESTAMP {
            return Err(KvError::TimestampOutOfRange(ts));
        }
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: &[u8], ts: u64, user: bool) -> Result<()> {
        self.check_writable()?;
        self.check_sizes(key, value, ts)?;
        if user && HIDDEN_KEYS.contains(&key) {
            return Err(KvError::ReservedKey { key: lossy(key) });
        }
        let block_len = self.disk.head_len() as usize + key.len() + value.len();
        if !self.buf.is_empty() && self.buf.len() + block_len > BUFFER_SIZE {
            let r = self.flush_buffer();
            self.poison(r)?;
        }
        let pos = self.disk_eof + self.buf.len() as u64;
        if pos + block_len as u64 > MAX_OFFSET {
            return Err(KvError::InvalidOption(
                "the file would exceed the 2^48-byte limit".into(),
            ));
        }
        let hash = key_hash(key);
        encode_block(&mut self.buf, &self.disk, &hash, 1, key, value, ts);
        self.buf_blocks.push(pos);
        self.changed = true;
        let r = self.link(hash, pos, user);
        self.poison(r)
    }

    /// Sets `key` to `value` with the current time as timestamp.
    pub fn set(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.put(key.as_ref(), value.as_ref(), now_us(), true)
    }

    /// Sets `key` to `value` with an explicit timestamp (µs since the epoch).
    pub fn set_with_timestamp(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        timestamp_us: u64,
    ) -> Result<()> {
        self.put(key.as_ref(), value.as_ref(), timestamp_us, true)
    }

    /// Sets many items at once, all with the same current timestamp.
    pub fn set_many<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        items: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        let ts = now_us();
        for (k, v) in items {
            self.put(k.as_ref(), v.as_ref(), ts, true)?;
        }
        Ok(())
    }

    /// Replaces the metadata bytes (cfdb: the system metadata JSON).
    pub fn set_metadata(&mut self, value: impl AsRef<[u8]>) -> Result<()> {
        if self.disk.kind == Kind::Fixed {
            return Err(KvError::Unsupported("fixed-length files have no metadata"));
        }
        self.put(METADATA_KEY, value.as_ref(), now_us(), false)
    }

    /// Replaces the bytes of reserved slot 1 or 2.
    pub fn set_reserved(&mut self, slot: u8, value: impl AsRef<[u8]>) -> Result<()> {
        if self.disk.kind == Kind::Fixed {
            return Err(KvError::Unsupported(
                "fixed-length files have no reserved slots",
            ));
        }
        let key = reserved_key(slot)?;
        self.put(key, value.as_ref(), now_us(), false)
    }

    /// Deletes `key`; returns whether it was present.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.check_writable()?;
        let key = key.as_ref();
        if HIDDEN_KEYS.contains(&key) {
            return Err(KvError::ReservedKey { key: lossy(key) });
        }
        let hash = key_hash(key);
        let Some(f) = self.find(&hash)? else {
            return Ok(false);
        };
        self.set_link(f.prev, if f.next > 1 { f.next } else { 1 });
        self.set_next(f.pos, hash, 0);
        self.n_keys = self.n_keys.saturating_sub(1);
        self.changed = true;
        // A block written since the last sync is killed on disk right away, so that a crash
        // cannot bring this unsynced value back: the key then reads as its synced value.
        if f.pos < self.disk_eof && f.pos >= self.synced_eof {
            let r = self.kill_now(f.pos);
            self.poison(r)?;
        }
        Ok(true)
    }

    fn kill_now(&mut self, pos: u64) -> Result<()> {
        self.mark_dirty_on_disk()?;
        self.file
            .write_all_at(&u48(0), pos + 13)
            .map_err(io_err(&self.path))?;
        if let Some(k) = self.known.get_mut(&pos) {
            k.dirty = false;
        }
        failpoint("delete.after_kill");
        Ok(())
    }

    /// Overwrites the timestamp of `key` in place.
    pub fn set_timestamp(&mut self, key: impl AsRef<[u8]>, timestamp_us: u64) -> Result<bool> {
        self.check_writable()?;
        if !self.disk.timestamps {
            return Err(KvError::NoTimestamps);
        }
        if timestamp_us > MAX_TIMESTAMP {
            return Err(KvError::TimestampOutOfRange(timestamp_us));
        }
        let Some(f) = self.find(&key_hash(key.as_ref()))? else {
            return Ok(false);
        };
        let at = f.pos + 25;
        if f.pos >= self.disk_eof {
            let s = usize::try_from(at - self.disk_eof).unwrap_or(usize::MAX);
            if let Some(dst) = self.buf.get_mut(s..s + 7) {
                dst.copy_from_slice(&u56(timestamp_us));
            }
        } else {
            self.file
                .write_all_at(&u56(timestamp_us), at)
                .map_err(io_err(&self.path))?;
        }
        Ok(true)
    }

    // ---- durability --------------------------------------------------------------------------

    fn write_header(&mut self) -> Result<()> {
        let h = self.disk.encode();
        self.file.write_all_at(&h, 0).map_err(io_err(&self.path))
    }

    fn mark_dirty_on_disk(&mut self) -> Result<()> {
        if !self.dirty_on_disk {
            self.file
                .write_all_at(&DIRTY.to_le_bytes(), 33)
                .map_err(io_err(&self.path))?;
            self.dirty_on_disk = true;
        }
        Ok(())
    }

    /// Appends the write buffer at EOF (data only; links stay in memory until `sync`).
    fn flush_buffer(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.mark_dirty_on_disk()?;
        for &pos in &self.buf_blocks {
            let at = usize::try_from(pos - self.disk_eof).unwrap_or(usize::MAX) + 13;
            let next = match self.known.get_mut(&pos) {
                Some(k) => {
                    k.dirty = false;
                    k.next
                }
                None => 0,
            };
            if let Some(dst) = self.buf.get_mut(at..at + 6) {
                dst.copy_from_slice(&u48(next));
            }
        }
        self.file
            .write_all_at(&self.buf, self.disk_eof)
            .map_err(io_err(&self.path))?;
        failpoint("flush.after_data");
        self.disk_eof += self.buf.len() as u64;
        self.buf.clear();
        self.buf_blocks.clear();
        self.regions = self.disk.regions(self.disk_eof);
        if self.known.len() > 1 << 20 {
            self.known.retain(|_, k| k.dirty);
        }
        Ok(())
    }

    /// Makes everything written so far durable (see the module docs for the order).
    pub fn sync(&mut self) -> Result<()> {
        self.check_writable()?;
        if !self.changed && !self.grown {
            return Ok(());
        }
        let r = self.sync_inner();
        self.poison(r)
    }

    fn sync_inner(&mut self) -> Result<()> {
        self.flush_buffer()?;
        self.mark_dirty_on_disk()?;
        self.file.sync_data().map_err(io_err(&self.path))?;
        failpoint("sync.after_data");
        if self.grown {
            self.write_grown_index()?;
        } else {
            self.write_dirty_slots()?;
        }
        failpoint("sync.after_index");
        let mut dirty: Vec<(u64, u64)> = self
            .known
            .iter()
            .filter(|(_, k)| k.dirty)
            .map(|(&p, k)| (p, k.next))
            .collect();
        dirty.sort_unstable();
        for (pos, next) in dirty {
            self.file
                .write_all_at(&u48(next), pos + 13)
                .map_err(io_err(&self.path))?;
            failpoint("sync.link");
        }
        self.known.clear();
        if self.n_keys >= u64::from(DIRTY) {
            return Err(KvError::InvalidOption("more than 4294967294 keys".into()));
        }
        self.disk.n_keys = self.n_keys as u32;
        self.disk.clean_tag = Some(CleanTag {
            eof: self.disk_eof,
            index_offset: self.disk.index_offset(),
            n_buckets: self.disk.n_buckets,
        });
        self.write_header()?;
        failpoint("sync.after_header");
        self.file.sync_data().map_err(io_err(&self.path))?;
        self.synced_eof = self.disk_eof;
        self.dirty_on_disk = false;
        self.changed = false;
        Ok(())
    }

    fn write_dirty_slots(&mut self) -> Result<()> {
        let mut slots = std::mem::take(&mut self.dirty_slots);
        slots.sort_unstable();
        let base = self.disk.index_offset();
        let mut i = 0;
        while i < slots.len() {
            let start = slots[i];
            let mut end = start;
            while i < slots.len() && slots[i] <= end + 32 {
                end = slots[i];
                i += 1;
            }
            let bytes = index_bytes(self.index.get(start..=end).unwrap_or(&[]));
            self.file
                .write_all_at(&bytes, base + PTR_LEN * start as u64)
                .map_err(io_err(&self.path))?;
        }
        for s in slots {
            if let Some(d) = self.slot_dirty.get_mut(s) {
                *d = false;
            }
        }
        Ok(())
    }

    /// Moves the index to EOF after growth: skip block over an old relocated index, then the
    /// header layout, then the new index.
    fn write_grown_index(&mut self) -> Result<()> {
        let old_off = self.disk.index_offset();
        if old_off != HEADER_LEN {
            let skip = skip_block(&self.disk, self.disk.index_len())
                .ok_or_else(|| self.corrupted(old_off, "old index too small for a skip block"))?;
            self.file
                .write_all_at(&skip, old_off)
                .map_err(io_err(&self.path))?;
            failpoint("grow.after_skip");
        }
        let first = self.disk.first_data();
        let new_off = self.disk_eof;
        self.disk.n_buckets = self.n_buckets;
        self.disk.index_offset_raw = new_off;
        self.disk.first_data_raw = first;
        self.disk.n_keys = DIRTY;
        self.write_header()?;
        failpoint("grow.after_header");
        let bytes = index_bytes(&self.index);
        self.file
            .write_all_at(&bytes, new_off)
            .map_err(io_err(&self.path))?;
        failpoint("grow.after_index");
        self.disk_eof += bytes.len() as u64;
        self.regions = self.disk.regions(self.disk_eof);
        self.grown = false;
        Ok(())
    }

    /// Compacts the file: drops dead blocks and, when `cutoff_us` is given, the user items with
    /// a timestamp strictly older than it (except `keep_keys`). Hidden keys always survive.
    /// Returns how many blocks were removed: dead ones (overwritten or deleted values) plus the
    /// items older than the cutoff, as booklet's `prune` counts them.
    ///
    /// The compacted file is written to a sidecar (`<file>.cfdbkv-prune`) and fsynced before
    /// the original is touched; a crash while copying it back is finished at the next open.
    pub fn prune(&mut self, cutoff_us: Option<u64>, keep_keys: &[&[u8]]) -> Result<u64> {
        self.sync()?;
        let r = self.prune_inner(cutoff_us, keep_keys);
        self.poison(r)
    }

    fn prune_inner(&mut self, cutoff_us: Option<u64>, keep_keys: &[&[u8]]) -> Result<u64> {
        let keep: HashSet<Hash> = keep_keys.iter().map(|k| key_hash(k)).collect();
        let cutoff = cutoff_us.filter(|&c| c > 0 && self.disk.timestamps);
        let src = FileSource {
            file: &self.file,
            len: self.disk_eof,
        };
        let mut kept: Vec<(u64, u64, Hash)> = Vec::new();
        let mut removed = 0u64;
        for b in Scan::new(
            Layout {
                header: &self.disk,
                regions: &self.regions,
                path: &self.path,
            },
            &src,
        ) {
            let b = b?;
            if b.head.next == 0 {
                // a dead (overwritten or deleted) block: counted, as booklet counts it
                removed += 1;
                continue;
            }
            let hidden = is_hidden_hash(&b.head.hash);
            if let (Some(c), Some(ts)) = (cutoff, b.head.timestamp)
                && !hidden
                && !keep.contains(&b.head.hash)
                && ts < c
            {
                removed += 1;
                continue;
            }
            kept.push((b.pos, b.head.block_len(&self.disk), b.head.hash));
        }
        let n = self.disk.n_buckets;
        let mut header = self.disk.clone();
        let mut index = vec![1u64; n as usize];
        let mut nexts = vec![1u64; kept.len()];
        let mut new_pos = Vec::with_capacity(kept.len());
        let mut at = HEADER_LEN;
        let mut tails: HashMap<usize, usize> = HashMap::new();
        let mut user_keys = 0u64;
        for (i, &(_, len, hash)) in kept.iter().enumerate() {
            new_pos.push(at);
            let b = bucket(&hash, n);
            match tails.get(&b) {
                Some(&t) => nexts[t] = at,
                None => index[b] = at,
            }
            tails.insert(b, i);
            if !is_hidden_hash(&hash) {
                user_keys += 1;
            }
            at += len;
        }
        let data_end = at;
        if kept.is_empty() {
            header.index_offset_raw = 0;
            header.first_data_raw = 0;
        } else {
            header.index_offset_raw = data_end;
            header.first_data_raw = HEADER_LEN;
        }
        let index_at = header.index_offset();
        let total = index_at + header.index_len();
        header.n_keys = user_keys as u32;
        header.clean_tag = Some(CleanTag {
            eof: total,
            index_offset: index_at,
            n_buckets: n,
        });
        let tmp = prune_sidecar_tmp(&self.path);
        {
            let f = File::create(&tmp).map_err(io_err(&tmp))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, &f);
            w.write_all(&header.encode()).map_err(io_err(&tmp))?;
            let mut block = Vec::new();
            for (i, &(pos, len, _)) in kept.iter().enumerate() {
                block.resize(len as usize, 0);
                self.file
                    .read_exact_at(&mut block, pos)
                    .map_err(io_err(&self.path))?;
                if let Some(dst) = block.get_mut(13..19) {
                    dst.copy_from_slice(&u48(nexts[i]));
                }
                w.write_all(&block).map_err(io_err(&tmp))?;
            }
            w.write_all(&index_bytes(&index)).map_err(io_err(&tmp))?;
            w.flush().map_err(io_err(&tmp))?;
            drop(w);
            f.sync_all().map_err(io_err(&tmp))?;
        }
        let side = prune_sidecar(&self.path);
        std::fs::rename(&tmp, &side).map_err(io_err(&side))?;
        sync_dir(&self.path)?;
        failpoint("prune.after_sidecar");
        apply_sidecar(&self.file, &self.path)?;
        // Reload the state from the compacted file.
        self.disk = header;
        self.disk_eof = total;
        self.synced_eof = total;
        self.regions = self.disk.regions(total);
        self.index = index;
        self.n_buckets = n;
        self.slot_dirty = vec![false; n as usize];
        self.dirty_slots.clear();
        self.known.clear();
        self.n_keys = user_keys;
        self.dirty_on_disk = false;
        self.changed = false;
        Ok(removed)
    }

    /// Syncs and releases the lock, reporting any error.
    pub fn close(mut self) -> Result<()> {
        let r = self.sync();
        self.closed = true;
        r
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.closed && !self.poisoned {
            let _ = self.sync();
        }
    }
}

/// Writes a fresh empty file: header (flagged unclean) and index in one write, then the clean
/// header, then fdatasync.
fn create_fresh(file: &File, path: &Path, opts: &OpenOptions) -> Result<Header> {
    if opts.n_buckets < 6 {
        return Err(KvError::InvalidOption(format!(
            "n_buckets {} is below 6, which breaks booklet's growth from a relocated index",
            opts.n_buckets
        )));
    }
    if !(1..=32).contains(&opts.key_serializer) || !(1..=32).contains(&opts.value_serializer) {
        return Err(KvError::InvalidOption(
            "serializer codes must be 1 to 32".into(),
        ));
    }
    let now = now_us();
    let (kind, value_len) = match opts.fixed_value_len {
        Some(l) => (Kind::Fixed, l),
        None => (Kind::Variable, 0),
    };
    let (ks, vs) = if kind == Kind::Fixed {
        (opts.key_serializer, 0)
    } else {
        (opts.key_serializer, opts.value_serializer)
    };
    let mut h = Header::new(
        kind,
        opts.n_buckets,
        (ks, vs),
        value_len,
        opts.timestamps,
        (now, new_uuid(now)),
    );
    h.n_keys = DIRTY;
    file.set_len(0).map_err(io_err(path))?;
    let mut bytes = h.encode().to_vec();
    bytes.extend(index_bytes(&vec![1u64; opts.n_buckets as usize]));
    file.write_all_at(&bytes, 0).map_err(io_err(path))?;
    failpoint("create.after_write");
    h.n_keys = 0;
    h.clean_tag = Some(CleanTag {
        eof: bytes.len() as u64,
        index_offset: HEADER_LEN,
        n_buckets: opts.n_buckets,
    });
    file.write_all_at(&h.encode(), 0).map_err(io_err(path))?;
    file.sync_data().map_err(io_err(path))?;
    Ok(h)
}

/// The cheap open-time check: the unclean flag, an index past EOF, or a length that differs
/// from cfdb-kv's clean tag with a tail that is not fully linked.
fn is_unclean(file: &File, path: &Path, h: &Header, len: u64) -> Result<bool> {
    if h.n_keys == DIRTY || h.index_offset() + h.index_len() > len {
        return Ok(true);
    }
    let Some(tag) = h.clean_tag else {
        return Ok(false);
    };
    if tag.index_offset != h.index_offset() || tag.n_buckets != h.n_buckets || tag.eof > len {
        return Ok(true);
    }
    if tag.eof == len {
        return Ok(false);
    }
    // Someone appended since our last clean close: every live block of the tail must be linked.
    let regions = h.regions(len);
    let Some(&(last_start, last_end)) = regions.last() else {
        return Ok(true);
    };
    if tag.eof < last_start || last_end != len {
        return Ok(true);
    }
    let src = FileSource { file, len };
    let tail = [(tag.eof, len)];
    let full = Layout {
        header: h,
        regions: &regions,
        path,
    };
    for b in Scan::new(
        Layout {
            header: h,
            regions: &tail,
            path,
        },
        &src,
    ) {
        let Ok(b) = b else { return Ok(true) };
        if b.head.next == 0 {
            continue;
        }
        let slot = full.slot(&src, bucket(&b.head.hash, h.n_buckets))?;
        match full.walk(&src, slot, &b.head.hash) {
            Ok(Some((p, _))) if p == b.pos => {}
            _ => return Ok(true),
        }
    }
    Ok(false)
}

/// Recovers an unclean file in place (idempotent: it can be killed and run again).
///
/// It refuses (with `Corrupted`) damage that a crash cannot explain, rather than "repair" a
/// file by cutting data off: a damaged block before the last region, a damaged block that is
/// not an interrupted append (unless it lies after the last clean close), and bytes where the
/// index should be that do not look like an interrupted index write.
fn recover(file: &File, path: &Path, mut h: Header) -> Result<Header> {
    let len = file.metadata().map_err(io_err(path))?.len();
    let regions = h.regions(len);
    let layout = Layout {
        header: &h,
        regions: &regions,
        path,
    };
    let src = FileSource { file, len };
    if h.index_offset() > len {
        // Growth writes the skip block before the header points past it, so no crash leaves
        // an index that starts beyond the end of the file: this is damage, not a crash.
        return Err(layout.corrupted(
            h.index_offset(),
            "the bucket index starts past the end of the file",
        ));
    }
    let index_end = h.index_offset() + h.index_len();
    if index_end > len {
        // Only an interrupted creation or growth leaves the index cut short; then no data lies
        // at or after its start, and what was written of it holds only index values.
        let start = h.index_offset();
        if regions.iter().any(|r| r.1 > start) {
            return Err(layout.corrupted(
                start,
                "the bucket index overlaps data (damaged n_buckets or layout?)",
            ));
        }
        let mut raw = vec![0u8; (len.saturating_sub(start) / PTR_LEN * PTR_LEN) as usize];
        file.read_exact_at(&mut raw, start).map_err(io_err(path))?;
        if raw.chunks_exact(6).any(|p| {
            let v = read_u48(p);
            v > 1 && v >= start
        }) {
            return Err(layout.corrupted(start, "a partial bucket index holds pointers past it"));
        }
    }
    let s = salvage(&layout, &src)?;
    if let Some(t) = s.torn_at {
        let after_clean_close = h.clean_tag.is_some_and(|c| {
            c.index_offset == h.index_offset() && c.n_buckets == h.n_buckets && t >= c.eof
        });
        if regions.last().map(|r| r.1) != Some(len) || !(s.torn_overruns || after_clean_close) {
            return Err(layout.corrupted(
                t,
                "damaged block that a crash cannot explain; not truncating",
            ));
        }
    }
    if h.n_keys != DIRTY {
        file.write_all_at(&DIRTY.to_le_bytes(), 33)
            .map_err(io_err(path))?;
        file.sync_data().map_err(io_err(path))?;
    }
    failpoint("recover.after_mark");
    if let Some(t) = s.torn_at {
        file.set_len(t).map_err(io_err(path))?;
        failpoint("recover.after_truncate");
    }
    let n = h.n_buckets;
    let mut index = vec![1u64; n as usize];
    let mut tails: HashMap<usize, u64> = HashMap::new();
    let mut nexts: Vec<(u64, u64)> = Vec::with_capacity(s.winners.len());
    let mut pos_of_tail: HashMap<u64, usize> = HashMap::new();
    for &(pos, hash, _) in &s.winners {
        let b = bucket(&hash, n);
        match tails.get(&b) {
            Some(&t) => {
                if let Some(&i) = pos_of_tail.get(&t) {
                    nexts[i].1 = pos;
                }
            }
            None => index[b] = pos,
        }
        tails.insert(b, pos);
        pos_of_tail.insert(pos, nexts.len());
        nexts.push((pos, 1));
    }
    for &pos in &s.losers {
        file.write_all_at(&u48(0), pos + 13).map_err(io_err(path))?;
    }
    for &(pos, next) in &nexts {
        file.write_all_at(&u48(next), pos + 13)
            .map_err(io_err(path))?;
        failpoint("recover.link");
    }
    file.write_all_at(&index_bytes(&index), h.index_offset())
        .map_err(io_err(path))?;
    failpoint("recover.after_index");
    let new_len = file.metadata().map_err(io_err(path))?.len();
    h.n_keys = s.n_user_keys() as u32;
    h.clean_tag = Some(CleanTag {
        eof: new_len,
        index_offset: h.index_offset(),
        n_buckets: n,
    });
    file.sync_data().map_err(io_err(path))?;
    file.write_all_at(&h.encode(), 0).map_err(io_err(path))?;
    file.sync_data().map_err(io_err(path))?;
    Ok(h)
}

/// Copies a completed prune sidecar over the original, under the unclean flag, then removes it.
fn apply_sidecar(file: &File, path: &Path) -> Result<()> {
    let side_path = prune_sidecar(path);
    let side = File::open(&side_path).map_err(io_err(&side_path))?;
    let len = side.metadata().map_err(io_err(&side_path))?.len();
    if len < HEADER_LEN {
        return Err(KvError::Corrupted {
            path: side_path,
            offset: 0,
            reason: "prune sidecar shorter than a header".into(),
        });
    }
    file.write_all_at(&DIRTY.to_le_bytes(), 33)
        .map_err(io_err(path))?;
    file.sync_data().map_err(io_err(path))?;
    failpoint("prune.after_mark");
    let mut buf = vec![0u8; 8 << 20];
    let mut at = HEADER_LEN;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        let chunk = &mut buf[..n];
        side.read_exact_at(chunk, at).map_err(io_err(&side_path))?;
        file.write_all_at(chunk, at).map_err(io_err(path))?;
        failpoint("prune.copy");
        at += n as u64;
    }
    file.set_len(len).map_err(io_err(path))?;
    file.sync_data().map_err(io_err(path))?;
    let mut header = [0u8; 200];
    side.read_exact_at(&mut header, 0)
        .map_err(io_err(&side_path))?;
    file.write_all_at(&header, 0).map_err(io_err(path))?;
    file.sync_data().map_err(io_err(path))?;
    failpoint("prune.after_copy");
    std::fs::remove_file(&side_path).map_err(io_err(&side_path))?;
    sync_dir(path)
}
