//! Rechunk planning (`algorithms.md` §2) and the plan groups of rechunkit's `_rechunk_plan`
//! (§3, "Plan").
//!
//! Internally every size is a `u128` (Python ints are unbounded; products of shapes and byte
//! counts stay exact far beyond any real array) and every position an `i64` (reads can start
//! before the selection, by up to the phase). Products that would overflow even `u128` saturate,
//! which only changes the outcome for arrays of more than 2^128 bytes.

use std::collections::{HashSet, VecDeque};
use std::ops::Range;

use crate::pyfloat::{int_div_f64, py_ceil_div};
use crate::{MAX_EXTENT, RechunkError, check_chunk, check_rank};

/// Above this many target chunks the read-shape candidate check of
/// [`calc_source_read_chunk_shape`] is skipped (rechunkit's `_SCORE_LIMIT`).
pub const SCORE_LIMIT: u128 = 20_000;

/// Positions are clamped to this (2^62) before they enter `i64` arithmetic; all extents are at
/// most [`MAX_EXTENT`] = 2^62, so clamping a read or ideal length changes no result.
const POS_CLAMP: u128 = MAX_EXTENT as u128;

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn to_u128(v: &[usize]) -> Vec<u128> {
    v.iter().map(|&x| x as u128).collect()
}

fn to_usize(v: &[u128], what: &'static str) -> Result<Vec<usize>, RechunkError> {
    v.iter()
        .map(|&x| usize::try_from(x).map_err(|_| RechunkError::TooLarge { what }))
        .collect()
}

fn sat_prod(it: impl IntoIterator<Item = u128>) -> u128 {
    it.into_iter().fold(1u128, u128::saturating_mul)
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `lcm(a, b)` for non-zero `a`, `b` below 2^64 (always fits `u128`).
fn lcm(a: u128, b: u128) -> u128 {
    a / gcd(a, b) * b
}

/// `i128` view of a non-negative byte count (saturating).
fn signed(x: u128) -> i128 {
    i128::try_from(x).unwrap_or(i128::MAX)
}

/// A position value (length or coordinate ≤ 2^62 after clamping) as `i64`.
fn pos(x: u128) -> i64 {
    // Clamped to 2^62 < i64::MAX, so the conversion cannot fail.
    i64::try_from(x.min(POS_CLAMP)).unwrap_or(i64::MAX)
}

/// The C-order Cartesian product of per-dimension lists (one empty tuple for zero lists).
fn product<T: Clone>(lists: &[Vec<T>]) -> Vec<Vec<T>> {
    if lists.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let total: usize = lists.iter().map(Vec::len).product();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; lists.len()];
    loop {
        out.push(
            idx.iter()
                .zip(lists)
                .map(|(&i, l)| l[i].clone())
                .collect::<Vec<T>>(),
        );
        let mut d = lists.len();
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < lists[d].len() {
                break;
            }
            idx[d] = 0;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// §2.2 ideal read shape.

/// The ideal read shape core: `lcm(s, t)`, clipped to `ceil(T/s)·s` where the extent is known
/// and positive.
fn ideal_core(s: &[u128], t: &[u128], extent: Option<&[u128]>) -> Vec<u128> {
    s.iter()
        .zip(t)
        .enumerate()
        .map(|(d, (&s, &t))| {
            let l = lcm(s, t);
            match extent.map(|e| e[d]) {
                Some(sh) if sh > 0 => l.min(py_ceil_div(sh, s).saturating_mul(s)),
                _ => l,
            }
        })
        .collect()
}

/// The minimum "ideal" read block between a source and a target chunk shape — rechunkit's
/// `calc_ideal_read_chunk_shape` (`algorithms.md` §2.2).
///
/// Per dimension `lcm(source, target)`: a block of that shape holds whole source chunks and whole
/// target chunks, so reading it reads every source chunk exactly once. When `shape` (the extent
/// the read blocks tile: the array shape, or the selection shape) is given, each dimension with
/// a positive extent is clipped to the smallest source-aligned cover of the extent,
/// `ceil(shape / source) · source`.
///
/// # Errors
///
/// [`RechunkError::DimMismatch`] if the arguments have different numbers of dimensions,
/// [`RechunkError::ZeroChunkDim`] for a zero chunk length, [`RechunkError::TooLarge`] if a chunk
/// length is above [`MAX_EXTENT`](crate::MAX_EXTENT) or the result does not fit `usize`.
///
/// # Example
///
/// ```
/// use cfdb_rechunk::calc_ideal_read_chunk_shape;
///
/// let src = [100, 100, 100];
/// let tgt = [1, 721, 1440];
/// assert_eq!(calc_ideal_read_chunk_shape(&src, &tgt, None)?, [100, 72_100, 7_200]);
/// assert_eq!(
///     calc_ideal_read_chunk_shape(&src, &tgt, Some(&[720, 721, 1440]))?,
///     [100, 800, 1500]
/// );
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
pub fn calc_ideal_read_chunk_shape(
    source_chunk_shape: &[usize],
    target_chunk_shape: &[usize],
    shape: Option<&[usize]>,
) -> Result<Vec<usize>, RechunkError> {
    let n = source_chunk_shape.len();
    check_rank("target chunk shape", n, target_chunk_shape.len())?;
    check_chunk(source_chunk_shape, "source chunk shape")?;
    check_chunk(target_chunk_shape, "target chunk shape")?;
    let extent = match shape {
        Some(sh) => {
            check_rank("shape", n, sh.len())?;
            Some(to_u128(sh))
        }
        None => None,
    };
    let ideal = ideal_core(
        &to_u128(source_chunk_shape),
        &to_u128(target_chunk_shape),
        extent.as_deref(),
    );
    to_usize(&ideal, "the ideal read chunk shape")
}

/// Bytes of a read block: `prod(ideal) · itemsize` — rechunkit's `calc_ideal_read_chunk_mem`.
///
/// # Errors
///
/// [`RechunkError::TooLarge`] if the product does not fit `u128`.
///
/// # Example
///
/// ```
/// use cfdb_rechunk::calc_ideal_read_chunk_mem;
///
/// assert_eq!(calc_ideal_read_chunk_mem(&[20, 10, 12], 4)?, 9600);
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
pub fn calc_ideal_read_chunk_mem(
    ideal_read_chunk_shape: &[usize],
    itemsize: usize,
) -> Result<u128, RechunkError> {
    ideal_read_chunk_shape
        .iter()
        .try_fold(itemsize as u128, |acc, &v| acc.checked_mul(v as u128))
        .ok_or(RechunkError::TooLarge {
            what: "the ideal read chunk memory",
        })
}

// ---------------------------------------------------------------------------------------------
// §2.3 memory model, §2.4 read shape.

/// The inputs of the read-shape planner, all as `u128`.
struct Planner<'a> {
    s: &'a [u128],
    t: &'a [u128],
    p: &'a [u128],
    b: u128,
    extent: Option<&'a [u128]>,
}

impl Planner<'_> {
    /// `buf(r) = prod max(r + p, t) · b`: the bytes the bulk buffer really allocates.
    fn buf(&self, r: &[u128]) -> u128 {
        buffer_bytes(r, self.t, self.p, self.b)
    }

    fn pending(&self, r: &[u128], extent: &[u128]) -> u128 {
        pending_bytes(r, extent, self.t, self.b)
    }

    fn read_shape(&self, factors: &[u128]) -> Vec<u128> {
        factors
            .iter()
            .zip(self.s)
            .map(|(&f, &s)| f.saturating_mul(s))
            .collect()
    }

    /// *enforce_pending(r, B)* of §2.4.
    fn enforce_pending(&self, r: Vec<u128>, budget: u128) -> Vec<u128> {
        let Some(extent) = self.extent else { return r };
        if self.buf(&r) > budget {
            return r;
        }
        let total = |rs: &[u128]| self.buf(rs).saturating_add(self.pending(rs, extent));
        let mut rs = r;
        let mut cur = total(&rs);
        while cur > budget {
            let mut shrunk = false;
            for d in 0..rs.len() {
                if rs[d] > self.s[d] {
                    let mut trial = rs.clone();
                    trial[d] -= self.s[d];
                    let tt = total(&trial);
                    if tt < cur {
                        rs = trial;
                        cur = tt;
                        shrunk = true;
                        break;
                    }
                }
            }
            if !shrunk {
                break; // irreducible residual
            }
        }
        rs
    }

    /// *Greedy shape for budget B* of §2.4 step 4.
    fn greedy(&self, k: &[u128], budget: u128) -> Vec<u128> {
        let n = k.len();
        let max_cells = budget / self.b;
        let tot_source = sat_prod(self.s.iter().copied());
        let capacity = (max_cells / tot_source).max(1);
        let total_k = sat_prod(k.iter().copied()).max(1);
        // Python: (capacity / total_k) ** (1.0 / source_len), float true division and pow().
        let exponent = std::hint::black_box(1.0 / n as f64);
        let scale = int_div_f64(capacity, total_k).powf(exponent);
        let mut f: Vec<u128> = k
            .iter()
            .map(|&kd| ((kd as f64 * scale) as u128).max(1))
            .collect();

        // Shrink the largest factor (first index on ties) until the true buffer fits.
        while self.buf(&self.read_shape(&f)) > budget && f.iter().any(|&x| x > 1) {
            let mut idx = 0;
            for i in 1..n {
                if f[i] > f[idx] {
                    idx = i;
                }
            }
            f[idx] = (f[idx] - 1).max(1);
        }

        // Grow by one the dims below their ideal factor, most compressed (largest k/n) first.
        loop {
            let mut grow: Vec<usize> = (0..n).filter(|&i| f[i] < k[i]).collect();
            if grow.is_empty() {
                break;
            }
            let keys: Vec<f64> = (0..n).map(|i| int_div_f64(k[i], f[i])).collect();
            // Stable sort, descending (Python's sort(reverse=True) keeps ties in order).
            grow.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]));
            let mut grew = false;
            for idx in grow {
                let mut g = f.clone();
                g[idx] += 1;
                if self.buf(&self.read_shape(&g)) <= budget {
                    f = g;
                    grew = true;
                    break;
                }
            }
            if !grew {
                break;
            }
        }

        // Trim to whole target chunks.
        let fin: Vec<u128> = f
            .iter()
            .zip(self.s)
            .zip(self.t)
            .map(|((&nd, &s), &t)| {
                let m = nd.saturating_mul(s) / t;
                if m == 0 {
                    nd.min(t.div_ceil(s))
                } else {
                    m.saturating_mul(t).div_ceil(s)
                }
            })
            .collect();
        self.enforce_pending(self.read_shape(&fin), budget)
    }
}

/// `prod_d max(r_d + p_d, t_d) · b` (rechunkit `_buffer_bytes`).
pub(crate) fn buffer_bytes(r: &[u128], t: &[u128], p: &[u128], b: u128) -> u128 {
    r.iter().zip(p).zip(t).fold(b, |acc, ((&r, &p), &t)| {
        acc.saturating_mul(r.saturating_add(p).max(t))
    })
}

/// rechunkit `_pending_bytes`: the bound on parked copies of bulk groups (§2.3).
pub(crate) fn pending_bytes(r: &[u128], extent: &[u128], t: &[u128], b: u128) -> u128 {
    let n = r.len();
    let tgt_bytes = sat_prod(t.iter().copied()).saturating_mul(b);
    let mut total = 0u128;
    for d in 0..n {
        let rows = py_ceil_div(r[d], t[d]);
        if rows <= 1 {
            continue;
        }
        let groups_faster = sat_prod((d + 1..n).map(|i| py_ceil_div(extent[i], r[i])));
        if groups_faster <= 1 {
            continue;
        }
        let chunks_faster = sat_prod((d + 1..n).map(|i| py_ceil_div(extent[i], t[i])));
        total = total.saturating_add(
            (rows - 1)
                .saturating_mul(chunks_faster)
                .saturating_mul(tgt_bytes),
        );
    }
    total
}

/// §2.4 in full, on `u128` inputs (ranks already checked, chunks non-zero, `b > 0`).
fn read_shape_core(
    s: &[u128],
    t: &[u128],
    b: u128,
    max_mem: u128,
    extent: Option<&[u128]>,
    phase: &[u128],
) -> Vec<u128> {
    let n = s.len();
    let pl = Planner {
        s,
        t,
        p: phase,
        b,
        extent,
    };
    let ideal = ideal_core(s, t, extent);

    // Floor: one source chunk already busts the budget; grow for free where the target forces
    // the buffer size anyway.
    if pl.buf(s) >= max_mem {
        return (0..n)
            .map(|d| {
                let cap = (s[d] + phase[d]).max(t[d]);
                let m = (cap - phase[d]) / s[d];
                ideal[d].min(s[d].max(m.saturating_mul(s[d])))
            })
            .collect();
    }

    let mut enforced_ideal = None;
    if pl.buf(&ideal) <= max_mem {
        let e = pl.enforce_pending(ideal.clone(), max_mem);
        if e == ideal || extent.is_none() {
            return e;
        }
        enforced_ideal = Some(e);
    }

    let k: Vec<u128> = ideal.iter().zip(s).map(|(&i, &s)| i / s).collect();
    let greedy = pl.greedy(&k, max_mem);

    let Some(extent) = extent else {
        return greedy;
    };
    let n_target = sat_prod(extent.iter().zip(t).map(|(&e, &t)| py_ceil_div(e, t)));
    if n_target == 0 || n_target > SCORE_LIMIT {
        return enforced_ideal.unwrap_or(greedy);
    }

    // Aligned snap of the greedy factors.
    let aligned = {
        let g: Vec<u128> = greedy.iter().zip(s).map(|(&g, &s)| g / s).collect();
        let mut snapped: Vec<u128> = g
            .iter()
            .zip(&k)
            .map(|(&nd, &qd)| {
                if qd > 1 && nd >= qd {
                    nd / qd * qd
                } else {
                    nd.max(1)
                }
            })
            .collect();
        loop {
            let mut grew = false;
            for d in 0..n {
                let step = if k[d] > 0 && snapped[d] >= k[d] {
                    k[d]
                } else {
                    1
                };
                let mut cand = snapped.clone();
                cand[d] = cand[d].saturating_add(step);
                if cand[d] <= k[d].max(1) && pl.buf(&pl.read_shape(&cand)) <= max_mem {
                    snapped = cand;
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        pl.enforce_pending(pl.read_shape(&snapped), max_mem)
    };

    let mut pool = vec![aligned];
    if let Some(e) = enforced_ideal {
        pool.push(e);
    }
    pool.push(greedy);
    pool.push(pl.greedy(&k, max_mem / 2));
    pool.push(s.to_vec());
    let mut candidates: Vec<Vec<u128>> = Vec::new();
    for c in pool {
        if !candidates.contains(&c) {
            candidates.push(c);
        }
    }
    if candidates.len() == 1 {
        return candidates.swap_remove(0);
    }

    // Score each candidate by running the real planner in counting mode; the synthetic
    // selection `phase..phase + T` reproduces the phase (mod s) and the extent.
    let phase_eff: Vec<u128> = phase.iter().zip(s).map(|(&p, &s)| p % s).collect();
    let mut best: Option<(u64, Vec<u128>)> = None;
    for cand in candidates {
        let spec = PlanSpec {
            extent: extent.to_vec(),
            phase: phase_eff.clone(),
            source: s.to_vec(),
            target: t.to_vec(),
            read: cand.clone(),
            ideal: ideal.clone(),
            itemsize: b,
            max_mem,
        };
        let reads = count_reads(&spec);
        if best.as_ref().is_none_or(|(r, _)| reads < *r) {
            best = Some((reads, cand));
        }
    }
    best.map(|(_, c)| c).unwrap_or_else(|| s.to_vec())
}

/// The number of source reads of the plan of `spec` (saturating).
fn count_reads(spec: &PlanSpec) -> u64 {
    let mut plan = Plan::new(spec.clone());
    let mut n = 0u64;
    while let Some(g) = plan.next_group() {
        n = n.saturating_add(g.reads.len() as u64);
    }
    n
}

/// The read block shape for a memory budget — rechunkit's `calc_source_read_chunk_shape`
/// (`algorithms.md` §2.3–2.4).
///
/// Returns a multiple of the source chunk shape whose true buffer,
/// `prod max(read + phase, target) · itemsize`, fits `max_mem` whenever that is possible: the
/// ideal shape (§2.2) if it fits (shrunk until the parked copies of bulk groups fit too), else a
/// greedy shape with the aspect ratio of the ideal, and — when `shape` (the extent the read
/// blocks tile) is given and has at most [`SCORE_LIMIT`] target chunks — the candidate with the
/// fewest reads among a few alternatives, scored by running the real planner. If even one source
/// chunk busts the budget, the floor (one source chunk, grown for free where the target forces
/// the buffer size) is returned and the budget will be exceeded.
///
/// `phase` is the per-dimension misalignment of a selection against the source grid
/// (`sel.start % source_chunk_shape`); `None` means zeros.
///
/// # Errors
///
/// [`RechunkError::DimMismatch`] if the arguments have different numbers of dimensions (rechunkit
/// raises `ValueError` for source vs target), [`RechunkError::ZeroChunkDim`] for a zero chunk
/// length, [`RechunkError::ZeroItemsize`], [`RechunkError::TooLarge`] for lengths above
/// [`MAX_EXTENT`](crate::MAX_EXTENT) or a result that does not fit `usize`.
///
/// # Example
///
/// ```
/// use cfdb_rechunk::calc_source_read_chunk_shape;
///
/// assert_eq!(calc_source_read_chunk_shape(&[2, 2], &[3, 3], 8, 100, None, None)?, [4, 2]);
/// // The floor with free growth: one source chunk is already over budget.
/// assert_eq!(calc_source_read_chunk_shape(&[5, 16], &[14, 2], 8, 640, None, None)?, [10, 16]);
/// assert_eq!(
///     calc_source_read_chunk_shape(
///         &[100, 100, 100],
///         &[1, 721, 1440],
///         8,
///         1 << 29,
///         Some(&[720, 721, 1440]),
///         None,
///     )?,
///     [100, 700, 1400]
/// );
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
pub fn calc_source_read_chunk_shape(
    source_chunk_shape: &[usize],
    target_chunk_shape: &[usize],
    itemsize: usize,
    max_mem: usize,
    shape: Option<&[usize]>,
    phase: Option<&[usize]>,
) -> Result<Vec<usize>, RechunkError> {
    let n = source_chunk_shape.len();
    check_rank("target chunk shape", n, target_chunk_shape.len())?;
    check_chunk(source_chunk_shape, "source chunk shape")?;
    check_chunk(target_chunk_shape, "target chunk shape")?;
    if itemsize == 0 {
        return Err(RechunkError::ZeroItemsize);
    }
    let extent = match shape {
        Some(sh) => {
            check_rank("shape", n, sh.len())?;
            if sh.iter().any(|&v| v > MAX_EXTENT) {
                return Err(RechunkError::TooLarge { what: "shape" });
            }
            Some(to_u128(sh))
        }
        None => None,
    };
    let phase = match phase {
        Some(p) => {
            check_rank("phase", n, p.len())?;
            if p.iter().any(|&v| v > MAX_EXTENT) {
                return Err(RechunkError::TooLarge { what: "phase" });
            }
            to_u128(p)
        }
        None => vec![0; n],
    };
    let r = read_shape_core(
        &to_u128(source_chunk_shape),
        &to_u128(target_chunk_shape),
        itemsize as u128,
        max_mem as u128,
        extent.as_deref(),
        &phase,
    );
    to_usize(&r, "the read chunk shape")
}

// ---------------------------------------------------------------------------------------------
// §2.5 counts.

/// The number of chunks of `chunk_shape` covering `shape`: `prod ceil(shape / chunk)` —
/// rechunkit's `calc_n_chunks`.
///
/// # Errors
///
/// [`RechunkError::DimMismatch`], [`RechunkError::ZeroChunkDim`], and
/// [`RechunkError::TooLarge`] if the count does not fit `u128`.
///
/// # Example
///
/// ```
/// use cfdb_rechunk::calc_n_chunks;
///
/// assert_eq!(calc_n_chunks(&[20, 20], &[7, 7])?, 9);
/// assert_eq!(calc_n_chunks(&[101], &[10])?, 11);
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
pub fn calc_n_chunks(shape: &[usize], chunk_shape: &[usize]) -> Result<u128, RechunkError> {
    check_rank("chunk shape", shape.len(), chunk_shape.len())?;
    if let Some(dim) = chunk_shape.iter().position(|&v| v == 0) {
        return Err(RechunkError::ZeroChunkDim {
            what: "chunk shape",
            dim,
        });
    }
    shape
        .iter()
        .zip(chunk_shape)
        .try_fold(1u128, |acc, (&s, &c)| {
            acc.checked_mul(py_ceil_div(s as u128, c as u128))
        })
        .ok_or(RechunkError::TooLarge {
            what: "the number of chunks",
        })
}

/// The brute-force read count — rechunkit's `calc_n_reads_simple`: for every target chunk, the
/// number of source chunks it overlaps, summed. An upper bound for any rechunk plan.
///
/// Computed per dimension (the count of a target chunk is a product over the dimensions), so it
/// costs `O(sum of target chunks per dimension)`, not `O(target chunks)`.
///
/// # Errors
///
/// [`RechunkError::DimMismatch`], [`RechunkError::ZeroChunkDim`], and
/// [`RechunkError::TooLarge`] if the count does not fit `u128`.
///
/// # Example
///
/// ```
/// use cfdb_rechunk::calc_n_reads_simple;
///
/// assert_eq!(calc_n_reads_simple(&[31, 31, 31], &[5, 2, 4], &[4, 5, 3])?, 3952);
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
pub fn calc_n_reads_simple(
    shape: &[usize],
    source_chunk_shape: &[usize],
    target_chunk_shape: &[usize],
) -> Result<u128, RechunkError> {
    let n = shape.len();
    check_rank("source chunk shape", n, source_chunk_shape.len())?;
    check_rank("target chunk shape", n, target_chunk_shape.len())?;
    check_chunk(source_chunk_shape, "source chunk shape")?;
    check_chunk(target_chunk_shape, "target chunk shape")?;
    let overflow = RechunkError::TooLarge {
        what: "the number of reads",
    };
    let mut total = 1u128;
    for d in 0..n {
        let (len, s, t) = (
            shape[d] as u128,
            source_chunk_shape[d] as u128,
            target_chunk_shape[d] as u128,
        );
        // Sum over the target chunks of this dimension of the source chunks each touches.
        let mut sum = 0u128;
        let mut w0 = 0u128;
        while w0 < len {
            let w1 = (w0 + t).min(len);
            let a = w0 / s * s;
            sum = sum
                .checked_add((w1 - a).div_ceil(s))
                .ok_or(overflow.clone())?;
            w0 += t;
        }
        total = total.checked_mul(sum).ok_or(overflow.clone())?;
    }
    Ok(total)
}

/// The number of source reads and target writes of the rechunk plan (§3) — rechunkit's
/// `calc_n_reads_rechunker`. `sel` restricts the rechunk to a selection (ranges inside `shape`);
/// the reads are those the executor ([`Rechunker::execute`](crate::Rechunker::execute)) makes.
///
/// # Errors
///
/// [`RechunkError::DimMismatch`], [`RechunkError::ZeroChunkDim`],
/// [`RechunkError::ZeroItemsize`], [`RechunkError::SelectionOutOfBounds`] for a selection
/// reaching past the array or reversed, [`RechunkError::TooLarge`] for lengths above
/// [`MAX_EXTENT`](crate::MAX_EXTENT) or more than 2^64 target chunks. Any `max_mem` is accepted
/// (as in rechunkit; tiny budgets give the floor plans).
///
/// # Example
///
/// ```
/// use cfdb_rechunk::calc_n_reads_rechunker;
///
/// let (s, t) = ([5, 2, 4], [4, 5, 3]);
/// assert_eq!(calc_n_reads_rechunker(&[31, 31, 31], 4, &s, &t, 2000, None)?, (2288, 616));
/// let sel = [3..21, 11..27, 7..17];
/// assert_eq!(calc_n_reads_rechunker(&[31, 31, 31], 4, &s, &t, 30000, Some(&sel))?, (219, 80));
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
pub fn calc_n_reads_rechunker(
    shape: &[usize],
    itemsize: usize,
    source_chunk_shape: &[usize],
    target_chunk_shape: &[usize],
    max_mem: usize,
    sel: Option<&[Range<usize>]>,
) -> Result<(u64, u64), RechunkError> {
    let spec = PlanSpec::new(
        shape,
        itemsize,
        source_chunk_shape,
        target_chunk_shape,
        max_mem,
        sel,
    )?;
    Ok(spec.counts())
}

// ---------------------------------------------------------------------------------------------
// §3 plan.

/// Everything the plan needs, validated (`u128` so the planner's arithmetic is uniform).
#[derive(Debug, Clone)]
pub(crate) struct PlanSpec {
    /// The tiled extent `T` (selection lengths).
    pub(crate) extent: Vec<u128>,
    /// `sel.start % s`.
    pub(crate) phase: Vec<u128>,
    pub(crate) source: Vec<u128>,
    pub(crate) target: Vec<u128>,
    /// The read shape (§2.4, or a scoring candidate).
    pub(crate) read: Vec<u128>,
    /// The ideal read shape clipped to the extent.
    pub(crate) ideal: Vec<u128>,
    pub(crate) itemsize: u128,
    pub(crate) max_mem: u128,
}

impl PlanSpec {
    /// Validates the arguments and plans the read shape (rechunkit: the start of
    /// `_rechunk_plan` / `rechunker`).
    pub(crate) fn new(
        shape: &[usize],
        itemsize: usize,
        source_chunk_shape: &[usize],
        target_chunk_shape: &[usize],
        max_mem: usize,
        sel: Option<&[Range<usize>]>,
    ) -> Result<Self, RechunkError> {
        let n = shape.len();
        check_rank("source chunk shape", n, source_chunk_shape.len())?;
        check_rank("target chunk shape", n, target_chunk_shape.len())?;
        check_chunk(source_chunk_shape, "source chunk shape")?;
        check_chunk(target_chunk_shape, "target chunk shape")?;
        if itemsize == 0 {
            return Err(RechunkError::ZeroItemsize);
        }
        if shape.iter().any(|&v| v > MAX_EXTENT) {
            return Err(RechunkError::TooLarge { what: "shape" });
        }
        let s = to_u128(source_chunk_shape);
        let t = to_u128(target_chunk_shape);
        let (extent, phase) = match sel {
            None => (to_u128(shape), vec![0; n]),
            Some(sel) => {
                check_rank("selection", n, sel.len())?;
                for (dim, (r, &len)) in sel.iter().zip(shape).enumerate() {
                    if r.start > r.end || r.end > len {
                        return Err(RechunkError::SelectionOutOfBounds {
                            dim,
                            start: r.start,
                            stop: r.end,
                            len,
                        });
                    }
                }
                (
                    sel.iter().map(|r| (r.end - r.start) as u128).collect(),
                    sel.iter()
                        .zip(&s)
                        .map(|(r, &s)| r.start as u128 % s)
                        .collect(),
                )
            }
        };
        let b = itemsize as u128;
        let m = max_mem as u128;
        let read = read_shape_core(&s, &t, b, m, Some(&extent), &phase);
        let ideal = ideal_core(&s, &t, Some(&extent));
        // Every position of the plan must be countable: at most 2^64 target chunks.
        let n_chunks = extent
            .iter()
            .zip(&t)
            .try_fold(1u128, |acc, (&e, &t)| acc.checked_mul(e.div_ceil(t)));
        if n_chunks.is_none_or(|c| c > u64::MAX as u128) {
            return Err(RechunkError::TooLarge {
                what: "the number of target chunks",
            });
        }
        Ok(Self {
            extent,
            phase,
            source: s,
            target: t,
            read,
            ideal,
            itemsize: b,
            max_mem: m,
        })
    }

    /// (reads, writes) of the whole plan.
    pub(crate) fn counts(&self) -> (u64, u64) {
        let mut plan = Plan::new(self.clone());
        let (mut r, mut w) = (0u64, 0u64);
        while let Some(g) = plan.next_group() {
            r = r.saturating_add(g.reads.len() as u64);
            w = w.saturating_add(g.writes.len() as u64);
        }
        (r, w)
    }
}

/// The kind of a [`PlanGroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKind {
    /// rechunkit `'bulk'`: the reads fill one shared buffer (placed at `group_start`), and the
    /// writes are windows of it.
    Bulk,
    /// rechunkit `'multi'`: a batch of target chunks with one buffer each; every read is
    /// scattered into every target chunk of the batch it overlaps.
    Multi,
}

/// One group of the rechunk plan (rechunkit `_rechunk_plan` entries), in selection-relative
/// coordinates.
///
/// Read regions are source-aligned tiles of the source chunk shape and may start before 0 (by up
/// to the phase) and, on the constrained path, end past the selection (the executor clips them to
/// the array). Write regions are target chunks clipped to the selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanGroup {
    /// Bulk or batched-single group.
    pub kind: GroupKind,
    /// The source reads, in the order they are made.
    pub reads: Vec<Vec<Range<i64>>>,
    /// The target chunks written, in plan order.
    pub writes: Vec<Vec<Range<usize>>>,
    /// Where the bulk buffer's origin sits (bulk groups only).
    pub group_start: Option<Vec<i64>>,
}

/// The rechunk plan: an iterator over its [`PlanGroup`]s, lazily generated (memory
/// `O(parked chunks)`, not `O(all chunks)`). Made by [`Rechunker::plan`](crate::Rechunker::plan).
#[derive(Debug, Clone)]
pub struct Plan {
    /// Clamped `i64` copies of the spec.
    g: Geo,
    mode: Mode,
}

#[derive(Debug, Clone)]
struct Geo {
    n: usize,
    extent: Vec<i64>,
    phase: Vec<i64>,
    s: Vec<i64>,
    t: Vec<i64>,
    r: Vec<i64>,
    ideal: Vec<i64>,
    /// Target chunks per dimension.
    counts: Vec<u64>,
    /// C-order strides of the target chunk grid.
    strides: Vec<u64>,
}

#[derive(Debug, Clone)]
enum Mode {
    Ideal(IdealWalk),
    Constrained(Box<Constrained>),
}

#[derive(Debug, Clone)]
struct IdealWalk {
    blocks: Vec<i64>,
    cur: Vec<i64>,
    done: bool,
}

#[derive(Debug, Clone)]
struct Constrained {
    use_bulk: bool,
    n_batch: usize,
    /// The walk over the target chunk grid.
    cur: Vec<u64>,
    idx: u64,
    walking: bool,
    /// Chunks ahead of the walk already written by a bulk group (canonical indices).
    written_ahead: HashSet<u64>,
    batch_writes: Vec<Vec<Range<usize>>>,
    batch_reads: Vec<Vec<Range<i64>>>,
    batch_seen: HashSet<Vec<i64>>,
    ready: VecDeque<PlanGroup>,
}

impl Plan {
    pub(crate) fn new(spec: PlanSpec) -> Self {
        let n = spec.extent.len();
        let v = |x: &[u128]| x.iter().map(|&x| pos(x)).collect::<Vec<i64>>();
        let counts: Vec<u64> = spec
            .extent
            .iter()
            .zip(&spec.target)
            .map(|(&e, &t)| u64::try_from(e.div_ceil(t)).unwrap_or(u64::MAX))
            .collect();
        let mut strides = vec![1u64; n];
        for d in (0..n.saturating_sub(1)).rev() {
            strides[d] = strides[d + 1].saturating_mul(counts[d + 1]);
        }
        let g = Geo {
            n,
            extent: v(&spec.extent),
            phase: v(&spec.phase),
            s: v(&spec.source),
            t: v(&spec.target),
            r: v(&spec.read),
            ideal: v(&spec.ideal),
            counts,
            strides,
        };
        let empty = g.extent.contains(&0);
        let mode = if spec.read == spec.ideal {
            let blocks: Vec<i64> = g
                .extent
                .iter()
                .zip(&g.ideal)
                .map(|(&e, &i)| if e == 0 { 0 } else { (e - 1) / i + 1 })
                .collect();
            Mode::Ideal(IdealWalk {
                cur: vec![0; n],
                blocks,
                done: empty,
            })
        } else {
            Mode::Constrained(Box::new(Constrained::new(&spec, &g, empty)))
        };
        Self { g, mode }
    }

    /// The canonical (C-order) index of the target chunk starting at `start`.
    pub(crate) fn canon_index(&self, start: &[usize]) -> u64 {
        canon(&self.g, start.iter().map(|&x| x as i64))
    }

    pub(crate) fn next_group(&mut self) -> Option<PlanGroup> {
        match &mut self.mode {
            Mode::Ideal(w) => w.next_group(&self.g),
            Mode::Constrained(c) => c.next_group(&self.g),
        }
    }
}

fn canon(g: &Geo, start: impl Iterator<Item = i64>) -> u64 {
    start
        .zip(&g.t)
        .zip(&g.strides)
        .fold(0u64, |acc, ((x, &t), &st)| {
            acc.wrapping_add((x / t) as u64 * st)
        })
}

impl Iterator for Plan {
    type Item = PlanGroup;

    fn next(&mut self) -> Option<PlanGroup> {
        self.next_group()
    }
}

impl IdealWalk {
    fn next_group(&mut self, g: &Geo) -> Option<PlanGroup> {
        if self.done {
            return None;
        }
        let mut reads = Vec::with_capacity(g.n);
        let mut writes = Vec::with_capacity(g.n);
        let mut gstart = Vec::with_capacity(g.n);
        for d in 0..g.n {
            let g0 = self.cur[d] * g.ideal[d];
            let g1 = (g0 + g.ideal[d]).min(g.extent[d]);
            let gs = g0 - g.phase[d];
            gstart.push(gs);
            // Source-aligned tiles from the phase-shifted start, clipped at g1.
            let mut rl = Vec::new();
            let mut a = gs;
            while a < g1 {
                let stop = (a + g.s[d]).min(g1);
                if stop > 0 {
                    rl.push(a..stop);
                }
                a += g.s[d];
            }
            reads.push(rl);
            // Target chunks of [g0, g1), clipped.
            let mut wl = Vec::new();
            let mut o = g.t[d] * (g0 / g.t[d]);
            while o < g1 {
                wl.push(o.max(g0) as usize..(o + g.t[d]).min(g1) as usize);
                o += g.t[d];
            }
            writes.push(wl);
        }
        // Advance the block odometer.
        let mut d = g.n;
        loop {
            if d == 0 {
                self.done = true;
                break;
            }
            d -= 1;
            self.cur[d] += 1;
            if self.cur[d] < self.blocks[d] {
                break;
            }
            self.cur[d] = 0;
        }
        Some(PlanGroup {
            kind: GroupKind::Bulk,
            reads: product(&reads),
            writes: product(&writes),
            group_start: Some(gstart),
        })
    }
}

/// rechunkit `_bulk_possible`: some target chunk's source-aligned read window fits `r`, in every
/// dimension independently.
fn bulk_possible(spec: &PlanSpec) -> bool {
    for d in 0..spec.extent.len() {
        let (ts, t, s, p, r) = (
            spec.extent[d],
            spec.target[d],
            spec.source[d],
            spec.phase[d],
            spec.read[d],
        );
        // Python: range(ceil(ts / t) if ts else 0), with float ceil.
        let n = if ts == 0 { 0 } else { py_ceil_div(ts, t) };
        let fits = |k: u128| {
            let start = k.saturating_mul(t);
            let stop = start.saturating_add(t).min(ts);
            // aligned = s * ((start + p) // s) - p, possibly negative.
            let aligned = signed((start + p) / s * s) - signed(p);
            signed(stop) - aligned <= signed(r)
        };
        // Full chunks repeat with period s / gcd(s, t) in k; the last chunk (partial, or past
        // the end when the float ceil overshoots) is checked separately, as is the last chunk
        // that is exactly partial.
        let period = s / gcd(s, t);
        let exact_last = ts.div_ceil(t).saturating_sub(1);
        let found = (0..n.min(period)).any(fits)
            || (n > 0 && fits(n - 1))
            || (exact_last < n && fits(exact_last));
        if !found {
            return false;
        }
    }
    true
}

impl Constrained {
    fn new(spec: &PlanSpec, g: &Geo, empty: bool) -> Self {
        let b = spec.itemsize;
        let m = signed(spec.max_mem);
        let src_bytes = signed(sat_prod(spec.source.iter().copied()).saturating_mul(b));
        let tgt_bytes = signed(sat_prod(spec.target.iter().copied()).saturating_mul(b));
        let buf_r = buffer_bytes(&spec.read, &spec.target, &spec.phase, b);
        let mut use_bulk = buf_r <= spec.max_mem && bulk_possible(spec);
        let (mut reserve, mut pending) = (0i128, 0i128);
        if use_bulk {
            reserve = signed(buf_r);
            pending = signed(pending_bytes(&spec.read, &spec.extent, &spec.target, b));
            let room = m
                .saturating_sub(src_bytes)
                .saturating_sub(reserve)
                .saturating_sub(pending);
            if room.div_euclid(tgt_bytes) < 2 {
                use_bulk = false;
                reserve = 0;
                pending = 0;
            }
        }
        let room = m
            .saturating_sub(src_bytes)
            .saturating_sub(reserve)
            .saturating_sub(pending);
        let n_batch = room.div_euclid(tgt_bytes).max(1);
        Self {
            use_bulk,
            n_batch: usize::try_from(n_batch).unwrap_or(usize::MAX),
            cur: vec![0; g.n],
            idx: 0,
            walking: !empty,
            written_ahead: HashSet::new(),
            batch_writes: Vec::new(),
            batch_reads: Vec::new(),
            batch_seen: HashSet::new(),
            ready: VecDeque::new(),
        }
    }

    fn flush(&mut self) -> PlanGroup {
        self.batch_seen.clear();
        PlanGroup {
            kind: GroupKind::Multi,
            reads: std::mem::take(&mut self.batch_reads),
            writes: std::mem::take(&mut self.batch_writes),
            group_start: None,
        }
    }

    fn next_group(&mut self, g: &Geo) -> Option<PlanGroup> {
        loop {
            if let Some(grp) = self.ready.pop_front() {
                return Some(grp);
            }
            if !self.walking {
                if self.batch_writes.is_empty() {
                    return None;
                }
                return Some(self.flush());
            }
            self.step(g);
        }
    }

    /// Processes the target chunk under the walk and advances the walk.
    fn step(&mut self, g: &Geo) {
        let idx = self.idx;
        if !self.written_ahead.remove(&idx) {
            self.visit(g, idx);
        }
        // Advance.
        self.idx += 1;
        let mut d = g.n;
        loop {
            if d == 0 {
                self.walking = false;
                return;
            }
            d -= 1;
            self.cur[d] += 1;
            if self.cur[d] < g.counts[d] {
                return;
            }
            self.cur[d] = 0;
        }
    }

    fn visit(&mut self, g: &Geo, idx: u64) {
        let n = g.n;
        let mut w0 = Vec::with_capacity(n);
        let mut w1 = Vec::with_capacity(n);
        let mut rcs = Vec::with_capacity(n);
        let mut rce = Vec::with_capacity(n);
        for d in 0..n {
            let a = self.cur[d] as i64 * g.t[d];
            let b = (a + g.t[d]).min(g.extent[d]);
            let start = g.s[d] * (a + g.phase[d]).div_euclid(g.s[d]) - g.phase[d];
            let stop = (start + g.r[d]).max(b).min(g.extent[d]);
            w0.push(a);
            w1.push(b);
            rcs.push(start);
            rce.push(stop);
        }
        // Window reads: unclipped s-tiles from the window start, minus tiles ending <= 0.
        let tiles = |d: usize| {
            let mut l = Vec::new();
            let mut a = rcs[d];
            while a < rce[d] {
                if a + g.s[d] > 0 {
                    l.push(a..a + g.s[d]);
                }
                a += g.s[d];
            }
            l
        };
        let fits = (0..n).all(|d| rce[d] - rcs[d] <= g.r[d]);
        if self.use_bulk && fits {
            let is_end = (0..n).any(|d| w1[d] == g.extent[d]);
            let mut wl = Vec::with_capacity(n);
            for d in 0..n {
                let mut l = Vec::new();
                let mut i = w0[d];
                while i < rce[d] {
                    let inside = i + g.t[d] <= rce[d];
                    let stop = (i + g.t[d]).min(g.extent[d]);
                    if (inside || is_end) && stop - rcs[d] <= g.r[d] && i < stop {
                        l.push(i..stop);
                    }
                    i += g.t[d];
                }
                wl.push(l);
            }
            let mut writes = Vec::new();
            for w in product(&wl) {
                let ci = canon(g, w.iter().map(|r| r.start));
                if ci == idx || (ci > idx && self.written_ahead.insert(ci)) {
                    writes.push(w.into_iter().map(to_urange).collect());
                }
            }
            let reads = product(&(0..n).map(tiles).collect::<Vec<_>>());
            if !self.batch_writes.is_empty() {
                let f = self.flush();
                self.ready.push_back(f);
            }
            self.ready.push_back(PlanGroup {
                kind: GroupKind::Bulk,
                reads,
                writes,
                group_start: Some(rcs),
            });
        } else {
            // Batched single: the reads of the window that overlap this chunk, de-duplicated
            // within the batch.
            let overlapping: Vec<Vec<Range<i64>>> = (0..n)
                .map(|d| {
                    tiles(d)
                        .into_iter()
                        .filter(|r| r.start.max(w0[d]) < r.end.min(w1[d]))
                        .collect()
                })
                .collect();
            for rc in product(&overlapping) {
                let key: Vec<i64> = rc.iter().map(|r| r.start).collect();
                if self.batch_seen.insert(key) {
                    self.batch_reads.push(rc);
                }
            }
            self.batch_writes.push(
                w0.iter()
                    .zip(&w1)
                    .map(|(&a, &b)| a as usize..b as usize)
                    .collect(),
            );
            if self.batch_writes.len() >= self.n_batch {
                let f = self.flush();
                self.ready.push_back(f);
            }
        }
    }
}

fn to_urange(r: Range<i64>) -> Range<usize> {
    r.start as usize..r.end as usize
}

#[cfg(test)]
mod tests;
