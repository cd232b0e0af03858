//! `ChunkCodec::decode_region_into` (the read path's fused unshuffle + decode + scatter)
//! against `decode` followed by slicing: the same values, bit for bit, for every fixed-width
//! dtype and compression, random chunk shapes and regions, into standard, strided, reversed
//! and transposed output views; and `Ok(false)` with nothing written where it does not apply.

use std::ops::Range;

use cfdb_codec::{
    ArrayData, ArrayDataViewMut, ChunkCodec, CodecError, DataType, Datetime64, Element,
    with_array_data,
};
use ndarray::{ArrayD, Axis, IxDyn, Slice};
use proptest::prelude::*;

const DTYPES: &[&str] = &[
    r#"{"name":"float32"}"#,
    r#"{"name":"float64"}"#,
    r#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-11.0}"#,
    r#"{"name":"float64","precision":1,"dtype_encoded":"int16","fillvalue":-32768,"offset":0}"#,
    r#"{"name":"float64","precision":6,"dtype_encoded":"uint32","fillvalue":0,"offset":-90.000001}"#,
    r#"{"name":"int8"}"#,
    r#"{"name":"int16"}"#,
    r#"{"name":"int32"}"#,
    r#"{"name":"int64"}"#,
    r#"{"name":"uint8"}"#,
    r#"{"name":"uint16"}"#,
    r#"{"name":"uint32"}"#,
    r#"{"name":"uint64"}"#,
    r#"{"name":"int16","dtype_encoded":"uint16","fillvalue":0,"offset":-6}"#,
    r#"{"name":"int64","dtype_encoded":"uint8","fillvalue":0,"offset":-1001}"#,
    r#"{"name":"bool"}"#,
    r#"{"name":"datetime64[ns]"}"#,
    r#"{"name":"datetime64[h]","dtype_encoded":"uint32","offset":262967}"#,
    r#"{"name":"datetime64[D]","dtype_encoded":"uint16","offset":18000}"#,
];

const COMPRESSIONS: &[&str] = &["zstd", "zstd_shuffle", "lz4", "lz4_shuffle"];

/// Stored bytes of a chunk whose payload is `seed`-derived bytes (any payload decodes for
/// these dtypes, so every bit pattern and code is exercised).
fn stored(codec: &ChunkCodec, seed: u64) -> Vec<u8> {
    let width = codec.dtype().stored_size().expect("fixed width");
    let mut x = seed | 1;
    let payload: Vec<u8> = (0..codec.cells() * width)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    codec.compress_payload(&payload).unwrap()
}

/// Bitwise comparison (NaN payloads and -0.0 included).
fn bits<T: Element>(a: &ArrayD<T>) -> Vec<String> {
    a.iter().map(|v| format!("{v:?}")).collect()
}

fn check<T: Element>(codec: &ChunkCodec, bytes: &[u8], region: &[Range<usize>], layout: u8) {
    let full = T::unwrap(codec.decode(bytes).unwrap()).unwrap();
    let want = full.slice_each_axis(|ax| {
        let r = &region[ax.axis.index()];
        Slice::from(r.start..r.end)
    });
    let shape: Vec<usize> = region.iter().map(|r| r.len()).collect();
    let n = shape.len();
    // A bigger array around the region, read back through the same kind of view.
    let pad: Vec<usize> = shape.iter().map(|&s| s * 2 + 1).collect();
    let mut big = ArrayD::from_elem(IxDyn(&pad), T::blank());
    let mut scratch = Vec::new();
    {
        let mut v = big.slice_each_axis_mut(|ax| {
            let s = shape[ax.axis.index()];
            match layout % 3 {
                0 => Slice::from(0..s),
                1 => Slice::new(1, Some((2 * s + 1) as isize), 2),
                _ => Slice::new(0, Some(s as isize), -1),
            }
        });
        if layout >= 3 && n > 1 {
            // A transposed view of a transposed array: same shape, other memory order.
            v.swap_axes(0, n - 1);
            v.swap_axes(0, n - 1);
            v.invert_axis(Axis(0));
            v.invert_axis(Axis(0));
        }
        assert!(
            codec
                .decode_region_into(bytes, &mut scratch, region, ArrayDataViewMut::new(v))
                .unwrap()
        );
    }
    let got = big.slice_each_axis(|ax| {
        let s = shape[ax.axis.index()];
        match layout % 3 {
            0 => Slice::from(0..s),
            1 => Slice::new(1, Some((2 * s + 1) as isize), 2),
            _ => Slice::new(0, Some(s as isize), -1),
        }
    });
    assert_eq!(
        bits(&got.to_owned()),
        bits(&want.to_owned()),
        "region {region:?} layout {layout}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn region_decode_equals_decode_then_slice(
        dt in 0..DTYPES.len(),
        comp in 0..COMPRESSIONS.len(),
        shape in proptest::collection::vec(1usize..7, 1..5),
        cuts in proptest::collection::vec((0usize..7, 0usize..7), 4),
        layout in 0u8..6,
        seed in any::<u64>(),
    ) {
        let dtype = DataType::from_json(DTYPES[dt]).unwrap();
        let codec = ChunkCodec::new(dtype, COMPRESSIONS[comp].parse().unwrap(), 1, &shape).unwrap();
        let region: Vec<Range<usize>> = shape
            .iter()
            .zip(&cuts)
            .map(|(&c, &(a, b))| {
                let (a, b) = (a % (c + 1), b % (c + 1));
                a.min(b)..a.max(b)
            })
            .collect();
        let bytes = stored(&codec, seed);
        let blank = codec.blank();
        with_array_data!(&blank, a => check_typed(a, &codec, &bytes, &region, layout));
    }
}

fn check_typed<T: Element>(
    _: &ArrayD<T>,
    codec: &ChunkCodec,
    bytes: &[u8],
    region: &[Range<usize>],
    layout: u8,
) {
    check::<T>(codec, bytes, region, layout);
}

#[test]
fn many_short_rows_are_unshuffled_in_blocks() {
    // Planes of hundreds of short rows: several 512-cell blocks per plane, and partial
    // regions (not whole rows) that take the row-at-a-time path.
    for (dt, shape) in [
        (r#"{"name":"float32"}"#, vec![2, 300, 7]),
        (r#"{"name":"float64"}"#, vec![700, 5]),
        (
            r#"{"name":"int16","dtype_encoded":"uint16","fillvalue":0,"offset":-6}"#,
            vec![3, 129, 4],
        ),
        (
            r#"{"name":"datetime64[D]","dtype_encoded":"uint16","offset":18000}"#,
            vec![1, 1000, 3],
        ),
    ] {
        let codec = ChunkCodec::new(
            DataType::from_json(dt).unwrap(),
            "zstd_shuffle".parse().unwrap(),
            1,
            &shape,
        )
        .unwrap();
        let bytes = stored(&codec, shape.iter().product::<usize>() as u64);
        let whole: Vec<Range<usize>> = shape.iter().map(|&c| 0..c).collect();
        let mut inner: Vec<Range<usize>> = shape.iter().map(|&c| c / 3..c).collect();
        let last = inner.len() - 1;
        inner[last] = 0..shape[last];
        let mut part = inner.clone();
        part[last] = 1..shape[last];
        for region in [whole, inner, part] {
            for layout in 0..6 {
                let blank = codec.blank();
                with_array_data!(&blank, a => check_typed(a, &codec, &bytes, &region, layout));
            }
        }
    }
}

#[test]
fn other_element_types_and_strings_are_declined() {
    let f32s = ChunkCodec::new(
        DataType::from_json(r#"{"name":"float32"}"#).unwrap(),
        "zstd_shuffle".parse().unwrap(),
        1,
        &[2, 3],
    )
    .unwrap();
    let bytes = stored(&f32s, 7);
    let mut out = ArrayD::<f64>::from_elem(IxDyn(&[2, 3]), 1.5);
    let mut scratch = Vec::new();
    let taken = f32s
        .decode_region_into(
            &bytes,
            &mut scratch,
            &[0..2, 0..3],
            ArrayDataViewMut::new(out.view_mut()),
        )
        .unwrap();
    assert!(!taken);
    assert!(out.iter().all(|&v| v == 1.5));

    let strs = ChunkCodec::new(
        DataType::from_json(r#"{"name":"str"}"#).unwrap(),
        "zstd".parse().unwrap(),
        1,
        &[2],
    )
    .unwrap();
    let data =
        ArrayData::Str(ArrayD::from_shape_vec(IxDyn(&[2]), vec![Some("a".into()), None]).unwrap());
    let sb = strs.encode(&data).unwrap();
    let mut out = ArrayD::<Option<String>>::from_elem(IxDyn(&[2]), None);
    let whole: [Range<usize>; 1] = [Range { start: 0, end: 2 }];
    assert!(
        !strs
            .decode_region_into(
                &sb,
                &mut scratch,
                &whole,
                ArrayDataViewMut::new(out.view_mut())
            )
            .unwrap()
    );

    let mut dt = ArrayD::from_elem(IxDyn(&[2, 3]), Datetime64(0));
    assert!(
        !f32s
            .decode_region_into(
                &bytes,
                &mut scratch,
                &[0..2, 0..3],
                ArrayDataViewMut::new(dt.view_mut())
            )
            .unwrap()
    );
}

#[test]
fn regions_outside_the_chunk_and_wrong_shapes_are_errors() {
    let codec = ChunkCodec::new(
        DataType::from_json(r#"{"name":"int32"}"#).unwrap(),
        "lz4_shuffle".parse().unwrap(),
        1,
        &[4, 5],
    )
    .unwrap();
    let bytes = stored(&codec, 3);
    let mut scratch = Vec::new();
    let mut out = ArrayD::<i32>::zeros(IxDyn(&[2, 6]));
    let e = codec
        .decode_region_into(
            &bytes,
            &mut scratch,
            &[0..2, 0..6],
            ArrayDataViewMut::new(out.view_mut()),
        )
        .unwrap_err();
    assert!(matches!(e, CodecError::ArrayMismatch { .. }), "{e}");
    let mut out = ArrayD::<i32>::zeros(IxDyn(&[2, 2]));
    let e = codec
        .decode_region_into(
            &bytes,
            &mut scratch,
            &[0..2, 0..3],
            ArrayDataViewMut::new(out.view_mut()),
        )
        .unwrap_err();
    assert!(matches!(e, CodecError::ArrayMismatch { .. }), "{e}");
    // A truncated frame is a codec error, not a panic.
    let e = codec
        .decode_region_into(
            &bytes[..bytes.len() / 2],
            &mut scratch,
            &[0..2, 0..2],
            ArrayDataViewMut::new(out.view_mut()),
        )
        .unwrap_err();
    assert!(!e.to_string().is_empty());
}
