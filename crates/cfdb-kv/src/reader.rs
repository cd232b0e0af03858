//! The read-only handle: shared lock, memory map (or an owned buffer), zero-copy lookups.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{KvError, Result, io_err};
use crate::format::{
    BlockHead, DIRTY, HEADER_LEN, HIDDEN_KEYS, Hash, Header, METADATA_KEY, bucket, key_hash,
};
use crate::lock::{LockGuard, lock};
use crate::recover::salvage;
use crate::source::{Layout, Scan};
use crate::{FileInfo, Item, prune_sidecar, reserved_key};

enum Bytes {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// Options for opening a [`Reader`].
#[derive(Clone, Debug)]
pub struct ReadOptions {
    lock_timeout: Option<Duration>,
    mmap: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            lock_timeout: None,
            mmap: true,
        }
    }
}

impl ReadOptions {
    /// Default options: wait for the lock forever, memory-map the file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Give up with [`KvError::LockTimeout`] when a writer holds the file longer than `t`.
    pub fn lock_timeout(mut self, t: Duration) -> Self {
        self.lock_timeout = Some(t);
        self
    }

    /// Read the file into memory instead of mapping it (`true` maps, the default).
    pub fn mmap(mut self, yes: bool) -> Self {
        self.mmap = yes;
        self
    }

    /// Opens `path` read-only.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Reader> {
        Reader::open_impl(path.as_ref(), self)
    }
}

/// A read-only booklet handle.
///
/// It holds a shared `flock` from open to drop, so writers (Rust or Python) wait; many readers
/// share the file. Lookups return slices borrowed from the mapped file. The handle is
/// `Send + Sync`: any number of threads can read through one `&Reader`.
///
/// An unclean file (a writer crashed) is read from an in-memory salvage scan, without writing:
/// every key reads its newest intact value.
///
/// ```
/// # fn main() -> Result<(), cfdb_kv::KvError> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("db.blt");
/// let mut w = cfdb_kv::Writer::create(&path)?;
/// w.set(b"a", b"1")?;
/// w.close()?;
/// let r = cfdb_kv::Reader::open(&path)?;
/// assert_eq!(r.get(b"a")?, Some(&b"1"[..]));
/// assert_eq!(r.len(), 1);
/// # Ok(()) }
/// ```
pub struct Reader {
    path: PathBuf,
    bytes: Bytes,
    /// Effective length: the file length, or the start of a torn tail.
    data_len: u64,
    header: Header,
    regions: Vec<(u64, u64)>,
    /// For unclean files: the newest live block of every key.
    overlay: Option<HashMap<Hash, u64>>,
    n_keys: u64,
    _lock: Option<(LockGuard, File)>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .field("len", &self.n_keys)
            .finish()
    }
}

impl Reader {
    /// Opens `path` read-only with default [`ReadOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<Reader> {
        Reader::open_impl(path.as_ref(), &ReadOptions::default())
    }

    fn open_impl(path: &Path, opts: &ReadOptions) -> Result<Reader> {
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KvError::NotFound {
                path: path.to_path_buf(),
            },
            _ => io_err(path)(e),
        })?;
        let guard = lock(&file, path, false, opts.lock_timeout)?;
        // A finished prune whose copy-back was interrupted: the sidecar is the true content.
        let sidecar = prune_sidecar(path);
        let (data_file, data_path) = match File::open(&sidecar) {
            Ok(f) => (Some(f), sidecar),
            Err(_) => (None, path.to_path_buf()),
        };
        let src = data_file.as_ref().unwrap_or(&file);
        let len = src.metadata().map_err(io_err(&data_path))?.len();
        let bytes = if opts.mmap && len >= HEADER_LEN {
            Bytes::Map(crate::mmap::map_read_only(src).map_err(io_err(&data_path))?)
        } else {
            let mut v = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            std::io::Read::read_to_end(&mut &*src, &mut v).map_err(io_err(&data_path))?;
            Bytes::Owned(v)
        };
        let mut r = Reader::from_parts(path.to_path_buf(), bytes)?;
        r._lock = Some((guard, file));
        Ok(r)
    }

    /// Reads a booklet image held in memory (no file, no lock). Useful for tests and fuzzing.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Reader> {
        Reader::from_parts(PathBuf::from("<memory>"), Bytes::Owned(bytes))
    }

    fn from_parts(path: PathBuf, bytes: Bytes) -> Result<Reader> {
        let data = bytes.as_slice();
        let header = Header::parse(data).map_err(|e| KvError::NotBooklet {
            path: path.clone(),
            reason: e.0,
        })?;
        let mut len = data.len() as u64;
        let structural_damage = header.index_offset().saturating_add(header.index_len()) > len;
        let mut regions = header.regions(len);
        let mut overlay = None;
        let mut n_keys = u64::from(header.n_keys);
        if header.n_keys == DIRTY || structural_damage {
            let layout = Layout {
                header: &header,
                regions: &regions,
                path: &path,
            };
            let s = salvage(&layout, data)?;
            if let Some(t) = s.torn_at {
                len = t;
                regions = header.regions(len);
            }
            n_keys = s.n_user_keys();
            overlay = Some(s.winner_map());
        }
        Ok(Reader {
            path,
            bytes,
            data_len: len,
            header,
            regions,
            overlay,
            n_keys,
            _lock: None,
        })
    }

    fn data(&self) -> &[u8] {
        let d = self.bytes.as_slice();
        d.get(..usize::try_from(self.data_len).unwrap_or(d.len()))
            .unwrap_or(d)
    }

    fn layout(&self) -> Layout<'_> {
        Layout {
            header: &self.header,
            regions: &self.regions,
            path: &self.path,
        }
    }

    /// The path this handle reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Header facts about the file.
    pub fn info(&self) -> FileInfo {
        FileInfo::from_header(&self.header, self.overlay.is_none())
    }

    /// Number of live user keys (hidden metadata/reserved slots excluded).
    pub fn len(&self) -> u64 {
        self.n_keys
    }

    /// Whether there are no user keys.
    pub fn is_empty(&self) -> bool {
        self.n_keys == 0
    }

    fn find(&self, key: &[u8]) -> Result<Option<(u64, BlockHead)>> {
        let hash = key_hash(key);
        let layout = self.layout();
        let data = self.data();
        match &self.overlay {
            Some(ov) => match ov.get(&hash) {
                Some(&pos) => Ok(Some((pos, layout.head_at(data, pos)?))),
                None => Ok(None),
            },
            None => {
                let slot = layout.slot(data, bucket(&hash, self.header.n_buckets))?;
                layout.walk(data, slot, &hash)
            }
        }
    }

    fn value_of(&self, pos: u64, head: &BlockHead) -> &[u8] {
        let start = pos + self.header.head_len() + head.key_len;
        // head_at checked that the whole block lies inside a region of the data.
        let s = usize::try_from(start).unwrap_or(usize::MAX);
        let e = s.saturating_add(usize::try_from(head.value_len).unwrap_or(usize::MAX));
        self.data().get(s..e).unwrap_or(&[])
    }

    /// The value stored under `key`, borrowed from the file.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<&[u8]>> {
        Ok(self
            .find(key.as_ref())?
            .map(|(pos, head)| self.value_of(pos, &head)))
    }

    /// Looks up many keys at once, in the order given.
    ///
    /// Faster than calling [`get`](Reader::get) in a loop on large files: it works in batches,
    /// hashing a batch of keys, then loading their bucket slots, then their first blocks, so
    /// that the memory accesses of a batch overlap instead of waiting one after another.
    pub fn get_many<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<&[u8]>>> {
        const BATCH: usize = 32;
        if self.overlay.is_some() {
            return keys.iter().map(|k| self.get(k)).collect();
        }
        let layout = self.layout();
        let data = self.data();
        let mut out = Vec::with_capacity(keys.len());
        let mut hashes = [[0u8; crate::format::HASH_LEN]; BATCH];
        let mut starts = [1u64; BATCH];
        for batch in keys.chunks(BATCH) {
            crate::format::key_hashes(batch, &mut hashes);
            for (s, h) in starts.iter_mut().zip(&hashes).take(batch.len()) {
                *s = layout.slot(data, bucket(h, self.header.n_buckets))?;
            }
            // Touch every first block of the batch: independent loads that overlap.
            let mut touch = 0u8;
            for &s in starts.iter().take(batch.len()) {
                touch ^= usize::try_from(s)
                    .ok()
                    .and_then(|i| data.get(i))
                    .copied()
                    .unwrap_or(0);
            }
            std::hint::black_box(touch);
            for (s, h) in starts.iter().zip(&hashes).take(batch.len()) {
                out.push(
                    layout
                        .walk(data, *s, h)?
                        .map(|(pos, head)| self.value_of(pos, &head)),
                );
            }
        }
        Ok(out)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.find(key.as_ref())?.is_some())
    }

    /// The timestamp (µs since the epoch) of `key`'s value.
    pub fn get_timestamp(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        if !self.header.timestamps {
            return Err(KvError::NoTimestamps);
        }
        Ok(self.find(key.as_ref())?.and_then(|(_, h)| h.timestamp))
    }

    /// The raw metadata bytes (cfdb stores its system metadata JSON here).
    pub fn metadata(&self) -> Result<Option<&[u8]>> {
        self.get(METADATA_KEY)
    }

    /// The timestamp of the metadata block.
    pub fn metadata_timestamp(&self) -> Result<Option<u64>> {
        self.get_timestamp(METADATA_KEY)
    }

    /// The raw bytes of reserved slot 1 or 2.
    pub fn reserved(&self, slot: u8) -> Result<Option<&[u8]>> {
        self.get(reserved_key(slot)?)
    }

    /// Iterates the live user items in physical file order.
    pub fn items(&self) -> Items<'_> {
        Items {
            scan: Scan::new(self.layout(), self.data()),
            reader: self,
        }
    }

    /// Iterates the live user keys in physical file order.
    pub fn keys(&self) -> impl Iterator<Item = Result<&[u8]>> + '_ {
        self.items().map(|r| r.map(|i| i.key))
    }

    /// Drops the handle, releasing the lock.
    pub fn close(self) {}
}

/// Iterator over a [`Reader`]'s items.
pub struct Items<'a> {
    scan: Scan<'a, [u8]>,
    reader: &'a Reader,
}

impl<'a> Iterator for Items<'a> {
    type Item = Result<Item<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let b = match self.scan.next()? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            if b.head.next == 0 {
                continue;
            }
            if let Some(ov) = &self.reader.overlay
                && ov.get(&b.head.hash) != Some(&b.pos)
            {
                continue;
            }
            let data: &'a [u8] = self.reader.data();
            let ks = usize::try_from(b.pos + self.reader.header.head_len()).unwrap_or(usize::MAX);
            let ke = ks.saturating_add(b.head.key_len as usize);
            let Some(key) = data.get(ks..ke) else {
                continue;
            };
            if HIDDEN_KEYS.contains(&key) {
                continue;
            }
            let value = self.reader.value_of(b.pos, &b.head);
            return Some(Ok(Item {
                key,
                value,
                timestamp: b.head.timestamp,
            }));
        }
    }
}
