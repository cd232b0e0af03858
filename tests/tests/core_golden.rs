//! Every golden cfdb file, opened through cfdb-core's public API, reads exactly as its
//! MANIFEST says: variables (names, order, kinds), shapes, chunk shapes, dtypes, values (floats
//! bit for bit), attributes, CRS, origins, steps and axes.

use cfdb_core::{Dataset, ReadOnly, open};
use cfdb_tests::{data_file, manifest, values::compare_with_manifest};
use serde_json::Value;

fn check_file(ds: &Dataset<ReadOnly>, entry: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let order: Vec<&str> = entry["variable_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    if ds.var_names() != order {
        errs.push(format!("variable order {:?} != {order:?}", ds.var_names()));
    }
    if ds.dataset_type().as_str() != entry["dataset_type"].as_str().unwrap() {
        errs.push("dataset type".into());
    }
    if ds.compression().as_str() != entry["compression"].as_str().unwrap() {
        errs.push("compression".into());
    }
    if ds.crs() != entry["crs"].as_str() {
        errs.push(format!("crs {:?} != {}", ds.crs(), entry["crs"]));
    }
    if Value::Object(ds.attrs().unwrap()) != entry["dataset_attrs"] {
        errs.push("dataset attrs".into());
    }
    for (name, var) in entry["variables"].as_object().unwrap() {
        let v = ds.var(name).unwrap();
        let is_coord = var["kind"] == "coord";
        if v.is_coord() != is_coord {
            errs.push(format!("{name}: kind"));
        }
        let shape: Vec<usize> = var["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        if v.shape() != shape {
            errs.push(format!("{name}: shape {:?} != {shape:?}", v.shape()));
        }
        let cs: Vec<usize> = var["chunk_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        if v.chunk_shape().unwrap() != cs {
            errs.push(format!("{name}: chunk shape"));
        }
        // In memory a loaded DataType is in the full form (what Python writes back); compare
        // the content.
        let mut got = ds.sys_meta().variables[name.as_str()].dtype().clone();
        let mut want =
            cfdb_models::DataTypeMeta::from_json_value(var["dtype_metadata"].clone()).unwrap();
        got.form = cfdb_models::DtypeForm::Full;
        want.form = cfdb_models::DtypeForm::Full;
        if got != want {
            errs.push(format!("{name}: dtype {got:?} != {want:?}"));
        }
        if Value::Object(v.attrs().unwrap()) != var["attrs"] {
            errs.push(format!("{name}: attrs"));
        }
        let coords: Vec<&str> = var["coords"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        if v.coord_names() != coords.as_slice() {
            errs.push(format!("{name}: coords"));
        }
        if is_coord {
            let c = ds.coord(name).unwrap();
            if c.origin().unwrap() != var["origin"].as_i64().unwrap() {
                errs.push(format!("{name}: origin"));
            }
            let step = c.step().unwrap().map(Value::Number).unwrap_or(Value::Null);
            if step != var["step"] {
                errs.push(format!("{name}: step {step} != {}", var["step"]));
            }
            let axis = c.axis().unwrap().map(|a| a.as_str().to_owned());
            if axis.as_deref() != var["axis"].as_str() {
                errs.push(format!("{name}: axis"));
            }
        }
        match v.read_dyn() {
            Ok(data) => {
                if let Err(e) = compare_with_manifest(&data, var) {
                    errs.push(format!("{name}: {e}"));
                }
            }
            Err(e) => errs.push(format!("{name}: read failed: {e}")),
        }
    }
    errs
}

#[test]
fn every_golden_file_reads_as_its_manifest_says() {
    let m = manifest("cfdb");
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in m["files"].as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let ds = open(data_file("cfdb", file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        for e in check_file(&ds, entry) {
            failures.push(format!("{file}: {e}"));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, 10);
}

#[test]
fn typed_reads_and_windows_agree_with_the_whole() {
    let ds = open(data_file("cfdb", "s05_prepend_append_zstd.cfdb")).unwrap();
    let conc = ds.data_var("conc").unwrap();
    let all = conc.read::<f32>().unwrap();
    let w = conc
        .select(cfdb_core::sel![2..9, 1..3])
        .unwrap()
        .read::<f32>()
        .unwrap();
    let expect = all.slice(ndarray::s![2..9, 1..3]);
    assert_eq!(w.shape(), expect.shape());
    for (a, b) in w.iter().zip(expect.iter()) {
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
    }
    // a wrong element type is a typed error naming the variable
    let e = conc.read::<f64>().unwrap_err();
    assert!(e.to_string().contains("conc"), "{e}");
}
