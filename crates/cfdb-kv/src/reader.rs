//! The read-only handle: shared lock, memory map (or an owned buffer), zero-copy lookups, and
//! positional reads for handles that have not needed the map yet.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{KvError, Result, io_err};
use crate::format::{
    BlockHead, BucketOf, DIRTY, HEADER_LEN, HIDDEN_KEYS, Hash, Header, METADATA_KEY, PTR_LEN,
    key_hash, read_u48,
};
use crate::lock::{LockGuard, lock};
use crate::recover::salvage;
use crate::source::{FileSource, Layout, Scan, Source};
use crate::{FileInfo, Item, prune_sidecar, reserved_key};

enum Bytes {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    #[inline]
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }

    /// The whole of `file` (`len` bytes): mapped, or read into memory when `map` is false or
    /// mapping fails.
    fn load(file: &File, len: u64, map: bool, path: &Path) -> Result<Bytes> {
        if map
            && len >= HEADER_LEN
            && let Ok(m) = crate::mmap::map_read_only(file)
        {
            return Ok(Bytes::Map(m));
        }
        let mut v = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        std::io::Read::read_to_end(&mut &*file, &mut v).map_err(io_err(path))?;
        Ok(Bytes::Owned(v))
    }
}

/// Where a [`Reader`]'s bytes come from.
enum Data {
    /// Mapped or read at open (and always for in-memory images and unclean files).
    Loaded(Bytes),
    /// A clean file: mapped on the first call that needs the bytes in memory; until then
    /// [`Reader::get_into`] reads with `pread`. `file` is the data file when it is not the
    /// locked one (a prune sidecar).
    Lazy {
        file: Option<File>,
        data_path: PathBuf,
        bytes: OnceLock<std::result::Result<Bytes, String>>,
    },
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
    data: Data,
    /// Effective length: the file length, or the start of a torn tail.
    data_len: u64,
    header: Header,
    regions: Vec<(u64, u64)>,
    /// For unclean files: the newest live block of every key.
    overlay: Option<HashMap<Hash, u64>>,
    n_keys: u64,
    /// Lookup constants derived from the header once at open (see [`Reader::find`]).
    bucket_of: BucketOf,
    index_offset: u64,
    /// Upper bound on the length of a bucket chain (`Layout::max_blocks` of the data).
    chain_bound: u64,
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
        if opts.mmap && len >= HEADER_LEN {
            // A clean file is not mapped until a lookup needs it in memory: opening costs an
            // `fstat` and one 200-byte read, and `get_into` works with positional reads.
            let mut head = [0u8; HEADER_LEN as usize];
            FileSource { file: src, len }
                .read_exact_at(0, &mut head)
                .map_err(io_err(&data_path))?;
            if let Ok(header) = Header::parse(&head)
                && header.n_keys != DIRTY
                && header.index_offset().saturating_add(header.index_len()) <= len
            {
                let mut r = Reader::with_header(
                    path.to_path_buf(),
                    Data::Lazy {
                        file: data_file,
                        data_path,
                        bytes: OnceLock::new(),
                    },
                    header,
                    len,
                );
                r._lock = Some((guard, file));
                return Ok(r);
            }
        }
        let bytes = Bytes::load(src, len, opts.mmap, &data_path)?;
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
        let mut r = Reader::with_header(path, Data::Loaded(bytes), header, len);
        r.regions = regions;
        r.overlay = overlay;
        r.n_keys = n_keys;
        Ok(r)
    }

    /// A handle over `data` with its header parsed; `len` is the effective data length.
    fn with_header(path: PathBuf, data: Data, header: Header, len: u64) -> Reader {
        let regions = header.regions(len);
        let chain_bound = Layout {
            header: &header,
            regions: &regions,
            path: &path,
        }
        .max_blocks(len);
        Reader {
            path,
            bucket_of: BucketOf::new(header.n_buckets),
            index_offset: header.index_offset(),
            chain_bound,
            data,
            data_len: len,
            n_keys: u64::from(header.n_keys),
            header,
            regions,
            overlay: None,
            _lock: None,
        }
    }

    /// The file's bytes in memory (mapping a lazily opened file now).
    #[inline]
    fn data(&self) -> Result<&[u8]> {
        let d = match &self.data {
            Data::Loaded(b) => b.as_slice(),
            Data::Lazy { .. } => self.load()?,
        };
        Ok(d.get(..usize::try_from(self.data_len).unwrap_or(d.len()))
            .unwrap_or(d))
    }

    #[cold]
    fn load(&self) -> Result<&[u8]> {
        let Data::Lazy {
            file,
            data_path,
            bytes,
        } = &self.data
        else {
            return Ok(&[]);
        };
        let loaded = bytes.get_or_init(|| {
            let src = file.as_ref().or(self._lock.as_ref().map(|(_, f)| f));
            match src {
                Some(f) => {
                    Bytes::load(f, self.data_len, true, data_path).map_err(|e| e.to_string())
                }
                None => Err("no file handle".into()),
            }
        });
        match loaded {
            Ok(b) => Ok(b.as_slice()),
            Err(reason) => Err(KvError::Io {
                path: data_path.clone(),
                source: std::io::Error::other(reason.clone()),
            }),
        }
    }

    /// The data file, while it has not been loaded into memory.
    fn unloaded_file(&self) -> Option<&File> {
        match &self.data {
            Data::Lazy { file, bytes, .. } if bytes.get().is_none() => {
                file.as_ref().or(self._lock.as_ref().map(|(_, f)| f))
            }
            _ => None,
        }
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

    /// The live block of `key`: its position and head.
    ///
    /// This is the lookup hot path (`booklet-format.md` §6). Everything that does not depend on
    /// the key (bucket modulus weights, index offset, chain bound) was computed at open, and the
    /// chain walk reads block heads straight out of the mapped bytes. Any block that fails a
    /// check is handed to [`Layout::head_at`], which reports the exact error.
    #[inline]
    fn find(&self, key: &[u8]) -> Result<Option<(u64, BlockHead)>> {
        let hash = key_hash(key);
        let data = self.data()?;
        if let Some(ov) = &self.overlay {
            return self.find_salvaged(ov, data, &hash);
        }
        self.walk(data, self.slot(data, self.bucket_of.of(&hash)), &hash)
    }

    /// Walks the bucket chain from `start` to the live block with `hash` (`Layout::walk`,
    /// reading heads straight from the data).
    #[inline(always)]
    fn walk(&self, data: &[u8], start: u64, hash: &Hash) -> Result<Option<(u64, BlockHead)>> {
        let mut cur = start;
        let mut steps = 0u64;
        while cur > 1 {
            steps += 1;
            if steps > self.chain_bound {
                return Err(self.layout().corrupted(cur, "bucket chain cycles"));
            }
            let head = match self.head_in_region(data, cur) {
                Some(h) => h,
                None => self.layout().head_at(data, cur)?,
            };
            if head.next == 0 {
                return Ok(None);
            }
            if head.hash == *hash {
                return Ok(Some((cur, head)));
            }
            cur = head.next;
        }
        Ok(None)
    }

    /// Lookup in an unclean file, through the salvage overlay.
    #[cold]
    fn find_salvaged(
        &self,
        ov: &HashMap<Hash, u64>,
        data: &[u8],
        hash: &Hash,
    ) -> Result<Option<(u64, BlockHead)>> {
        match ov.get(hash) {
            Some(&pos) => Ok(Some((pos, self.layout().head_at(data, pos)?))),
            None => Ok(None),
        }
    }

    /// The bucket slot `b` (a slot past the end of the data reads as empty, like
    /// `Layout::slot`).
    #[inline(always)]
    fn slot(&self, data: &[u8], b: usize) -> u64 {
        let at = (b as u64)
            .checked_mul(PTR_LEN)
            .and_then(|o| o.checked_add(self.index_offset))
            .and_then(|a| usize::try_from(a).ok());
        match at.and_then(|a| data.get(a..a.checked_add(6)?)) {
            Some(p) => read_u48(p),
            None => 1,
        }
    }

    /// The head of the block at `pos` when it passes every check of `Layout::head_at` (lies in
    /// a data region, head readable, block ends inside the region), else `None`.
    #[inline(always)]
    fn head_in_region(&self, data: &[u8], pos: u64) -> Option<BlockHead> {
        let &(_, end) = self.regions.iter().find(|&&(s, e)| pos >= s && pos < e)?;
        let p = usize::try_from(pos).ok()?;
        let hl = self.header.head_len() as usize;
        let head = BlockHead::parse(&self.header, data.get(p..p.checked_add(hl)?)?)?;
        (pos.checked_add(head.block_len(&self.header))? <= end).then_some(head)
    }

    /// The value bytes of the block at `pos` in `data` (checked by `head_at` or
    /// `head_in_region` to lie inside a data region).
    #[inline]
    fn value_of<'a>(&self, data: &'a [u8], pos: u64, head: &BlockHead) -> &'a [u8] {
        let s = usize::try_from(self.value_start(pos, head)).unwrap_or(usize::MAX);
        let e = s.saturating_add(usize::try_from(head.value_len).unwrap_or(usize::MAX));
        data.get(s..e).unwrap_or(&[])
    }

    #[inline]
    fn value_start(&self, pos: u64, head: &BlockHead) -> u64 {
        pos + self.header.head_len() + head.key_len
    }

    /// The value stored under `key`, borrowed from the file.
    ///
    /// This maps the file if it is not mapped yet; a single lookup that copies the value
    /// anyway is cheaper through [`get_into`](Reader::get_into).
    #[inline]
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<&[u8]>> {
        let found = self.find(key.as_ref())?;
        let data = self.data()?;
        Ok(found.map(|(pos, head)| self.value_of(data, pos, &head)))
    }

    /// Copies the value stored under `key` into `buf` (replacing its contents), and returns
    /// whether the key is present (`buf` is left empty when it is not; after an error its
    /// contents are unspecified).
    ///
    /// On a handle that has not mapped its file yet (a clean file opened with the default
    /// [`ReadOptions`] and used only through this method so far), the lookup is a few
    /// positional reads (the bucket slot, the chain's block heads and the value), so reading
    /// one value costs no mapping, no page faults and no unmapping at close. Otherwise the
    /// value is copied from the map. Errors are the same as [`get`](Reader::get)'s.
    ///
    /// ```
    /// # fn main() -> Result<(), cfdb_kv::KvError> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("db.blt");
    /// let mut w = cfdb_kv::Writer::create(&path)?;
    /// w.set(b"chunk!0.0", &[7u8; 1000])?;
    /// w.close()?;
    /// let r = cfdb_kv::Reader::open(&path)?;
    /// let mut buf = Vec::new();
    /// assert!(r.get_into(b"chunk!0.0", &mut buf)?);
    /// assert_eq!(buf, [7u8; 1000]);
    /// assert!(!r.get_into(b"chunk!9.9", &mut buf)?);
    /// assert!(buf.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn get_into(&self, key: impl AsRef<[u8]>, buf: &mut Vec<u8>) -> Result<bool> {
        let key = key.as_ref();
        let Some(file) = self.unloaded_file() else {
            buf.clear();
            return Ok(match self.get(key)? {
                Some(v) => {
                    buf.extend_from_slice(v);
                    true
                }
                None => false,
            });
        };
        let src = FileSource {
            file,
            len: self.data_len,
        };
        let layout = self.layout();
        let hash = key_hash(key);
        let start = layout.slot(&src, self.bucket_of.of(&hash))?;
        let Some((pos, head)) = layout.walk(&src, start, &hash)? else {
            buf.clear();
            return Ok(false);
        };
        let len = usize::try_from(head.value_len)
            .map_err(|_| layout.corrupted(pos, "value length does not fit in memory"))?;
        // Only the part of a reused buffer that grows is zeroed before the read fills it.
        buf.truncate(len);
        buf.resize(len, 0);
        src.read_exact_at(self.value_start(pos, &head), buf)
            .map_err(io_err(&self.path))?;
        Ok(true)
    }

    /// Whether the file has been mapped or read into memory (a lazily opened handle maps it on
    /// the first call that borrows from it: [`get`](Reader::get), [`get_many`](Reader::get_many),
    /// [`items`](Reader::items), ...).
    pub fn is_loaded(&self) -> bool {
        match &self.data {
            Data::Loaded(_) => true,
            Data::Lazy { bytes, .. } => bytes.get().is_some(),
        }
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
        let data = self.data()?;
        let mut out = Vec::with_capacity(keys.len());
        let mut hashes = [[0u8; crate::format::HASH_LEN]; BATCH];
        let mut starts = [1u64; BATCH];
        for batch in keys.chunks(BATCH) {
            crate::format::key_hashes(batch, &mut hashes);
            for (s, h) in starts.iter_mut().zip(&hashes).take(batch.len()) {
                *s = self.slot(data, self.bucket_of.of(h));
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
                    self.walk(data, *s, h)?
                        .map(|(pos, head)| self.value_of(data, pos, &head)),
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

    /// Copies the raw metadata bytes into `buf` (see [`get_into`](Reader::get_into)); false
    /// when the file has no metadata.
    pub fn metadata_into(&self, buf: &mut Vec<u8>) -> Result<bool> {
        self.get_into(METADATA_KEY, buf)
    }

    /// The timestamp of the metadata block.
    pub fn metadata_timestamp(&self) -> Result<Option<u64>> {
        self.get_timestamp(METADATA_KEY)
    }

    /// The raw bytes of reserved slot 1 or 2.
    pub fn reserved(&self, slot: u8) -> Result<Option<&[u8]>> {
        self.get(reserved_key(slot)?)
    }

    /// Iterates the live user items in physical file order. (If a lazily opened file cannot
    /// be loaded, the first item is that error.)
    pub fn items(&self) -> Items<'_> {
        let (data, error) = match self.data() {
            Ok(d) => (d, None),
            Err(e) => (&[][..], Some(Some(e))),
        };
        Items {
            scan: Scan::new(self.layout(), data),
            data,
            error,
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
    data: &'a [u8],
    /// A load failure, reported as the only item.
    error: Option<Option<KvError>>,
    reader: &'a Reader,
}

impl<'a> Iterator for Items<'a> {
    type Item = Result<Item<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = &mut self.error {
            return e.take().map(Err);
        }
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
            let data = self.data;
            let ks = usize::try_from(b.pos + self.reader.header.head_len()).unwrap_or(usize::MAX);
            let ke = ks.saturating_add(b.head.key_len as usize);
            let Some(key) = data.get(ks..ke) else {
                continue;
            };
            if HIDDEN_KEYS.contains(&key) {
                continue;
            }
            let value = self.reader.value_of(data, b.pos, &b.head);
            return Some(Ok(Item {
                key,
                value,
                timestamp: b.head.timestamp,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::bucket;
    use crate::{Mode, OpenOptions};

    /// The lookup `find` replaced: `Layout::slot` + `Layout::walk` with the 128-bit bucket
    /// modulo, kept as the reference implementation of `booklet-format.md` §6.
    fn reference_get<'a>(r: &'a Reader, key: &[u8]) -> Result<Option<&'a [u8]>> {
        let hash = key_hash(key);
        let layout = r.layout();
        let data = r.data()?;
        let found = match &r.overlay {
            Some(ov) => match ov.get(&hash) {
                Some(&pos) => Some((pos, layout.head_at(data, pos)?)),
                None => None,
            },
            None => {
                let slot = layout.slot(data, bucket(&hash, r.header.n_buckets))?;
                layout.walk(data, slot, &hash)?
            }
        };
        Ok(found.map(|(pos, head)| r.value_of(data, pos, &head)))
    }

    /// The byte positions of `img` to damage: in the bucket index only the bytes of occupied
    /// slots (a grown file's index is mostly empty), elsewhere every `stride`-th byte.
    fn damage_positions(img: &[u8], stride: usize) -> Vec<usize> {
        let h = Header::parse(img).unwrap();
        let idx = h.index_offset() as usize..(h.index_offset() + h.index_len()) as usize;
        let occupied = |at: usize| {
            let slot = idx.start + (at - idx.start) / 6 * 6;
            read_u48(&img[slot..slot + 6]) != 1
        };
        (0..img.len())
            .filter(|&at| {
                if idx.contains(&at) {
                    occupied(at)
                } else {
                    at % stride == 0
                }
            })
            .collect()
    }

    fn same(a: Result<Option<&[u8]>>, b: Result<Option<&[u8]>>, what: &str) {
        match (a, b) {
            (Ok(x), Ok(y)) => assert_eq!(x, y, "{what}"),
            (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string(), "{what}"),
            (x, y) => panic!("{what}: fast {x:?} vs reference {y:?}"),
        }
    }

    /// Small files: 7 buckets and 7 keys (no growth, so chains share buckets), or 21 keys (the
    /// index grows and relocates, and more data follows it: two data regions); keys of 0..=80
    /// bytes (both hash paths), an overwrite and a delete; variable (with or without
    /// timestamps) or fixed kind.
    fn image(grown: bool, timestamps: bool, fixed: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.blt");
        let mut opts = OpenOptions::new();
        opts = opts.n_buckets(7).timestamps(timestamps);
        if fixed {
            opts = opts.fixed_value_len(5);
        }
        let step = if grown { 4 } else { 13 };
        let keys: Vec<Vec<u8>> = (0..=80u8)
            .step_by(step)
            .map(|n| (0..n).map(|i| i.wrapping_mul(31) ^ n).collect())
            .collect();
        let value = |i: usize| {
            if fixed {
                vec![i as u8; 5]
            } else {
                vec![i as u8; i % 7]
            }
        };
        let mut w = opts.open(&path, Mode::New).unwrap();
        let half = keys.len() / 2;
        for (i, k) in keys.iter().enumerate().take(half) {
            w.set(k, value(i)).unwrap();
        }
        w.close().unwrap();
        let mut w = crate::Writer::open(&path, Mode::Write).unwrap();
        for (i, k) in keys.iter().enumerate().skip(half) {
            w.set(k, value(i)).unwrap();
        }
        w.set(&keys[3], value(99)).unwrap();
        w.delete(&keys[1]).unwrap();
        w.close().unwrap();
        let mut probes = keys;
        probes.push(b"absent".to_vec());
        (std::fs::read(&path).unwrap(), probes)
    }

    #[test]
    fn positional_reads_equal_mapped_lookups_on_damaged_files() {
        // `get_into` on a lazily opened file (positional reads) against `get` on the same
        // bytes in memory: same values, same errors (up to the path), for every single-byte
        // damage and every truncation; in a grown file's index only the occupied slots, and
        // in its data every 7th byte.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.blt");
        let mut lazily = 0;
        for (grown, ts, fixed) in [
            (false, true, false),
            (true, false, false),
            (false, false, true),
        ] {
            let (img, probes) = image(grown, ts, fixed);
            let positions = damage_positions(&img, if grown { 7 } else { 1 });
            let mut variants = vec![img.clone()];
            for &at in &positions {
                for mask in [0x01u8, 0x80, 0xff] {
                    let mut v = img.clone();
                    v[at] ^= mask;
                    variants.push(v);
                }
                variants.push(img[..at].to_vec());
            }
            let shown = path.display().to_string();
            let mut buf = Vec::new();
            for (n, v) in variants.iter().enumerate() {
                std::fs::write(&path, v).unwrap();
                let reference = Reader::from_bytes(v.clone());
                let opened = Reader::open(&path);
                let (r, reference) = match (opened, reference) {
                    (Ok(r), Ok(reference)) => (r, reference),
                    (Err(a), Err(b)) => {
                        assert_eq!(a.to_string().replace(&shown, "<memory>"), b.to_string());
                        continue;
                    }
                    (a, b) => panic!("open, variant {n}: {a:?} vs {b:?}"),
                };
                if !r.is_loaded() {
                    lazily += 1;
                }
                for k in &probes {
                    let got = r
                        .get_into(k, &mut buf)
                        .map(|found| found.then_some(&buf[..]));
                    match (got, reference.get(k)) {
                        (Ok(a), Ok(b)) => assert_eq!(a, b, "variant {n}"),
                        (Err(a), Err(b)) => assert_eq!(
                            a.to_string().replace(&shown, "<memory>"),
                            b.to_string(),
                            "variant {n}"
                        ),
                        (a, b) => panic!("variant {n}: positional {a:?} vs mapped {b:?}"),
                    }
                }
                assert!(
                    !r.is_loaded()
                        || v.len() < HEADER_LEN as usize
                        || reference.overlay.is_some()
                        || {
                            let h = Header::parse(v).unwrap();
                            h.n_keys == DIRTY || h.index_offset() + h.index_len() > v.len() as u64
                        },
                    "variant {n} was loaded"
                );
                // A borrowing lookup loads the file, and agrees too.
                for k in &probes {
                    match (r.get(k), reference.get(k)) {
                        (Ok(a), Ok(b)) => assert_eq!(a, b, "variant {n}, loaded"),
                        (Err(a), Err(b)) => assert_eq!(
                            a.to_string().replace(&shown, "<memory>"),
                            b.to_string(),
                            "variant {n}, loaded"
                        ),
                        (a, b) => panic!("variant {n}, loaded: {a:?} vs {b:?}"),
                    }
                }
            }
        }
        assert!(lazily > 1000, "only {lazily} files were read positionally");
    }

    #[test]
    fn fast_lookup_equals_the_layout_walk_on_damaged_files() {
        let cases = [
            (false, true, false),
            (true, true, false),
            (true, false, false),
            (false, false, true),
            (true, false, true),
        ];
        for (grown, ts, fixed) in cases {
            let (img, probes) = image(grown, ts, fixed);
            let r = Reader::from_bytes(img.clone()).unwrap();
            assert_eq!(r.info().n_buckets, if grown { 12007 } else { 7 });
            assert_eq!(r.get(&probes[1]).unwrap(), None);
            assert_eq!(r.get(&probes[3]).unwrap().map(|v| v[0]), Some(99));
            for (i, k) in probes.iter().enumerate().skip(4).take(3) {
                assert_eq!(
                    r.get(k).unwrap().map(<[u8]>::len),
                    Some(if fixed { 5 } else { i % 7 })
                );
            }
            // Every byte of the file damaged in turn (three ways), and every truncation; in
            // the mostly empty index of a grown file only the occupied slots.
            let positions = damage_positions(&img, 1);
            let variants = positions.iter().flat_map(|&at| {
                let img = &img;
                [0x01u8, 0x80, 0xff]
                    .into_iter()
                    .map(move |mask| {
                        let mut v = img.clone();
                        v[at] ^= mask;
                        v
                    })
                    .chain(std::iter::once(img[..at].to_vec()))
            });
            let mut compared = 0;
            for (n, v) in variants.enumerate() {
                let Ok(r) = Reader::from_bytes(v) else {
                    continue;
                };
                for k in &probes {
                    same(r.get(k), reference_get(&r, k), &format!("variant {n}"));
                    compared += 1;
                }
                let many = r.get_many(&probes);
                let reference: Result<Vec<_>> =
                    probes.iter().map(|k| reference_get(&r, k)).collect();
                match (many, reference) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "get_many, variant {n}"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("get_many, variant {n}: {a:?} vs {b:?}"),
                }
            }
            assert!(compared > 10_000, "only {compared} lookups compared");
        }
    }
}
