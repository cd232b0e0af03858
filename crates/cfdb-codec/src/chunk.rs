//! Chunk payloads (`cfdb-format.md` §5): encode/decode a full chunk to/from compressed bytes.

use std::ops::Range;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, IxDyn, Slice};

use crate::compress::{self, Codec, Compression};
use crate::dtype::{DataType, ElementKind, FloatWidth, IntType};
use crate::element::{
    ArrayData, ArrayDataView, ArrayDataViewMut, Datetime64, Element, WktGeometry,
};
use crate::encode::{Word, put_cells};
use crate::error::{CodecError, Result};
use crate::pack::{self, FloatPack, Flt, Int, IntPack, Le, RoundDecimals};

/// Runs `$body` with `$T` aliased to the Rust type of an [`IntType`] and `$N` its size.
macro_rules! with_int_type {
    ($ty:expr, $T:ident, $N:ident => $body:expr) => {
        match $ty {
            IntType::I8 => {
                type $T = i8;
                const $N: usize = 1;
                $body
            }
            IntType::I16 => {
                type $T = i16;
                const $N: usize = 2;
                $body
            }
            IntType::I32 => {
                type $T = i32;
                const $N: usize = 4;
                $body
            }
            IntType::I64 => {
                type $T = i64;
                const $N: usize = 8;
                $body
            }
            IntType::U8 => {
                type $T = u8;
                const $N: usize = 1;
                $body
            }
            IntType::U16 => {
                type $T = u16;
                const $N: usize = 2;
                $body
            }
            IntType::U32 => {
                type $T = u32;
                const $N: usize = 4;
                $body
            }
            IntType::U64 => {
                type $T = u64;
                const $N: usize = 8;
                $body
            }
        }
    };
}

/// The payload length of `n` cells of `N` bytes, checked against `payload`'s.
fn payload_len<const N: usize>(n: usize, payload: &[u8]) -> Result<usize> {
    let expected = n.checked_mul(N).ok_or(CodecError::PayloadSize {
        expected: usize::MAX,
        actual: payload.len(),
    })?;
    if payload.len() != expected {
        return Err(CodecError::PayloadSize {
            expected,
            actual: payload.len(),
        });
    }
    Ok(expected)
}

/// Reads `out.len()` little-endian `E`s from `payload` (byte-shuffled when `shuffled`) and
/// stores `f(e)`: the unshuffle is fused with the element decode, one pass, no allocation.
#[inline(always)]
fn read_map<const N: usize, E: Le<N>, D>(
    payload: &[u8],
    shuffled: bool,
    out: &mut [D],
    f: impl Fn(E) -> D,
) -> Result<()> {
    let n = out.len();
    payload_len::<N>(n, payload)?;
    if !shuffled || N == 1 {
        let (chunks, _) = payload.as_chunks::<N>();
        for (o, c) in out.iter_mut().zip(chunks) {
            *o = f(E::from_le(*c));
        }
        return Ok(());
    }
    let plane = |k: usize| payload.get(k * n..(k + 1) * n).unwrap_or_default();
    map_planes::<N, E, D>(std::array::from_fn(plane), out, &f);
    Ok(())
}

/// The unshuffle kernel: cell `i` of `out` gets `f` of the little-endian value whose byte `k`
/// is `planes[k][i]` (each plane at least `out.len()` long; missing bytes read as 0).
#[inline(always)]
fn map_planes<const N: usize, E: Le<N>, D>(planes: [&[u8]; N], out: &mut [D], f: &impl Fn(E) -> D) {
    let plane = |k: usize| planes.get(k).copied().unwrap_or_default();
    let b = |x: &u8, shift: u32| u64::from(*x) << shift;
    match N {
        2 => {
            const B: usize = 64;
            let (p0, p1) = (plane(0), plane(1));
            let (o_blocks, o_rest) = out.as_chunks_mut::<B>();
            let (b0, r0) = p0.as_chunks::<B>();
            let (b1, r1) = p1.as_chunks::<B>();
            for ((o, a0), a1) in o_blocks.iter_mut().zip(b0).zip(b1) {
                let mut v = [0u16; B];
                for k in 0..B {
                    v[k] = u16::from(a0[k]) | (u16::from(a1[k]) << 8);
                }
                for k in 0..B {
                    o[k] = f(E::from_u64(u64::from(v[k])));
                }
            }
            for ((o, a0), a1) in o_rest.iter_mut().zip(r0).zip(r1) {
                *o = f(E::from_u64(b(a0, 0) | b(a1, 8)));
            }
        }
        4 => {
            // Fixed-size blocks let the compiler vectorise the byte interleave.
            const B: usize = 64;
            let (p0, p1, p2, p3) = (plane(0), plane(1), plane(2), plane(3));
            let (o_blocks, o_rest) = out.as_chunks_mut::<B>();
            let (b0, r0) = p0.as_chunks::<B>();
            let (b1, r1) = p1.as_chunks::<B>();
            let (b2, r2) = p2.as_chunks::<B>();
            let (b3, r3) = p3.as_chunks::<B>();
            for ((((o, a0), a1), a2), a3) in o_blocks.iter_mut().zip(b0).zip(b1).zip(b2).zip(b3) {
                // Two interleave stages (bytes to u16 pairs, pairs to u32) vectorise to
                // full-width unpacks.
                let mut lo = [0u16; B];
                let mut hi = [0u16; B];
                for k in 0..B {
                    lo[k] = u16::from(a0[k]) | (u16::from(a1[k]) << 8);
                    hi[k] = u16::from(a2[k]) | (u16::from(a3[k]) << 8);
                }
                for k in 0..B {
                    let v = u32::from(lo[k]) | (u32::from(hi[k]) << 16);
                    o[k] = f(E::from_u64(u64::from(v)));
                }
            }
            for ((((o, a0), a1), a2), a3) in o_rest.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
                let v = u32::from(*a0)
                    | (u32::from(*a1) << 8)
                    | (u32::from(*a2) << 16)
                    | (u32::from(*a3) << 24);
                *o = f(E::from_u64(u64::from(v)));
            }
        }
        8 => {
            const B: usize = 32;
            let p: [&[u8]; 8] = std::array::from_fn(plane);
            let (o_blocks, o_rest) = out.as_chunks_mut::<B>();
            let blocks: [&[[u8; B]]; 8] = std::array::from_fn(|k| p[k].as_chunks::<B>().0);
            let full = o_blocks.len();
            for (j, o) in o_blocks.iter_mut().enumerate() {
                let get = |k: usize| -> [u8; B] { blocks[k].get(j).copied().unwrap_or([0; B]) };
                let (a0, a1, a2, a3) = (get(0), get(1), get(2), get(3));
                let (a4, a5, a6, a7) = (get(4), get(5), get(6), get(7));
                let mut w0 = [0u16; B];
                let mut w1 = [0u16; B];
                let mut w2 = [0u16; B];
                let mut w3 = [0u16; B];
                for k in 0..B {
                    w0[k] = u16::from(a0[k]) | (u16::from(a1[k]) << 8);
                    w1[k] = u16::from(a2[k]) | (u16::from(a3[k]) << 8);
                    w2[k] = u16::from(a4[k]) | (u16::from(a5[k]) << 8);
                    w3[k] = u16::from(a6[k]) | (u16::from(a7[k]) << 8);
                }
                let mut d0 = [0u32; B];
                let mut d1 = [0u32; B];
                for k in 0..B {
                    d0[k] = u32::from(w0[k]) | (u32::from(w1[k]) << 16);
                    d1[k] = u32::from(w2[k]) | (u32::from(w3[k]) << 16);
                }
                for k in 0..B {
                    o[k] = f(E::from_u64(u64::from(d0[k]) | (u64::from(d1[k]) << 32)));
                }
            }
            let start = full * B;
            for (i, o) in o_rest.iter_mut().enumerate() {
                let mut v = 0u64;
                for (k, pk) in p.iter().enumerate() {
                    let byte = pk.get(start + i).copied().unwrap_or(0);
                    v |= u64::from(byte) << (8 * k);
                }
                *o = f(E::from_u64(v));
            }
        }
        _ => {
            for (i, o) in out.iter_mut().enumerate() {
                let c = std::array::from_fn(|k| plane(k).get(i).copied().unwrap_or(0));
                *o = f(E::from_le(c));
            }
        }
    }
}

/// Writes each value's little-endian bytes (unshuffled).
fn write_vals<const N: usize, E: Le<N>>(
    n: usize,
    vals: impl Iterator<Item = Result<E>>,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(n.saturating_mul(N));
    for v in vals {
        out.extend_from_slice(&v?.to_le());
    }
    Ok(out)
}

/// Cells unshuffled per block by [`scatter_map`] for short rows (fits L1 with its planes).
const BLOCK_CELLS: usize = 512;

/// Like [`read_map`], but for the cells of `region` (chunk-relative ranges) of a chunk of
/// `shape`, written straight into `out` (the region's shape, any strides): the unshuffle and
/// decode fused with the scatter, one pass over each row of the last axis.
fn scatter_map<const N: usize, E: Le<N>, D: Copy>(
    payload: &[u8],
    shuffled: bool,
    shape: &[usize],
    region: &[Range<usize>],
    mut out: ArrayViewMutD<'_, D>,
    f: impl Fn(E) -> D,
) -> Result<()> {
    let n: usize = shape.iter().product();
    let expected = payload_len::<N>(n, payload)?;
    let Some(last) = shape.len().checked_sub(1) else {
        return Ok(());
    };
    // C-order strides of the chunk, in elements.
    let mut strides = vec![1usize; shape.len()];
    for d in (0..last).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let len = region[last].len();
    let plane = |k: usize| payload.get(k * n..(k + 1) * n).unwrap_or_default();
    let planes: [&[u8]; N] = std::array::from_fn(plane);
    let short = || CodecError::PayloadSize {
        expected,
        actual: payload.len(),
    };
    // One row of the region's last axis: the cells from chunk element `e` on.
    let do_row = |e: usize, mut row: ndarray::ArrayViewMut1<'_, D>| -> Result<()> {
        if shuffled && N > 1 {
            // This row's bytes in each plane; the cell is one byte from each.
            let mut rows: [&[u8]; N] = [&[]; N];
            for (r, p) in rows.iter_mut().zip(&planes) {
                *r = p.get(e..e + len).ok_or_else(short)?;
            }
            match row.as_slice_mut() {
                Some(o) => map_planes::<N, E, D>(rows, o, &f),
                None => row.iter_mut().enumerate().for_each(|(k, o)| {
                    *o = f(E::from_le(std::array::from_fn(|j| rows[j][k])));
                }),
            }
        } else {
            let bytes = payload.get(e * N..(e + len) * N).ok_or_else(short)?;
            let (cells, _) = bytes.as_chunks::<N>();
            let cell = |c: &[u8; N]| f(E::from_le(*c));
            match row.as_slice_mut() {
                Some(o) => o.iter_mut().zip(cells).for_each(|(o, c)| *o = cell(c)),
                None => row.iter_mut().zip(cells).for_each(|(o, c)| *o = cell(c)),
            }
        }
        Ok(())
    };
    // Short whole rows of a shuffled chunk: the rows of one plane of the region are
    // contiguous in the chunk, so they are unshuffled in blocks (the vectorised kernel) into a
    // small buffer and copied out row by row, rather than one short row at a time.
    let blocked = shuffled && N > 1 && len < 64 && len == shape[last] && len > 0;
    let rows_per = (BLOCK_CELLS / len.max(1)).max(1);
    let mut buf: Vec<D> = if blocked {
        vec![f(E::from_le([0; N])); rows_per * len]
    } else {
        Vec::new()
    };
    // Rows `rows` of one plane, the first starting at chunk element `e0`.
    let mut do_plane =
        |e0: usize, mut rows: ndarray::iter::AxisIterMut<'_, D, ndarray::Ix1>| -> Result<()> {
            let mut e = e0;
            loop {
                let k = rows.len().min(rows_per);
                if k == 0 {
                    return Ok(());
                }
                let mut block: [&[u8]; N] = [&[]; N];
                for (b, p) in block.iter_mut().zip(&planes) {
                    *b = p.get(e..e + k * len).ok_or_else(short)?;
                }
                let cells = buf.get_mut(..k * len).ok_or_else(short)?;
                map_planes::<N, E, D>(block, cells, &f);
                for (mut row, src) in rows.by_ref().take(k).zip(cells.chunks_exact(len)) {
                    match row.as_slice_mut() {
                        Some(o) => o.copy_from_slice(src),
                        None => row.iter_mut().zip(src).for_each(|(o, v)| *o = *v),
                    }
                }
                e += k * len;
            }
        };
    let base = region[last].start;
    // Fixed-dimension walks for the common ranks (dynamic-rank lane iteration costs more than
    // decoding a short row); any rank through the lanes with an odometer.
    match shape.len() {
        1 => {
            let row = out
                .into_dimensionality::<ndarray::Ix1>()
                .map_err(|_| short())?;
            do_row(base, row)?;
        }
        2 => {
            let mut out = out
                .into_dimensionality::<ndarray::Ix2>()
                .map_err(|_| short())?;
            if blocked {
                do_plane(region[0].start * strides[0] + base, out.outer_iter_mut())?;
            } else {
                for (a, row) in out.outer_iter_mut().enumerate() {
                    do_row((region[0].start + a) * strides[0] + base, row)?;
                }
            }
        }
        3 => {
            let mut out = out
                .into_dimensionality::<ndarray::Ix3>()
                .map_err(|_| short())?;
            for (a, mut plane) in out.outer_iter_mut().enumerate() {
                let ea = (region[0].start + a) * strides[0] + base;
                if blocked {
                    do_plane(ea + region[1].start * strides[1], plane.outer_iter_mut())?;
                    continue;
                }
                for (b, row) in plane.outer_iter_mut().enumerate() {
                    do_row(ea + (region[1].start + b) * strides[1], row)?;
                }
            }
        }
        _ => {
            let mut idx: Vec<usize> = region[..last].iter().map(|r| r.start).collect();
            for row in out.lanes_mut(Axis(last)) {
                let e = idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>() + base;
                do_row(e, row)?;
                // Next row: odometer over the outer axes of the region.
                for d in (0..last).rev() {
                    idx[d] += 1;
                    if idx[d] < region[d].end {
                        break;
                    }
                    idx[d] = region[d].start;
                }
            }
        }
    }
    Ok(())
}

/// Makes `out` an array of `D` with `shape` (reusing its storage when it already is one) and
/// returns its cells in C order.
fn target<'a, D: Element>(out: &'a mut ArrayData, shape: &[usize]) -> &'a mut [D] {
    let reusable = D::view_mut(out).is_some_and(|a| a.shape() == shape && a.is_standard_layout());
    if !reusable {
        *out = D::wrap(ArrayD::from_elem(IxDyn(shape), D::zero()));
    }
    D::view_mut(out)
        .and_then(|a| a.as_slice_mut())
        .unwrap_or_default()
}

/// Encodes and decodes the chunks of one variable: its [`DataType`], the dataset's
/// [`Compression`] and level, and the variable's chunk shape.
///
/// ```
/// use cfdb_codec::{ArrayData, ChunkCodec, Compression, DataType};
/// use ndarray::ArrayD;
///
/// let dt = DataType::from_json(
///     r#"{"name":"float32","precision":1,"dtype_encoded":"uint16","fillvalue":0,"offset":-101.0}"#,
/// ).unwrap();
/// let codec = ChunkCodec::new(dt, Compression::DEFAULT, 1, &[2]).unwrap();
/// let chunk = ArrayData::F32(ArrayD::from_shape_vec(vec![2], vec![0.25, f32::NAN]).unwrap());
/// let bytes = codec.encode(&chunk).unwrap();
/// let back = codec.decode(&bytes).unwrap();
/// let ArrayData::F32(a) = back else { unreachable!() };
/// assert_eq!(a[0], 0.19999695); // 1012 / 10 − 101 in f32 (half-to-even packing)
/// assert!(a[1].is_nan());
/// ```
#[derive(Clone, Debug)]
pub struct ChunkCodec {
    dtype: DataType,
    compression: Compression,
    level: i32,
    shape: Vec<usize>,
    cells: usize,
    max_payload: usize,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Scratch buffers larger than this are not kept between [`ChunkCodec::decode`] calls.
const MAX_RETAINED_SCRATCH: usize = 64 << 20;

/// Default upper bound on a decompressed string/geometry payload (1 GiB).
pub const DEFAULT_MAX_VARIABLE_PAYLOAD: usize = 1 << 30;

impl ChunkCodec {
    /// A codec for chunks of `chunk_shape` (every dimension > 0).
    pub fn new(
        dtype: DataType,
        compression: Compression,
        level: i32,
        chunk_shape: &[usize],
    ) -> Result<ChunkCodec> {
        let bad = |reason| CodecError::InvalidChunkShape {
            shape: chunk_shape.to_vec(),
            reason,
        };
        if chunk_shape.is_empty() {
            return Err(bad("no dimensions"));
        }
        if chunk_shape.contains(&0) {
            return Err(bad("zero-length dimension"));
        }
        let cells = chunk_shape
            .iter()
            .try_fold(1usize, |a, b| a.checked_mul(*b))
            .ok_or_else(|| bad("cell count overflows"))?;
        let max_payload = match dtype.stored_size() {
            Some(w) => cells
                .checked_mul(w)
                .ok_or_else(|| bad("payload size overflows"))?,
            None => DEFAULT_MAX_VARIABLE_PAYLOAD,
        };
        Ok(ChunkCodec {
            dtype,
            compression,
            level,
            shape: chunk_shape.to_vec(),
            cells,
            max_payload,
        })
    }

    /// Sets the largest decompressed payload accepted for str/geometry chunks (fixed-width
    /// payloads are always exactly `cells × stored size`).
    pub fn with_max_variable_payload(mut self, limit: usize) -> ChunkCodec {
        if self.dtype.stored_size().is_none() {
            self.max_payload = limit;
        }
        self
    }

    /// The data type.
    pub fn dtype(&self) -> &DataType {
        &self.dtype
    }

    /// The compression setting.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The compression level written to the metadata (zstd uses it; lz4_flex has one speed).
    pub fn level(&self) -> i32 {
        self.level
    }

    /// The chunk shape.
    pub fn chunk_shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of cells per chunk.
    pub fn cells(&self) -> usize {
        self.cells
    }

    /// The byte-shuffle width in effect (`None` when not shuffled).
    pub fn shuffle_width(&self) -> Option<usize> {
        if self.compression.shuffle {
            self.dtype.shuffle_size()
        } else {
            None
        }
    }

    /// The chunk a missing key decodes to: NaN, NaT, 0, false or missing.
    ///
    /// ```
    /// use cfdb_codec::{ArrayData, ChunkCodec, Compression, DataType};
    /// let dt = DataType::from_json(r#"{"name":"datetime64[h]"}"#).unwrap();
    /// let codec = ChunkCodec::new(dt, Compression::DEFAULT, 1, &[3]).unwrap();
    /// let ArrayData::DateTime(a) = codec.blank() else { unreachable!() };
    /// assert!(a.iter().all(|t| t.is_nat()));
    /// ```
    pub fn blank(&self) -> ArrayData {
        ArrayData::blank(self.dtype.element_kind(), &self.shape)
    }

    /// Codec-decompresses `data` into `out` (cleared, allocation reused) without unshuffling.
    pub fn decompress_raw(&self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self.compression.codec {
            Codec::Zstd => compress::zstd_decompress(data, out, self.max_payload),
            Codec::Lz4 => compress::lz4_decompress(data, out, self.max_payload),
        }
    }

    /// Decompresses and unshuffles: the chunk's payload (`cfdb-format.md` §5.7).
    pub fn decompress(&self, data: &[u8]) -> Result<Vec<u8>> {
        let mut raw = Vec::new();
        self.decompress_raw(data, &mut raw)?;
        match self.shuffle_width() {
            Some(w) => crate::shuffle::unshuffle(&raw, w),
            None => Ok(raw),
        }
    }

    /// Decodes one stored chunk (compressed bytes) into values.
    ///
    /// Decompresses into a per-thread scratch buffer; see [`ChunkCodec::decode_into`] to
    /// also reuse the output array.
    pub fn decode(&self, data: &[u8]) -> Result<ArrayData> {
        let mut out = ArrayData::U8(ArrayD::zeros(IxDyn(&[0])));
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                let r = self.decode_into(data, &mut scratch, &mut out);
                if scratch.capacity() > MAX_RETAINED_SCRATCH {
                    *scratch = Vec::new();
                }
                r
            }
            Err(_) => self.decode_into(data, &mut Vec::new(), &mut out),
        })?;
        Ok(out)
    }

    /// The hot path: decompresses into `scratch` (reused), then unshuffles and decodes in one
    /// pass into `out`, reusing its storage when it already has the right type and shape.
    ///
    /// On error `out` may hold partial data.
    ///
    /// ```
    /// use cfdb_codec::{ArrayData, ChunkCodec, Compression, DataType};
    /// use ndarray::ArrayD;
    /// let dt = DataType::from_json(r#"{"name":"float64"}"#).unwrap();
    /// let codec = ChunkCodec::new(dt, "lz4_shuffle".parse().unwrap(), 1, &[2, 2]).unwrap();
    /// let stored = codec
    ///     .encode(&ArrayData::F64(ArrayD::from_elem(vec![2, 2], -0.0)))
    ///     .unwrap();
    /// let (mut scratch, mut out) = (Vec::new(), codec.blank());
    /// for _ in 0..3 {
    ///     codec.decode_into(&stored, &mut scratch, &mut out).unwrap();
    /// }
    /// assert!(out.typed::<f64>().unwrap().iter().all(|v| v.to_bits() == (-0.0f64).to_bits()));
    /// ```
    pub fn decode_into(
        &self,
        data: &[u8],
        scratch: &mut Vec<u8>,
        out: &mut ArrayData,
    ) -> Result<()> {
        self.decompress_raw(data, scratch)?;
        let shuffled = self.shuffle_width().is_some();
        self.decode_payload_impl(scratch, shuffled, out)
    }

    /// Decodes the cells of `region` (ranges in chunk coordinates) of a stored chunk straight
    /// into `out`, a view of the region's shape with any strides (typically the chunk's place
    /// in a larger output array): decompression into `scratch`, then the unshuffle and decode
    /// fused with the scatter, so no decoded chunk is built and no second copy is made.
    ///
    /// Returns `Ok(false)`, having written nothing, when this path does not apply: strings and
    /// geometries (variable width), or `out` of another element type than the dtype decodes to;
    /// [`decode_into`](Self::decode_into) handles those. A region outside the chunk or an `out`
    /// of another shape is an [`CodecError::ArrayMismatch`].
    ///
    /// ```
    /// use cfdb_codec::{ArrayData, ArrayDataViewMut, ChunkCodec, DataType};
    /// use ndarray::{Array2, ArrayD, s};
    /// let dt = DataType::from_json(r#"{"name":"int16"}"#).unwrap();
    /// let codec = ChunkCodec::new(dt, "zstd_shuffle".parse().unwrap(), 1, &[3, 4]).unwrap();
    /// let chunk = ArrayD::from_shape_vec(vec![3, 4], (0..12i16).collect()).unwrap();
    /// let stored = codec.encode(&ArrayData::I16(chunk)).unwrap();
    /// // Rows 1..3, columns 1..3 of the chunk, into the corner of a bigger array.
    /// let mut big = Array2::<i16>::zeros((4, 5));
    /// let view = big.slice_mut(s![2.., 3..]).into_dyn();
    /// let mut scratch = Vec::new();
    /// assert!(codec.decode_region_into(&stored, &mut scratch, &[1..3, 1..3], ArrayDataViewMut::new(view)).unwrap());
    /// assert_eq!(big.slice(s![2.., 3..]), ndarray::array![[5, 6], [9, 10]]);
    /// ```
    pub fn decode_region_into(
        &self,
        data: &[u8],
        scratch: &mut Vec<u8>,
        region: &[Range<usize>],
        out: ArrayDataViewMut<'_>,
    ) -> Result<bool> {
        let want: Vec<usize> = region.iter().map(|r| r.len()).collect();
        let shape = self.shape.as_slice();
        let inside = region.len() == shape.len()
            && region
                .iter()
                .zip(shape)
                .all(|(r, &c)| r.start <= r.end && r.end <= c);
        let out_shape = out.shape();
        if !inside || out_shape != want.as_slice() {
            return Err(CodecError::ArrayMismatch {
                expected: format!("a region inside chunk shape {shape:?}, out of its shape"),
                actual: format!("region {region:?}, out of shape {out_shape:?}"),
            });
        }
        // Only fixed-width dtypes decoding to `out`'s element type take this path.
        macro_rules! typed {
            ($D:ty) => {
                match <$D as Element>::unwrap_view_mut(out) {
                    Ok(v) => v,
                    Err(_) => return Ok(false),
                }
            };
        }
        let sh = shape;
        match &self.dtype {
            DataType::Str | DataType::Geometry { .. } => return Ok(false),
            _ if shape.is_empty() => return Ok(false),
            _ => {}
        }
        if self.dtype.element_kind() != out.kind() {
            return Ok(false);
        }
        self.decompress_raw(data, scratch)?;
        let p = &scratch[..];
        let sf = self.shuffle_width().is_some();
        match &self.dtype {
            DataType::Float {
                width,
                precision,
                packing,
            } => match (width, precision, packing) {
                (FloatWidth::F32, Some(pr), Some(pk)) => {
                    let fp =
                        FloatPack::<f32>::new(pk.encoded, *pr, float_offset(pk)?, pk.fillvalue);
                    let v = typed!(f32);
                    with_int_type!(pk.encoded, E, N => scatter_map::<N, E, f32>(p, sf, sh, region, v, |c| fp.decode(c)))?
                }
                (FloatWidth::F64, Some(pr), Some(pk)) => {
                    let fp =
                        FloatPack::<f64>::new(pk.encoded, *pr, float_offset(pk)?, pk.fillvalue);
                    let v = typed!(f64);
                    with_int_type!(pk.encoded, E, N => scatter_map::<N, E, f64>(p, sf, sh, region, v, |c| fp.decode(c)))?
                }
                (FloatWidth::F32, ..) => {
                    scatter_map::<4, f32, f32>(p, sf, sh, region, typed!(f32), |x| x)?
                }
                (FloatWidth::F64, ..) => {
                    scatter_map::<8, f64, f64>(p, sf, sh, region, typed!(f64), |x| x)?
                }
            },
            DataType::Int { ty, packing: None } => {
                with_int_type!(ty, D, N => scatter_map::<N, D, D>(p, sf, sh, region, typed!(D), |x| x))?
            }
            DataType::Int {
                ty,
                packing: Some(pk),
            } => with_int_type!(ty, D, _ND => {
                let ip = IntPack::<D>::new(pk.offset, pk.fillvalue)?;
                let v = typed!(D);
                with_int_type!(pk.encoded, E, N => scatter_map::<N, E, D>(p, sf, sh, region, v, |c| ip.decode(c)))?
            }),
            DataType::Bool => {
                scatter_map::<1, u8, bool>(p, sf, sh, region, typed!(bool), |b| b != 0)?
            }
            DataType::DateTime { packing: None, .. } => scatter_map::<8, i64, Datetime64>(
                p,
                sf,
                sh,
                region,
                typed!(Datetime64),
                Datetime64,
            )?,
            DataType::DateTime {
                packing: Some(pk), ..
            } => {
                let off = pk.offset;
                let v = typed!(Datetime64);
                with_int_type!(pk.encoded, E, N => scatter_map::<N, E, Datetime64>(p, sf, sh, region, v, |c| pack::datetime_decode(c, off)))?
            }
            DataType::Str | DataType::Geometry { .. } => return Ok(false),
        }
        Ok(true)
    }

    /// Decodes an unshuffled payload (as returned by [`ChunkCodec::decompress`]).
    pub fn decode_payload(&self, payload: &[u8]) -> Result<ArrayData> {
        let mut out = ArrayData::U8(ArrayD::zeros(IxDyn(&[0])));
        self.decode_payload_impl(payload, false, &mut out)?;
        Ok(out)
    }

    fn decode_payload_impl(
        &self,
        payload: &[u8],
        shuffled: bool,
        out: &mut ArrayData,
    ) -> Result<()> {
        let shape = self.shape.as_slice();
        match &self.dtype {
            DataType::Float {
                width,
                precision,
                packing,
            } => match (width, precision, packing) {
                (FloatWidth::F32, Some(p), Some(pk)) => {
                    let fp = FloatPack::<f32>::new(pk.encoded, *p, float_offset(pk)?, pk.fillvalue);
                    let dst = target::<f32>(out, shape);
                    with_int_type!(pk.encoded, E, N => read_map::<N, E, f32>(payload, shuffled, dst, |c| fp.decode(c)))
                }
                (FloatWidth::F64, Some(p), Some(pk)) => {
                    let fp = FloatPack::<f64>::new(pk.encoded, *p, float_offset(pk)?, pk.fillvalue);
                    let dst = target::<f64>(out, shape);
                    with_int_type!(pk.encoded, E, N => read_map::<N, E, f64>(payload, shuffled, dst, |c| fp.decode(c)))
                }
                (FloatWidth::F32, ..) => {
                    read_map::<4, f32, f32>(payload, shuffled, target(out, shape), |x| x)
                }
                (FloatWidth::F64, ..) => {
                    read_map::<8, f64, f64>(payload, shuffled, target(out, shape), |x| x)
                }
            },
            DataType::Int { ty, packing: None } => {
                with_int_type!(ty, D, N => read_map::<N, D, D>(payload, shuffled, target(out, shape), |x| x))
            }
            DataType::Int {
                ty,
                packing: Some(pk),
            } => with_int_type!(ty, D, _ND => {
                let ip = IntPack::<D>::new(pk.offset, pk.fillvalue)?;
                let dst = target::<D>(out, shape);
                with_int_type!(pk.encoded, E, N => read_map::<N, E, D>(payload, shuffled, dst, |c| ip.decode(c)))
            }),
            DataType::Bool => {
                read_map::<1, u8, bool>(payload, shuffled, target(out, shape), |b| b != 0)
            }
            DataType::DateTime { packing: None, .. } => {
                read_map::<8, i64, Datetime64>(payload, shuffled, target(out, shape), Datetime64)
            }
            DataType::DateTime {
                packing: Some(pk), ..
            } => {
                let off = pk.offset;
                let dst = target::<Datetime64>(out, shape);
                with_int_type!(pk.encoded, E, N => read_map::<N, E, Datetime64>(payload, shuffled, dst, |c| pack::datetime_decode(c, off)))
            }
            DataType::Str => {
                let leaves = crate::msgpack::decode_leaves(payload, self.cells)?;
                let v: Vec<Option<String>> =
                    leaves.into_iter().map(|s| s.map(str::to_owned)).collect();
                *out = ArrayData::Str(array(shape, v)?);
                Ok(())
            }
            DataType::Geometry { .. } => {
                let leaves = crate::msgpack::decode_leaves(payload, self.cells)?;
                let mut v = Vec::with_capacity(leaves.len());
                for s in leaves {
                    if let Some(text) = s {
                        crate::wkt_fmt::validate_wkt(text)?;
                    }
                    v.push(WktGeometry(s.map(str::to_owned)));
                }
                *out = ArrayData::Geometry(array(shape, v)?);
                Ok(())
            }
        }
    }

    fn check_input(&self, data: &ArrayData) -> Result<()> {
        let want = self.dtype.element_kind();
        if data.kind() != want || data.shape() != self.shape.as_slice() {
            return Err(CodecError::ArrayMismatch {
                expected: format!("{want} array of shape {:?}", self.shape),
                actual: format!("{} array of shape {:?}", data.kind(), data.shape()),
            });
        }
        Ok(())
    }

    /// Encodes a full chunk of values (exactly the chunk shape, element kind of the dtype)
    /// into its unshuffled, uncompressed payload, as Python cfdb does.
    pub fn encode_payload(&self, data: &ArrayData) -> Result<Vec<u8>> {
        self.check_input(data)?;
        let n = self.cells;
        match (&self.dtype, data) {
            (
                DataType::Float {
                    precision, packing, ..
                },
                ArrayData::F32(a),
            ) => encode_float(a, *precision, packing.as_ref(), n),
            (
                DataType::Float {
                    precision, packing, ..
                },
                ArrayData::F64(a),
            ) => encode_float(a, *precision, packing.as_ref(), n),
            (DataType::Int { ty, packing }, _) => with_int_type!(ty, D, ND => {
                let a = data.typed::<D>()?;
                match packing {
                    None => write_vals::<ND, D>(n, a.iter().map(|x| Ok(*x))),
                    Some(pk) => {
                        let ip = IntPack::<D>::new(pk.offset, pk.fillvalue)?;
                        with_int_type!(pk.encoded, E, N => write_vals::<N, E>(n, a.iter().map(|x| ip.encode::<E>(*x))))
                    }
                }
            }),
            (DataType::Bool, ArrayData::Bool(a)) => {
                write_vals::<1, u8>(n, a.iter().map(|b| Ok(u8::from(*b))))
            }
            (DataType::DateTime { packing, .. }, ArrayData::DateTime(a)) => match packing {
                None => write_vals::<8, i64>(n, a.iter().map(|t| Ok(t.0))),
                Some(pk) => {
                    let off = pk.offset;
                    with_int_type!(pk.encoded, E, N => write_vals::<N, E>(n, a.iter().map(|t| Ok(pack::datetime_encode::<E>(*t, off)))))
                }
            },
            (DataType::Str, ArrayData::Str(a)) => {
                crate::msgpack::encode_leaves(&self.shape, a.iter().map(|s| s.as_deref()))
            }
            (DataType::Geometry { .. }, ArrayData::Geometry(a)) => {
                crate::msgpack::encode_leaves(&self.shape, a.iter().map(|g| g.as_str()))
            }
            _ => Err(CodecError::ArrayMismatch {
                expected: self.dtype.element_kind().to_string(),
                actual: data.kind().to_string(),
            }),
        }
    }

    /// Shuffles (when the compression and stored width call for it) and compresses a payload.
    pub fn compress_payload(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let shuffled;
        let bytes = match self.shuffle_width() {
            Some(w) => {
                shuffled = crate::shuffle::shuffle(payload, w)?;
                shuffled.as_slice()
            }
            None => payload,
        };
        match self.compression.codec {
            Codec::Zstd => compress::zstd_compress(bytes, self.level),
            Codec::Lz4 => compress::lz4_compress(bytes),
        }
    }

    /// Encodes a full chunk of values into the bytes stored under its key.
    ///
    /// The same bytes as [`ChunkCodec::encode_payload`] followed by
    /// [`ChunkCodec::compress_payload`], in one pass (see [`ChunkCodec::encode_view_into`]).
    pub fn encode(&self, data: &ArrayData) -> Result<Vec<u8>> {
        self.encode_view(data.view())
    }

    /// Encodes a full chunk given as a view (any strides, exactly the chunk shape) into the
    /// bytes stored under its key; see [`ChunkCodec::encode_view_into`].
    pub fn encode_view(&self, data: ArrayDataView<'_>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode_view_into(data, &mut out)?;
        Ok(out)
    }

    /// Encodes a full chunk given as a view (any strides, exactly the chunk shape) into
    /// `out` (its contents replaced, its allocation reused): the bytes
    /// [`ChunkCodec::encode`] produces.
    ///
    /// Fixed-width dtypes take one pass: rows along the last axis (slices when that axis is
    /// contiguous) are packed/rounded and written straight into the payload's byte planes
    /// (or little-endian order when not shuffled), in a per-thread buffer, then compressed
    /// with a per-thread compression context. Strings and geometries go through MessagePack.
    ///
    /// ```
    /// use cfdb_codec::{ArrayData, ArrayDataView, ChunkCodec, Compression, DataType};
    /// use ndarray::{ArrayD, s};
    /// let dt = DataType::from_json(r#"{"name":"float32"}"#).unwrap();
    /// let codec = ChunkCodec::new(dt, Compression::DEFAULT, 1, &[2, 2]).unwrap();
    /// let big = ArrayD::from_shape_vec(vec![3, 4], (0..12).map(|i| i as f32).collect()).unwrap();
    /// let part = big.slice(s![1..3, 1..;2]).into_dyn(); // strided
    /// let mut out = Vec::new();
    /// codec.encode_view_into(ArrayDataView::F32(part.view()), &mut out).unwrap();
    /// assert_eq!(out, codec.encode(&ArrayData::F32(part.to_owned())).unwrap());
    /// ```
    pub fn encode_view_into(&self, data: ArrayDataView<'_>, out: &mut Vec<u8>) -> Result<()> {
        self.check_view(&data, self.shape.as_slice())?;
        let Some(width) = self.dtype.stored_size() else {
            let payload = match &data {
                ArrayDataView::Str(a) => {
                    crate::msgpack::encode_leaves(&self.shape, a.iter().map(|s| s.as_deref()))?
                }
                ArrayDataView::Geometry(a) => {
                    crate::msgpack::encode_leaves(&self.shape, a.iter().map(|g| g.as_str()))?
                }
                _ => return Err(self.mismatch(&data)),
            };
            return self.compress_into(&payload, out);
        };
        let zeros = vec![0; self.shape.len()];
        with_payload(|payload| {
            let len = self.cells * width;
            if payload.len() != len {
                payload.clear();
                payload.resize(len, 0);
            }
            self.put_values(&data, &zeros, payload)?;
            self.compress_into(payload, out)
        })
    }

    /// Read-modify-write of one chunk in stored space: the stored bytes `old` (`None`: start
    /// from the padding of an unwritten chunk, [`ChunkCodec::blank_stored`]) with the cells
    /// `region` (chunk cell coordinates) replaced by `data` (shape = the region's lengths);
    /// the new stored bytes go to `out` (contents replaced, allocation reused).
    ///
    /// Only the written cells are encoded; the others keep their exact stored bytes (the
    /// payload is updated in place, shuffled or not). Rounded floats without packing are
    /// re-rounded as a whole, as Python does (it re-encodes the whole decoded chunk). For
    /// fixed-width dtypes only: strings and geometries return [`CodecError::ArrayMismatch`].
    ///
    /// ```
    /// use cfdb_codec::{ArrayData, ArrayDataView, ChunkCodec, Compression, DataType};
    /// use ndarray::ArrayD;
    /// let dt = DataType::from_json(r#"{"name":"int16"}"#).unwrap();
    /// let codec = ChunkCodec::new(dt, Compression::DEFAULT, 1, &[2, 3]).unwrap();
    /// let new = ArrayD::from_elem(vec![2, 1], 7i16);
    /// let mut out = Vec::new();
    /// codec.encode_update_into(None, &[0..2, 1..2], ArrayDataView::I16(new.view()), &mut out).unwrap();
    /// let ArrayData::I16(a) = codec.decode(&out).unwrap() else { unreachable!() };
    /// assert_eq!(a.as_slice().unwrap(), &[0, 7, 0, 0, 7, 0]);
    /// ```
    pub fn encode_update_into(
        &self,
        old: Option<&[u8]>,
        region: &[Range<usize>],
        data: ArrayDataView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let fits = region.len() == self.shape.len()
            && region
                .iter()
                .zip(&self.shape)
                .all(|(r, &c)| r.start <= r.end && r.end <= c);
        if !fits {
            return Err(CodecError::ArrayMismatch {
                expected: format!("a region inside the chunk shape {:?}", self.shape),
                actual: format!("{region:?}"),
            });
        }
        let sub: Vec<usize> = region.iter().map(|r| r.end - r.start).collect();
        self.check_view(&data, &sub)?;
        let Some(width) = self.dtype.stored_size() else {
            return Err(CodecError::ArrayMismatch {
                expected: "a fixed-width dtype".to_owned(),
                actual: self.dtype.element_kind().to_string(),
            });
        };
        if let DataType::Float {
            precision: Some(_),
            packing: None,
            ..
        } = self.dtype
        {
            // Python re-rounds the whole decoded chunk.
            let mut chunk = match old {
                Some(bytes) => self.decode(bytes)?,
                None => self.blank(),
            };
            let slices = |ax: ndarray::AxisDescription| {
                Slice::from(region.get(ax.axis.index()).cloned().unwrap_or(0..0))
            };
            match (&mut chunk, &data) {
                (ArrayData::F32(c), ArrayDataView::F32(v)) => {
                    c.slice_each_axis_mut(slices).assign(v);
                }
                (ArrayData::F64(c), ArrayDataView::F64(v)) => {
                    c.slice_each_axis_mut(slices).assign(v);
                }
                _ => return Err(self.mismatch(&data)),
            }
            return self.encode_view_into(chunk.view(), out);
        }
        let start: Vec<usize> = region.iter().map(|r| r.start).collect();
        with_payload(|payload| {
            let len = self.cells * width;
            match old {
                Some(bytes) => {
                    self.decompress_raw(bytes, payload)?;
                    if payload.len() != len {
                        return Err(CodecError::PayloadSize {
                            expected: len,
                            actual: payload.len(),
                        });
                    }
                }
                None => self.fill_blank_stored(payload, width)?,
            }
            self.put_values(&data, &start, payload)?;
            self.compress_into(payload, out)
        })
    }

    /// Fills `payload` with the stored (shuffled when applicable) bytes of
    /// [`ChunkCodec::blank_stored`].
    fn fill_blank_stored(&self, payload: &mut Vec<u8>, width: usize) -> Result<()> {
        let one = ChunkCodec::new(self.dtype.clone(), self.compression, self.level, &[1])?;
        let cell = one.encode_stored_payload(&one.blank_stored())?;
        payload.clear();
        if cell.len() != width {
            return Err(CodecError::PayloadSize {
                expected: width,
                actual: cell.len(),
            });
        }
        if self.shuffle_width().is_some() {
            for b in &cell {
                payload.resize(payload.len() + self.cells, *b);
            }
        } else {
            for _ in 0..self.cells {
                payload.extend_from_slice(&cell);
            }
        }
        Ok(())
    }

    /// Codec-compresses `payload` (already shuffled when applicable) into `out`.
    fn compress_into(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self.compression.codec {
            Codec::Zstd => compress::zstd_compress_into(payload, self.level, out),
            Codec::Lz4 => compress::lz4_compress_into(payload, out),
        }
    }

    fn mismatch(&self, data: &ArrayDataView<'_>) -> CodecError {
        CodecError::ArrayMismatch {
            expected: self.dtype.element_kind().to_string(),
            actual: data.kind().to_string(),
        }
    }

    fn check_view(&self, data: &ArrayDataView<'_>, shape: &[usize]) -> Result<()> {
        let want = self.dtype.element_kind();
        if data.kind() != want || data.shape() != shape {
            return Err(CodecError::ArrayMismatch {
                expected: format!("{want} array of shape {shape:?}"),
                actual: format!("{} array of shape {:?}", data.kind(), data.shape()),
            });
        }
        Ok(())
    }

    /// Writes the stored words of `data`'s cells into `payload` (a full chunk payload, byte
    /// planes when shuffled), the view's cell 0 at chunk cell `start`.
    fn put_values(
        &self,
        data: &ArrayDataView<'_>,
        start: &[usize],
        payload: &mut [u8],
    ) -> Result<()> {
        let cs = self.shape.as_slice();
        let sh = self.shuffle_width().is_some();
        match (&self.dtype, data) {
            (
                DataType::Float {
                    precision, packing, ..
                },
                ArrayDataView::F32(a),
            ) => put_float(a, *precision, packing.as_ref(), start, cs, payload, sh),
            (
                DataType::Float {
                    precision, packing, ..
                },
                ArrayDataView::F64(a),
            ) => put_float(a, *precision, packing.as_ref(), start, cs, payload, sh),
            (DataType::Int { ty, packing }, _) => with_int_type!(ty, D, _ND => {
                let a = D::unwrap_view(data).ok_or_else(|| self.mismatch(data))?;
                match packing {
                    None => {
                        put_cells(&a, start, cs, payload, sh, |x: D| x.to_word());
                        Ok(())
                    }
                    Some(pk) => {
                        let ip = IntPack::<D>::new(pk.offset, pk.fillvalue)?;
                        with_int_type!(pk.encoded, E, _N => {
                            let mut err = None;
                            put_cells(&a, start, cs, payload, sh, |x: D| match ip.encode::<E>(x) {
                                Ok(c) => c.to_word(),
                                Err(e) => {
                                    if err.is_none() {
                                        err = Some(e);
                                    }
                                    Default::default()
                                }
                            });
                            err.map_or(Ok(()), Err)
                        })
                    }
                }
            }),
            (DataType::Bool, ArrayDataView::Bool(a)) => {
                put_cells(a, start, cs, payload, sh, u8::from);
                Ok(())
            }
            (DataType::DateTime { packing, .. }, ArrayDataView::DateTime(a)) => match packing {
                None => {
                    put_cells(a, start, cs, payload, sh, |t: Datetime64| t.0.to_word());
                    Ok(())
                }
                Some(pk) => {
                    let off = pk.offset;
                    with_int_type!(pk.encoded, E, _N => {
                        put_cells(a, start, cs, payload, sh, |t| pack::datetime_encode::<E>(t, off).to_word());
                    });
                    Ok(())
                }
            },
            _ => Err(self.mismatch(data)),
        }
    }

    /// The element kind of stored elements: the code type for packed dtypes, else the
    /// decoded kind.
    pub fn stored_kind(&self) -> ElementKind {
        match self.dtype.packed_code_type() {
            Some(t) => ElementKind::Int(t),
            None => self.dtype.element_kind(),
        }
    }

    fn stored_codec(&self) -> ChunkCodec {
        let mut c = self.clone();
        if let Some(t) = self.dtype.packed_code_type() {
            c.dtype = DataType::Int {
                ty: t,
                packing: None,
            };
        }
        c
    }

    /// Decodes a payload to its *stored* elements (raw packed codes for packed dtypes), for
    /// writers that modify chunks in encoded space.
    ///
    /// ```
    /// use cfdb_codec::{ArrayData, ChunkCodec, Compression, DataType, ElementKind, IntType};
    /// let dt = DataType::from_json(
    ///     r#"{"name":"int16","dtype_encoded":"uint16","fillvalue":0,"offset":-6}"#,
    /// ).unwrap();
    /// let codec = ChunkCodec::new(dt, Compression::DEFAULT, 1, &[2]).unwrap();
    /// assert_eq!(codec.stored_kind(), ElementKind::Int(IntType::U16));
    /// let payload = [0u8, 0, 11, 0]; // codes 0 (fill) and 11
    /// let codes = codec.decode_stored_payload(&payload).unwrap();
    /// assert_eq!(codes.typed::<u16>().unwrap().as_slice().unwrap(), &[0, 11]);
    /// let values = codec.decode_payload(&payload).unwrap();
    /// assert_eq!(values.typed::<i16>().unwrap().as_slice().unwrap(), &[0, 5]);
    /// assert_eq!(codec.encode_stored_payload(&codes).unwrap(), payload);
    /// // padding of an unwritten chunk is the fill code
    /// assert_eq!(codec.blank_stored().typed::<u16>().unwrap().as_slice().unwrap(), &[0, 0]);
    /// ```
    pub fn decode_stored_payload(&self, payload: &[u8]) -> Result<ArrayData> {
        self.stored_codec().decode_payload(payload)
    }

    /// Inverse of [`ChunkCodec::decode_stored_payload`].
    pub fn encode_stored_payload(&self, stored: &ArrayData) -> Result<Vec<u8>> {
        self.stored_codec().encode_payload(stored)
    }

    /// The stored elements of an unwritten chunk as Python pads it: the fill code (or 0) for
    /// packed dtypes, the blank otherwise (`cfdb-format.md` §5.2).
    pub fn blank_stored(&self) -> ArrayData {
        match &self.dtype {
            DataType::Float {
                precision: Some(_),
                packing: Some(pk),
                ..
            } => int_filled(pk.encoded, pk.fillvalue, &self.shape),
            DataType::Int {
                packing: Some(pk), ..
            } => int_filled(pk.encoded, pk.fillvalue.unwrap_or(0), &self.shape),
            DataType::DateTime {
                packing: Some(pk), ..
            } => int_filled(pk.encoded, 0, &self.shape),
            _ => self.blank(),
        }
    }
}

fn int_filled(t: IntType, v: i128, shape: &[usize]) -> ArrayData {
    with_int_type!(t, T, _N => T::wrap(ArrayD::from_elem(IxDyn(shape), <T as Int>::wrap_from_i128(v))))
}

fn array<T>(shape: &[usize], v: Vec<T>) -> Result<ArrayD<T>> {
    let len = v.len();
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|_| CodecError::PayloadSize {
        expected: shape.iter().product(),
        actual: len,
    })
}

fn float_offset(pk: &crate::dtype::FloatPacking) -> Result<f64> {
    pk.offset
        .as_f64()
        .filter(|v| v.is_finite())
        .ok_or_else(|| CodecError::InvalidDtype {
            name: "float".to_owned(),
            reason: format!("offset {} is not a finite number", pk.offset),
        })
}

trait FloatElem: Flt + Element {
    type W: Word;
    fn write(n: usize, vals: impl Iterator<Item = Self>) -> Result<Vec<u8>>;
    fn bits(self) -> Self::W;
}
impl FloatElem for f32 {
    type W = u32;
    fn write(n: usize, vals: impl Iterator<Item = Self>) -> Result<Vec<u8>> {
        write_vals::<4, f32>(n, vals.map(Ok))
    }
    #[inline(always)]
    fn bits(self) -> u32 {
        self.to_bits()
    }
}
impl FloatElem for f64 {
    type W = u64;
    fn write(n: usize, vals: impl Iterator<Item = Self>) -> Result<Vec<u8>> {
        write_vals::<8, f64>(n, vals.map(Ok))
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

/// [`put_cells`] for a float dtype: packed, rounded or plain.
fn put_float<F: FloatElem>(
    a: &ArrayViewD<'_, F>,
    precision: Option<i64>,
    packing: Option<&crate::dtype::FloatPacking>,
    start: &[usize],
    cs: &[usize],
    payload: &mut [u8],
    sh: bool,
) -> Result<()> {
    match (precision, packing) {
        (Some(p), Some(pk)) => {
            let fp = FloatPack::<F>::new(pk.encoded, p, float_offset(pk)?, pk.fillvalue);
            with_int_type!(pk.encoded, E, _N => {
                let fill: E = fp.fill_code::<E>();
                put_cells(a, start, cs, payload, sh, |x| fp.encode::<E>(x, fill).to_word());
            })
        }
        (Some(p), None) => {
            let r = RoundDecimals::<F>::new(p);
            put_cells(a, start, cs, payload, sh, |x| r.round(x).bits());
        }
        (None, _) => put_cells(a, start, cs, payload, sh, |x: F| x.bits()),
    }
    Ok(())
}

thread_local! {
    /// The payload buffer of [`ChunkCodec::encode_view_into`] on this thread.
    static ENCODE_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's encode payload buffer (a fresh one if it is in use).
fn with_payload<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    ENCODE_SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            let r = f(&mut buf);
            if buf.capacity() > MAX_RETAINED_SCRATCH {
                *buf = Vec::new();
            }
            r
        }
        Err(_) => f(&mut Vec::new()),
    })
}

fn encode_float<F: FloatElem>(
    a: &ArrayD<F>,
    precision: Option<i64>,
    packing: Option<&crate::dtype::FloatPacking>,
    n: usize,
) -> Result<Vec<u8>> {
    match (precision, packing) {
        (Some(p), Some(pk)) => {
            let fp = FloatPack::<F>::new(pk.encoded, p, float_offset(pk)?, pk.fillvalue);
            with_int_type!(pk.encoded, E, N => {
                let fill: E = fp.fill_code::<E>();
                write_vals::<N, E>(n, a.iter().map(|x| Ok(fp.encode::<E>(*x, fill))))
            })
        }
        (Some(p), None) => {
            let r = RoundDecimals::<F>::new(p);
            F::write(n, a.iter().map(|x| r.round(*x)))
        }
        (None, _) => F::write(n, a.iter().copied()),
    }
}
