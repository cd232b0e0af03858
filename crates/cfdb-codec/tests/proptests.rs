//! Property tests: plain dtypes round-trip exactly, packed dtypes within their declared
//! precision, under every compression; bad input never panics.

use cfdb_codec::{
    ArrayData, ChunkCodec, Codec, CodecError, Compression, DataType, Datetime64, DatetimeUnit,
    FloatWidth, IntType, WktGeometry,
};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

fn compression() -> impl Strategy<Value = Compression> {
    (any::<bool>(), any::<bool>()).prop_map(|(lz4, shuffle)| Compression {
        codec: if lz4 { Codec::Lz4 } else { Codec::Zstd },
        shuffle,
    })
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..5, 1..4)
}

fn cells(shape: &[usize]) -> usize {
    shape.iter().product()
}

fn arr<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn roundtrip(dt: &DataType, c: Compression, level: i32, data: &ArrayData) -> ArrayData {
    let codec = ChunkCodec::new(dt.clone(), c, level, data.shape()).unwrap();
    let bytes = codec.encode(data).unwrap();
    let out = codec.decode(&bytes).unwrap();
    // decode_into with reused buffers agrees.
    let mut scratch = vec![1, 2, 3];
    let mut reuse = out.clone();
    codec.decode_into(&bytes, &mut scratch, &mut reuse).unwrap();
    assert!(bits_eq(&out, &reuse));
    out
}

fn bits_eq(a: &ArrayData, b: &ArrayData) -> bool {
    match (a, b) {
        (ArrayData::F32(x), ArrayData::F32(y)) => {
            x.shape() == y.shape() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (ArrayData::F64(x), ArrayData::F64(y)) => {
            x.shape() == y.shape() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
}

/// Random plain data of an element kind for a shape.
fn plain_case() -> impl Strategy<Value = (DataType, ArrayData)> {
    shape().prop_flat_map(|s| {
        let n = cells(&s);
        let s1 = s.clone();
        prop_oneof![
            prop::collection::vec(any::<u32>(), n).prop_map(move |v| (
                DataType::from_json(r#"{"name":"float32"}"#).unwrap(),
                ArrayData::F32(arr(&s1, v.into_iter().map(f32::from_bits).collect()))
            )),
            {
                let s = s.clone();
                prop::collection::vec(any::<u64>(), n).prop_map(move |v| (
                    DataType::from_json(r#"{"name":"float64"}"#).unwrap(),
                    ArrayData::F64(arr(&s, v.into_iter().map(f64::from_bits).collect()))
                ))
            },
            {
                let s = s.clone();
                prop::collection::vec(any::<i8>(), n).prop_map(move |v| (DataType::Int { ty: IntType::I8, packing: None }, ArrayData::I8(arr(&s, v))))
            },
            {
                let s = s.clone();
                prop::collection::vec(any::<i16>(), n).prop_map(move |v| (DataType::Int { ty: IntType::I16, packing: None }, ArrayData::I16(arr(&s, v))))
            },
            {
                let s = s.clone();
                prop::collection::vec(any::<i32>(), n).prop_map(move |v| (DataType::Int { ty: IntType::I32, packing: None }, ArrayData::I32(arr(&s, v))))
            },
            {
                let s = s.clone();
                prop::collection::vec(any::<i64>(), n).prop_map(move |v| (DataType::Int { ty: IntType::I64, packing: None }, ArrayData::I64(arr(&s, v))))
            },
            {
                let s = s.clone();
                prop::collection::vec(any::<u8>(), n).prop_map(move |v| (DataType::Int { ty: IntType::U8, packing: None }, ArrayData::U8(arr(&s, v))))
            },
            {
                let s = s.clone();
                prop::collection::vec(any::<u16>(), n).prop_map(move |v| (DataType::Int { ty: IntType::U16, packing: None }, ArrayData::U16(arr(&s, v))))
            },
            {
                let s = s.clone();
                prop::collection::vec(any::<u32>(), n).prop_map(move |v| (DataType::Int { ty: IntType::U32, packing: None }, ArrayData::U32(arr(&s, v))))
            },
            {
                let s = s.clone();
                prop::collection::vec(any::<u64>(), n).prop_map(move |v| (DataType::Int { ty: IntType::U64, packing: None }, ArrayData::U64(arr(&s, v))))
            },
            {
                let s = s.clone();
                prop::collection::vec(any::<bool>(), n).prop_map(move |v| (DataType::Bool, ArrayData::Bool(arr(&s, v))))
            },
            {
                let s = s.clone();
                (prop::sample::select(DatetimeUnit::ALL.to_vec()), prop::collection::vec(any::<i64>(), n)).prop_map(move |(unit, v)| (
                    DataType::DateTime { unit, packing: None },
                    ArrayData::DateTime(arr(&s, v.into_iter().map(Datetime64).collect()))
                ))
            },
            {
                let s = s.clone();
                prop::collection::vec(prop::option::of(".{0,40}"), n).prop_map(move |v| (DataType::Str, ArrayData::Str(arr(&s, v))))
            },
            {
                let s = s.clone();
                prop::collection::vec(prop::option::of((-1e6f64..1e6, -1e6f64..1e6)), n).prop_map(move |v| (
                    DataType::from_json(r#"{"name":"Point","precision":5,"dtype_encoded":"StringDType128"}"#).unwrap(),
                    ArrayData::Geometry(arr(
                        &s,
                        v.into_iter()
                            .map(|p| match p {
                                None => WktGeometry(None),
                                Some((x, y)) => WktGeometry::from_geo(&geo_types::Point::new(x, y).into(), 5),
                            })
                            .collect()
                    ))
                ))
            },
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn plain_dtypes_roundtrip_exactly((dt, data) in plain_case(), c in compression(), level in 1i32..4) {
        let out = roundtrip(&dt, c, level, &data);
        prop_assert!(bits_eq(&out, &data), "{:?} != {:?}", out, data);
    }

    #[test]
    fn packed_floats_roundtrip_within_precision(
        f64w in any::<bool>(),
        p in 0i64..5,
        lo in -1000.0f64..1000.0,
        span in 0.0f64..2000.0,
        fracs in prop::collection::vec(prop::option::of(0.0f64..=1.0), 1..40),
        c in compression(),
    ) {
        let (min, max) = ((lo * 100.0).round() / 100.0, ((lo + span) * 100.0).round() / 100.0);
        let width = if f64w { FloatWidth::F64 } else { FloatWidth::F32 };
        let dt = DataType::float_auto_packed(width, p, min, max).unwrap();
        let xs: Vec<Option<f64>> = fracs.iter().map(|f| f.map(|f| min + f * (max - min))).collect();
        let half = 0.5 * 10f64.powi(-(p as i32));
        let shape = [xs.len()];
        if f64w {
            let data = ArrayData::F64(arr(&shape, xs.iter().map(|x| x.unwrap_or(f64::NAN)).collect()));
            let out = roundtrip(&dt, c, 1, &data);
            for (x, y) in xs.iter().zip(out.typed::<f64>().unwrap()) {
                match x {
                    None => prop_assert!(y.is_nan()),
                    Some(x) => prop_assert!((x - y).abs() <= half * (1.0 + 1e-9) + 1e-9 * (x.abs() + 1.0), "{x} -> {y}"),
                }
            }
        } else {
            let data = ArrayData::F32(arr(&shape, xs.iter().map(|x| x.map_or(f32::NAN, |x| x as f32)).collect()));
            let out = roundtrip(&dt, c, 1, &data);
            for (x, y) in data.typed::<f32>().unwrap().iter().zip(out.typed::<f32>().unwrap()) {
                if x.is_nan() {
                    prop_assert!(y.is_nan());
                } else {
                    // half a unit of the last decimal, plus f32 rounding of the f32 arithmetic
                    let tol = half + 8.0 * f64::from(f32::EPSILON) * (f64::from(x.abs()) + min.abs() + 1.0);
                    prop_assert!((f64::from(*x) - f64::from(*y)).abs() <= tol, "{x} -> {y} (p={p}, tol {tol})");
                }
            }
        }
    }

    #[test]
    fn rounded_plain_floats_within_precision(p in -2i64..6, xs in prop::collection::vec(-1e5f64..1e5, 1..30), c in compression()) {
        let dt = DataType::Float { width: FloatWidth::F64, precision: Some(p), packing: None };
        let data = ArrayData::F64(arr(&[xs.len()], xs.clone()));
        let out = roundtrip(&dt, c, 1, &data);
        let half = 0.5 * 10f64.powi(-(p as i32));
        for (x, y) in xs.iter().zip(out.typed::<f64>().unwrap()) {
            prop_assert!((x - y).abs() <= half * (1.0 + 1e-9) + 1e-9, "{x} -> {y}");
        }
    }

    #[test]
    fn packed_ints_roundtrip_exactly(
        ty in prop::sample::select(IntType::ALL.to_vec()),
        a in any::<i64>(),
        b in any::<i64>(),
        fracs in prop::collection::vec(0.0f64..=1.0, 1..30),
        c in compression(),
    ) {
        // A range inside the decoded type whose offset (min - 1) is representable and whose
        // codes (x - offset, computed in the decoded type as numpy does) do not wrap.
        let (tmin, tmax) = (ty.min().max(-(1i128 << 62)), ty.max().min(1i128 << 62));
        let clamp = |v: i64| (i128::from(v)).clamp(tmin + 1, tmax);
        let (min, max) = {
            let (x, y) = (clamp(a), clamp(b));
            let (lo, hi) = (x.min(y), x.max(y));
            (lo, hi.min(lo - 1 + tmax))
        };
        let dt = DataType::int_auto_packed(ty, min, max).unwrap();
        let vals: Vec<i128> = fracs.iter().map(|f| (min + ((max - min) as f64 * f) as i128).clamp(min, max)).collect();
        let shape = [vals.len()];
        let data = match ty {
            IntType::I8 => ArrayData::I8(arr(&shape, vals.iter().map(|v| *v as i8).collect())),
            IntType::I16 => ArrayData::I16(arr(&shape, vals.iter().map(|v| *v as i16).collect())),
            IntType::I32 => ArrayData::I32(arr(&shape, vals.iter().map(|v| *v as i32).collect())),
            IntType::I64 => ArrayData::I64(arr(&shape, vals.iter().map(|v| *v as i64).collect())),
            IntType::U8 => ArrayData::U8(arr(&shape, vals.iter().map(|v| *v as u8).collect())),
            IntType::U16 => ArrayData::U16(arr(&shape, vals.iter().map(|v| *v as u16).collect())),
            IntType::U32 => ArrayData::U32(arr(&shape, vals.iter().map(|v| *v as u32).collect())),
            IntType::U64 => ArrayData::U64(arr(&shape, vals.iter().map(|v| *v as u64).collect())),
        };
        let out = roundtrip(&dt, c, 1, &data);
        prop_assert_eq!(out, data);
    }

    #[test]
    fn packed_datetimes_roundtrip_exactly(
        unit in prop::sample::select(DatetimeUnit::ALL.to_vec()),
        a in -(1i64 << 40)..(1i64 << 40),
        span in 0i64..(1 << 30),
        fracs in prop::collection::vec(prop::option::of(0.0f64..=1.0), 1..30),
        c in compression(),
    ) {
        let dt = DataType::datetime_auto_packed(unit, a, a + span).unwrap();
        let vals: Vec<Datetime64> = fracs
            .iter()
            .map(|f| f.map_or(Datetime64::NAT, |f| Datetime64(a + ((span as f64 * f) as i64).clamp(0, span))))
            .collect();
        let data = ArrayData::DateTime(arr(&[vals.len()], vals));
        let out = roundtrip(&dt, c, 1, &data);
        prop_assert_eq!(out, data);
    }

    #[test]
    fn shuffle_is_inverted(w in prop::sample::select(vec![1usize, 2, 4, 8]), n in 0usize..100, seed in any::<u64>()) {
        let data: Vec<u8> = (0..n * w).map(|i| (seed.wrapping_mul(i as u64 + 1) >> 13) as u8).collect();
        let s = cfdb_codec::shuffle(&data, w).unwrap();
        prop_assert_eq!(cfdb_codec::unshuffle(&s, w).unwrap(), data);
    }

    #[test]
    fn fuzz_decode_never_panics(data in prop::collection::vec(any::<u8>(), 0..600)) {
        cfdb_codec::fuzz_decode(&data);
    }

    #[test]
    fn corrupted_chunks_give_typed_errors((dt, data) in plain_case(), c in compression(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let codec = ChunkCodec::new(dt, c, 1, data.shape()).unwrap();
        let mut bytes = codec.encode(&data).unwrap();
        for (i, x) in &flips {
            let k = i.index(bytes.len());
            bytes[k] ^= x | 1;
        }
        // Either an error or some chunk of the right shape: never a panic.
        if let Ok(v) = codec.decode(&bytes) { prop_assert_eq!(v.shape(), data.shape()); }
        let k = cut.index(bytes.len());
        if let Ok(v) = codec.decode(&bytes[..k]) { prop_assert_eq!(v.shape(), data.shape()); }
        let payload = codec.encode_payload(&data).unwrap();
        if !payload.is_empty() {
            let short = &payload[..payload.len() - 1];
            prop_assert!(codec.decode_payload(short).is_err());
        }
    }
}

#[test]
fn typed_errors() {
    assert!(matches!(
        DataType::from_json(r#"{"name":"complex64"}"#),
        Err(CodecError::UnknownDtype { .. })
    ));
    assert!(matches!(
        DataType::from_json(r#"{"name":"datetime64[5m]"}"#),
        Err(CodecError::UnknownDtype { .. })
    ));
    assert!(matches!(
        DataType::from_json(r#"{"name":"int16","dtype_encoded":"float32","offset":1}"#),
        Err(CodecError::InvalidDtype { .. })
    ));
    assert!(matches!(
        DataType::from_json(
            r#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0.5,"offset":1}"#
        ),
        Err(CodecError::InvalidDtype { .. })
    ));
    assert!(matches!(
        "zstd_fast".parse::<Compression>(),
        Err(CodecError::UnknownCompression { .. })
    ));
    let codec = ChunkCodec::new(
        DataType::from_json(r#"{"name":"float32"}"#).unwrap(),
        Compression::DEFAULT,
        1,
        &[4],
    )
    .unwrap();
    assert!(matches!(
        codec.decode_payload(&[0; 15]),
        Err(CodecError::PayloadSize {
            expected: 16,
            actual: 15
        })
    ));
    assert!(matches!(
        codec.decode(b"not zstd"),
        Err(CodecError::Decompress { .. })
    ));
    let wrong = ArrayData::F64(arr(&[4], vec![0.0; 4]));
    assert!(matches!(
        codec.encode(&wrong),
        Err(CodecError::ArrayMismatch { .. })
    ));
    assert!(matches!(
        ChunkCodec::new(DataType::Bool, Compression::DEFAULT, 1, &[2, 0]),
        Err(CodecError::InvalidChunkShape { .. })
    ));
    let s = ChunkCodec::new(DataType::Str, Compression::DEFAULT, 1, &[2]).unwrap();
    assert!(matches!(
        s.decode_payload(&[0x92, 0xa1, b'a']),
        Err(CodecError::InvalidMsgpack { .. })
    ));
    assert!(matches!(
        s.decode_payload(&[0x92, 0x01, 0xc0]),
        Err(CodecError::InvalidMsgpack { .. })
    ));
    assert!(matches!(
        s.decode_payload(&[0x92, 0xa1, 0xff, 0xc0]),
        Err(CodecError::InvalidMsgpack { .. })
    ));
    // flat form of a 2-D chunk is accepted, like numpy's reshape
    let s2 = ChunkCodec::new(DataType::Str, Compression::DEFAULT, 1, &[1, 2]).unwrap();
    assert_eq!(
        s2.decode_payload(&[0x92, 0xa1, b'a', 0xc0]).unwrap(),
        ArrayData::Str(arr(&[1, 2], vec![Some("a".to_owned()), None]))
    );
    let g = ChunkCodec::new(
        DataType::from_json(r#"{"name":"Point","precision":5,"dtype_encoded":"StringDType128"}"#)
            .unwrap(),
        Compression::DEFAULT,
        1,
        &[1],
    )
    .unwrap();
    assert!(matches!(
        g.decode_payload(&[0x91, 0xa5, b'P', b'O', b'I', b'N', b'X']),
        Err(CodecError::InvalidWkt { .. })
    ));
    // numpy computes the code x - offset in the decoded type: an auto-packed int8 over
    // -127..7 (offset -128) wraps for 7 and Python raises ValueError; so do we.
    let q = ChunkCodec::new(
        DataType::int_auto_packed(IntType::I8, -127, 7).unwrap(),
        Compression::DEFAULT,
        1,
        &[2],
    )
    .unwrap();
    assert_eq!(
        q.dtype().to_meta().to_json_bytes(),
        br#"{"name":"int8","dtype_encoded":"uint8","fillvalue":0,"offset":-128}"#
    );
    assert!(matches!(
        q.encode(&ArrayData::I8(arr(&[2], vec![7, -127]))),
        Err(CodecError::Unencodable { .. })
    ));
    // packed ints outside the encoded width are rejected (Python raises ValueError)
    let pi = ChunkCodec::new(
        DataType::from_json(
            r#"{"name":"int16","dtype_encoded":"uint8","fillvalue":0,"offset":-6}"#,
        )
        .unwrap(),
        Compression::DEFAULT,
        1,
        &[1],
    )
    .unwrap();
    assert!(matches!(
        pi.encode(&ArrayData::I16(arr(&[1], vec![1000]))),
        Err(CodecError::Unencodable { .. })
    ));
}

#[test]
fn algorithms_md_vectors() {
    // algorithms.md §6.2: float32 inputs, p=2, offset −1, uint16.
    let f32dt = DataType::from_json(
        r#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-1}"#,
    )
    .unwrap();
    let f64dt = DataType::from_json(
        r#"{"name":"float64","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-1}"#,
    )
    .unwrap();
    let xs: [f32; 10] = [
        1.23,
        0.005,
        0.015,
        0.025,
        654.34,
        654.35,
        f32::NAN,
        -1.0,
        -0.995,
        0.005,
    ];
    let want32: [u16; 10] = [223, 100, 102, 102, 65534, 65535, 0, 0, 0, 100];
    let c = ChunkCodec::new(f32dt, Compression::DEFAULT, 1, &[10]).unwrap();
    let payload = c
        .encode_payload(&ArrayData::F32(arr(&[10], xs.to_vec())))
        .unwrap();
    let codes: Vec<u16> = payload
        .chunks(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(codes, want32);
    // the same float32 values promoted to a float64 variable give 100, 101, 103
    let c = ChunkCodec::new(f64dt, Compression::DEFAULT, 1, &[3]).unwrap();
    let payload = c
        .encode_payload(&ArrayData::F64(arr(
            &[3],
            vec![
                f64::from(0.005f32),
                f64::from(0.015f32),
                f64::from(0.025f32),
            ],
        )))
        .unwrap();
    let codes: Vec<u16> = payload
        .chunks(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(codes, [100, 101, 103]);
    // cfdb-format.md §4.4 example: 0.25 -> 1012 -> 0.19999695 in f32
    let dt = DataType::from_json(r#"{"name":"float32","precision":1,"dtype_encoded":"uint16","fillvalue":0,"offset":-101.0}"#).unwrap();
    let c = ChunkCodec::new(dt, Compression::DEFAULT, 1, &[1]).unwrap();
    let payload = c
        .encode_payload(&ArrayData::F32(arr(&[1], vec![0.25])))
        .unwrap();
    assert_eq!(payload, 1012u16.to_le_bytes());
    assert_eq!(
        c.decode_payload(&payload).unwrap().typed::<f32>().unwrap()[0],
        0.199_996_95
    );
    // §6.1 vectors
    assert_eq!(
        cfdb_codec::compute_int_and_offset_f64(-50.0, 100.0, 2).unwrap(),
        (2, -51.0)
    );
    assert_eq!(
        cfdb_codec::compute_int_and_offset_int(0, 255, 0).unwrap(),
        (2, -1)
    );
    assert_eq!(
        cfdb_codec::compute_int_and_offset_int(0, 65535, 0).unwrap(),
        (4, -1)
    );
    assert_eq!(
        cfdb_codec::compute_int_and_offset_int(-5, 250, 0).unwrap(),
        (2, -6)
    );
    assert_eq!(
        cfdb_codec::compute_int_and_offset_int(1, 256, 0).unwrap(),
        (2, 0)
    );
    assert_eq!(
        cfdb_codec::compute_int_and_offset_f64(0.0, 10000.0, 1).unwrap(),
        (4, -1.0)
    );
    // datetime64[h] 2000-01-01 .. 2100-01-01 -> uint32, offset 262967
    let dt = DataType::datetime_auto_packed(DatetimeUnit::Hours, 262968, 1139568).unwrap();
    assert_eq!(
        dt.to_meta().to_json_bytes(),
        br#"{"name":"datetime64[h]","dtype_encoded":"uint32","offset":262967}"#
    );
    // §6.3 vectors
    assert_eq!(
        cfdb_codec::compute_scale_and_offset(-50.0, 100.0, IntType::I16),
        (0.0022888882106997894, 25.0)
    );
    assert_eq!(
        cfdb_codec::compute_scale_and_offset(-50.0, 100.0, IntType::U16),
        (0.0022888882106997894, -50.0022888882107)
    );
    assert_eq!(
        cfdb_codec::compute_scale_and_offset(0.0, 1.0, IntType::I64),
        (5.421010862427522e-20, 0.49999999999999994)
    );
}

#[test]
fn geos_style_wkt() {
    // Formatting observed from shapely 2.2 / GEOS 3.14 to_wkt(rounding_precision=p, trim=True).
    let cases: [(f64, i64, &str); 12] = [
        (172.636234, 5, "172.63623"),
        (-43.532051, 5, "-43.53205"),
        (1e-5, 5, "1e-5"),
        (1.23456e-5, 5, "1.23456e-5"),
        (0.00012345, 5, "0.00012"),
        (1e20, 5, "1e+20"),
        (9.9e16, 5, "99000000000000000"),
        (1.000015, 5, "1.00002"),
        (9.999999e-5, 3, "10e-5"),
        (99999.999999, 3, "100000"),
        (1.23456789e20, 3, "1.235e+20"),
        (-0.0, 3, "0"),
    ];
    for (x, p, want) in cases {
        let g = WktGeometry::from_geo(&geo_types::Point::new(x, 2.0).into(), p);
        assert_eq!(
            g.as_str().unwrap(),
            format!("POINT ({want} 2)"),
            "{x} p={p}"
        );
    }
    let poly = geo_types::Polygon::new(
        vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)].into(),
        vec![vec![(0.2, 0.2), (0.3, 0.2), (0.3, 0.3), (0.2, 0.2)].into()],
    );
    assert_eq!(
        WktGeometry::from_geo(&poly.into(), 3).as_str().unwrap(),
        "POLYGON ((0 0, 1 0, 1 1, 0 0), (0.2 0.2, 0.3 0.2, 0.3 0.3, 0.2 0.2))"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Larger chunks exercise the blocked unshuffle paths (64-value blocks plus remainders).
    #[test]
    fn long_shuffled_chunks_roundtrip(n in 1usize..700, seed in any::<u64>(), lz4 in any::<bool>()) {
        let c = Compression { codec: if lz4 { Codec::Lz4 } else { Codec::Zstd }, shuffle: true };
        let mut s = seed;
        let mut next = || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); s };
        let v16: Vec<i16> = (0..n).map(|_| (next() >> 48) as i16).collect();
        let v32: Vec<f32> = (0..n).map(|_| f32::from_bits((next() >> 32) as u32)).collect();
        let v64: Vec<u64> = (0..n).map(|_| next()).collect();
        let vdt: Vec<Datetime64> = (0..n).map(|_| Datetime64(next() as i64)).collect();
        let cases = [
            (DataType::Int { ty: IntType::I16, packing: None }, ArrayData::I16(arr(&[n], v16))),
            (DataType::from_json(r#"{"name":"float32"}"#).unwrap(), ArrayData::F32(arr(&[n], v32))),
            (DataType::Int { ty: IntType::U64, packing: None }, ArrayData::U64(arr(&[n], v64))),
            (DataType::DateTime { unit: DatetimeUnit::Nanoseconds, packing: None }, ArrayData::DateTime(arr(&[n], vdt))),
        ];
        for (dt, data) in cases {
            let codec = ChunkCodec::new(dt, c, 1, &[n]).unwrap();
            let bytes = codec.encode(&data).unwrap();
            let out = codec.decode(&bytes).unwrap();
            prop_assert!(bits_eq(&out, &data));
            // and the payload equals the unshuffled little-endian bytes
            prop_assert_eq!(codec.encode_payload(&out).unwrap(), codec.decompress(&bytes).unwrap());
        }
    }
}

#[test]
fn auto_packed_metadata_matches_python() {
    // Expected objects: cfdb 0.11 `dtypes.dtype(name, precision=, min_value=, max_value=)
    // .to_dict()` output, copied from Python (int16 -5..250: algorithms.md §6.1 vector).
    let f = |dt: DataType| String::from_utf8(dt.to_meta().to_json_bytes()).unwrap();
    assert_eq!(
        f(DataType::float_auto_packed_int(FloatWidth::F32, 2, -60, 500).unwrap()),
        r#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-61}"#
    );
    assert_eq!(
        f(DataType::float_auto_packed_int(FloatWidth::F64, 0, 0, 255).unwrap()),
        r#"{"name":"float64","precision":0,"dtype_encoded":"uint16","fillvalue":0,"offset":-1}"#
    );
    assert_eq!(
        f(DataType::float_auto_packed_int(FloatWidth::F64, -1, 0, 2550).unwrap()),
        r#"{"name":"float64","precision":-1,"dtype_encoded":"uint16","fillvalue":0,"offset":-1}"#
    );
    assert_eq!(
        f(DataType::float_auto_packed(FloatWidth::F64, 2, -50.0, 100.0).unwrap()),
        r#"{"name":"float64","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-51.0}"#
    );
    assert_eq!(
        f(DataType::int_auto_packed(IntType::I16, -5, 250).unwrap()),
        r#"{"name":"int16","dtype_encoded":"uint16","fillvalue":0,"offset":-6}"#
    );
}
