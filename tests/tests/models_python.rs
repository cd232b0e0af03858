//! cfdb-models against Python: metadata written by Rust is decoded by Python cfdb's own models
//! (msgspec `cfdb.data_models.SysMeta`, strictly, and the way `cfdb.Dataset` opens a file),
//! re-encoded as cfdb would write it, and compared with what Rust wrote
//! (`tests/python/models_check.py`). Also checks the float spelling against orjson directly.
//!
//! Needs the interop venv (`cargo xtask test`, or `CFDB_INTEROP_PYTHON`).

use std::path::Path;

use cfdb_models::{
    Axis, Compression, Coordinate, DataTypeMeta, DataVariable, DatasetType, DtypeForm, SysMeta,
    Variable, to_orjson_bytes,
};
use cfdb_tests::{manifest, run_python_json};
use serde_json::{Number, Value, json};

/// splitmix64: a tiny seeded generator, so the cases are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A finite float from a mix of shapes: raw bit patterns, short decimals, powers of ten and
    /// values next to the points where the decimal/exponent spelling switches.
    fn float(&mut self) -> f64 {
        loop {
            let f = match self.below(4) {
                0 => f64::from_bits(self.next()),
                1 => {
                    let k = i64::try_from(self.below(2_000_001)).expect("small") - 1_000_000;
                    let p = i32::try_from(self.below(12)).expect("small");
                    k as f64 / 10f64.powi(p)
                }
                2 => {
                    let e = i32::try_from(self.below(61)).expect("small") - 30;
                    10f64.powi(e)
                }
                _ => {
                    let base: f64 =
                        [1e-5, 1e-6, 1e-7, 1e15, 1e16, 1e17, 0.1, 1.0][self.below(8) as usize];
                    let ulps = i64::try_from(self.below(5)).expect("small") - 2;
                    f64::from_bits(base.to_bits().wrapping_add_signed(ulps))
                }
            };
            if f.is_finite() {
                return if self.below(2) == 0 { f } else { -f };
            }
        }
    }
}

fn num(f: f64) -> Number {
    Number::from_f64(f).expect("finite")
}

fn packed_float(name: &str, precision: i64, enc: &str, offset: Number) -> DataTypeMeta {
    let mut d = DataTypeMeta::new(name);
    d.precision = Some(precision);
    d.dtype_encoded = Some(enc.into());
    d.fillvalue = Some(0.into());
    d.offset = Some(offset);
    d
}

/// Metadata exercising every enum value, both dtype forms, int and float numbers, negative
/// origins, unicode and control characters, and large integers.
fn rich_meta() -> SysMeta {
    let mut m = SysMeta::new(DatasetType::TsForecast, Compression::Lz4Shuffle, -5);
    m.crs = Some("PROJCS[\"NZGD2000 / New Zealand Transverse Mercator 2000\",é\t\u{1}]".into());
    m.remote = true;
    for (i, axis) in Axis::ALL.iter().enumerate() {
        let mut dtype = match i {
            0 => DataTypeMeta::new("int32"),
            1 => packed_float("float64", 6, "uint32", num(-90.000001)),
            2 => {
                let mut d = DataTypeMeta::new("datetime64[m]");
                d.dtype_encoded = Some("int32".into());
                d.offset = Some((-36_816_481).into());
                d
            }
            3 => {
                let mut d = DataTypeMeta::new("Point");
                d.precision = Some(5);
                d.dtype_encoded = Some("StringDType128".into());
                d
            }
            4 => packed_float("float32", 2, "uint16", (-61).into()),
            _ => DataTypeMeta::new("uint64"),
        };
        if i % 2 == 1 {
            dtype.form = DtypeForm::Full;
        }
        let mut c = Coordinate::new(dtype, [1, 221_760, (1 << 53) + 1, 4, 3, 2][i]);
        c.shape = vec![[0, 5, 9_007_199_254_740_993, 7, u64::MAX, 1][i]];
        c.origin = Some([0, -3, i64::MIN, i64::MAX, 17, -1][i]);
        c.step = [
            Some(10.into()),
            Some(num(0.5)),
            None,
            Some(num(1e-7)),
            Some(num(1e16)),
            Some(u64::MAX.into()),
        ][i]
            .clone();
        c.axis = Some(*axis);
        c.units = [
            None,
            Some("m s-1"),
            Some("°C"),
            Some("a\"b\\c\n"),
            None,
            Some(""),
        ][i]
            .map(str::to_owned);
        m.variables
            .insert(format!("c{i}_{axis}"), Variable::Coord(c));
    }
    let coords: Vec<String> = m.variables.keys().cloned().collect();
    let mut d = DataVariable::new(
        coords.clone(),
        vec![1, 2, 3, 4, 5, 6],
        packed_float("float64", 3, "uint32", (-1001).into()),
    );
    d.units = Some("mm".into());
    m.variables.insert("v_all".into(), Variable::DataVar(d));
    let mut full = DataTypeMeta::new("float64");
    full.form = DtypeForm::Full;
    let d = DataVariable::new(coords[..1].to_vec(), vec![4], full);
    m.variables.insert("v_full".into(), Variable::DataVar(d));
    let mut int_packed = DataTypeMeta::new("int32");
    int_packed.dtype_encoded = Some("int16".into());
    int_packed.fillvalue = Some((-32768).into());
    int_packed.offset = Some(100.into());
    let d = DataVariable::new(
        vec![coords[0].clone(), coords[1].clone()],
        vec![5, 1],
        int_packed,
    );
    m.variables.insert("V_2".into(), Variable::DataVar(d));
    m
}

/// Many coordinates whose steps and offsets are random floats (float spelling coverage).
fn random_floats_meta(rng: &mut Rng) -> SysMeta {
    let mut m = SysMeta::new(DatasetType::Grid, Compression::Zstd, 1);
    for i in 0..300 {
        let dtype = packed_float("float64", 4, "uint32", num(rng.float()));
        let mut c = Coordinate::new(dtype, 1 + rng.below(1000));
        c.shape = vec![rng.below(1 << 40)];
        c.step = Some(num(rng.float()));
        m.variables.insert(format!("x{i}"), Variable::Coord(c));
    }
    m
}

fn with_unknown_fields(mut m: SysMeta) -> SysMeta {
    m.extra
        .insert("future_top".into(), json!({"a": [1, 2.5, null]}));
    for var in m.variables.values_mut() {
        match var {
            Variable::Coord(c) => c.extra.insert("future_coord".into(), json!("é")),
            Variable::DataVar(d) => d.extra.insert("attrs".into(), json!({"units": "K"})),
        };
        var.dtype_mut()
            .extra
            .insert("future_dtype".into(), json!(1e16));
    }
    m
}

/// What Python cfdb writes back after reading `m`: loaded variables get the full DataType form
/// and unknown fields are dropped.
fn as_python_rewrites(m: &SysMeta) -> SysMeta {
    let mut m = m.clone();
    m.extra.clear();
    for var in m.variables.values_mut() {
        match var {
            Variable::Coord(c) => c.extra.clear(),
            Variable::DataVar(d) => d.extra.clear(),
        }
        let dtype = var.dtype_mut();
        dtype.extra.clear();
        dtype.form = DtypeForm::Full;
    }
    m
}

fn decode_in_python(dir: &Path, metas: &[(String, SysMeta)]) -> Vec<Value> {
    let mut paths = Vec::new();
    for (label, m) in metas {
        let p = dir.join(format!("{label}.json"));
        std::fs::write(&p, m.to_json_bytes()).expect("write temp JSON");
        paths.push(p.display().to_string());
    }
    let args: Vec<&str> = std::iter::once("decode")
        .chain(paths.iter().map(String::as_str))
        .collect();
    let out = run_python_json("models_check.py", &args);
    let out = out.as_array().expect("a list").clone();
    assert_eq!(out.len(), metas.len());
    out
}

#[test]
fn python_cfdb_reads_rust_metadata_identically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng(0x00C0_FFEE_CFDB);
    let mut metas: Vec<(String, SysMeta)> = vec![
        ("rich".into(), rich_meta()),
        ("rich_unknown".into(), with_unknown_fields(rich_meta())),
        ("empty_grid_forecast_v0".into(), {
            let mut m = SysMeta::new(DatasetType::GridForecast, Compression::ZstdShuffle, 22);
            m.format_version = 0;
            m
        }),
        (
            "ts_ortho_lz4".into(),
            SysMeta::new(DatasetType::TsOrtho, Compression::Lz4, 1),
        ),
        ("random_floats_1".into(), random_floats_meta(&mut rng)),
        ("random_floats_2".into(), random_floats_meta(&mut rng)),
    ];
    for entry in manifest("cfdb")["files"].as_array().expect("files") {
        let name = entry["file"].as_str().expect("file name").replace('.', "_");
        let meta = SysMeta::from_json_value(entry["metadata"].clone()).expect("golden parses");
        metas.push((format!("golden_{name}"), with_unknown_fields(meta)));
    }
    for (label, m) in &metas {
        m.validate().unwrap_or_else(|e| panic!("{label}: {e}"));
    }

    let results = decode_in_python(dir.path(), &metas);
    for ((label, m), r) in metas.iter().zip(&results) {
        assert_eq!(
            r["ok"],
            json!(true),
            "{label}: Python refused it: {}",
            r["error"]
        );
        let text = r["reencoded"].as_str().expect("reencoded text");
        let back = SysMeta::from_json_bytes(text.as_bytes())
            .unwrap_or_else(|e| panic!("{label}: Rust cannot read Python's rewrite: {e}"));
        let expected = as_python_rewrites(m);
        if back != expected {
            let first = expected
                .variables
                .iter()
                .find(|(k, v)| back.variables.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}: Rust {v:?}\nPython {:?}", back.variables.get(k)));
            panic!(
                "{label}: Python saw different values; first differing variable: {}",
                first.unwrap_or_else(|| "(top-level fields)".into())
            );
        }
        assert_eq!(
            String::from_utf8_lossy(&expected.to_json_bytes()),
            text,
            "{label}: Python's rewrite differs from Rust's bytes for the same metadata"
        );
    }
}

#[test]
fn python_cfdb_refuses_a_newer_format_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut newer = rich_meta();
    newer.format_version = 2;
    let bytes = newer.to_json_bytes();
    let err = SysMeta::from_json_bytes(&bytes).expect_err("Rust refuses format_version 2");
    assert!(err.to_string().contains("newer cfdb"), "{err}");
    let r = decode_in_python(dir.path(), &[("newer".into(), newer)]);
    assert_eq!(r[0]["ok"], json!(false), "Python accepted format_version 2");
    let msg = r[0]["error"].as_str().expect("error text");
    assert!(msg.contains("written by a newer cfdb"), "{msg}");
}

#[test]
fn float_spelling_matches_orjson() {
    let mut rng = Rng(0x5EED_F10A7);
    let floats: Vec<Value> = (0..5000).map(|_| Value::Number(num(rng.float()))).collect();
    let mut values = floats;
    values.extend(
        [
            0.0,
            -0.0,
            1.0,
            0.5,
            -90.000001,
            1e-5,
            1e-6,
            1e15,
            1e16,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ]
        .map(|f| Value::Number(num(f))),
    );
    let ours = to_orjson_bytes(&Value::Array(values));
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join("floats.json");
    std::fs::write(&p, &ours).expect("write");
    let out = run_python_json(
        "models_check.py",
        &["orjson-redump", &p.display().to_string()],
    );
    let theirs = out["text"].as_str().expect("text");
    let ours = String::from_utf8(ours).expect("UTF-8");
    if ours != theirs {
        let a: Vec<&str> = ours.trim_matches(['[', ']']).split(',').collect();
        let b: Vec<&str> = theirs.trim_matches(['[', ']']).split(',').collect();
        let diffs: Vec<_> = a.iter().zip(&b).filter(|(x, y)| x != y).take(10).collect();
        panic!("float spelling differs from orjson, e.g. (ours, orjson): {diffs:?}");
    }
}
