//! cfdb-models against the golden files: every stored system metadata object (the ten
//! `tests/data/cfdb` files and `tests/data/booklet/cfdb_small.cfdb`) parses, and re-serialises
//! (a) to a JSON value equal to the manifest's `metadata` and (b) byte-for-byte to the bytes
//! stored in the file's booklet metadata slot (read by the pinned Python booklet through
//! `tests/python/models_check.py raw-metadata`).
//!
//! The byte comparison needs the interop venv (`cargo xtask test`, or `CFDB_INTEROP_PYTHON`).

use cfdb_models::{DtypeForm, ModelsError, SysMeta, Variable, to_orjson_bytes};
use cfdb_tests::{data_file, manifest, run_python_json};
use serde_json::{Value, json};

/// (file path, stored metadata object) for every golden cfdb file.
fn golden_metadata() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let cfdb = manifest("cfdb");
    for entry in cfdb["files"].as_array().expect("cfdb manifest files") {
        let name = entry["file"].as_str().expect("file name");
        let path = data_file("cfdb", name).display().to_string();
        out.push((path, entry["metadata"].clone()));
    }
    assert_eq!(out.len(), 10, "expected the ten cfdb golden files");
    let booklet = manifest("booklet");
    let small = booklet["files"]
        .as_array()
        .expect("booklet manifest files")
        .iter()
        .find(|e| e["file"] == "cfdb_small.cfdb")
        .expect("cfdb_small.cfdb in the booklet manifest");
    out.push((
        data_file("booklet", "cfdb_small.cfdb")
            .display()
            .to_string(),
        small["metadata"].clone(),
    ));
    out
}

#[test]
fn golden_metadata_round_trips_as_value() {
    for (path, stored) in golden_metadata() {
        let meta =
            SysMeta::from_json_value(stored.clone()).unwrap_or_else(|e| panic!("{path}: {e}"));
        meta.validate().unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(meta.to_json_value(), stored, "{path}");
        // Through the bytes as well (serde_json keeps int vs float in `Value` equality).
        let again: Value = serde_json::from_slice(&meta.to_json_bytes()).expect("valid JSON");
        assert_eq!(again, stored, "{path}");
        assert_eq!(meta.format_version, 1, "{path}");
        assert!(meta.extra.is_empty(), "{path}");
        // Every data variable's shape and origins resolve through its coordinates.
        for (name, var) in &meta.variables {
            let shape = meta.variable_shape(name).expect("shape resolves");
            let origins = meta.variable_origins(name).expect("origins resolve");
            assert_eq!(shape.len(), var.chunk_shape().len(), "{path}: {name}");
            assert_eq!(origins.len(), shape.len(), "{path}: {name}");
        }
    }
}

#[test]
fn golden_metadata_round_trips_byte_for_byte() {
    let golden = golden_metadata();
    let paths: Vec<&str> = golden.iter().map(|(p, _)| p.as_str()).collect();
    let raw = run_python_json(
        "models_check.py",
        &[&["raw-metadata"], paths.as_slice()].concat(),
    );
    let raw = raw.as_array().expect("a list");
    assert_eq!(raw.len(), golden.len());
    for ((path, stored), r) in golden.iter().zip(raw) {
        assert_eq!(r["path"].as_str(), Some(path.as_str()));
        let bytes = r["raw"].as_str().expect("raw text").as_bytes();
        // The manifest's object is what the file holds.
        let from_file: Value = serde_json::from_slice(bytes).expect("stored metadata is JSON");
        assert_eq!(&from_file, stored, "{path}: manifest vs file");
        let meta = SysMeta::from_json_bytes(bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&meta.to_json_bytes()),
            String::from_utf8_lossy(bytes),
            "{path}"
        );
        // The generic orjson writer reproduces the stored bytes from the plain value, too.
        assert_eq!(to_orjson_bytes(&from_file), bytes, "{path}");
    }
}

#[test]
fn s08_mixes_compact_and_full_dtype_forms() {
    let (path, stored) = golden_metadata()
        .into_iter()
        .find(|(p, _)| p.ends_with("s08_deleted_vars_lz4.cfdb"))
        .expect("s08 golden file");
    let meta = SysMeta::from_json_value(stored).expect("s08 parses");
    let forms: Vec<(&str, DtypeForm)> = meta
        .variables
        .iter()
        .map(|(n, v)| (n.as_str(), v.dtype().form))
        .collect();
    assert_eq!(
        forms,
        [
            ("x", DtypeForm::Full),
            ("a", DtypeForm::Full),
            ("b", DtypeForm::Compact)
        ],
        "{path}"
    );
    let text = String::from_utf8(meta.to_json_bytes()).expect("UTF-8");
    assert!(text.contains(
        r#""dtype":{"name":"float64","precision":null,"dtype_encoded":null,"offset":null,"fillvalue":null}"#
    ));
    assert!(text.contains(r#""dtype":{"name":"int16"}"#));
}

#[test]
fn golden_number_typing_is_kept() {
    let all = golden_metadata();
    let find = |file: &str| {
        let (_, v) = all
            .iter()
            .find(|(p, _)| p.ends_with(file))
            .expect("golden file");
        SysMeta::from_json_value(v.clone()).expect("parses")
    };
    let s07 = find("s07_packing_zstd_shuffle.cfdb");
    let offset = |name: &str| {
        s07.variables[name]
            .dtype()
            .offset
            .clone()
            .expect("has an offset")
    };
    assert!(offset("f32_packed").is_f64()); // -11.0
    assert_eq!(offset("f32_packed").as_f64(), Some(-11.0));
    assert!(!offset("i16_packed").is_f64()); // -6
    assert!(!offset("f64_packed3").is_f64()); // -1001 on a float variable
    let bytes = String::from_utf8(s07.to_json_bytes()).expect("UTF-8");
    assert!(bytes.contains(r#""offset":-11.0}"#) && bytes.contains(r#""offset":-6}"#));

    let small = find("cfdb_small.cfdb");
    let step = small
        .coord("latitude")
        .and_then(|c| c.step.clone())
        .expect("step");
    assert!(step.is_f64()); // 30.0
    let s02 = find("s02_grid_ints_lz4.cfdb");
    let step = s02.coord("x").and_then(|c| c.step.clone()).expect("step");
    assert!(!step.is_f64()); // 10
    let s10 = find("s10_default_chunks_zstd_level3.cfdb");
    assert_eq!(s10.compression_level, 3);
    let s01 = find("s01_grid_3d_zstd.cfdb");
    assert_eq!(
        s01.coord("latitude").and_then(|c| c.dtype.offset_f64()),
        Some(-90.000001)
    );
}

#[test]
fn newer_format_version_is_refused() {
    let (_, mut stored) = golden_metadata().into_iter().next().expect("a golden file");
    stored["format_version"] = json!(2);
    let err = SysMeta::from_json_value(stored.clone()).expect_err("format_version 2 is refused");
    assert!(matches!(
        err,
        ModelsError::NewerFormatVersion {
            found: 2,
            supported: 1
        }
    ));
    assert!(err.to_string().contains("written by a newer cfdb"), "{err}");
    // Missing format_version means 0, which is accepted and written back as 0.
    stored
        .as_object_mut()
        .expect("object")
        .shift_remove("format_version");
    let meta = SysMeta::from_json_value(stored).expect("format 0 is read");
    assert_eq!(meta.format_version, 0);
    assert!(String::from_utf8_lossy(&meta.to_json_bytes()).ends_with(r#""format_version":0}"#));
}

#[test]
fn unknown_fields_survive_on_golden_metadata() {
    for (path, stored) in golden_metadata() {
        let mut v = stored.clone();
        v["zz_top"] = json!({"nested": [1, 2.5, "é"]});
        for var in v["variables"]
            .as_object_mut()
            .expect("variables")
            .values_mut()
        {
            var["zz_var"] = json!(true);
            var["dtype"]["zz_dtype"] = json!(-1.0);
        }
        let meta = SysMeta::from_json_value(v.clone()).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(meta.extra.len(), 1);
        for var in meta.variables.values() {
            let extra = match var {
                Variable::Coord(c) => &c.extra,
                Variable::DataVar(d) => &d.extra,
            };
            assert_eq!(extra.len(), 1, "{path}");
            assert_eq!(var.dtype().extra.len(), 1, "{path}");
        }
        assert_eq!(meta.to_json_value(), v, "{path}");
        // Appended fields stay at the end, so even the bytes are unchanged.
        assert_eq!(meta.to_json_bytes(), to_orjson_bytes(&v), "{path}");
        // Without the unknown fields we are back at the stored object.
        let mut plain = meta.clone();
        plain.extra.clear();
        for var in plain.variables.values_mut() {
            match var {
                Variable::Coord(c) => c.extra.clear(),
                Variable::DataVar(d) => d.extra.clear(),
            }
            var.dtype_mut().extra.clear();
        }
        assert_eq!(plain.to_json_value(), stored, "{path}");
    }
}
