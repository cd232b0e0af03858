//! The template catalogue (`cfdb_core::templates`, generated from
//! `crates/cfdb-core/data/cfdb-vars-templates.json`) against Python: every template is created
//! without data by Python cfdb 0.11.0 / cfdb-vars 0.2.9 (`tests/python/templates_dump.py`), and
//! the stored DataType (exact JSON, key order and integer/float typing included), attributes
//! (order included), variable name and axis must equal what Rust's catalogue says.
//!
//! Needs the interop venv (`cargo xtask test`, or `CFDB_INTEROP_PYTHON`).

use cfdb_core::templates::{CoordTemplate, DataVarTemplate};
use cfdb_models::DataTypeMeta;
use cfdb_tests::run_python_json;
use serde_json::{Map, Value};

fn text(v: &Value) -> String {
    serde_json::to_string(v).expect("serialise")
}

fn section<'a>(doc: &'a Value, key: &str) -> &'a Map<String, Value> {
    doc[key]
        .as_object()
        .unwrap_or_else(|| panic!("python output has no {key} object"))
}

/// Checks one template's name, DataType and attrs against Python's entry.
fn check_common(
    what: &str,
    py: &Value,
    var_name: &str,
    dtype: &DataTypeMeta,
    attrs: Map<String, Value>,
) {
    assert_eq!(py["name"], var_name, "{what}: variable name");

    let rust_dtype = dtype.to_json_value();
    assert_eq!(text(&rust_dtype), text(&py["dtype"]), "{what}: dtype");
    // The stored object parses back to the same DataType (typing and form included).
    let parsed = DataTypeMeta::from_json_value(py["dtype"].clone())
        .unwrap_or_else(|e| panic!("{what}: Python's dtype does not parse: {e}"));
    assert_eq!(&parsed, dtype, "{what}: parsed dtype");

    assert_eq!(
        text(&Value::Object(attrs)),
        text(&py["attrs"]),
        "{what}: attrs"
    );
}

#[test]
fn templates_match_python_cfdb() {
    let doc = run_python_json("templates_dump.py", &[]);
    let coords = section(&doc, "coords");
    let data_vars = section(&doc, "data_vars");

    // Same catalogue: the same short names, in the same (short_name_map) relative order.
    let mut rust_coords: Vec<&str> = CoordTemplate::ALL.iter().map(|t| t.short_name()).collect();
    let mut py_coords: Vec<&str> = coords.keys().map(String::as_str).collect();
    rust_coords.sort_unstable();
    py_coords.sort_unstable();
    assert_eq!(rust_coords, py_coords, "coordinate templates");
    let rust_data: Vec<&str> = DataVarTemplate::ALL
        .iter()
        .map(|t| t.short_name())
        .collect();
    let mut rust_data_sorted = rust_data.clone();
    let mut py_data: Vec<&str> = data_vars.keys().map(String::as_str).collect();
    rust_data_sorted.sort_unstable();
    py_data.sort_unstable();
    assert_eq!(rust_data_sorted, py_data, "data-variable templates");
    assert_eq!(coords.len() + data_vars.len(), 114);

    for t in CoordTemplate::ALL {
        let what = format!("coord {}", t.short_name());
        let py = &coords[t.short_name()];
        check_common(&what, py, t.var_name(), &t.dtype(), t.attrs());
        let axis = t.axis().map(|a| Value::String(a.to_string()));
        assert_eq!(axis.unwrap_or(Value::Null), py["axis"], "{what}: axis");
        let py_geometry = t.dtype().dtype_encoded.as_deref() == Some("StringDType128");
        assert_eq!(t.is_geometry(), py_geometry, "{what}: geometry");
    }
    for t in DataVarTemplate::ALL {
        let what = format!("data_var {}", t.short_name());
        let py = &data_vars[t.short_name()];
        check_common(&what, py, t.var_name(), &t.dtype(), t.attrs());
        assert!(
            py.get("axis").is_none(),
            "{what}: data variables have no axis"
        );
    }

    // A few exact texts, so a regression in both serialisers at once cannot hide.
    assert_eq!(
        text(&coords["height"]["dtype"]),
        r#"{"name":"float64","precision":3,"dtype_encoded":"uint32","fillvalue":0,"offset":-1}"#
    );
    assert_eq!(
        text(&coords["line"]["dtype"]),
        r#"{"name":"LineString","precision":5,"dtype_encoded":"StringDType128"}"#
    );
    assert_eq!(
        text(&data_vars["air_temp"]["dtype"]),
        r#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-61}"#
    );
}
