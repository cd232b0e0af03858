//! The encode hot path: one pass from a (possibly strided) view of values to the payload.
//!
//! Each cell is mapped to its stored word (the little-endian bits of the stored element) and
//! staged in a fixed block of [`B`] words that stays in L1; full blocks are written straight
//! into the payload, split into byte planes when shuffled, with fixed-size loops that the
//! compiler vectorises (the mirror of the decode side's unshuffle). The gather walks the view
//! row by row along its last axis (slices when the last axis is contiguous), so the caller's
//! array is never copied into an intermediate chunk.

use ndarray::{ArrayView, ArrayView1, ArrayViewD, Dimension, Ix1, Ix2, Ix3, Ix4, Ix5, Ix6};

/// Words per staged block.
pub(crate) const B: usize = 64;

/// The `B` bytes of `p` from `pos`, as a fixed-size block.
#[inline(always)]
fn blk(p: &mut [u8], pos: usize) -> Option<&mut [u8; B]> {
    p.get_mut(pos..)?.first_chunk_mut::<B>()
}

/// Writes every value's `N` little-endian bytes in order, from value position `pos`.
#[inline(always)]
fn le_run<const N: usize, W: Copy>(
    vals: &[W],
    p: &mut [u8],
    pos: usize,
    le: impl Fn(W) -> [u8; N],
) {
    let Some(dst) = p.get_mut(pos * N..(pos + vals.len()) * N) else {
        return;
    };
    for (d, w) in dst.as_chunks_mut::<N>().0.iter_mut().zip(vals) {
        *d = le(*w);
    }
}

/// Writes byte `j` of every value into plane `j`, from value position `pos`.
#[inline(always)]
fn plane_run<W: Copy>(
    vals: &[W],
    planes: &mut [&mut [u8]],
    pos: usize,
    byte: impl Fn(W, usize) -> u8,
) {
    for (j, p) in planes.iter_mut().enumerate() {
        if let Some(q) = p.get_mut(pos..pos + vals.len()) {
            for (d, w) in q.iter_mut().zip(vals) {
                *d = byte(*w, j);
            }
        }
    }
}

/// An unsigned word holding a stored element's little-endian bits.
///
/// The payload is given as `planes`: one slice holding every value's bytes in order (not
/// shuffled, or 1-byte values), or `N` byte planes of `n` bytes each (shuffled).
pub(crate) trait Word: Copy + Default + Send + Sync + 'static {
    /// Bytes per value.
    const N: usize;
    /// Writes `block` at value positions `pos..pos + B`.
    fn put_block(block: &[Self; B], planes: &mut [&mut [u8]], pos: usize);
    /// Writes `vals` at value positions `pos..pos + vals.len()`.
    fn put_run(vals: &[Self], planes: &mut [&mut [u8]], pos: usize);
}

impl Word for u8 {
    const N: usize = 1;
    #[inline(always)]
    fn put_block(block: &[Self; B], planes: &mut [&mut [u8]], pos: usize) {
        if let [p] = planes
            && let Some(q) = blk(p, pos)
        {
            *q = *block;
        }
    }
    #[inline(always)]
    fn put_run(vals: &[Self], planes: &mut [&mut [u8]], pos: usize) {
        if let [p] = planes
            && let Some(q) = p.get_mut(pos..pos + vals.len())
        {
            q.copy_from_slice(vals);
        }
    }
}

impl Word for u16 {
    const N: usize = 2;
    #[inline(always)]
    fn put_block(block: &[Self; B], planes: &mut [&mut [u8]], pos: usize) {
        match planes {
            [p] => le_run(block, p, pos, u16::to_le_bytes),
            [p0, p1] => {
                let (Some(q0), Some(q1)) = (blk(p0, pos), blk(p1, pos)) else {
                    return;
                };
                for k in 0..B {
                    q0[k] = block[k] as u8;
                    q1[k] = (block[k] >> 8) as u8;
                }
            }
            _ => {}
        }
    }
    #[inline(always)]
    fn put_run(vals: &[Self], planes: &mut [&mut [u8]], pos: usize) {
        match planes {
            [p] => le_run(vals, p, pos, u16::to_le_bytes),
            _ => plane_run(vals, planes, pos, |w, j| (w >> (8 * j)) as u8),
        }
    }
}

impl Word for u32 {
    const N: usize = 4;
    #[inline(always)]
    fn put_block(block: &[Self; B], planes: &mut [&mut [u8]], pos: usize) {
        match planes {
            [p] => le_run(block, p, pos, u32::to_le_bytes),
            [p0, p1, p2, p3] => {
                let (Some(q0), Some(q1), Some(q2), Some(q3)) =
                    (blk(p0, pos), blk(p1, pos), blk(p2, pos), blk(p3, pos))
                else {
                    return;
                };
                // Two split stages (u32 to u16 halves, u16 to bytes) vectorise to packs.
                let mut lo = [0u16; B];
                let mut hi = [0u16; B];
                for k in 0..B {
                    lo[k] = block[k] as u16;
                    hi[k] = (block[k] >> 16) as u16;
                }
                for k in 0..B {
                    q0[k] = lo[k] as u8;
                    q1[k] = (lo[k] >> 8) as u8;
                    q2[k] = hi[k] as u8;
                    q3[k] = (hi[k] >> 8) as u8;
                }
            }
            _ => {}
        }
    }
    #[inline(always)]
    fn put_run(vals: &[Self], planes: &mut [&mut [u8]], pos: usize) {
        match planes {
            [p] => le_run(vals, p, pos, u32::to_le_bytes),
            _ => plane_run(vals, planes, pos, |w, j| (w >> (8 * j)) as u8),
        }
    }
}

impl Word for u64 {
    const N: usize = 8;
    #[inline(always)]
    fn put_block(block: &[Self; B], planes: &mut [&mut [u8]], pos: usize) {
        match planes {
            [p] => le_run(block, p, pos, u64::to_le_bytes),
            [p0, p1, p2, p3, p4, p5, p6, p7] => {
                let (Some(q0), Some(q1), Some(q2), Some(q3)) =
                    (blk(p0, pos), blk(p1, pos), blk(p2, pos), blk(p3, pos))
                else {
                    return;
                };
                let (Some(q4), Some(q5), Some(q6), Some(q7)) =
                    (blk(p4, pos), blk(p5, pos), blk(p6, pos), blk(p7, pos))
                else {
                    return;
                };
                let mut d0 = [0u32; B];
                let mut d1 = [0u32; B];
                for k in 0..B {
                    d0[k] = block[k] as u32;
                    d1[k] = (block[k] >> 32) as u32;
                }
                let mut w0 = [0u16; B];
                let mut w1 = [0u16; B];
                let mut w2 = [0u16; B];
                let mut w3 = [0u16; B];
                for k in 0..B {
                    w0[k] = d0[k] as u16;
                    w1[k] = (d0[k] >> 16) as u16;
                    w2[k] = d1[k] as u16;
                    w3[k] = (d1[k] >> 16) as u16;
                }
                for k in 0..B {
                    q0[k] = w0[k] as u8;
                    q1[k] = (w0[k] >> 8) as u8;
                    q2[k] = w1[k] as u8;
                    q3[k] = (w1[k] >> 8) as u8;
                    q4[k] = w2[k] as u8;
                    q5[k] = (w2[k] >> 8) as u8;
                    q6[k] = w3[k] as u8;
                    q7[k] = (w3[k] >> 8) as u8;
                }
            }
            _ => {}
        }
    }
    #[inline(always)]
    fn put_run(vals: &[Self], planes: &mut [&mut [u8]], pos: usize) {
        match planes {
            [p] => le_run(vals, p, pos, u64::to_le_bytes),
            _ => plane_run(vals, planes, pos, |w, j| (w >> (8 * j)) as u8),
        }
    }
}

/// Stages words and writes them at increasing value positions of a payload.
struct Sink<'p, 'o, W: Word> {
    planes: &'p mut [&'o mut [u8]],
    stage: [W; B],
    /// Words staged.
    fill: usize,
    /// The value position of `stage[0]`.
    pos: usize,
}

impl<'p, 'o, W: Word> Sink<'p, 'o, W> {
    fn new(planes: &'p mut [&'o mut [u8]]) -> Self {
        Sink {
            planes,
            stage: [W::default(); B],
            fill: 0,
            pos: 0,
        }
    }

    /// Continues at value position `pos` (flushing what is staged if that is not where the
    /// staged run ends).
    #[inline(always)]
    fn seek(&mut self, pos: usize) {
        if self.pos + self.fill != pos {
            self.flush();
            self.pos = pos;
        }
    }

    /// Writes what is staged.
    fn flush(&mut self) {
        if let Some(vals) = self.stage.get(..self.fill) {
            W::put_run(vals, self.planes, self.pos);
        }
        self.pos += self.fill;
        self.fill = 0;
    }

    #[inline(always)]
    fn block_full(&mut self) {
        W::put_block(&self.stage, self.planes, self.pos);
        self.pos += B;
        self.fill = 0;
    }

    /// Stages `f(x)` for every `x` of `src`.
    #[inline(always)]
    fn push_slice<S: Copy>(&mut self, src: &[S], f: &mut impl FnMut(S) -> W) {
        let mut src = src;
        if self.fill == 0 {
            let (blocks, rest) = src.as_chunks::<B>();
            for b in blocks {
                for (o, x) in self.stage.iter_mut().zip(b) {
                    *o = f(*x);
                }
                self.block_full();
            }
            src = rest;
        }
        while !src.is_empty() {
            let t = (B - self.fill).min(src.len());
            let (head, tail) = src.split_at(t);
            if let Some(dst) = self.stage.get_mut(self.fill..self.fill + t) {
                for (o, s) in dst.iter_mut().zip(head) {
                    *o = f(*s);
                }
            }
            self.fill += t;
            src = tail;
            if self.fill == B {
                self.block_full();
            }
        }
    }

    /// Stages `f(x)` for every `x` of a strided row.
    #[inline(always)]
    fn push_strided<S: Copy>(&mut self, row: &ArrayView1<'_, S>, f: &mut impl FnMut(S) -> W) {
        for x in row {
            if let Some(o) = self.stage.get_mut(self.fill) {
                *o = f(*x);
            }
            self.fill += 1;
            if self.fill == B {
                self.block_full();
            }
        }
    }
}

/// One row (lane along the last axis) of a view.
enum Row<'a, S> {
    Slice(&'a [S]),
    Strided(ArrayView1<'a, S>),
}

fn rows_fixed<S, D: Dimension>(v: ArrayView<'_, S, D>, f: &mut dyn FnMut(Row<'_, S>)) {
    for r in v.rows() {
        match r.as_slice() {
            Some(s) => f(Row::Slice(s)),
            None => f(Row::Strided(r)),
        }
    }
}

/// Calls `f` on every row of `v` along its last axis, in C order (fixed-size dimensions up
/// to 6 axes, so stepping from row to row is cheap).
fn for_each_row<S>(v: &ArrayViewD<'_, S>, f: &mut dyn FnMut(Row<'_, S>)) {
    let v = v.view();
    macro_rules! fixed {
        ($ix:ty) => {
            match v.into_dimensionality::<$ix>() {
                Ok(x) => rows_fixed(x, f),
                Err(_) => {}
            }
        };
    }
    match v.ndim() {
        0 => {}
        1 => fixed!(Ix1),
        2 => fixed!(Ix2),
        3 => fixed!(Ix3),
        4 => fixed!(Ix4),
        5 => fixed!(Ix5),
        6 => fixed!(Ix6),
        _ => rows_fixed(v, f),
    }
}

/// Writes `f(x)` for every cell `x` of `view` into `out`, the payload of a chunk of shape
/// `cs` (`n` cells of `W::N` bytes, byte planes when `shuffled`), the view's cell 0 at cell
/// `start` of the chunk.
///
/// The caller checks that `view` fits the chunk at `start` and that `out` has `n × W::N`
/// bytes; cells outside the view are left as they are.
pub(crate) fn put_cells<S: Copy, W: Word>(
    view: &ArrayViewD<'_, S>,
    start: &[usize],
    cs: &[usize],
    out: &mut [u8],
    shuffled: bool,
    mut f: impl FnMut(S) -> W,
) {
    let d = cs.len();
    let n: usize = cs.iter().product();
    if d == 0 || n == 0 || view.ndim() != d || start.len() != d || out.len() != n * W::N {
        return;
    }
    let mut planes: Vec<&mut [u8]> = if shuffled && W::N > 1 {
        out.chunks_exact_mut(n).collect()
    } else {
        vec![out]
    };
    let mut sink = Sink::<W>::new(&mut planes);
    let sub = view.shape();
    // C-order strides of the chunk, in cells.
    let mut cst = vec![1usize; d];
    for k in (0..d - 1).rev() {
        cst[k] = cst[k + 1] * cs[k + 1];
    }
    let pos0: usize = start.iter().zip(&cst).map(|(s, c)| s * c).sum();
    // The view's cells are one run of the chunk when it spans every axis but the first.
    if sub.get(1..) == cs.get(1..)
        && let Some(s) = view.as_slice()
    {
        sink.seek(pos0);
        sink.push_slice(s, &mut f);
        sink.flush();
        return;
    }
    let mut idx = vec![0usize; d - 1];
    let mut pos = pos0;
    for_each_row(view, &mut |row| {
        sink.seek(pos);
        match row {
            Row::Slice(s) => sink.push_slice(s, &mut f),
            Row::Strided(r) => sink.push_strided(&r, &mut f),
        }
        // Next row: odometer over the outer axes.
        let mut k = d - 1;
        while k > 0 {
            k -= 1;
            idx[k] += 1;
            pos += cst[k];
            if idx[k] < sub[k] {
                break;
            }
            pos -= sub[k] * cst[k];
            idx[k] = 0;
        }
    });
    sink.flush();
}
