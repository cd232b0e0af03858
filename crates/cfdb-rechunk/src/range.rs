//! `rechunkit.chunk_range` (`algorithms.md` §2.1).

use std::ops::Range;

use crate::{RechunkError, check_rank};

/// Iterates over the chunk grid of `step` between `start` and `stop`, yielding one region (a
/// range per dimension) per chunk in C order (last dimension fastest) — rechunkit's
/// `chunk_range`.
///
/// Per dimension the grid origins run from `step · floor(start / step)` (with
/// `include_partial_chunks`) or from the first multiple of `step` that is `≥ start` (without),
/// up to (excluding) `stop`. Each chunk is `origin..origin + step`, clipped to `start..stop`
/// when `clip_ends` is set. Without `include_partial_chunks` only chunks lying entirely inside
/// `start..stop` are yielded (`clip_ends` then changes nothing). `start = None` means zeros.
///
/// A zero-dimensional grid (empty `stop`) yields one empty region, like Python's
/// `itertools.product()`; a dimension with `start ≥ stop` yields nothing.
///
/// # Errors
///
/// [`RechunkError::DimMismatch`] if `start`, `stop` and `step` have different lengths (Python
/// would silently truncate to the shortest), [`RechunkError::ZeroChunkDim`] if a step is 0
/// (Python's `range` raises `ValueError`).
///
/// # Example
///
/// ```
/// use cfdb_rechunk::chunk_range;
///
/// let chunks: Vec<_> = chunk_range(Some(&[1, 0]), &[5, 4], &[3, 2], true, true)?.collect();
/// assert_eq!(chunks, [
///     vec![1..3, 0..2],
///     vec![1..3, 2..4],
///     vec![3..5, 0..2],
///     vec![3..5, 2..4],
/// ]);
/// // Unclipped, and only whole chunks.
/// let whole: Vec<_> = chunk_range(Some(&[1, 0]), &[7, 4], &[3, 2], false, false)?.collect();
/// assert_eq!(whole, [vec![3..6, 0..2], vec![3..6, 2..4]]);
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
pub fn chunk_range(
    start: Option<&[usize]>,
    stop: &[usize],
    step: &[usize],
    include_partial_chunks: bool,
    clip_ends: bool,
) -> Result<ChunkRange, RechunkError> {
    let ndims = stop.len();
    check_rank("step", ndims, step.len())?;
    let start = match start {
        Some(s) => {
            check_rank("start", ndims, s.len())?;
            s.to_vec()
        }
        None => vec![0; ndims],
    };
    if let Some(dim) = step.iter().position(|&v| v == 0) {
        return Err(RechunkError::ZeroChunkDim { what: "step", dim });
    }
    let mut first = Vec::with_capacity(ndims);
    let mut empty = false;
    for ((&sc, &cs), &ec) in start.iter().zip(step).zip(stop) {
        let origin = if include_partial_chunks {
            Some(cs * (sc / cs))
        } else if sc == 0 {
            Some(0)
        } else {
            // cs * (((sc - 1) // cs) + 1): the first multiple of cs that is >= sc.
            ((sc - 1) / cs + 1).checked_mul(cs)
        };
        match origin {
            Some(o) if o < ec => first.push(o),
            _ => {
                empty = true;
                first.push(0);
            }
        }
    }
    Ok(ChunkRange {
        cur: first.clone(),
        first,
        start,
        stop: stop.to_vec(),
        step: step.to_vec(),
        include_partial_chunks,
        clip_ends,
        done: empty,
    })
}

/// The iterator returned by [`chunk_range`]: one `Vec<Range<usize>>` per chunk, in C order.
#[derive(Debug, Clone)]
pub struct ChunkRange {
    first: Vec<usize>,
    start: Vec<usize>,
    stop: Vec<usize>,
    step: Vec<usize>,
    include_partial_chunks: bool,
    clip_ends: bool,
    cur: Vec<usize>,
    done: bool,
}

impl ChunkRange {
    /// The clipped grid of `step` over `0..stop` (ranks equal, steps non-zero: checked by the
    /// caller).
    pub(crate) fn grid(stop: &[usize], step: &[usize]) -> Self {
        let n = stop.len();
        Self {
            first: vec![0; n],
            start: vec![0; n],
            stop: stop.to_vec(),
            step: step.to_vec(),
            include_partial_chunks: true,
            clip_ends: true,
            cur: vec![0; n],
            done: stop.contains(&0) || step.contains(&0),
        }
    }

    /// Moves `cur` to the next grid position (C order); sets `done` after the last.
    fn advance(&mut self) {
        for d in (0..self.cur.len()).rev() {
            let next = self.cur[d].checked_add(self.step[d]);
            match next {
                Some(n) if n < self.stop[d] => {
                    self.cur[d] = n;
                    return;
                }
                _ => self.cur[d] = self.first[d],
            }
        }
        self.done = true;
    }
}

impl Iterator for ChunkRange {
    type Item = Vec<Range<usize>>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let mut inside = true;
            let mut res = Vec::with_capacity(self.cur.len());
            for d in 0..self.cur.len() {
                let i = self.cur[d];
                let (ec, sc) = (self.stop[d], self.start[d]);
                // An unclipped stop past usize::MAX saturates (Python's ints would not), but it
                // still counts as past the end.
                let (mut stop, over) = match i.checked_add(self.step[d]) {
                    Some(x) => (x, x > ec),
                    None => (usize::MAX, true),
                };
                if over {
                    if self.clip_ends {
                        stop = ec;
                    }
                    inside = false;
                }
                let mut start = i;
                if start < sc {
                    if self.clip_ends {
                        start = sc;
                    }
                    inside = false;
                }
                res.push(start..stop);
            }
            self.advance();
            if inside || self.include_partial_chunks {
                return Some(res);
            }
        }
        None
    }
}

impl std::iter::FusedIterator for ChunkRange {}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // regions of one dimension
mod tests {
    use super::*;

    fn collect(
        start: Option<&[usize]>,
        stop: &[usize],
        step: &[usize],
        partial: bool,
        clip: bool,
    ) -> Vec<Vec<Range<usize>>> {
        chunk_range(start, stop, step, partial, clip)
            .unwrap()
            .collect()
    }

    #[test]
    fn basic_c_order() {
        let got = collect(None, &[10, 10], &[5, 5], true, true);
        assert_eq!(
            got,
            [
                vec![0..5, 0..5],
                vec![0..5, 5..10],
                vec![5..10, 0..5],
                vec![5..10, 5..10]
            ]
        );
        // Partial end chunks, clipped and unclipped.
        assert_eq!(
            collect(None, &[7], &[3], true, true),
            [[0..3], [3..6], [6..7]]
        );
        assert_eq!(
            collect(None, &[7], &[3], true, false),
            [[0..3], [3..6], [6..9]]
        );
        assert_eq!(collect(None, &[7], &[3], false, true), [[0..3], [3..6]]);
    }

    #[test]
    fn misaligned_start() {
        // Python: list(chunk_range((4,), (11,), (3,))) == [(slice(4, 6),), (slice(6, 9),),
        // (slice(9, 11),)]; unclipped the first is slice(3, 6).
        assert_eq!(
            collect(Some(&[4]), &[11], &[3], true, true),
            [[4..6], [6..9], [9..11]]
        );
        assert_eq!(
            collect(Some(&[4]), &[11], &[3], true, false),
            [[3..6], [6..9], [9..12]]
        );
        assert_eq!(collect(Some(&[4]), &[11], &[3], false, true), [[6..9]]);
        assert_eq!(
            collect(Some(&[6]), &[12], &[3], false, true),
            [[6..9], [9..12]]
        );
    }

    #[test]
    fn empty_and_zero_dims() {
        assert_eq!(
            collect(None, &[], &[], true, true),
            [Vec::<Range<usize>>::new()]
        );
        assert!(collect(None, &[0, 5], &[2, 2], true, true).is_empty());
        // Python yields one empty (clipped) chunk here: the grid origin 4 is below the stop.
        assert_eq!(collect(Some(&[5]), &[5], &[2], true, true), [[5..5]]);
        assert!(collect(Some(&[6]), &[5], &[2], true, true).is_empty());
        assert!(collect(Some(&[3]), &[4], &[5], false, true).is_empty());
        assert_eq!(
            chunk_range(None, &[3], &[0], true, true).unwrap_err(),
            RechunkError::ZeroChunkDim {
                what: "step",
                dim: 0
            }
        );
        assert!(matches!(
            chunk_range(None, &[3, 3], &[1], true, true),
            Err(RechunkError::DimMismatch { .. })
        ));
        assert!(matches!(
            chunk_range(Some(&[0]), &[3, 3], &[1, 1], true, true),
            Err(RechunkError::DimMismatch { .. })
        ));
        // Huge values do not overflow.
        let big = usize::MAX - 1;
        assert_eq!(
            collect(
                Some(&[big - 1]),
                &[usize::MAX],
                &[usize::MAX / 2],
                true,
                true
            ),
            [[big - 1..big], [big..usize::MAX]]
        );
        assert!(collect(Some(&[big]), &[usize::MAX], &[usize::MAX / 2], false, true).is_empty());
    }
}
