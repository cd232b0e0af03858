//! Chunk-shape index math of cfdb, compatible with rechunkit 0.6.0 (`algorithms.md` §1–§4).
//!
//! Everything here is pure index arithmetic: no file access, no knowledge of cfdb's storage.
//!
//! | item | rechunkit / cfdb | spec |
//! |---|---|---|
//! | [`guess_chunk_shape`] | `guess_chunk_shape` | §1 |
//! | [`chunk_range`] | `chunk_range` | §2.1 |
//! | [`calc_ideal_read_chunk_shape`], [`calc_ideal_read_chunk_mem`] | same names | §2.2 |
//! | [`calc_source_read_chunk_shape`] | same name | §2.3–2.4 |
//! | [`calc_n_chunks`], [`calc_n_reads_simple`], [`calc_n_reads_rechunker`] | same names | §2.5 |
//! | [`Rechunker::plan`] | `_rechunk_plan` (the plan groups) | §3 |
//! | [`Rechunker::execute`] | `rechunker` (the generator) | §3 |
//! | [`DeclaredSpace`] | cfdb `Rechunker.rechunk` / `calc_n_reads_rechunker` | §4 |
//!
//! Plans (read shapes, read regions, read and write counts, the order of target chunks) are
//! identical to rechunkit's; the Python comparison test in `tests/tests/rechunk_plan_python.rs`
//! checks them on hundreds of random cases.
//!
//! # Memory
//!
//! The executor holds what rechunkit's generator holds, byte for byte (also checked against
//! Python at every yield): the bulk buffer, the buffers of the current batch, the source block
//! being copied, and the target chunks produced ahead of their turn ("parked"). The buffers stay
//! within [`Rechunker::buffer_bound`] (`max(max_mem, bulk buffer)` plus one source and one
//! target chunk — rechunkit's floors). The parked chunks are dictated by the reference order and
//! reads; rechunkit budgets them with its pending model (§2.3), which some plans exceed (rows a
//! bulk group leaves for a partial end chunk, residual bands in dimensions other than the first,
//! and floor plans that take the ideal path), so `algorithms.md` §3's claim that `max_mem`
//! bounds everything but the floors and the dimension-0 residual does not hold for those plans —
//! in rechunkit as here. [`Rechunker::simulate_memory`] predicts a run's exact peak.
//!
//! # Differences from rechunkit (all deliberate)
//!
//! - Arguments with mismatched numbers of dimensions are refused
//!   ([`RechunkError::DimMismatch`]); rechunkit only checks source vs target in
//!   `calc_source_read_chunk_shape` and otherwise silently truncates with `zip`.
//! - Reversed selections (`start > stop`) are refused; rechunkit would plan a negative extent.
//! - [`Rechunker::new`] refuses a budget below one element ([`RechunkError::BudgetTooSmall`]);
//!   the planning functions accept any budget, as rechunkit does.
//! - Lengths are limited to [`MAX_EXTENT`] (2^62) and a plan to 2^64 target chunks; byte counts
//!   are `u128` and saturate only beyond 2^128 (Python's ints never overflow). An unclipped
//!   [`chunk_range`] end past `usize::MAX` saturates.
//! - Yielded target chunks are owned arrays (rechunkit yields views into its reused buffer);
//!   [`Execution::recycle`] hands them back for reuse.
//! - With a [`Source`] that [prefers `read_into`](Source::prefers_read_into) and a fill value
//!   ([`Execution::with_fill`]), bulk groups skip the bulk buffer: each block is scattered
//!   straight into the group's target chunks (one copy instead of two). Reads, yields and the
//!   accounted memory are the same as on the bulk-buffer path.
//!
//! # Example
//!
//! ```
//! use cfdb_rechunk::Rechunker;
//! use ndarray::{ArrayD, IxDyn};
//!
//! // A 6 x 8 array stored in 4 x 3 chunks, rechunked into 2 x 8 chunks with a 256-byte budget.
//! let source = ArrayD::from_shape_fn(IxDyn(&[6, 8]), |ix| (ix[0] * 8 + ix[1]) as i32);
//! let rechunker = Rechunker::new(&[6, 8], 4, &[4, 3], &[2, 8], 256, None)?;
//! let mut reads = 0;
//! let mut out = ArrayD::zeros(IxDyn(&[6, 8]));
//! for item in rechunker.execute(|region| {
//!     reads += 1;
//!     Ok::<_, std::convert::Infallible>(
//!         source.slice_each_axis(|ax| region[ax.axis.index()].clone().into()).to_owned(),
//!     )
//! }) {
//!     let (region, chunk) = item?;
//!     out.slice_each_axis_mut(|ax| region[ax.axis.index()].clone().into()).assign(&chunk);
//! }
//! assert_eq!(out, source);
//! assert_eq!(reads as u64, rechunker.calc_n_reads()?.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod copy;
mod declared;
mod exec;
mod guess;
mod plan;
mod pyfloat;
mod range;

use std::ops::Range;

pub use copy::{copy_block, owned_copy};
pub use declared::DeclaredSpace;
pub use exec::{
    ExecError, Execution, FnSource, MAX_SPARE, MemoryStats, Rechunker, Source, SourcePart,
    SourceRead, TargetChunk,
};
pub use guess::{COMPOSITE_NUMBERS, DEFAULT_TARGET_CHUNK_SIZE, guess_chunk_shape};
pub use plan::{
    GroupKind, Plan, PlanGroup, SCORE_LIMIT, calc_ideal_read_chunk_mem,
    calc_ideal_read_chunk_shape, calc_n_chunks, calc_n_reads_rechunker, calc_n_reads_simple,
    calc_source_read_chunk_shape,
};
pub use range::{ChunkRange, chunk_range};

/// The largest array length, chunk length or selection bound the planner and the executor
/// accept: 2^62. Positions are computed in `i64` (reads may start before the selection), and
/// this leaves room for every intermediate sum.
pub const MAX_EXTENT: usize = 1 << 62;

/// Invalid input to a function of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RechunkError {
    /// A dimension of the shape is 0 (rechunkit: "A chunk shape cannot have a zero-length dim").
    #[error("all values in the shape must be > 0, but dimension {dim} is 0")]
    ZeroDim {
        /// The index of the zero-length dimension.
        dim: usize,
    },
    /// The element size is 0 bytes.
    #[error("itemsize must be > 0")]
    ZeroItemsize,
    /// A chunk shape (or a `chunk_range` step) has a zero-length dimension.
    #[error("the {what} must be > 0 in every dimension, but dimension {dim} is 0")]
    ZeroChunkDim {
        /// Which argument: `"source chunk shape"`, `"target chunk shape"`, `"step"`, ….
        what: &'static str,
        /// The index of the zero-length dimension.
        dim: usize,
    },
    /// Two arguments that must have one entry per dimension have different lengths.
    #[error("the {what} has {got} dimensions, expected {expected}")]
    DimMismatch {
        /// Which argument has the wrong number of dimensions.
        what: &'static str,
        /// The number of dimensions of the array (or of the first argument).
        expected: usize,
        /// The number of dimensions given.
        got: usize,
    },
    /// A selection range is reversed or reaches past the array (rechunkit: "The selection must
    /// be a subset of the source").
    #[error("the selection {start}..{stop} of dimension {dim} is not inside 0..{len}")]
    SelectionOutOfBounds {
        /// The dimension.
        dim: usize,
        /// The selection start.
        start: usize,
        /// The selection stop.
        stop: usize,
        /// The array length in that dimension.
        len: usize,
    },
    /// The memory budget cannot hold a single element. Any budget of at least `itemsize` bytes
    /// works: below one source chunk the executor falls back to the documented floors (one
    /// source chunk plus one target chunk), exactly as rechunkit does.
    #[error("max_mem {max_mem} is below the minimum of {minimum} bytes (one element)")]
    BudgetTooSmall {
        /// The budget given.
        max_mem: usize,
        /// The minimum budget: one element (`itemsize` bytes).
        minimum: usize,
    },
    /// A length is above [`MAX_EXTENT`], or an internal size (a chunk count, the ideal read
    /// shape) does not fit the integer types used.
    #[error("{what} is too large for the rechunk planner")]
    TooLarge {
        /// What overflowed.
        what: &'static str,
    },
    /// The source callback returned an array whose shape is not the shape of the region asked
    /// for.
    #[error("the source returned shape {got:?} for region {region:?}, expected {expected:?}")]
    SourceShape {
        /// The region (absolute, in the source array) that was asked for.
        region: Vec<Range<usize>>,
        /// The shape of that region.
        expected: Vec<usize>,
        /// The shape of the returned array.
        got: Vec<usize>,
    },
    /// An internal invariant of the plan broke (a bug in this crate; never expected).
    #[error("internal rechunk error: {what}")]
    Internal {
        /// What broke.
        what: &'static str,
    },
}

/// Checks that every entry of `chunk` is non-zero and at most [`MAX_EXTENT`].
fn check_chunk(chunk: &[usize], what: &'static str) -> Result<(), RechunkError> {
    if let Some(dim) = chunk.iter().position(|&v| v == 0) {
        return Err(RechunkError::ZeroChunkDim { what, dim });
    }
    if chunk.iter().any(|&v| v > MAX_EXTENT) {
        return Err(RechunkError::TooLarge { what });
    }
    Ok(())
}

/// Checks that `got` has `expected` entries.
fn check_rank(what: &'static str, expected: usize, got: usize) -> Result<(), RechunkError> {
    if expected == got {
        Ok(())
    } else {
        Err(RechunkError::DimMismatch {
            what,
            expected,
            got,
        })
    }
}
