//! Every chunk of every golden cfdb file decodes through cfdb-codec to exactly the MANIFEST
//! values, and re-encoding reproduces the stored payloads (and, for zstd, the stored frames).

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use cfdb_codec::{
    ArrayData, ChunkCodec, Compression, DataType, Datetime64, Element, WktGeometry, with_array_data,
};
use cfdb_models::DataTypeMeta;
use ndarray::{ArrayD, Slice};
use serde_json::Value;

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other),
    }
}

fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Null => None,
        Value::String(s) if s == "inf" => Some(f64::INFINITY),
        Value::String(s) if s == "-inf" => Some(f64::NEG_INFINITY),
        Value::Number(n) => n.as_f64(),
        other => panic!("not a float value: {other}"),
    }
}

fn int_of(v: &Value) -> i128 {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
        .unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// Compares the assembled variable with the manifest's values (floats bit for bit).
fn check_values(label: &str, got: &ArrayData, var: &Value) {
    let mut expected = Vec::new();
    let source = if matches!(got, ArrayData::DateTime(_)) {
        &var["ticks"]
    } else {
        &var["values"]
    };
    flatten(source, &mut expected);
    assert_eq!(got.len(), expected.len(), "{label}: cell count");
    match got {
        ArrayData::F32(a) => {
            for (i, (g, e)) in a.iter().zip(&expected).enumerate() {
                match float_of(e) {
                    None => assert!(g.is_nan(), "{label}[{i}]: expected NaN, got {g}"),
                    Some(x) => {
                        assert_eq!(
                            x as f32 as f64, x,
                            "{label}[{i}]: manifest value is not an f32"
                        );
                        assert_eq!(
                            g.to_bits(),
                            (x as f32).to_bits(),
                            "{label}[{i}]: {g} vs {x}"
                        )
                    }
                }
            }
        }
        ArrayData::F64(a) => {
            for (i, (g, e)) in a.iter().zip(&expected).enumerate() {
                match float_of(e) {
                    None => assert!(g.is_nan(), "{label}[{i}]: expected NaN, got {g}"),
                    Some(x) => assert_eq!(g.to_bits(), x.to_bits(), "{label}[{i}]: {g} vs {x}"),
                }
            }
        }
        ArrayData::Bool(a) => {
            for (i, (g, e)) in a.iter().zip(&expected).enumerate() {
                assert_eq!(Some(*g), e.as_bool(), "{label}[{i}]");
            }
        }
        ArrayData::DateTime(a) => {
            for (i, (g, e)) in a.iter().zip(&expected).enumerate() {
                let want = if e.is_null() {
                    Datetime64::NAT
                } else {
                    Datetime64(int_of(e) as i64)
                };
                assert_eq!(*g, want, "{label}[{i}]");
            }
        }
        ArrayData::Str(a) => {
            for (i, (g, e)) in a.iter().zip(&expected).enumerate() {
                assert_eq!(g.as_deref(), e.as_str(), "{label}[{i}]");
                assert!(g.is_some() || e.is_null(), "{label}[{i}]");
            }
        }
        ArrayData::Geometry(a) => {
            for (i, (g, e)) in a.iter().zip(&expected).enumerate() {
                assert_eq!(g.as_str(), e.as_str(), "{label}[{i}]");
                assert!(g.0.is_some() || e.is_null(), "{label}[{i}]");
                // The stored WKT also parses into geo-types (except EMPTY points).
                if g.as_str().is_some_and(|t| !t.contains("EMPTY")) {
                    g.to_geo().unwrap_or_else(|e| panic!("{label}[{i}]: {e}"));
                }
            }
        }
        ints => {
            let got: Vec<i128> = with_array_data!(ints, a => a.iter().map(int_like).collect());
            let want: Vec<i128> = expected.iter().map(|e| int_of(e)).collect();
            assert_eq!(got, want, "{label}");
        }
    }
}

fn int_like<T: Element>(v: &T) -> i128 {
    let s = format!("{v:?}");
    s.parse()
        .unwrap_or_else(|_| panic!("not an integer element: {s}"))
}

/// Copies the part of `chunk` (starting at storage positions `starts`) that lies inside
/// `[origin, origin + shape)` into `full`.
fn place(
    full: &mut ArrayData,
    chunk: &ArrayData,
    starts: &[i64],
    origins: &[i64],
    shape: &[usize],
    cs: &[usize],
) {
    let mut dst = Vec::new();
    let mut src = Vec::new();
    for d in 0..starts.len() {
        let lo = starts[d].max(origins[d]);
        let hi = (starts[d] + cs[d] as i64).min(origins[d] + shape[d] as i64);
        assert!(lo < hi, "chunk outside the variable");
        dst.push(Slice::from(
            (lo - origins[d]) as usize..(hi - origins[d]) as usize,
        ));
        src.push(Slice::from(
            (lo - starts[d]) as usize..(hi - starts[d]) as usize,
        ));
    }
    fn copy<T: Element>(f: &mut ArrayD<T>, c: &ArrayData, dst: &[Slice], src: &[Slice]) {
        let c = T::view(c).expect("chunk kind");
        let part = c.slice_each_axis(|ax| src[ax.axis.index()]);
        f.slice_each_axis_mut(|ax| dst[ax.axis.index()])
            .assign(&part);
    }
    with_array_data!(full, f => copy(f, chunk, &dst, &src));
}

/// All chunk start tuples of a variable (`cfdb-format.md` §6.3), in C order.
fn chunk_starts(origins: &[i64], shape: &[usize], cs: &[usize]) -> Vec<Vec<i64>> {
    let mut all = vec![vec![]];
    for d in 0..origins.len() {
        let c = cs[d] as i64;
        let mut starts = Vec::new();
        let mut s = origins[d].div_euclid(c) * c;
        while s < origins[d] + shape[d] as i64 {
            starts.push(s);
            s += c;
        }
        all = all
            .into_iter()
            .flat_map(|prefix| {
                starts.iter().map(move |s| {
                    let mut p = prefix.clone();
                    p.push(*s);
                    p
                })
            })
            .collect();
    }
    all
}

/// Replaces cells holding the fill code of a packed integer variable (they decode to 0, which
/// re-encodes to another code) by the value that encodes back to the fill code.
fn restore_int_fill(
    dt: &DataType,
    codec: &ChunkCodec,
    payload: &[u8],
    decoded: &ArrayData,
) -> ArrayData {
    let DataType::Int {
        packing: Some(p), ..
    } = dt
    else {
        return decoded.clone();
    };
    let Some(fill) = p.fillvalue else {
        return decoded.clone();
    };
    let stored = codec.decode_stored_payload(payload).unwrap();
    let codes: Vec<i128> = with_array_data!(&stored, a => a.iter().map(int_like).collect());
    let mut out = decoded.clone();
    fn patch<T: Element + Copy + TryFrom<i128>>(
        a: &mut ArrayD<T>,
        codes: &[i128],
        fill: i128,
        value: i128,
    ) {
        for (v, c) in a.iter_mut().zip(codes) {
            if *c == fill {
                *v = T::try_from(value)
                    .ok()
                    .expect("fill + offset fits the decoded type");
            }
        }
    }
    let value = fill + p.offset;
    match &mut out {
        ArrayData::I8(a) => patch(a, &codes, fill, value),
        ArrayData::I16(a) => patch(a, &codes, fill, value),
        ArrayData::I32(a) => patch(a, &codes, fill, value),
        ArrayData::I64(a) => patch(a, &codes, fill, value),
        ArrayData::U8(a) => patch(a, &codes, fill, value),
        ArrayData::U16(a) => patch(a, &codes, fill, value),
        ArrayData::U32(a) => patch(a, &codes, fill, value),
        ArrayData::U64(a) => patch(a, &codes, fill, value),
        _ => unreachable!(),
    }
    out
}

struct Lz4Frame {
    payload_after_shuffle: Vec<u8>,
    ours: Vec<u8>,
}

#[test]
fn golden_chunks_decode_to_manifest_values() {
    let manifest = cfdb_tests::manifest("cfdb");
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 10);
    let mut n_chunks = 0;
    let mut n_vars = 0;
    let mut zstd_frames_identical = 0;
    let mut lz4_frames: Vec<Lz4Frame> = Vec::new();
    for file in files {
        let name = file["file"].as_str().unwrap();
        let reader = cfdb_kv::Reader::open(cfdb_tests::data_file("cfdb", name)).unwrap();
        let meta: Value =
            serde_json::from_slice(reader.metadata().unwrap().expect("metadata")).unwrap();
        assert_eq!(meta, file["metadata"], "{name}: metadata");
        let compression: Compression = meta["compression"].as_str().unwrap().parse().unwrap();
        let level = meta["compression_level"].as_i64().unwrap() as i32;
        let variables = meta["variables"].as_object().unwrap();
        let mut all_chunk_keys = BTreeSet::new();
        for (var_name, var) in variables {
            n_vars += 1;
            let label = format!("{name}:{var_name}");
            let expected = &file["variables"][var_name];
            let dmeta = DataTypeMeta::from_json_value(var["dtype"].clone()).unwrap();
            let dt = DataType::try_from(&dmeta).unwrap();
            let cs: Vec<usize> = var["chunk_shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            let (shape, origins): (Vec<usize>, Vec<i64>) = if var["type"] == "coord" {
                (
                    vec![var["shape"][0].as_u64().unwrap() as usize],
                    vec![var["origin"].as_i64().unwrap()],
                )
            } else {
                var["coords"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        let cv = &variables[c.as_str().unwrap()];
                        (
                            cv["shape"][0].as_u64().unwrap() as usize,
                            cv["origin"].as_i64().unwrap(),
                        )
                    })
                    .unzip()
            };
            let want_shape: Vec<usize> = expected["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(shape, want_shape, "{label}: shape");
            let codec = ChunkCodec::new(dt.clone(), compression, level, &cs).unwrap();
            let mut full = ArrayData::blank(dt.element_kind(), &shape);
            let mut scratch = Vec::new();
            let mut chunk = codec.blank();
            let mut present = BTreeSet::new();
            for starts in chunk_starts(&origins, &shape, &cs) {
                let key = format!(
                    "{var_name}!{}",
                    starts
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(".")
                );
                let Some(stored) = reader.get(&key).unwrap() else {
                    // Missing chunk: leave the blank in place.
                    continue;
                };
                n_chunks += 1;
                present.insert(key.clone());
                codec
                    .decode_into(stored, &mut scratch, &mut chunk)
                    .unwrap_or_else(|e| panic!("{key}: {e}"));
                assert!(
                    same_bits(
                        &chunk,
                        &codec
                            .decode(stored)
                            .unwrap_or_else(|e| panic!("{key}: {e}"))
                    ),
                    "{key}: decode paths"
                );
                place(&mut full, &chunk, &starts, &origins, &shape, &cs);

                // Re-encoding reproduces the decompressed payload byte for byte.
                let payload = codec.decompress(stored).unwrap();
                let values = restore_int_fill(&dt, &codec, &payload, &chunk);
                let re = codec
                    .encode_payload(&values)
                    .unwrap_or_else(|e| panic!("{key}: {e}"));
                assert!(re == payload, "{key}: re-encoded payload differs");
                let stored_vals = codec.decode_stored_payload(&payload).unwrap();
                assert!(
                    codec.encode_stored_payload(&stored_vals).unwrap() == payload,
                    "{key}: stored round trip"
                );

                let ours = codec.compress_payload(&re).unwrap();
                match compression.codec {
                    cfdb_codec::Codec::Zstd => {
                        // Same libzstd (1.5.7) and level as Python: the frames are identical.
                        assert!(ours == stored, "{key}: zstd frame differs from Python's");
                        zstd_frames_identical += 1;
                    }
                    cfdb_codec::Codec::Lz4 => {
                        let mut raw = Vec::new();
                        codec.decompress_raw(stored, &mut raw).unwrap();
                        lz4_frames.push(Lz4Frame {
                            payload_after_shuffle: raw,
                            ours,
                        });
                    }
                }
            }
            let want_present: BTreeSet<String> = expected["chunk_keys_present"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(present, want_present, "{label}: chunk keys");
            all_chunk_keys.extend(present);
            check_values(&label, &full, expected);
        }
        let want_keys: BTreeSet<String> = file["all_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .filter(|k| k.contains('!'))
            .collect();
        assert_eq!(
            all_chunk_keys, want_keys,
            "{name}: every chunk key was visited"
        );
    }
    eprintln!(
        "{n_vars} variables, {n_chunks} chunks, {zstd_frames_identical} zstd frames identical, {} lz4 frames",
        lz4_frames.len()
    );
    assert!(
        n_vars >= 40 && n_chunks >= 100,
        "{n_vars} variables, {n_chunks} chunks"
    );
    assert!(zstd_frames_identical > 0);

    // Our LZ4 frames are read back by Python's lz4.frame (the reader cfdb uses).
    let input: Vec<String> = lz4_frames.iter().map(|f| hex(&f.ours)).collect();
    let script = "import sys, json, lz4.frame\n\
                  frames = json.load(sys.stdin)\n\
                  print(json.dumps([lz4.frame.decompress(bytes.fromhex(h)).hex() for h in frames]))";
    let mut child = Command::new(cfdb_tests::python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the interop python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python lz4 decompression failed");
    let decoded: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decoded.len(), lz4_frames.len());
    assert!(!lz4_frames.is_empty());
    for (d, f) in decoded.iter().zip(&lz4_frames) {
        assert_eq!(
            *d,
            hex(&f.payload_after_shuffle),
            "python read our lz4 frame differently"
        );
    }
}

/// Equality with floats compared by bits (NaN == NaN).
fn same_bits(a: &ArrayData, b: &ArrayData) -> bool {
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn missing_chunks_decode_to_blanks() {
    // Spec §6.3 blanks, for the dtypes the golden files use.
    type Check = fn(&ArrayData) -> bool;
    let cases: [(&str, Check); 8] = [
        (r#"{"name":"float32"}"#, |a| {
            a.typed::<f32>().unwrap().iter().all(|v| v.is_nan())
        }),
        (
            r#"{"name":"float64","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-1.0}"#,
            |a| a.typed::<f64>().unwrap().iter().all(|v| v.is_nan()),
        ),
        (
            r#"{"name":"int32","dtype_encoded":"int16","offset":5}"#,
            |a| a.typed::<i32>().unwrap().iter().all(|v| *v == 0),
        ),
        (r#"{"name":"uint64"}"#, |a| {
            a.typed::<u64>().unwrap().iter().all(|v| *v == 0)
        }),
        (r#"{"name":"bool"}"#, |a| {
            a.typed::<bool>().unwrap().iter().all(|v| !*v)
        }),
        (
            r#"{"name":"datetime64[m]","dtype_encoded":"int32","offset":-36816481}"#,
            |a| a.typed::<Datetime64>().unwrap().iter().all(|v| v.is_nat()),
        ),
        (r#"{"name":"str"}"#, |a| {
            a.typed::<Option<String>>()
                .unwrap()
                .iter()
                .all(Option::is_none)
        }),
        (
            r#"{"name":"Polygon","precision":4,"dtype_encoded":"StringDType128"}"#,
            |a| {
                a.typed::<WktGeometry>()
                    .unwrap()
                    .iter()
                    .all(|g| g.0.is_none())
            },
        ),
    ];
    for (json, ok) in cases {
        let codec = ChunkCodec::new(
            DataType::from_json(json).unwrap(),
            Compression::DEFAULT,
            1,
            &[2, 3],
        )
        .unwrap();
        let blank = codec.blank();
        assert_eq!(blank.shape(), &[2, 3]);
        assert!(ok(&blank), "{json}");
    }
}
