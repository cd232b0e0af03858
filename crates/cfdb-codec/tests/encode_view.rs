//! The one-pass encode paths (`encode_view_into`, `encode_update_into`) against the
//! element-by-element reference (`encode_payload` + `compress_payload`, the encoder Python
//! files are compared with): byte-identical for every fixed-width dtype, random shapes,
//! strided / reversed / transposed views and every compression.

use std::ops::Range;

use cfdb_codec::{
    ArrayData, ArrayDataView, ChunkCodec, Codec, Compression, DataType, Datetime64, Element,
    ElementKind, IntType, with_array_data,
};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use proptest::prelude::*;

const DTYPES: &[&str] = &[
    r#"{"name":"float32"}"#,
    r#"{"name":"float64"}"#,
    r#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-11.0}"#,
    r#"{"name":"float32","precision":1,"dtype_encoded":"uint8","fillvalue":0,"offset":-1.0}"#,
    r#"{"name":"float32","precision":3,"dtype_encoded":"int32","fillvalue":-2147483648,"offset":0}"#,
    r#"{"name":"float64","precision":1,"dtype_encoded":"int16","fillvalue":-32768,"offset":0}"#,
    r#"{"name":"float64","precision":6,"dtype_encoded":"uint32","fillvalue":0,"offset":-90.000001}"#,
    r#"{"name":"float64","precision":3,"dtype_encoded":"uint64","fillvalue":0,"offset":-1000.5}"#,
    r#"{"name":"float32","precision":2}"#,
    r#"{"name":"float64","precision":4}"#,
    r#"{"name":"float64","precision":-1}"#,
    r#"{"name":"int8"}"#,
    r#"{"name":"int16"}"#,
    r#"{"name":"int32"}"#,
    r#"{"name":"int64"}"#,
    r#"{"name":"uint8"}"#,
    r#"{"name":"uint16"}"#,
    r#"{"name":"uint32"}"#,
    r#"{"name":"uint64"}"#,
    r#"{"name":"int16","dtype_encoded":"uint16","fillvalue":0,"offset":-6}"#,
    r#"{"name":"int32","dtype_encoded":"int16","offset":5}"#,
    r#"{"name":"int64","dtype_encoded":"uint8","fillvalue":0,"offset":-1001}"#,
    r#"{"name":"uint32","dtype_encoded":"uint16","fillvalue":0,"offset":99}"#,
    r#"{"name":"int64","dtype_encoded":"int32","offset":-100000}"#,
    r#"{"name":"uint64","dtype_encoded":"uint64","fillvalue":0,"offset":0}"#,
    r#"{"name":"bool"}"#,
    r#"{"name":"datetime64[ns]"}"#,
    r#"{"name":"datetime64[D]"}"#,
    r#"{"name":"datetime64[h]","dtype_encoded":"uint32","offset":262967}"#,
    r#"{"name":"datetime64[m]","dtype_encoded":"int32","offset":-36816481}"#,
    r#"{"name":"datetime64[D]","dtype_encoded":"uint16","offset":18000}"#,
    r#"{"name":"datetime64[s]","dtype_encoded":"int64","offset":-5}"#,
];

/// splitmix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The packing offset of a packed int / datetime dtype (0 otherwise).
fn int_offset(dt: &DataType) -> i128 {
    match dt {
        DataType::Int {
            packing: Some(p), ..
        } => p.offset,
        DataType::DateTime {
            packing: Some(p), ..
        } => i128::from(p.offset),
        _ => 0,
    }
}

/// `n` values for the dtype: raw bits (`mode` 0), values near the packing range (1), or a
/// mix with specials (2).
fn values(dt: &DataType, n: usize, shape: &[usize], mode: u8, rng: &mut Rng) -> ArrayData {
    let off = int_offset(dt);
    let pick = |rng: &mut Rng| -> u8 {
        match mode {
            0 => 0,
            1 => 1,
            _ => (rng.below(3)) as u8,
        }
    };
    macro_rules! ints {
        ($t:ty, $v:ident) => {{
            let v: Vec<$t> = (0..n)
                .map(|_| match pick(rng) {
                    0 => rng.next() as $t,
                    1 => (off + 1 + i128::from(rng.below(250))) as $t,
                    _ => (off + i128::from(rng.below(8)) - 4) as $t,
                })
                .collect();
            ArrayData::$v(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
        }};
    }
    match dt.element_kind() {
        ElementKind::F32 => {
            let v: Vec<f32> = (0..n)
                .map(|_| match pick(rng) {
                    0 => f32::from_bits(rng.next() as u32),
                    1 => (rng.below(200_001) as f32) / 100.0 - 10.0,
                    _ => [f32::NAN, f32::INFINITY, -0.0, 1e30, -1e-30, 65535.0]
                        [rng.below(6) as usize],
                })
                .collect();
            ArrayData::F32(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
        }
        ElementKind::F64 => {
            let v: Vec<f64> = (0..n)
                .map(|_| match pick(rng) {
                    0 => f64::from_bits(rng.next()),
                    1 => (rng.below(20_000_001) as f64) / 1e4 - 90.0,
                    _ => [f64::NAN, f64::NEG_INFINITY, -0.0, 1e300, 5e15, 4294.967295]
                        [rng.below(6) as usize],
                })
                .collect();
            ArrayData::F64(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
        }
        ElementKind::Int(IntType::I8) => ints!(i8, I8),
        ElementKind::Int(IntType::I16) => ints!(i16, I16),
        ElementKind::Int(IntType::I32) => ints!(i32, I32),
        ElementKind::Int(IntType::I64) => ints!(i64, I64),
        ElementKind::Int(IntType::U8) => ints!(u8, U8),
        ElementKind::Int(IntType::U16) => ints!(u16, U16),
        ElementKind::Int(IntType::U32) => ints!(u32, U32),
        ElementKind::Int(IntType::U64) => ints!(u64, U64),
        ElementKind::Bool => {
            let v: Vec<bool> = (0..n).map(|_| rng.next() & 1 == 1).collect();
            ArrayData::Bool(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
        }
        ElementKind::DateTime => {
            let v: Vec<Datetime64> = (0..n)
                .map(|_| {
                    Datetime64(match pick(rng) {
                        0 => rng.next() as i64,
                        1 => (off + 1 + i128::from(rng.below(60_000))) as i64,
                        _ => [i64::MIN, 0, off as i64, i64::MAX][rng.below(4) as usize],
                    })
                })
                .collect();
            ArrayData::DateTime(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
        }
        ElementKind::Str | ElementKind::Geometry => unreachable!("fixed-width dtypes only"),
    }
}

/// How a view of shape `shape` is cut out of a larger parent array.
#[derive(Clone, Debug)]
struct Layout {
    /// `parent.permuted_axes(axes)` has axis `j` of length `len[j]`.
    axes: Vec<usize>,
    len: Vec<usize>,
    /// Then axis `j` is sliced `off..off + (shape - 1) * step + 1` with `step` (negative
    /// when reversed).
    off: Vec<usize>,
    step: Vec<isize>,
}

fn layout(shape: &[usize], rng: &mut Rng) -> Layout {
    let d = shape.len();
    let mut axes: Vec<usize> = (0..d).collect();
    if rng.below(2) == 0 {
        for i in (1..d).rev() {
            axes.swap(i, rng.below(i as u64 + 1) as usize);
        }
    }
    let plain = rng.below(3) == 0;
    let mut len = Vec::new();
    let mut off = Vec::new();
    let mut step = Vec::new();
    for &n in shape {
        let s = if plain { 1 } else { 1 + rng.below(3) as usize };
        let pad = if plain { 0 } else { rng.below(4) as usize };
        let o = rng.below(pad as u64 + 1) as usize;
        len.push((n - 1) * s + 1 + pad);
        off.push(o);
        let neg = !plain && rng.below(4) == 0;
        step.push(if neg { -(s as isize) } else { s as isize });
    }
    Layout {
        axes,
        len,
        off,
        step,
    }
}

/// The parent's C-order shape for a layout.
fn parent_shape(l: &Layout) -> Vec<usize> {
    let mut p = vec![0; l.len.len()];
    for (j, &a) in l.axes.iter().enumerate() {
        p[a] = l.len[j];
    }
    p
}

fn cut<'a, T>(parent: ArrayViewD<'a, T>, l: &Layout, shape: &[usize]) -> ArrayViewD<'a, T> {
    let mut v = parent.permuted_axes(IxDyn(&l.axes));
    for (j, &n) in shape.iter().enumerate() {
        let (o, s) = (l.off[j] as isize, l.step[j]);
        let end = o + (n as isize - 1) * s.abs() + 1;
        v.slice_axis_inplace(Axis(j), Slice::new(o, Some(end), s));
    }
    v
}

fn cut_data<'a>(parent: &'a ArrayData, l: &Layout, shape: &[usize]) -> ArrayDataView<'a> {
    with_array_data!(parent, p => ArrayDataView::new(cut(p.view(), l, shape)))
}

fn owned(v: &ArrayDataView<'_>) -> ArrayData {
    fn o<T: Element>(v: &ArrayViewD<'_, T>) -> ArrayData {
        T::wrap(v.to_owned())
    }
    match v {
        ArrayDataView::F32(a) => o(a),
        ArrayDataView::F64(a) => o(a),
        ArrayDataView::I8(a) => o(a),
        ArrayDataView::I16(a) => o(a),
        ArrayDataView::I32(a) => o(a),
        ArrayDataView::I64(a) => o(a),
        ArrayDataView::U8(a) => o(a),
        ArrayDataView::U16(a) => o(a),
        ArrayDataView::U32(a) => o(a),
        ArrayDataView::U64(a) => o(a),
        ArrayDataView::Bool(a) => o(a),
        ArrayDataView::DateTime(a) => o(a),
        ArrayDataView::Str(a) => o(a),
        ArrayDataView::Geometry(a) => o(a),
    }
}

/// The reference encoder: element by element, then shuffle, then a fresh zstd context (or
/// LZ4), as before the one-pass path.
fn reference(codec: &ChunkCodec, data: &ArrayData) -> cfdb_codec::Result<Vec<u8>> {
    let payload = codec.encode_payload(data)?;
    codec.compress_payload(&payload)
}

fn assign_region(dst: &mut ArrayData, region: &[Range<usize>], src: &ArrayData) {
    fn a<T: Element>(d: &mut ArrayD<T>, region: &[Range<usize>], src: &ArrayData) {
        let s = T::view(src).expect("same kind");
        d.slice_each_axis_mut(|ax| Slice::from(region[ax.axis.index()].clone()))
            .assign(s);
    }
    with_array_data!(dst, d => a(d, region, src))
}

/// The read-modify-write reference: the pre-one-pass cfdb-core algorithm (stored elements
/// of the old chunk, the block encoded with a codec of its own shape and decoded back to
/// stored elements, assigned, the whole chunk encoded as stored elements), or for rounded
/// floats without packing Python's (decode, assign the values, encode the whole chunk).
fn update_reference(
    codec: &ChunkCodec,
    old: Option<&[u8]>,
    region: &[Range<usize>],
    block: &ArrayData,
) -> cfdb_codec::Result<Vec<u8>> {
    if let DataType::Float {
        precision: Some(_),
        packing: None,
        ..
    } = codec.dtype()
    {
        let mut chunk = match old {
            Some(b) => codec.decode(b)?,
            None => codec.blank(),
        };
        assign_region(&mut chunk, region, block);
        return reference(codec, &chunk);
    }
    let mut stored = match old {
        Some(b) => codec.decode_stored_payload(&codec.decompress(b)?)?,
        None => codec.blank_stored(),
    };
    let sub: Vec<usize> = region.iter().map(|r| r.end - r.start).collect();
    let sub_codec = ChunkCodec::new(
        codec.dtype().clone(),
        codec.compression(),
        codec.level(),
        &sub,
    )?;
    let new_payload = sub_codec.encode_payload(block)?;
    let new_stored = sub_codec.decode_stored_payload(&new_payload)?;
    assign_region(&mut stored, region, &new_stored);
    let payload = codec.encode_stored_payload(&stored)?;
    codec.compress_payload(&payload)
}

fn compression() -> impl Strategy<Value = Compression> {
    (any::<bool>(), any::<bool>()).prop_map(|(lz4, shuffle)| Compression {
        codec: if lz4 { Codec::Lz4 } else { Codec::Zstd },
        shuffle,
    })
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        prop::collection::vec(1usize..7, 1..5),
        // long rows: full 64-value blocks along the last axis
        (1usize..4, 60usize..200).prop_map(|(a, b)| vec![a, b]),
        (1usize..300).prop_map(|a| vec![a]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn encode_view_is_byte_identical(
        dt_i in 0..DTYPES.len(),
        shape in shape(),
        c in compression(),
        level in 1i32..4,
        mode in 0u8..3,
        seed in any::<u64>(),
    ) {
        let dt = DataType::from_json(DTYPES[dt_i]).unwrap();
        let codec = ChunkCodec::new(dt.clone(), c, level, &shape).unwrap();
        let mut rng = Rng(seed);
        let l = layout(&shape, &mut rng);
        let ps = parent_shape(&l);
        let parent = values(&dt, ps.iter().product(), &ps, mode, &mut rng);
        let view = cut_data(&parent, &l, &shape);
        let data = owned(&view);
        let want = reference(&codec, &data);
        let mut out = vec![9u8; 3];
        let got = codec.encode_view_into(view.clone(), &mut out).map(|()| out);
        prop_assert_eq!(&got, &want, "{} {:?} {:?}", DTYPES[dt_i], shape, l);
        // the contiguous array, and a second call reusing the thread's buffers
        prop_assert_eq!(&codec.encode(&data), &want);
        prop_assert_eq!(&codec.encode_view(view), &want);
    }

    #[test]
    fn encode_update_is_byte_identical(
        dt_i in 0..DTYPES.len(),
        shape in shape(),
        c in compression(),
        level in 1i32..4,
        mode in 0u8..3,
        has_old in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let dt = DataType::from_json(DTYPES[dt_i]).unwrap();
        let codec = ChunkCodec::new(dt.clone(), c, level, &shape).unwrap();
        let mut rng = Rng(seed);
        let old = if has_old {
            let full = values(&dt, shape.iter().product(), &shape, 1, &mut rng);
            codec.encode(&full).ok()
        } else {
            None
        };
        let region: Vec<Range<usize>> = shape
            .iter()
            .map(|&n| {
                let a = rng.below(n as u64) as usize;
                let b = a + 1 + rng.below((n - a) as u64) as usize;
                a..b
            })
            .collect();
        let sub: Vec<usize> = region.iter().map(|r| r.end - r.start).collect();
        let l = layout(&sub, &mut rng);
        let ps = parent_shape(&l);
        let parent = values(&dt, ps.iter().product(), &ps, mode, &mut rng);
        let view = cut_data(&parent, &l, &sub);
        let block = owned(&view);
        let want = update_reference(&codec, old.as_deref(), &region, &block);
        let mut out = Vec::new();
        let got = codec
            .encode_update_into(old.as_deref(), &region, view, &mut out)
            .map(|()| out);
        prop_assert_eq!(&got, &want, "{} {:?} {:?} {:?}", DTYPES[dt_i], shape, region, l);
    }
}

#[test]
#[allow(clippy::single_range_in_vec_init)]
fn update_rejects_bad_regions_and_variable_width() {
    let dt = DataType::from_json(r#"{"name":"int16"}"#).unwrap();
    let codec = ChunkCodec::new(dt, Compression::DEFAULT, 1, &[2, 3]).unwrap();
    let block = ArrayD::from_elem(IxDyn(&[1, 2]), 1i16);
    let mut out = Vec::new();
    for region in [vec![0..1, 2..4], vec![0..1], vec![0..1, 0..3]] {
        assert!(matches!(
            codec.encode_update_into(None, &region, ArrayDataView::I16(block.view()), &mut out),
            Err(cfdb_codec::CodecError::ArrayMismatch { .. })
        ));
    }
    // a stored payload of the wrong size
    let short = ChunkCodec::new(codec.dtype().clone(), Compression::DEFAULT, 1, &[2, 2])
        .unwrap()
        .encode(&ArrayData::I16(ArrayD::zeros(IxDyn(&[2, 2]))))
        .unwrap();
    assert!(matches!(
        codec.encode_update_into(
            Some(&short),
            &[0..1, 0..2],
            ArrayDataView::I16(block.view()),
            &mut out
        ),
        Err(cfdb_codec::CodecError::PayloadSize {
            expected: 12,
            actual: 8
        })
    ));
    let s = DataType::from_json(r#"{"name":"str"}"#).unwrap();
    let sc = ChunkCodec::new(s, Compression::DEFAULT, 1, &[2]).unwrap();
    let v = ArrayD::from_elem(IxDyn(&[1]), Some("x".to_owned()));
    assert!(
        sc.encode_update_into(None, &[0..1], ArrayDataView::Str(v.view()), &mut out)
            .is_err()
    );
    // strings and geometries encode from views too
    let full = ArrayD::from_shape_vec(IxDyn(&[2]), vec![Some("a".to_owned()), None]).unwrap();
    assert_eq!(
        sc.encode_view(ArrayDataView::Str(full.view())).unwrap(),
        reference(&sc, &ArrayData::Str(full.clone())).unwrap()
    );
    // wrong kind / shape
    assert!(codec.encode_view(ArrayDataView::Str(full.view())).is_err());
    assert!(codec.encode_view(ArrayDataView::I16(block.view())).is_err());
}
