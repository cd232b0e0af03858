//! Encode/decode/compression vectors computed by Python cfdb 0.11.0 (`data/gen_vectors.py`).

use cfdb_codec::{
    ArrayData, ChunkCodec, CodecError, Compression, DataType, Datetime64, WktGeometry,
};
use cfdb_models::DataTypeMeta;
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

/// Builds an ArrayData of the dtype's element kind from the JSON list.
fn build(dt: &DataType, shape: &[usize], vals: &[Value]) -> ArrayData {
    use cfdb_codec::ElementKind as K;
    use cfdb_codec::IntType as I;
    let ints = || {
        vals.iter().map(|v| {
            v.as_i64()
                .map(i128::from)
                .or(v.as_u64().map(i128::from))
                .unwrap()
        })
    };
    match dt.element_kind() {
        K::F32 => ArrayData::F32(arr(
            shape,
            vals.iter()
                .map(|v| f32::from_bits(u32::from_str_radix(v.as_str().unwrap(), 16).unwrap()))
                .collect(),
        )),
        K::F64 => ArrayData::F64(arr(
            shape,
            vals.iter()
                .map(|v| f64::from_bits(u64::from_str_radix(v.as_str().unwrap(), 16).unwrap()))
                .collect(),
        )),
        K::Int(I::I8) => ArrayData::I8(arr(shape, ints().map(|x| x as i8).collect())),
        K::Int(I::I16) => ArrayData::I16(arr(shape, ints().map(|x| x as i16).collect())),
        K::Int(I::I32) => ArrayData::I32(arr(shape, ints().map(|x| x as i32).collect())),
        K::Int(I::I64) => ArrayData::I64(arr(shape, ints().map(|x| x as i64).collect())),
        K::Int(I::U8) => ArrayData::U8(arr(shape, ints().map(|x| x as u8).collect())),
        K::Int(I::U16) => ArrayData::U16(arr(shape, ints().map(|x| x as u16).collect())),
        K::Int(I::U32) => ArrayData::U32(arr(shape, ints().map(|x| x as u32).collect())),
        K::Int(I::U64) => ArrayData::U64(arr(shape, ints().map(|x| x as u64).collect())),
        K::Bool => ArrayData::Bool(arr(
            shape,
            vals.iter().map(|v| v.as_bool().unwrap()).collect(),
        )),
        K::DateTime => ArrayData::DateTime(arr(
            shape,
            vals.iter()
                .map(|v| v.as_i64().map_or(Datetime64::NAT, Datetime64))
                .collect(),
        )),
        K::Str => ArrayData::Str(arr(
            shape,
            vals.iter().map(|v| v.as_str().map(str::to_owned)).collect(),
        )),
        K::Geometry => ArrayData::Geometry(arr(
            shape,
            vals.iter()
                .map(|v| WktGeometry(v.as_str().map(str::to_owned)))
                .collect(),
        )),
    }
}

/// Bit-exact comparison (floats by bits, so NaN payloads and −0.0 count).
fn assert_bits_eq(a: &ArrayData, b: &ArrayData, what: &str) {
    match (a, b) {
        (ArrayData::F32(x), ArrayData::F32(y)) => {
            let xb: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
            let yb: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
            assert_eq!(xb, yb, "{what}");
        }
        (ArrayData::F64(x), ArrayData::F64(y)) => {
            let xb: Vec<u64> = x.iter().map(|v| v.to_bits()).collect();
            let yb: Vec<u64> = y.iter().map(|v| v.to_bits()).collect();
            assert_eq!(xb, yb, "{what}");
        }
        _ => assert_eq!(a, b, "{what}"),
    }
}

#[test]
fn python_vectors() {
    let text = include_str!("data/python_vectors.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() > 40);
    let mut zstd_identical = 0;
    let mut zstd_total = 0;
    for case in cases {
        let meta = DataTypeMeta::from_json_value(case["meta"].clone()).unwrap();
        let dt = DataType::try_from(&meta).unwrap();
        assert_eq!(
            dt.to_meta().to_json_bytes(),
            meta.to_json_bytes(),
            "meta round trip"
        );
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let input = build(&dt, &shape, case["input"].as_array().unwrap());
        let label = format!("{}", case["meta"]);
        let codec = ChunkCodec::new(dt.clone(), Compression::DEFAULT, 1, &shape).unwrap();
        if case["error"].is_string() {
            let err = codec.encode_payload(&input).unwrap_err();
            assert!(
                matches!(err, CodecError::Unencodable { .. }),
                "{label}: {err}"
            );
            continue;
        }
        let payload = hex(case["payload"].as_str().unwrap());
        assert_eq!(
            codec.encode_payload(&input).unwrap(),
            payload,
            "{label}: encode"
        );
        let decoded = build(&dt, &shape, case["decoded"].as_array().unwrap());
        let got = codec.decode_payload(&payload).unwrap();
        assert_bits_eq(&got, &decoded, &format!("{label}: decode"));
        // Re-encoding the decoded chunk behaves as Python's dumps(loads(payload)).
        let re = case["reencoded"].as_str().unwrap();
        if re == "ValueError" {
            assert!(
                codec.encode_payload(&got).is_err(),
                "{label}: re-encode must fail"
            );
        } else {
            assert_eq!(
                codec.encode_payload(&got).unwrap(),
                hex(re),
                "{label}: re-encode"
            );
        }
        // In stored (encoded) space the round trip is always exact.
        let stored = codec.decode_stored_payload(&payload).unwrap();
        assert_eq!(
            codec.encode_stored_payload(&stored).unwrap(),
            payload,
            "{label}: stored"
        );
        for (name, comp_hex) in case["compressed"].as_object().unwrap() {
            let (cname, level) = name.split_once(':').unwrap();
            let compression: Compression = cname.parse().unwrap();
            let level: i32 = level.parse().unwrap();
            let codec = ChunkCodec::new(dt.clone(), compression, level, &shape).unwrap();
            let py = hex(comp_hex.as_str().unwrap());
            // Python's stored bytes decode through the full path (decompress + unshuffle).
            assert_eq!(
                codec.decompress(&py).unwrap(),
                payload,
                "{label} {name}: decompress"
            );
            assert_bits_eq(
                &codec.decode(&py).unwrap(),
                &decoded,
                &format!("{label} {name}: decode"),
            );
            // Ours decode back too.
            let ours = codec.encode(&input).unwrap();
            assert_eq!(
                codec.decompress(&ours).unwrap(),
                payload,
                "{label} {name}: own frame"
            );
            if compression.codec == cfdb_codec::Codec::Zstd {
                zstd_total += 1;
                // Same libzstd (1.5.7) as Python's zstandard 0.25: frames are identical.
                assert_eq!(ours, py, "{label} {name}: zstd frame differs from Python's");
                zstd_identical += 1;
            } else {
                // python-lz4 header layout: magic, FLG 0x68, BD 0x40, 8-byte content size.
                assert_eq!(&ours[..6], &py[..6], "{label} {name}: lz4 frame header");
                assert_eq!(
                    &ours[6..14],
                    &(payload_len_for(&codec, &payload) as u64).to_le_bytes()
                );
            }
        }
    }
    assert_eq!(zstd_identical, zstd_total);
}

fn payload_len_for(_codec: &ChunkCodec, payload: &[u8]) -> usize {
    payload.len()
}
