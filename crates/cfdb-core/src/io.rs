//! The chunk read and write paths: key lookup, parallel decode, read-modify-write.
//!
//! Fetching and decoding is one non-generic path (keys → stored bytes → [`ArrayData`] chunks,
//! decoded on the rayon pool); only the final copy of each chunk's overlap into the output is
//! generic over the element type.

use std::borrow::Cow;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, TryLockError};

use cfdb_codec::{ArrayData, ChunkCodec, Element, with_array_data};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Slice};
use rayon::prelude::*;

use crate::error::{CoreError, Result};
use crate::grid::{ChunkPart, chunk_key, chunk_parts};

/// The key/value handle under a dataset.
pub(crate) enum Store {
    Read(cfdb_kv::Reader),
    Write(cfdb_kv::Writer),
}

impl Store {
    pub(crate) fn get(&self, key: &str) -> Result<Option<Cow<'_, [u8]>>> {
        Ok(match self {
            Store::Read(r) => r.get(key)?.map(Cow::Borrowed),
            Store::Write(w) => w.get(key)?.map(Cow::Owned),
        })
    }

    pub(crate) fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Cow<'_, [u8]>>>> {
        Ok(match self {
            Store::Read(r) => r
                .get_many(keys)?
                .into_iter()
                .map(|v| v.map(Cow::Borrowed))
                .collect(),
            Store::Write(w) => w
                .get_many(keys)?
                .into_iter()
                .map(|v| v.map(Cow::Owned))
                .collect(),
        })
    }

    /// The read-only handle while it has not mapped its file: lookups through it are
    /// positional reads ([`cfdb_kv::Reader::get_into`]).
    pub(crate) fn unloaded_reader(&self) -> Option<&cfdb_kv::Reader> {
        match self {
            Store::Read(r) if !r.is_loaded() => Some(r),
            _ => None,
        }
    }

    /// Runs `f` on the stored bytes of `key` (`None` when absent). On a handle that has not
    /// mapped its file, the value is read into this thread's fetch buffer, so a single-chunk
    /// read maps nothing; otherwise it is borrowed from the map (or the writer's copy).
    pub(crate) fn with_value<R>(
        &self,
        key: &str,
        f: impl FnOnce(Option<&[u8]>) -> Result<R>,
    ) -> Result<R> {
        match self.unloaded_reader() {
            Some(r) => with_fetched(r, key, f),
            None => f(self.get(key)?.as_deref()),
        }
    }

    pub(crate) fn writer(&mut self) -> Option<&mut cfdb_kv::Writer> {
        match self {
            Store::Write(w) => Some(w),
            Store::Read(_) => None,
        }
    }
}

/// What the I/O paths need to know about one variable.
pub(crate) struct VarIo {
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) codec: ChunkCodec,
    pub(crate) origins: Vec<i64>,
}

impl VarIo {
    /// The key of the stored chunk that is exactly `region` (index space), if the region is
    /// one whole chunk of the grid.
    pub(crate) fn whole_chunk_key(&self, region: &[Range<usize>]) -> Option<String> {
        let cs = self.codec.chunk_shape();
        if region.len() != cs.len() {
            return None;
        }
        let starts: Option<Vec<i64>> = region
            .iter()
            .zip(&self.origins)
            .zip(cs)
            .map(|((r, &o), &c)| {
                let s = r.start as i64 + o;
                (r.len() == c && s.rem_euclid(c as i64) == 0).then_some(s)
            })
            .collect();
        starts.map(|s| chunk_key(&self.name, &s))
    }

    fn codec_err(&self, key: Option<&str>, source: cfdb_codec::CodecError) -> CoreError {
        CoreError::Codec {
            path: self.path.clone(),
            var: self.name.clone(),
            key: key.map(str::to_owned),
            source,
        }
    }

    fn chunk_shape(&self) -> &[usize] {
        self.codec.chunk_shape()
    }
}

/// Decoded chunks per batch: bounds the memory of a read to about this many chunks beyond
/// the output (and caps a write's window of chunks in flight).
const BATCH_CHUNKS: usize = 256;

#[cfg(feature = "instrument")]
pub mod instrument {
    //! Test-only: which threads decoded chunks since the last [`reset`].
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::thread::ThreadId;

    static THREADS: Mutex<Option<HashSet<ThreadId>>> = Mutex::new(None);

    /// Forgets the recorded threads.
    pub fn reset() {
        if let Ok(mut g) = THREADS.lock() {
            *g = Some(HashSet::new());
        }
    }

    /// How many distinct threads decoded chunks since [`reset`].
    pub fn decode_threads() -> usize {
        THREADS
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(HashSet::len))
            .unwrap_or(0)
    }

    pub(crate) fn record() {
        if let Ok(mut g) = THREADS.lock() {
            g.get_or_insert_with(HashSet::new)
                .insert(std::thread::current().id());
        }
    }
}

fn slice_of(r: &[Range<usize>]) -> impl Fn(ndarray::AxisDescription) -> Slice + '_ {
    move |ax| {
        let x = &r[ax.axis.index()];
        Slice::from(x.clone())
    }
}

/// Copies `src[src_r]` into `dst[dst_r]`.
fn assign<T: Clone>(
    dst: &mut ArrayViewMutD<'_, T>,
    dst_r: &[Range<usize>],
    src: &ArrayViewD<'_, T>,
    src_r: &[Range<usize>],
) {
    dst.slice_each_axis_mut(slice_of(dst_r))
        .assign(&src.slice_each_axis(slice_of(src_r)));
}

/// Splits `view` into one disjoint mutable view per chunk part, in the C order of
/// [`chunk_parts`]: along each axis at the parts' region boundaries.
fn split_views<'v, T>(
    view: ArrayViewMutD<'v, T>,
    cuts: &[Vec<usize>],
    axis: usize,
    out: &mut Vec<ArrayViewMutD<'v, T>>,
) {
    if axis == cuts.len() {
        out.push(view);
        return;
    }
    let mut rest = view;
    for &len in &cuts[axis] {
        let (band, tail) = rest.split_at(ndarray::Axis(axis), len);
        split_views(band, cuts, axis + 1, out);
        rest = tail;
    }
}

thread_local! {
    /// Per-thread decode scratch (decompressed bytes, decoded chunk), kept between chunks and
    /// reads so that decoding a chunk allocates nothing once warm.
    static SCRATCH: std::cell::RefCell<(Vec<u8>, ArrayData)> =
        std::cell::RefCell::new((Vec::new(), ArrayData::blank(cfdb_codec::ElementKind::Bool, &[0])));
}

thread_local! {
    /// Per-thread buffer for stored bytes read positionally (see [`Store::with_value`]).
    static FETCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads `key` through `reader` into this thread's fetch buffer and runs `f` on it.
fn with_fetched<R>(
    reader: &cfdb_kv::Reader,
    key: &str,
    f: impl FnOnce(Option<&[u8]>) -> Result<R>,
) -> Result<R> {
    FETCH.with(|cell| {
        // Taken out (not borrowed) so that a nested fetch on this thread gets its own buffer.
        let mut buf = std::mem::take(&mut *cell.borrow_mut());
        let found = reader.get_into(key, &mut buf);
        let r = match found {
            Ok(found) => f(found.then_some(&buf[..])),
            Err(e) => Err(e.into()),
        };
        if buf.capacity() <= MAX_RETAINED_SCRATCH {
            *cell.borrow_mut() = buf;
        }
        r
    })
}

/// Batches of at most this many chunks are fetched positionally by the decoding threads
/// themselves when the file is not mapped (small reads: a slice meeting a few chunks).
const POSITIONAL_BATCH: usize = 8;

/// Scratch larger than this is dropped after use rather than kept for the next chunk.
const MAX_RETAINED_SCRATCH: usize = 64 << 20;

/// Runs `f` with this thread's decode scratch (fresh buffers if it is already in use).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>, &mut ArrayData) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut g) => {
            let (bytes, chunk) = &mut *g;
            let r = f(bytes, chunk);
            if bytes.capacity() > MAX_RETAINED_SCRATCH {
                *bytes = Vec::new();
                *chunk = ArrayData::blank(cfdb_codec::ElementKind::Bool, &[0]);
            }
            r
        }
        Err(_) => f(
            &mut Vec::new(),
            &mut ArrayData::blank(cfdb_codec::ElementKind::Bool, &[0]),
        ),
    })
}

/// One chunk of a read: its index in the batch, its output view and its stored bytes (or
/// `Fetch::Later`: the decoding thread reads them itself).
type ReadJob<'v, 'b, T> = (usize, ArrayViewMutD<'v, T>, Fetch<'b>);

/// The stored bytes of one chunk of a read.
enum Fetch<'b> {
    /// Looked up already (`None`: never written).
    Got(Option<&'b [u8]>),
    /// To be read positionally by the thread that decodes the chunk.
    Later(&'b cfdb_kv::Reader),
}

/// Reads `region` (index space) of a variable into `out` (shape = region lengths), writing
/// every cell: stored chunks decoded, never-written ones as the blank. `out` may hold anything
/// before (callers allocate it zeroed, so fresh pages are first touched here, in parallel).
///
/// The output is split into one disjoint view per chunk; chunks are decompressed and decoded
/// in parallel, each straight into a per-thread scratch chunk and copied into its view, so a
/// read needs the output plus one chunk per thread.
pub(crate) fn read_into<T: Element>(
    store: &Store,
    var: &VarIo,
    region: &[Range<usize>],
    out: &mut ArrayViewMutD<'_, T>,
) -> Result<()> {
    let parts = chunk_parts(region, &var.origins, var.chunk_shape());
    let cuts = crate::grid::band_lengths(region, &var.origins, var.chunk_shape());
    let mut views = Vec::with_capacity(parts.len());
    split_views(out.view_mut(), &cuts, 0, &mut views);
    if views.len() != parts.len() {
        return Err(CoreError::Invalid(format!(
            "internal: {} output views for {} chunks of {:?}",
            views.len(),
            parts.len(),
            var.name
        )));
    }
    let mut views = views.into_iter();
    for batch in parts.chunks(BATCH_CHUNKS) {
        let keys: Vec<String> = batch
            .iter()
            .map(|p| chunk_key(&var.name, &p.starts))
            .collect();
        // A small read on an unmapped file: each decoding thread reads its chunk's bytes
        // itself (positional reads, no map); otherwise one batched lookup in the map.
        let lazy = store
            .unloaded_reader()
            .filter(|_| parts.len() <= POSITIONAL_BATCH);
        let values = match lazy {
            Some(_) => Vec::new(),
            None => store.get_many(&keys)?,
        };
        let fetches: Vec<Fetch<'_>> = match lazy {
            Some(r) => (0..batch.len()).map(|_| Fetch::Later(r)).collect(),
            None => values.iter().map(|b| Fetch::Got(b.as_deref())).collect(),
        };
        let work: Vec<ReadJob<'_, '_, T>> = views
            .by_ref()
            .take(batch.len())
            .zip(fetches)
            .enumerate()
            .map(|(i, (v, f))| (i, v, f))
            .collect();
        let job = |(i, view, fetch): ReadJob<'_, '_, T>| -> Result<()> {
            let decode = |bytes: Option<&[u8]>| decode_job(var, &keys[i], &batch[i], view, bytes);
            match fetch {
                Fetch::Got(bytes) => decode(bytes),
                Fetch::Later(r) => with_fetched(r, &keys[i], decode),
            }
        };
        if lazy.is_some() {
            run_shared(work, job)?;
        } else {
            work.into_par_iter().with_max_len(1).try_for_each(job)?;
        }
    }
    Ok(())
}

/// Runs a few jobs on the calling thread and the pool together: the caller starts on the
/// first job at once and keeps claiming jobs while pool threads wake up and claim the rest.
/// (Handing a small read wholly to the pool would leave the caller asleep until a pool thread
/// has woken, run its jobs and woken it again: two wake-ups of latency on a read that takes a
/// few hundred microseconds.) Returns the first error; the other jobs still run.
fn run_shared<J: Send>(jobs: Vec<J>, f: impl Fn(J) -> Result<()> + Sync) -> Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    if jobs.len() <= 1 {
        return jobs.into_iter().try_for_each(f);
    }
    let helpers = (jobs.len() - 1).min(rayon::current_num_threads());
    let slots: Vec<Mutex<Option<J>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let next = AtomicUsize::new(0);
    let error: Mutex<Option<CoreError>> = Mutex::new(None);
    let work = || {
        while let Some(slot) = slots.get(next.fetch_add(1, Ordering::Relaxed)) {
            let job = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(Err(e)) = job.map(&f) {
                error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(e);
            }
        }
    };
    rayon::in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| work());
        }
        work();
    });
    match error.into_inner().unwrap_or_else(PoisonError::into_inner) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Decodes one chunk's stored bytes into its output view (`None`: fills the blank).
fn decode_job<T: Element>(
    var: &VarIo,
    key: &str,
    part: &ChunkPart,
    mut view: ArrayViewMutD<'_, T>,
    bytes: Option<&[u8]>,
) -> Result<()> {
    let Some(bytes) = bytes else {
        view.fill(T::blank());
        return Ok(());
    };
    #[cfg(feature = "instrument")]
    instrument::record();
    with_scratch(|scratch, chunk| {
        // Fixed-width dtypes: unshuffled and decoded straight into the output view.
        if var
            .codec
            .decode_region_into(
                bytes,
                scratch,
                &part.in_chunk,
                T::wrap_view_mut(view.view_mut()),
            )
            .map_err(|e| var.codec_err(Some(key), e))?
        {
            return Ok(());
        }
        var.codec
            .decode_into(bytes, scratch, chunk)
            .map_err(|e| var.codec_err(Some(key), e))?;
        let src = T::view(chunk).ok_or_else(|| CoreError::DtypeMismatch {
            var: var.name.clone(),
            expected: chunk.kind().to_string(),
            actual: T::KIND.to_string(),
        })?;
        cfdb_rechunk::copy_block(view, src.slice_each_axis(slice_of(&part.in_chunk)))
            .map_err(|e| CoreError::Invalid(format!("internal: {e}")))
    })
}

/// Reads `region` of a variable into a new array of decoded values.
pub(crate) fn read_region(
    store: &Store,
    var: &VarIo,
    region: &[Range<usize>],
) -> Result<ArrayData> {
    let shape: Vec<usize> = region.iter().map(|r| r.end - r.start).collect();
    let mut out = ArrayData::blank(var.codec.dtype().element_kind(), &[0]);
    with_array_data!(&mut out, a => {
        *a = zeroed(a, &shape);
        read_into(store, var, region, &mut a.view_mut())
    })?;
    Ok(out)
}

/// An array of `shape` filled with the element type's zero: for numbers, fresh zeroed pages
/// from the allocator (calloc), first touched by whoever writes them.
pub(crate) fn zeroed<T: Element>(_: &ArrayD<T>, shape: &[usize]) -> ArrayD<T> {
    ArrayD::from_elem(ndarray::IxDyn(shape), T::zero())
}

/// Encodes the new stored bytes of one chunk into `out`: the whole chunk straight from the
/// caller's (strided) view when the write covers it, else a read-modify-write of `old` (the
/// stored bytes; `None` starts from the padding) in stored (encoded) space, so untouched cells
/// keep their exact codes and only the written cells are encoded.
fn encode_part<T: Element>(
    var: &VarIo,
    part: &ChunkPart,
    data: &ArrayViewD<'_, T>,
    old: Option<&[u8]>,
    key: &str,
    out: &mut Vec<u8>,
) -> Result<()> {
    let err = |e| var.codec_err(Some(key), e);
    let block = data.slice_each_axis(slice_of(&part.in_region));
    if part.is_full(var.chunk_shape()) {
        return var
            .codec
            .encode_view_into(T::wrap_view(block), out)
            .map_err(err);
    }
    if var.codec.dtype().stored_size().is_some() {
        // Fixed width: the written cells' bytes replace theirs in the decompressed payload.
        return var
            .codec
            .encode_update_into(old, &part.in_chunk, T::wrap_view(block), out)
            .map_err(err);
    }
    // Strings and geometries: stored elements, assigned, re-encoded.
    let mut stored = match old {
        Some(old) => {
            let payload = var.codec.decompress(old).map_err(err)?;
            var.codec.decode_stored_payload(&payload).map_err(err)?
        }
        None => var.codec.blank_stored(),
    };
    // Encode only the written cells (a codec for the sub-block's shape), so cells outside
    // the write are never encoded: a blank that is not encodable cannot fail the write, as in
    // Python (the fixed-width path above never encodes untouched cells either).
    let sub: Vec<usize> = part.in_chunk.iter().map(|r| r.end - r.start).collect();
    let sub_codec = ChunkCodec::new(
        var.codec.dtype().clone(),
        var.codec.compression(),
        var.codec.level(),
        &sub,
    )
    .map_err(err)?;
    let new_payload = sub_codec
        .encode_payload(&T::wrap(block.to_owned()))
        .map_err(err)?;
    let new_stored = sub_codec.decode_stored_payload(&new_payload).map_err(err)?;
    let full: Vec<Range<usize>> = sub.iter().map(|&n| 0..n).collect();
    with_array_data!(&mut stored, dst => {
        let src = view_like(dst, &new_stored).ok_or_else(|| err(cfdb_codec::CodecError::ArrayMismatch {
            expected: new_stored.kind().to_string(),
            actual: "stored chunk".to_owned(),
        }))?;
        assign(&mut dst.view_mut(), &part.in_chunk, &src.view(), &full);
    });
    let payload = var.codec.encode_stored_payload(&stored).map_err(err)?;
    *out = var.codec.compress_payload(&payload).map_err(err)?;
    Ok(())
}

fn view_like<'a, T: Element>(_: &ArrayD<T>, data: &'a ArrayData) -> Option<&'a ArrayD<T>> {
    T::view(data)
}

/// Bytes of encoded chunks a write keeps in flight per rayon thread (at least two chunks per
/// thread): bounds the memory of [`write_region`] to a few MB whatever the write's size.
const WRITE_BYTES_PER_THREAD: usize = 4 << 20;

/// The shared state of one [`write_region`]: encoded chunks wait in `slots` (by index modulo
/// the window) until whoever holds the writer writes them, in key order.
struct Pipeline<'a> {
    writer: Mutex<&'a mut cfdb_kv::Writer>,
    state: Mutex<PipeState>,
    /// Signalled when chunks are written or a write fails.
    progress: Condvar,
    keys: &'a [String],
    window: usize,
}

struct PipeState {
    slots: Vec<Option<Result<Vec<u8>>>>,
    /// Chunks handed to the writer (`taken`) and written (`done`), in key order.
    taken: usize,
    done: usize,
    /// The first error; nothing is written after it.
    error: Option<CoreError>,
    /// Output buffers of written chunks, for reuse.
    free: Vec<Vec<u8>>,
}

impl Pipeline<'_> {
    fn state(&self) -> MutexGuard<'_, PipeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, e: CoreError) {
        let mut st = self.state();
        if st.error.is_none() {
            st.error = Some(e);
        }
        drop(st);
        self.progress.notify_all();
    }

    /// An output buffer (a written chunk's, when there is one).
    fn buffer(&self) -> Vec<u8> {
        self.state().free.pop().unwrap_or_default()
    }

    /// Hands in chunk `i`, then writes what is ready unless another thread is writing.
    fn deposit(&self, i: usize, r: Result<Vec<u8>>) {
        let mut st = self.state();
        if let Some(slot) = st.slots.get_mut(i % self.window) {
            *slot = Some(r);
        }
        drop(st);
        self.drain();
    }

    /// Writes the ready run of chunks (in key order) while holding the writer; after letting
    /// the writer go, checks again, so a chunk handed in meanwhile is never left behind.
    fn drain(&self) {
        loop {
            let mut w = match self.writer.try_lock() {
                Ok(w) => w,
                Err(TryLockError::WouldBlock) => return,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
            };
            self.write_ready(&mut w);
            drop(w);
            if !self.ready() {
                return;
            }
        }
    }

    /// Whether the next chunk to write has been handed in.
    fn ready(&self) -> bool {
        let st = self.state();
        st.error.is_none() && matches!(st.slots.get(st.taken % self.window), Some(Some(_)))
    }

    fn write_ready(&self, w: &mut cfdb_kv::Writer) {
        loop {
            let mut run = Vec::new();
            {
                let mut st = self.state();
                if st.error.is_some() {
                    return;
                }
                while st.taken < self.keys.len() {
                    let k = st.taken % self.window;
                    match st.slots.get_mut(k).and_then(Option::take) {
                        Some(Ok(b)) => run.push((st.taken, b)),
                        Some(Err(e)) => {
                            st.error = Some(e);
                            break;
                        }
                        None => break,
                    }
                    st.taken += 1;
                }
            }
            if run.is_empty() {
                self.progress.notify_all();
                return;
            }
            let r = w.set_many(run.iter().map(|(i, b)| (&self.keys[*i], b)));
            let mut st = self.state();
            match r {
                Ok(()) => {
                    st.done += run.len();
                    st.free.extend(run.into_iter().map(|(_, b)| b));
                }
                Err(e) => {
                    if st.error.is_none() {
                        st.error = Some(e.into());
                    }
                }
            }
            drop(st);
            self.progress.notify_all();
        }
    }

    /// Waits until `ok` holds (or a write failed). On a rayon worker (a write run inside a
    /// pool) it runs pending pool jobs meanwhile, so the encode jobs progress even on a
    /// 1-thread pool.
    fn wait(&self, ok: impl Fn(&PipeState) -> bool) {
        let in_pool = rayon::current_thread_index().is_some();
        let mut st = self.state();
        while st.error.is_none() && !ok(&st) {
            if in_pool {
                drop(st);
                let ran = rayon::yield_now() == Some(rayon::Yield::Executed);
                st = self.state();
                if !ran && st.error.is_none() && !ok(&st) {
                    // Nothing to run here: the other pool threads have the jobs.
                    st = self
                        .progress
                        .wait_timeout(st, std::time::Duration::from_millis(1))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
            } else {
                st = self
                    .progress
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }
}

/// Hands in an error for chunk `i` if its encode job unwinds before handing in its result,
/// so the pipeline never waits for it forever.
struct Handed<'p, 'a> {
    pipe: &'p Pipeline<'a>,
    i: usize,
    done: bool,
}

impl Drop for Handed<'_, '_> {
    fn drop(&mut self) {
        if !self.done {
            self.pipe.fail(CoreError::Invalid(format!(
                "internal: the encoder of chunk {} stopped",
                self.i
            )));
        }
    }
}

/// Writes `data` (shape = region lengths) into `region` of a variable, chunk by chunk.
///
/// The chunks are encoded on the rayon pool, each straight from `data` into a recycled
/// buffer; whichever pool thread finishes a chunk also writes the run of encoded chunks that
/// is ready, in key order, unless another thread is writing (so both encoding and writing use
/// every pool thread, as the floor probe does). The calling thread hands out chunks, at most a
/// window (about [`WRITE_BYTES_PER_THREAD`] per thread) beyond the last one written, and reads
/// the stored bytes of partially covered chunks as it hands them out. With `fresh`, partially
/// covered chunks start from the padding instead of what is stored (how cfdb rewrites
/// coordinate chunks).
///
/// On an error nothing after the failing chunk is written (chunks before it may be).
pub(crate) fn write_region<T: Element>(
    store: &mut Store,
    var: &VarIo,
    region: &[Range<usize>],
    data: &ArrayViewD<'_, T>,
    fresh: bool,
) -> Result<()> {
    let cs = var.chunk_shape();
    let parts = chunk_parts(region, &var.origins, cs);
    if parts.is_empty() {
        return Ok(());
    }
    let w = store
        .writer()
        .ok_or_else(|| CoreError::Invalid("the dataset is read-only".to_owned()))?;
    let keys: Vec<String> = parts
        .iter()
        .map(|p| chunk_key(&var.name, &p.starts))
        .collect();
    let threads = rayon::current_num_threads().max(1);
    let chunk_bytes = var
        .codec
        .cells()
        .saturating_mul(var.codec.dtype().stored_size().unwrap_or(16))
        .max(1);
    let window = (WRITE_BYTES_PER_THREAD.saturating_mul(threads) / chunk_bytes)
        .clamp(2 * threads, BATCH_CHUNKS)
        .min(parts.len());
    let pipe = Pipeline {
        writer: Mutex::new(w),
        state: Mutex::new(PipeState {
            slots: (0..window).map(|_| None).collect(),
            taken: 0,
            done: 0,
            error: None,
            free: Vec::new(),
        }),
        progress: Condvar::new(),
        keys: &keys,
        window,
    };
    let (pipe, parts, keys) = (&pipe, &parts, &keys);
    rayon::in_place_scope(|s| {
        for (i, part) in parts.iter().enumerate() {
            pipe.wait(|st| i < st.done + window);
            if pipe.state().error.is_some() {
                break;
            }
            let old = if fresh || part.is_full(cs) {
                None
            } else {
                let got = {
                    let w = pipe.writer.lock().unwrap_or_else(PoisonError::into_inner);
                    w.get(&keys[i])
                };
                // Chunks handed in while this thread held the writer.
                pipe.drain();
                match got {
                    Ok(v) => v,
                    Err(e) => {
                        pipe.fail(e.into());
                        break;
                    }
                }
            };
            s.spawn(move |_| {
                let mut handed = Handed {
                    pipe,
                    i,
                    done: false,
                };
                let mut out = pipe.buffer();
                let r = encode_part(var, part, data, old.as_deref(), &keys[i], &mut out);
                handed.done = true;
                pipe.deposit(i, r.map(|()| out));
            });
        }
        pipe.wait(|st| st.done == parts.len());
    });
    let mut st = pipe.state();
    match st.error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The keys of every chunk position over `region` (present or not).
pub(crate) fn region_keys(
    name: &str,
    region: &[Range<usize>],
    origins: &[i64],
    chunk_shape: &[usize],
) -> Vec<String> {
    chunk_parts(region, origins, chunk_shape)
        .iter()
        .map(|p| chunk_key(name, &p.starts))
        .collect()
}
