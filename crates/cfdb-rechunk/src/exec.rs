//! The rechunk executor (`algorithms.md` §3, "Execution"): rechunkit's `rechunker` generator.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ops::Range;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn, Slice};

use crate::RechunkError;
use crate::copy::{copy_block, owned_copy};
use crate::plan::{GroupKind, Plan, PlanGroup, PlanSpec, buffer_bytes, pending_bytes};
use crate::range::ChunkRange;

/// A planned rechunk of one array: the validated inputs, the read shape (§2.4) and the plan
/// (§3). Cheap to query; [`execute`](Self::execute) runs it against a source callback.
///
/// The array has `shape`, is stored in chunks of `source_chunk_shape`, and is rechunked into
/// chunks of `target_chunk_shape`, optionally restricted to a selection (one range per
/// dimension). Target chunks are regions of the selection, in selection-relative coordinates;
/// source reads are regions of the array, in absolute coordinates. `itemsize` and `max_mem` only
/// drive the planning (and the memory accounting of [`Execution::memory`]).
///
/// # Example
///
/// ```
/// use cfdb_rechunk::Rechunker;
///
/// // algorithms.md §2.5: a selection of a 31³ array, 30 000-byte budget.
/// let sel = [3..21, 11..27, 7..17];
/// let r = Rechunker::new(&[31, 31, 31], 4, &[5, 2, 4], &[4, 5, 3], 30_000, Some(&sel))?;
/// assert_eq!(r.extent(), [18, 16, 10]);
/// assert_eq!(r.phase(), [3, 1, 3]);
/// assert_eq!(r.read_chunk_shape(), [5, 2, 4]);
/// assert_eq!(r.calc_n_reads()?, (219, 80));
/// assert_eq!(r.positions().count(), 80);
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Rechunker {
    shape: Vec<usize>,
    itemsize: usize,
    source_chunk_shape: Vec<usize>,
    target_chunk_shape: Vec<usize>,
    max_mem: usize,
    selection: Vec<Range<usize>>,
    extent: Vec<usize>,
    phase: Vec<usize>,
    read: Vec<usize>,
    ideal: Vec<usize>,
    spec: PlanSpec,
}

impl Rechunker {
    /// Validates the inputs and plans the rechunk (rechunkit: the set-up of `rechunker`).
    ///
    /// `sel` restricts the rechunk to a selection (ranges inside `shape`); `None` is the whole
    /// array. The read shape is planned on the selection's extent and phase
    /// (`start % source_chunk_shape`), exactly as rechunkit does.
    ///
    /// # Errors
    ///
    /// - [`RechunkError::DimMismatch`]: the chunk shapes or the selection do not have one entry
    ///   per dimension of `shape`;
    /// - [`RechunkError::ZeroChunkDim`]: a chunk shape has a zero length;
    /// - [`RechunkError::ZeroItemsize`];
    /// - [`RechunkError::BudgetTooSmall`]: `max_mem` is below `itemsize` (the minimum: one
    ///   element). Budgets from one element up to one source chunk are accepted and give the
    ///   floor plans (the executor then holds one source chunk plus one target chunk);
    /// - [`RechunkError::SelectionOutOfBounds`]: a selection range is reversed or ends past the
    ///   array;
    /// - [`RechunkError::TooLarge`]: a length above [`MAX_EXTENT`](crate::MAX_EXTENT), or more
    ///   than 2^64 target chunks.
    pub fn new(
        shape: &[usize],
        itemsize: usize,
        source_chunk_shape: &[usize],
        target_chunk_shape: &[usize],
        max_mem: usize,
        sel: Option<&[Range<usize>]>,
    ) -> Result<Self, RechunkError> {
        if itemsize > 0 && max_mem < itemsize {
            return Err(RechunkError::BudgetTooSmall {
                max_mem,
                minimum: itemsize,
            });
        }
        let spec = PlanSpec::new(
            shape,
            itemsize,
            source_chunk_shape,
            target_chunk_shape,
            max_mem,
            sel,
        )?;
        let back = |v: &[u128]| -> Result<Vec<usize>, RechunkError> {
            v.iter()
                .map(|&x| {
                    usize::try_from(x).map_err(|_| RechunkError::TooLarge {
                        what: "the read chunk shape",
                    })
                })
                .collect()
        };
        Ok(Self {
            shape: shape.to_vec(),
            itemsize,
            source_chunk_shape: source_chunk_shape.to_vec(),
            target_chunk_shape: target_chunk_shape.to_vec(),
            max_mem,
            selection: match sel {
                Some(s) => s.to_vec(),
                None => shape.iter().map(|&n| 0..n).collect(),
            },
            extent: back(&spec.extent)?,
            phase: back(&spec.phase)?,
            read: back(&spec.read)?,
            ideal: back(&spec.ideal)?,
            spec,
        })
    }

    /// The array shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element size used for planning, in bytes.
    pub fn itemsize(&self) -> usize {
        self.itemsize
    }

    /// The source chunk shape.
    pub fn source_chunk_shape(&self) -> &[usize] {
        &self.source_chunk_shape
    }

    /// The target chunk shape.
    pub fn target_chunk_shape(&self) -> &[usize] {
        &self.target_chunk_shape
    }

    /// The memory budget in bytes.
    pub fn max_mem(&self) -> usize {
        self.max_mem
    }

    /// The selection (the whole array when none was given).
    pub fn selection(&self) -> &[Range<usize>] {
        &self.selection
    }

    /// The extent the target chunks tile: the selection's shape.
    pub fn extent(&self) -> &[usize] {
        &self.extent
    }

    /// The selection's misalignment against the source grid: `start % source_chunk_shape`.
    pub fn phase(&self) -> &[usize] {
        &self.phase
    }

    /// The planned read shape ([`calc_source_read_chunk_shape`](crate::calc_source_read_chunk_shape)
    /// on the extent and phase).
    pub fn read_chunk_shape(&self) -> &[usize] {
        &self.read
    }

    /// The ideal read shape, clipped to the extent.
    pub fn ideal_read_chunk_shape(&self) -> &[usize] {
        &self.ideal
    }

    /// Whether the plan takes the ideal path (read shape == ideal shape: every source chunk is
    /// read once, all groups are bulk groups).
    pub fn is_ideal(&self) -> bool {
        self.read == self.ideal
    }

    /// The shape of the bulk buffer, `max(read + phase, target)` per dimension (allocated on the
    /// first bulk group only).
    pub fn buffer_shape(&self) -> Vec<usize> {
        self.read
            .iter()
            .zip(&self.phase)
            .zip(&self.target_chunk_shape)
            .map(|((&r, &p), &t)| r.saturating_add(p).max(t))
            .collect()
    }

    /// The number of target chunks (= writes = yields).
    pub fn n_target_chunks(&self) -> u64 {
        self.extent
            .iter()
            .zip(&self.target_chunk_shape)
            .map(|(&e, &t)| e.div_ceil(t) as u64)
            .product()
    }

    /// The bound on [`MemoryStats::peak_buffer_bytes`] (the bulk buffer, the batch buffers and
    /// the source block being copied — everything but the parked chunks):
    ///
    /// `max(max_mem, bulk buffer) + one source chunk + one target chunk`,
    ///
    /// where the bulk buffer is `prod max(read + phase, target) · itemsize` (above `max_mem` only
    /// for the floor plans, when one source chunk already busts the budget). The two chunks are
    /// rechunkit's "irreducible floors".
    ///
    /// Parked chunks (target chunks produced ahead of their turn) come on top. rechunkit budgets
    /// them with its pending model (§2.3), but its plans can park more than that model (for
    /// example the rows that a bulk group leaves for a partial end chunk, or any floor plan that
    /// takes the ideal path), and since the order and the reads are fixed by the reference, so
    /// are the parked chunks: [`simulate_memory`](Self::simulate_memory) gives their exact peak.
    pub fn buffer_bound(&self) -> u128 {
        let b = self.itemsize as u128;
        let t: Vec<u128> = self.target_chunk_shape.iter().map(|&x| x as u128).collect();
        let src = self
            .source_chunk_shape
            .iter()
            .fold(b, |a, &x| a.saturating_mul(x as u128));
        let tgt = t.iter().fold(b, |a, &x| a.saturating_mul(x));
        let buf = buffer_bytes(&self.spec.read, &t, &self.spec.phase, b);
        (self.max_mem as u128)
            .max(buf)
            .saturating_add(src)
            .saturating_add(tgt)
    }

    /// rechunkit's pending model for this plan (§2.3): the bytes of parked copies the planner
    /// budgets for the bulk groups, `pending(read shape)`.
    pub fn pending_model_bytes(&self) -> u128 {
        let t: Vec<u128> = self.target_chunk_shape.iter().map(|&x| x as u128).collect();
        pending_bytes(
            &self.spec.read,
            &self.spec.extent,
            &t,
            self.itemsize as u128,
        )
    }

    /// A dry run of [`execute`](Self::execute) without data (zero-sized elements, no source):
    /// the exact [`MemoryStats`] the real run will report, in bytes of `itemsize`. Costs one
    /// walk of the plan.
    ///
    /// # Example
    ///
    /// ```
    /// use cfdb_rechunk::Rechunker;
    ///
    /// let r = Rechunker::new(&[29, 16], 8, &[5, 4], &[1, 3], 963, None)?;
    /// let m = r.simulate_memory();
    /// assert!(m.peak_buffer_bytes <= r.buffer_bound());
    /// assert_eq!(m.peak_parked_bytes, 480); // 20 target chunks wait for a partial end chunk
    /// # Ok::<(), cfdb_rechunk::RechunkError>(())
    /// ```
    pub fn simulate_memory(&self) -> MemoryStats {
        let mut exec = self.execute(|region: &[Range<usize>]| {
            Ok::<_, std::convert::Infallible>(ArrayD::from_elem(IxDyn(&len_of(region)), ()))
        });
        for _ in exec.by_ref() {}
        // The run ended: everything is released (current 0), the peaks stay.
        exec.memory()
    }

    /// The plan: its groups in order (rechunkit `_rechunk_plan`).
    ///
    /// # Example
    ///
    /// ```
    /// use cfdb_rechunk::{GroupKind, Rechunker};
    ///
    /// let r = Rechunker::new(&[100], 4, &[7], &[11], 500, Some(&[10..80]))?;
    /// let groups: Vec<_> = r.plan().collect();
    /// assert_eq!(groups.len(), 1);
    /// assert_eq!(groups[0].kind, GroupKind::Bulk);
    /// assert_eq!(groups[0].reads[0], [-3..4]); // phase 3: starts before the selection
    /// assert_eq!(groups[0].writes.len(), 7);
    /// # Ok::<(), cfdb_rechunk::RechunkError>(())
    /// ```
    pub fn plan(&self) -> Plan {
        Plan::new(self.spec.clone())
    }

    /// (source reads, target writes) of the plan — what
    /// [`calc_n_reads_rechunker`](crate::calc_n_reads_rechunker) returns for these inputs, and
    /// exactly the number of source callback calls and yields of [`execute`](Self::execute).
    ///
    /// # Errors
    ///
    /// None today (the inputs were validated by [`new`](Self::new)); the `Result` keeps room for
    /// future checks.
    pub fn calc_n_reads(&self) -> Result<(u64, u64), RechunkError> {
        Ok(self.spec.counts())
    }

    /// The "positions only" mode: the target chunks (selection-relative, clipped to the
    /// extent) in exactly the order [`execute`](Self::execute) yields them — the C order of the
    /// target chunk grid — without reading anything.
    pub fn positions(&self) -> ChunkRange {
        ChunkRange::grid(&self.extent, &self.target_chunk_shape)
    }

    /// Runs the rechunk: an iterator over the target chunks in C order, each as
    /// `(selection-relative region, data)`, reading the source through `source`.
    ///
    /// `source` gets one absolute region of the array (always inside `shape`; on the
    /// constrained path it can extend past the selection, as in rechunkit) and must return
    /// exactly that block, or an error, which the iterator yields as [`ExecError::Source`] (and
    /// then ends). It is called exactly [`calc_n_reads`](Self::calc_n_reads)`().0` times over a
    /// full iteration, in the plan's read order.
    ///
    /// Target chunks are assembled as §3 describes: bulk groups read into one shared buffer of
    /// [`buffer_shape`](Self::buffer_shape) and yield copies of its windows; batched groups give
    /// each target chunk its own buffer and scatter every read into the chunks it overlaps.
    /// Chunks produced ahead of their turn are parked until due (bulk: copied; batched: their own
    /// buffer). [`Execution::memory`] reports the bytes held; the buffers stay within
    /// [`buffer_bound`](Self::buffer_bound), and [`simulate_memory`](Self::simulate_memory)
    /// predicts the whole run exactly.
    pub fn execute<T, E, F>(&self, source: F) -> Execution<T, E, FnSource<F>>
    where
        T: Clone + Send + Sync,
        F: FnMut(&[Range<usize>]) -> Result<ArrayD<T>, E>,
    {
        self.execute_source(FnSource(source))
    }

    /// [`execute`](Self::execute) with any [`Source`], for sources that fill the executor's
    /// buffers themselves ([`Source::read_into`]).
    pub fn execute_source<T, E, S>(&self, source: S) -> Execution<T, E, S>
    where
        T: Clone + Send + Sync,
        S: Source<T, E>,
    {
        Execution {
            plan: self.plan(),
            source,
            shape: self.shape.clone(),
            offset: self.selection.iter().map(|r| r.start).collect(),
            itemsize: self.itemsize as u128,
            buffer_shape: self.buffer_shape(),
            bulk: None,
            bulk_accounted: 0,
            fill: None,
            spare: Vec::new(),
            current: Current::Idle,
            pending: BTreeMap::new(),
            next_idx: 0,
            n_reads: 0,
            mem: Meter::default(),
            finished: false,
            _error: PhantomData,
        }
    }
}

/// A region and its data: a yielded target chunk (selection-relative region), or a source block
/// (absolute region).
pub type TargetChunk<T> = (Vec<Range<usize>>, ArrayD<T>);

/// A part of a source block and where it goes.
pub type SourcePart<'v, T> = (Vec<Range<usize>>, ArrayViewMutD<'v, T>);

/// One source read of a batch (see [`Source::read_into`]): the absolute region to read and
/// where its parts go.
#[derive(Debug)]
pub struct SourceRead<'v, T> {
    /// The absolute region of the array to read.
    pub region: Vec<Range<usize>>,
    /// `(part of the block, relative to the region's start; destination of that shape)`. The
    /// parts of one read do not overlap, and destinations of a batch are disjoint.
    pub parts: Vec<SourcePart<'v, T>>,
}

/// Where an [`Execution`] reads the array from.
///
/// A closure `FnMut(&[Range<usize>]) -> Result<ArrayD<T>, E>` given to
/// [`Rechunker::execute`] is a source ([`FnSource`]): it gets one absolute region and returns
/// exactly that block. A source can also take a whole batch of reads at once and write each
/// block's parts straight into the target chunks ([`read_into`](Source::read_into)), for
/// example to decode the blocks in parallel, each scattered from a reused scratch buffer; the
/// executor does that for the reads of a bulk group when the source
/// [prefers it](Source::prefers_read_into) and [`Execution::with_fill`] gave it a value to
/// allocate target chunks with.
pub trait Source<T, E> {
    /// Returns the block of one absolute region.
    fn read(&mut self, region: &[Range<usize>]) -> Result<ArrayD<T>, E>;

    /// Reads every region of `reads` and copies each part of its block into the part's
    /// destination, in any order. The default reads each block with [`read`](Source::read)
    /// and copies it.
    ///
    /// # Errors
    ///
    /// The first failing region and its error.
    fn read_into(&mut self, reads: Vec<SourceRead<'_, T>>) -> Result<(), ExecError<E>>
    where
        T: Clone + Send + Sync,
    {
        for r in reads {
            let data = self.read(&r.region).map_err(|error| ExecError::Source {
                region: r.region.clone(),
                error,
            })?;
            let expected = len_of(&r.region);
            if data.shape() != expected.as_slice() {
                return Err(RechunkError::SourceShape {
                    expected,
                    got: data.shape().to_vec(),
                    region: r.region,
                }
                .into());
            }
            for (part, dst) in r.parts {
                copy_block(dst, view(&data, &part))?;
            }
        }
        Ok(())
    }

    /// Whether [`read_into`](Source::read_into) is worth calling (the source implements it
    /// rather than taking the default). Default: `false`.
    fn prefers_read_into(&self) -> bool {
        false
    }
}

impl<T, E, S: Source<T, E> + ?Sized> Source<T, E> for &mut S {
    fn read(&mut self, region: &[Range<usize>]) -> Result<ArrayD<T>, E> {
        (**self).read(region)
    }

    fn read_into(&mut self, reads: Vec<SourceRead<'_, T>>) -> Result<(), ExecError<E>>
    where
        T: Clone + Send + Sync,
    {
        (**self).read_into(reads)
    }

    fn prefers_read_into(&self) -> bool {
        (**self).prefers_read_into()
    }
}

/// A closure as a [`Source`] (what [`Rechunker::execute`] wraps its callback in).
#[derive(Debug, Clone)]
pub struct FnSource<F>(pub F);

impl<T, E, F> Source<T, E> for FnSource<F>
where
    F: FnMut(&[Range<usize>]) -> Result<ArrayD<T>, E>,
{
    fn read(&mut self, region: &[Range<usize>]) -> Result<ArrayD<T>, E> {
        (self.0)(region)
    }
}

/// An error of [`Execution`].
#[derive(Debug, thiserror::Error)]
pub enum ExecError<E> {
    /// The source callback returned an array of the wrong shape (or another invariant broke).
    #[error(transparent)]
    Rechunk(#[from] RechunkError),
    /// The source callback failed.
    #[error("reading source region {region:?} failed: {error}")]
    Source {
        /// The absolute region that was asked for.
        region: Vec<Range<usize>>,
        /// The callback's error.
        #[source]
        error: E,
    },
}

/// Bytes held by an [`Execution`], counted in elements × the planning `itemsize`.
///
/// *Buffers* are the bulk buffer (kept from the first bulk group to the end, as rechunkit
/// does), the buffers of the current batch not yet handed out, and the source block being
/// copied; *parked* are the target chunks produced ahead of their turn. Yielded chunks belong to
/// the caller and are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes held now (buffers + parked).
    pub current_bytes: u128,
    /// The most bytes held at any time so far.
    pub peak_bytes: u128,
    /// The most buffer bytes held at any time so far (bounded by
    /// [`Rechunker::buffer_bound`]).
    pub peak_buffer_bytes: u128,
    /// The most parked bytes held at any time so far.
    pub peak_parked_bytes: u128,
}

/// The running counters behind [`MemoryStats`].
#[derive(Debug, Clone, Copy, Default)]
struct Meter {
    buffers: u128,
    parked: u128,
    stats: MemoryStats,
}

impl Meter {
    fn update(&mut self) {
        let s = &mut self.stats;
        s.current_bytes = self.buffers + self.parked;
        s.peak_bytes = s.peak_bytes.max(s.current_bytes);
        s.peak_buffer_bytes = s.peak_buffer_bytes.max(self.buffers);
        s.peak_parked_bytes = s.peak_parked_bytes.max(self.parked);
    }

    fn add_buffer(&mut self, n: u128) {
        self.buffers += n;
        self.update();
    }

    fn sub_buffer(&mut self, n: u128) {
        self.buffers = self.buffers.saturating_sub(n);
        self.update();
    }

    fn add_parked(&mut self, n: u128) {
        self.parked += n;
        self.update();
    }

    fn sub_parked(&mut self, n: u128) {
        self.parked = self.parked.saturating_sub(n);
        self.update();
    }
}

enum Current<T> {
    Idle,
    Bulk {
        writes: std::vec::IntoIter<Vec<Range<usize>>>,
        start: Vec<i64>,
    },
    /// Target chunks with their own buffers: a batched group (`counted`: each counted as a
    /// buffer until handed out or parked), or a bulk group read straight into its target
    /// chunks (accounted inside the bulk buffer, as `Bulk`).
    Items {
        items: std::vec::IntoIter<TargetChunk<T>>,
        counted: bool,
    },
}

/// A running rechunk (from [`Rechunker::execute`]): an iterator over
/// `Result<(target region, data), ExecError<E>>`, in the C order of the target chunk grid.
///
/// The iterator ends after the last target chunk, or after yielding the first error.
pub struct Execution<T, E, F> {
    plan: Plan,
    source: F,
    shape: Vec<usize>,
    offset: Vec<usize>,
    itemsize: u128,
    buffer_shape: Vec<usize>,
    bulk: Option<ArrayD<T>>,
    /// Bytes of the bulk buffer accounted for on the direct path (no buffer is allocated).
    bulk_accounted: u128,
    fill: Option<T>,
    /// Arrays handed back by the caller ([`Execution::recycle`]), reused for target chunks.
    spare: Vec<ArrayD<T>>,
    current: Current<T>,
    pending: BTreeMap<u64, TargetChunk<T>>,
    next_idx: u64,
    n_reads: u64,
    mem: Meter,
    finished: bool,
    _error: PhantomData<fn() -> E>,
}

impl<T, E, F> std::fmt::Debug for Execution<T, E, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Execution")
            .field("n_reads", &self.n_reads)
            .field("next_idx", &self.next_idx)
            .field("parked", &self.pending.len())
            .field("memory", &self.mem.stats)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

fn view<'a, T>(a: &'a ArrayD<T>, r: &[Range<usize>]) -> ArrayViewD<'a, T> {
    a.slice_each_axis(|ax| Slice::from(r[ax.axis.index()].clone()))
}

fn view_mut<'a, T>(a: &'a mut ArrayD<T>, r: &[Range<usize>]) -> ArrayViewMutD<'a, T> {
    a.slice_each_axis_mut(|ax| Slice::from(r[ax.axis.index()].clone()))
}

/// An array of `shape` filled with `fill`, or [`RechunkError::TooLarge`] when its element count
/// does not fit `isize` (ndarray's limit; the allocation itself could never succeed).
fn alloc<T: Clone>(
    shape: &[usize],
    fill: T,
    what: &'static str,
) -> Result<ArrayD<T>, RechunkError> {
    let n = shape.iter().try_fold(1usize, |a, &x| a.checked_mul(x));
    if n.is_none_or(|n| isize::try_from(n).is_err()) {
        return Err(RechunkError::TooLarge { what });
    }
    Ok(ArrayD::from_elem(IxDyn(shape), fill))
}

/// The most arrays [`Execution::recycle`] keeps.
pub const MAX_SPARE: usize = 16;

fn target_len(r: &[Range<usize>]) -> usize {
    r.iter().map(|r| r.end - r.start).product()
}

fn len_of(r: &[Range<usize>]) -> Vec<usize> {
    r.iter().map(|r| r.end - r.start).collect()
}

/// Splits `view` into one disjoint view per box (index, region in `view`'s coordinates) when
/// the boxes form a grid: along each axis, boxes either share a range or do not overlap.
/// Returns `false` (with `out` partly filled) otherwise.
fn split_boxes<'v, T>(
    view: ArrayViewMutD<'v, T>,
    boxes: &[(usize, Vec<Range<usize>>)],
    axis: usize,
    out: &mut Vec<(usize, ArrayViewMutD<'v, T>)>,
) -> bool {
    if axis == view.ndim() {
        return match boxes {
            [(i, _)] => {
                out.push((*i, view));
                true
            }
            _ => false,
        };
    }
    let mut ranges: Vec<Range<usize>> = boxes.iter().map(|b| b.1[axis].clone()).collect();
    ranges.sort_by_key(|r| (r.start, r.end));
    ranges.dedup();
    if ranges.windows(2).any(|w| w[1].start < w[0].end) {
        return false;
    }
    let mut rest = view;
    let mut pos = 0;
    for r in ranges {
        if r.end > pos + rest.len_of(ndarray::Axis(axis)) || r.start < pos {
            return false;
        }
        let (_, tail) = rest.split_at(ndarray::Axis(axis), r.start - pos);
        let (band, tail) = tail.split_at(ndarray::Axis(axis), r.end - r.start);
        rest = tail;
        pos = r.end;
        let sub: Vec<(usize, Vec<Range<usize>>)> =
            boxes.iter().filter(|b| b.1[axis] == r).cloned().collect();
        if !split_boxes(band, &sub, axis + 1, out) {
            return false;
        }
    }
    true
}

impl<T, E, F> Execution<T, E, F>
where
    T: Clone + Send + Sync,
    F: Source<T, E>,
{
    /// Source callback calls so far.
    pub fn n_reads(&self) -> u64 {
        self.n_reads
    }

    /// The bytes held now and at most so far.
    pub fn memory(&self) -> MemoryStats {
        self.mem.stats
    }

    /// Sets the value new buffers are allocated with before they are overwritten (by default
    /// the first element of the first source block). Every cell is
    /// overwritten, so this only changes speed: a zero lets the allocator hand out fresh
    /// zeroed pages instead of filling them.
    pub fn with_fill(mut self, fill: T) -> Self {
        self.fill = Some(fill);
        self
    }

    /// Hands a yielded chunk back for reuse: a later target chunk of the same shape is written
    /// into it instead of a new allocation (on the direct path, where every cell of a target
    /// chunk is overwritten). At most [`MAX_SPARE`] arrays are kept; they are the caller's
    /// memory and are not counted by [`memory`](Self::memory).
    pub fn recycle(&mut self, array: ArrayD<T>) {
        if self.spare.len() < MAX_SPARE && array.is_standard_layout() {
            self.spare.push(array);
        }
    }

    /// A target chunk of `shape`: a recycled array when one fits, else a new one.
    fn target(&mut self, shape: &[usize], fill: &T) -> Result<ArrayD<T>, RechunkError> {
        match self.spare.iter().position(|a| a.shape() == shape) {
            Some(i) => Ok(self.spare.swap_remove(i)),
            None => alloc(shape, fill.clone(), "a target chunk"),
        }
    }

    fn fill_value(&self, data: &ArrayD<T>) -> Result<T, RechunkError> {
        self.fill
            .clone()
            .or_else(|| data.iter().next().cloned())
            .ok_or(RechunkError::Internal {
                what: "an empty source block",
            })
    }

    fn bytes(&self, elems: usize) -> u128 {
        elems as u128 * self.itemsize
    }

    /// Calls the source for a selection-relative read region; returns the absolute region and
    /// the block (counted as held).
    fn read(&mut self, rc: &[Range<i64>]) -> Result<TargetChunk<T>, ExecError<E>> {
        let abs = self.absolute(rc);
        let data = self.source.read(&abs).map_err(|error| ExecError::Source {
            region: abs.clone(),
            error,
        })?;
        self.n_reads += 1;
        let expected = len_of(&abs);
        if data.shape() != expected.as_slice() {
            return Err(RechunkError::SourceShape {
                region: abs,
                expected,
                got: data.shape().to_vec(),
            }
            .into());
        }
        self.mem.add_buffer(self.bytes(data.len()));
        Ok((abs, data))
    }

    fn run_group(&mut self, g: PlanGroup) -> Result<(), ExecError<E>> {
        match g.kind {
            GroupKind::Bulk => {
                let start = g.group_start.unwrap_or_default();
                if self.source.prefers_read_into() && self.fill.is_some() && self.bulk.is_none() {
                    let items = self.bulk_direct(&g.reads, g.writes, &start)?;
                    self.current = Current::Items {
                        items: items.into_iter(),
                        counted: false,
                    };
                    return Ok(());
                }
                for rc in &g.reads {
                    let (abs, data) = self.read(rc)?;
                    if self.bulk.is_none() {
                        let fill = self.fill_value(&data)?;
                        let buf = alloc(&self.buffer_shape, fill, "the bulk buffer")?;
                        self.mem.add_buffer(self.bytes(buf.len()));
                        self.bulk = Some(buf);
                    }
                    // Python: buffer[abs - sel.start - group_start] = block; abs - sel.start
                    // starts at the read's own start (never clipped there).
                    let dst: Vec<Range<usize>> = rc
                        .iter()
                        .zip(&abs)
                        .zip(&start)
                        .map(|((r, a), &gs)| {
                            let lo = (r.start - gs) as usize;
                            lo..lo + (a.end - a.start)
                        })
                        .collect();
                    if let Some(buf) = self.bulk.as_mut() {
                        copy_block(view_mut(buf, &dst), data.view())?;
                    }
                    self.mem.sub_buffer(self.bytes(data.len()));
                }
                self.current = Current::Bulk {
                    writes: g.writes.into_iter(),
                    start,
                };
            }
            GroupKind::Multi => {
                let mut buffers: Vec<Option<ArrayD<T>>> = vec![None; g.writes.len()];
                for rc in &g.reads {
                    let (_abs, data) = self.read(rc)?;
                    for (w, slot) in g.writes.iter().zip(buffers.iter_mut()) {
                        let clip: Vec<Range<i64>> = rc
                            .iter()
                            .zip(w)
                            .map(|(r, w)| r.start.max(w.start as i64)..r.end.min(w.end as i64))
                            .collect();
                        if clip.iter().any(|c| c.start >= c.end) {
                            continue;
                        }
                        let src: Vec<Range<usize>> = clip
                            .iter()
                            .zip(rc)
                            .map(|(c, r)| (c.start - r.start) as usize..(c.end - r.start) as usize)
                            .collect();
                        let dst: Vec<Range<usize>> = clip
                            .iter()
                            .zip(w)
                            .map(|(c, w)| {
                                (c.start - w.start as i64) as usize
                                    ..(c.end - w.start as i64) as usize
                            })
                            .collect();
                        if slot.is_none() {
                            let fill = self.fill_value(&data)?;
                            let arr = alloc(&len_of(w), fill, "a target chunk")?;
                            self.mem.add_buffer(self.bytes(arr.len()));
                            *slot = Some(arr);
                        }
                        if let Some(arr) = slot.as_mut() {
                            copy_block(view_mut(arr, &dst), view(&data, &src))?;
                        }
                    }
                    self.mem.sub_buffer(self.bytes(data.len()));
                }
                let mut items = Vec::with_capacity(g.writes.len());
                for (w, slot) in g.writes.into_iter().zip(buffers) {
                    let arr = slot.ok_or(RechunkError::Internal {
                        what: "a target chunk no read covers",
                    })?;
                    items.push((w, arr));
                }
                self.current = Current::Items {
                    items: items.into_iter(),
                    counted: true,
                };
            }
        }
        Ok(())
    }

    /// The absolute region of a selection-relative read.
    fn absolute(&self, rc: &[Range<i64>]) -> Vec<Range<usize>> {
        rc.iter()
            .zip(&self.offset)
            .zip(&self.shape)
            .map(|((r, &off), &len)| {
                // r.start >= -phase >= -offset, so the absolute start is >= 0.
                let a = (r.start + off as i64).max(0) as usize;
                let b = ((r.end + off as i64).max(0) as usize).min(len);
                a..b
            })
            .collect()
    }

    /// A bulk group read straight into its target chunks: each read's block is scattered by
    /// the source ([`Source::read_into`]) into the target chunks it overlaps, so no bulk buffer
    /// exists and no window is copied out of one. Memory is *accounted* as on the bulk-buffer
    /// path (the buffer from the first bulk group to the end, each block while copied, copies
    /// of parked chunks), so [`Execution::memory`] does not depend on the path; the direct
    /// path holds at most that (the group's target chunks are at most the buffer).
    fn bulk_direct(
        &mut self,
        reads: &[Vec<Range<i64>>],
        writes: Vec<Vec<Range<usize>>>,
        start: &[i64],
    ) -> Result<Vec<TargetChunk<T>>, ExecError<E>> {
        let fill = self.fill.clone().ok_or(RechunkError::Internal {
            what: "a direct bulk group without a fill value",
        })?;
        if self.bulk_accounted == 0 {
            let n: usize = self.buffer_shape.iter().product();
            self.bulk_accounted = self.bytes(n).max(1);
            self.mem.add_buffer(self.bulk_accounted);
        }
        // Each read's box in the group's (buffer) coordinates.
        let mut boxes = Vec::with_capacity(reads.len());
        let mut regions = Vec::with_capacity(reads.len());
        for rc in reads {
            let abs = self.absolute(rc);
            let dst: Vec<Range<usize>> = rc
                .iter()
                .zip(&abs)
                .zip(start)
                .map(|((r, a), &gs)| {
                    let lo = (r.start - gs) as usize;
                    lo..lo + (a.end - a.start)
                })
                .collect();
            let n = self.bytes(len_of(&abs).iter().product());
            self.mem.add_buffer(n);
            self.mem.sub_buffer(n);
            boxes.push(dst);
            regions.push(abs);
        }
        let mut targets = Vec::with_capacity(writes.len());
        for w in &writes {
            targets.push(self.target(&len_of(w), &fill)?);
        }
        // Split every target chunk into one view per overlapping read.
        let mut parts: Vec<Vec<SourcePart<'_, T>>> = (0..reads.len()).map(|_| Vec::new()).collect();
        for (w, target) in writes.iter().zip(targets.iter_mut()) {
            let local: Vec<Range<usize>> = w
                .iter()
                .zip(start)
                .map(|(r, &gs)| (r.start as i64 - gs) as usize..(r.end as i64 - gs) as usize)
                .collect();
            let mut overlaps = Vec::new();
            for (ri, b) in boxes.iter().enumerate() {
                let clip: Vec<Range<usize>> = b
                    .iter()
                    .zip(&local)
                    .map(|(b, l)| b.start.max(l.start)..b.end.min(l.end))
                    .collect();
                if clip.iter().all(|c| c.start < c.end) {
                    overlaps.push((ri, clip));
                }
            }
            // Target-relative boxes for the split; the part of the read's block.
            let rel: Vec<(usize, Vec<Range<usize>>)> = overlaps
                .iter()
                .map(|(ri, c)| {
                    let r = c
                        .iter()
                        .zip(&local)
                        .map(|(c, l)| c.start - l.start..c.end - l.start)
                        .collect();
                    (*ri, r)
                })
                .collect();
            let mut views = Vec::with_capacity(rel.len());
            if !split_boxes(target.view_mut(), &rel, 0, &mut views) {
                return Err(RechunkError::Internal {
                    what: "bulk reads that do not tile a target chunk",
                }
                .into());
            }
            // The views cover the target exactly when their sizes add up to it.
            let covered: usize = views.iter().map(|(_, v)| v.len()).sum();
            if covered != target_len(&local) {
                return Err(RechunkError::Internal {
                    what: "a target chunk the bulk reads do not cover",
                }
                .into());
            }
            for (ri, v) in views {
                let Some((_, clip)) = overlaps.iter().find(|(r, _)| *r == ri) else {
                    continue;
                };
                let part: Vec<Range<usize>> = clip
                    .iter()
                    .zip(&boxes[ri])
                    .map(|(c, b)| c.start - b.start..c.end - b.start)
                    .collect();
                parts[ri].push((part, v));
            }
        }
        let batch: Vec<SourceRead<'_, T>> = regions
            .into_iter()
            .zip(parts)
            .map(|(region, parts)| SourceRead { region, parts })
            .collect();
        self.n_reads += batch.len() as u64;
        self.source.read_into(batch)?;
        Ok(writes.into_iter().zip(targets).collect())
    }

    fn finish(&mut self) {
        self.finished = true;
        if let Some(b) = self.bulk.take() {
            self.mem.sub_buffer(self.bytes(b.len()));
        }
        if self.bulk_accounted > 0 {
            self.mem
                .sub_buffer(std::mem::take(&mut self.bulk_accounted));
        }
        for (_, (_, a)) in std::mem::take(&mut self.pending) {
            self.mem.sub_parked(self.bytes(a.len()));
        }
        // Uncounted items are accounted inside the bulk buffer: nothing more to release.
        if let Current::Items {
            items,
            counted: true,
        } = std::mem::replace(&mut self.current, Current::Idle)
        {
            for (_, a) in items {
                self.mem.sub_buffer(self.bytes(a.len()));
            }
        }
    }
}

impl<T, E, F> Iterator for Execution<T, E, F>
where
    T: Clone + Send + Sync,
    F: Source<T, E>,
{
    type Item = Result<TargetChunk<T>, ExecError<E>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.finished {
                return None;
            }
            if let Some((w, a)) = self.pending.remove(&self.next_idx) {
                self.next_idx += 1;
                self.mem.sub_parked(self.bytes(a.len()));
                return Some(Ok((w, a)));
            }
            match &mut self.current {
                Current::Bulk { writes, start } => {
                    let Some(w) = writes.next() else {
                        self.current = Current::Idle;
                        continue;
                    };
                    let idx = self
                        .plan
                        .canon_index(&w.iter().map(|r| r.start).collect::<Vec<_>>());
                    let local: Vec<Range<usize>> = w
                        .iter()
                        .zip(start.iter())
                        .map(|(r, &gs)| {
                            (r.start as i64 - gs) as usize..(r.end as i64 - gs) as usize
                        })
                        .collect();
                    let Some(buf) = self.bulk.as_ref() else {
                        self.finish();
                        return Some(Err(RechunkError::Internal {
                            what: "a bulk group without reads",
                        }
                        .into()));
                    };
                    let data = owned_copy(view(buf, &local));
                    if idx == self.next_idx {
                        self.next_idx += 1;
                        return Some(Ok((w, data)));
                    }
                    self.mem.add_parked(self.bytes(data.len()));
                    self.pending.insert(idx, (w, data));
                }
                Current::Items { items, counted } => {
                    let counted = *counted;
                    let Some((w, a)) = items.next() else {
                        self.current = Current::Idle;
                        continue;
                    };
                    let idx = self
                        .plan
                        .canon_index(&w.iter().map(|r| r.start).collect::<Vec<_>>());
                    let n = self.bytes(a.len());
                    if counted {
                        self.mem.sub_buffer(n);
                    }
                    if idx == self.next_idx {
                        self.next_idx += 1;
                        return Some(Ok((w, a)));
                    }
                    // An own buffer: parking it needs no copy (a direct item is accounted as
                    // the copy the bulk-buffer path would park).
                    self.mem.add_parked(n);
                    self.pending.insert(idx, (w, a));
                }
                Current::Idle => match self.plan.next_group() {
                    None => {
                        self.finish();
                        return None;
                    }
                    Some(g) => {
                        if let Err(e) = self.run_group(g) {
                            self.finish();
                            return Some(Err(e));
                        }
                    }
                },
            }
        }
    }
}

impl<T, E, F> std::iter::FusedIterator for Execution<T, E, F>
where
    T: Clone + Send + Sync,
    F: Source<T, E>,
{
}

#[cfg(test)]
mod tests;
