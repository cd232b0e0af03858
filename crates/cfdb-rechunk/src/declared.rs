//! cfdb's declared space for rechunking views and origin-shifted variables (`algorithms.md` §4).

use std::ops::Range;

use crate::{MAX_EXTENT, RechunkError, Rechunker, check_chunk, check_rank};

/// The coordinate space cfdb declares to rechunkit for a variable whose storage chunk grid is
/// shifted by its coordinate origins (a prepend gives negative origins), and optionally a view
/// (selection) of it.
///
/// A variable's element at index `i` lives at storage position `i + o` (`o` = the origin of its
/// coordinate), and storage chunks are anchored at storage position 0. With
/// `d = o mod chunk` (non-negative), the declared space is the index space shifted by `d`:
/// declared shape `= full shape + d`, declared selection `= (view or the full range) + d`, and
/// `storage = declared − (d − o)`. Because `d − o` is a multiple of the chunk length, every
/// source read the rechunk plan makes (source-aligned in declared space) hits exactly one
/// storage chunk.
///
/// Target chunks (the yields of [`Rechunker::execute`]) are relative to the selection, so they
/// are unaffected: they index the view (or the variable) directly.
///
/// # Example
///
/// ```
/// use cfdb_rechunk::DeclaredSpace;
///
/// // 11 values with chunk 3 after prepending 3 values: origin −3.
/// let space = DeclaredSpace::new(&[11], &[-3], &[3], None)?;
/// assert_eq!(space.offsets(), [0]);
/// // Origin −2 (d = 1): declared = index + 1.
/// let space = DeclaredSpace::new(&[11], &[-2], &[3], Some(&[4..9]))?;
/// assert_eq!(space.offsets(), [1]);
/// assert_eq!(space.shape(), [12]);
/// assert_eq!(space.selection(), [5..10]);
/// // Declared 3..6 is storage 0..3: exactly storage chunk 0.
/// assert_eq!(space.to_storage(&[3..6]), [0..3]);
/// let r = space.rechunker(8, &[4], 1 << 20)?;
/// assert_eq!(r.calc_n_reads()?, space.calc_n_reads_rechunker(8, &[4], 1 << 20)?);
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredSpace {
    chunk_shape: Vec<usize>,
    origins: Vec<i64>,
    offsets: Vec<usize>,
    shape: Vec<usize>,
    selection: Vec<Range<usize>>,
}

impl DeclaredSpace {
    /// The declared space of a variable of `full_shape` (its coordinates' lengths) with
    /// coordinate `origins`, stored in chunks of `chunk_shape`, restricted to `view` (index
    /// ranges of the variable; `None` = all of it).
    ///
    /// # Errors
    ///
    /// [`RechunkError::DimMismatch`] if the arguments do not have the same number of
    /// dimensions, [`RechunkError::ZeroChunkDim`] for a zero chunk length,
    /// [`RechunkError::SelectionOutOfBounds`] for a view range that is reversed or ends past the
    /// variable, [`RechunkError::TooLarge`] if a declared length exceeds
    /// [`MAX_EXTENT`](crate::MAX_EXTENT).
    pub fn new(
        full_shape: &[usize],
        origins: &[i64],
        chunk_shape: &[usize],
        view: Option<&[Range<usize>]>,
    ) -> Result<Self, RechunkError> {
        let n = full_shape.len();
        check_rank("origins", n, origins.len())?;
        check_rank("chunk shape", n, chunk_shape.len())?;
        check_chunk(chunk_shape, "chunk shape")?;
        if let Some(v) = view {
            check_rank("view", n, v.len())?;
            for (dim, (r, &len)) in v.iter().zip(full_shape).enumerate() {
                if r.start > r.end || r.end > len {
                    return Err(RechunkError::SelectionOutOfBounds {
                        dim,
                        start: r.start,
                        stop: r.end,
                        len,
                    });
                }
            }
        }
        let too_large = RechunkError::TooLarge {
            what: "the declared shape",
        };
        let mut offsets = Vec::with_capacity(n);
        let mut shape = Vec::with_capacity(n);
        for ((&o, &cs), &len) in origins.iter().zip(chunk_shape).zip(full_shape) {
            // cs <= MAX_EXTENT = 2^62 fits i64; rem_euclid is in 0..cs.
            let d = o.rem_euclid(cs as i64) as usize;
            let decl = len
                .checked_add(d)
                .filter(|&x| x <= MAX_EXTENT)
                .ok_or(too_large.clone())?;
            offsets.push(d);
            shape.push(decl);
        }
        let selection = match view {
            Some(v) => v
                .iter()
                .zip(&offsets)
                .map(|(r, &d)| r.start + d..r.end + d)
                .collect(),
            None => full_shape
                .iter()
                .zip(&offsets)
                .map(|(&len, &d)| d..len + d)
                .collect(),
        };
        Ok(Self {
            chunk_shape: chunk_shape.to_vec(),
            origins: origins.to_vec(),
            offsets,
            shape,
            selection,
        })
    }

    /// `d = origin mod chunk` per dimension: declared = index + d.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// The declared shape: full shape + d.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The declared selection: (view or the full range) + d. Always explicit, also without a
    /// view (passing none with `d ≠ 0` would make the rechunk phase-free).
    pub fn selection(&self) -> &[Range<usize>] {
        &self.selection
    }

    /// The storage chunk shape (the source chunk shape of the rechunk).
    pub fn chunk_shape(&self) -> &[usize] {
        &self.chunk_shape
    }

    /// Maps a declared region (as passed to the source callback) to storage positions:
    /// `declared − (d − origin)`. Storage chunk `k` covers `k·chunk .. (k+1)·chunk`.
    pub fn to_storage(&self, region: &[Range<usize>]) -> Vec<Range<i64>> {
        region
            .iter()
            .zip(&self.offsets)
            .zip(&self.origins)
            .map(|((r, &d), &o)| {
                let shift = d as i64 - o;
                r.start as i64 - shift..r.end as i64 - shift
            })
            .collect()
    }

    /// The rechunk of the selection into `target_chunk_shape` in declared space (cfdb
    /// `Rechunker.rechunk`). Source regions given to the callback are declared; map them with
    /// [`to_storage`](Self::to_storage).
    ///
    /// # Errors
    ///
    /// As [`Rechunker::new`].
    pub fn rechunker(
        &self,
        itemsize: usize,
        target_chunk_shape: &[usize],
        max_mem: usize,
    ) -> Result<Rechunker, RechunkError> {
        Rechunker::new(
            &self.shape,
            itemsize,
            &self.chunk_shape,
            target_chunk_shape,
            max_mem,
            Some(&self.selection),
        )
    }

    /// (reads, writes) of that rechunk (cfdb `Rechunker.calc_n_reads_rechunker`: the same
    /// transform, so the prediction equals the instrumented count). Unlike
    /// [`rechunker`](Self::rechunker), any budget is accepted, as in cfdb.
    ///
    /// # Errors
    ///
    /// As [`calc_n_reads_rechunker`](crate::calc_n_reads_rechunker).
    pub fn calc_n_reads_rechunker(
        &self,
        itemsize: usize,
        target_chunk_shape: &[usize],
        max_mem: usize,
    ) -> Result<(u64, u64), RechunkError> {
        crate::calc_n_reads_rechunker(
            &self.shape,
            itemsize,
            &self.chunk_shape,
            target_chunk_shape,
            max_mem,
            Some(&self.selection),
        )
    }
}
