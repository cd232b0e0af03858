//! A variable's rechunker in cfdb-core gives the numbers Python cfdb 0.11.0's `Rechunker`
//! gives (n_chunks, reads/writes, ideal and source read shapes) and yields the same target
//! chunks in the same order with the same values, including views and prepended (negative
//! origin) coordinates.

use cfdb_core::{CoordSpec, DataTypeMeta, DataVarSpec, Step, create, open, open_rw, sel};
use cfdb_tests::run_python_json;
use ndarray::{Array1, Array3};
use serde_json::{Value, json};

fn build(path: &std::path::Path) {
    let mut ds = create(path).unwrap();
    for (name, n, cs) in [("a", 23usize, 4usize), ("b", 17, 5), ("c", 9, 3)] {
        ds.create_coord(
            name,
            CoordSpec::new(DataTypeMeta::new("int32"))
                .data(Array1::from_iter(0..n as i32).into_dyn())
                .step(Step::Infer)
                .chunk_len(cs),
        )
        .unwrap();
    }
    let mut packed = DataTypeMeta::new("float32");
    packed.precision = Some(2);
    packed.dtype_encoded = Some("uint16".into());
    packed.fillvalue = Some(0.into());
    packed.offset = Some(serde_json::Number::from_f64(-1.0).unwrap());
    for (name, dt) in [("f", DataTypeMeta::new("float64")), ("p", packed)] {
        ds.create_data_var(
            name,
            &["a", "b", "c"],
            DataVarSpec::new(dt).chunk_shape(&[6, 4, 2]),
        )
        .unwrap();
    }
    let data = Array3::from_shape_fn((23, 17, 9), |(i, j, k)| {
        (i * 200 + j * 10 + k) as f64 * 0.25
    });
    ds.write("f", sel![..], data.view().into_dyn()).unwrap();
    let small = data.mapv(|x| ((x / 100.0) as f32 * 100.0).round() / 100.0);
    ds.write(
        "p",
        sel![.., 2.., ..],
        small.slice(ndarray::s![.., 2.., ..]).into_dyn(),
    )
    .unwrap();
    ds.close().unwrap();
    // Prepend to two coordinates: negative origins, not multiples of the chunks.
    let mut ds = open_rw(path).unwrap();
    ds.prepend("a", Array1::from_iter(-3..0i32).into_dyn())
        .unwrap();
    ds.prepend("c", Array1::from_iter(-2..0i32).into_dyn())
        .unwrap();
    ds.write(
        "f",
        sel![0..3, .., 0..2],
        Array3::<f64>::from_elem((3, 17, 2), 7.5).view().into_dyn(),
    )
    .unwrap();
    ds.close().unwrap();
}

#[test]
fn rechunker_numbers_and_yields_match_python() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.cfdb");
    build(&path);
    let cases = vec![
        json!({"target": [26, 1, 11], "max_mem": 1 << 29, "sel": null}),
        json!({"target": [5, 17, 3], "max_mem": 4000, "sel": null}),
        json!({"target": [1, 1, 11], "max_mem": 2000, "sel": null}),
        json!({"target": [7, 3, 2], "max_mem": 10_000, "sel": [[2, 19], [1, 16], [1, 10]]}),
        json!({"target": [3, 5, 4], "max_mem": 1500, "sel": [[5, 6], [0, 17], [3, 11]]}),
    ];
    let ds = open(&path).unwrap();
    for var in ["f", "p"] {
        let py = run_python_json(
            "rechunker_dump.py",
            &[
                path.to_str().unwrap(),
                var,
                &Value::Array(cases.clone()).to_string(),
            ],
        );
        for (case, want) in cases.iter().zip(py.as_array().unwrap()) {
            let target: Vec<usize> = case["target"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            let max_mem = case["max_mem"].as_u64().unwrap() as usize;
            let mut v = ds.data_var(var).unwrap();
            if let Some(sel) = case["sel"].as_array() {
                let s: Vec<cfdb_core::Index> = sel
                    .iter()
                    .map(|p| {
                        cfdb_core::Index::from(
                            p[0].as_u64().unwrap() as usize..p[1].as_u64().unwrap() as usize,
                        )
                    })
                    .collect();
                v = v.select(cfdb_core::Sel::new(s)).unwrap();
            }
            let ctx = format!("{var} {case}");
            assert_eq!(
                v.calc_n_chunks().unwrap() as u64,
                want["calc_n_chunks"].as_u64().unwrap(),
                "{ctx}"
            );
            let (r, w) = v.calc_n_reads_rechunker(&target, max_mem).unwrap();
            assert_eq!(
                (r, w),
                (
                    want["n_reads"].as_u64().unwrap(),
                    want["n_writes"].as_u64().unwrap()
                ),
                "{ctx}"
            );
            let shape = |k: &str| -> Vec<usize> {
                want[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as usize)
                    .collect()
            };
            assert_eq!(
                v.calc_ideal_read_chunk_shape(&target).unwrap(),
                shape("ideal_read_chunk_shape"),
                "{ctx}"
            );
            assert_eq!(
                v.calc_ideal_read_chunk_mem(&target).unwrap() as u64,
                want["ideal_read_chunk_mem"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(
                v.calc_source_read_chunk_shape(&target, max_mem).unwrap(),
                shape("source_read_chunk_shape"),
                "{ctx}"
            );
            let yields: Vec<(Vec<[usize; 2]>, f64)> = v
                .rechunk(&target, max_mem)
                .unwrap()
                .map(|y| {
                    let (region, data) = y.unwrap();
                    let sum = match &data {
                        cfdb_core::ArrayData::F64(a) => a.iter().filter(|x| !x.is_nan()).sum(),
                        cfdb_core::ArrayData::F32(a) => a
                            .iter()
                            .filter(|x| !x.is_nan())
                            .map(|x| f64::from(*x))
                            .sum(),
                        other => panic!("unexpected {:?}", other.kind()),
                    };
                    (region.iter().map(|r| [r.start, r.end]).collect(), sum)
                })
                .collect();
            let want_y = want["yields"].as_array().unwrap();
            assert_eq!(yields.len(), want_y.len(), "{ctx}: number of yields");
            for (i, ((reg, sum), w)) in yields.iter().zip(want_y).enumerate() {
                let wreg: Vec<[usize; 2]> = w["region"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        [
                            p[0].as_u64().unwrap() as usize,
                            p[1].as_u64().unwrap() as usize,
                        ]
                    })
                    .collect();
                assert_eq!(reg, &wreg, "{ctx}: yield {i} region");
                let ws = w["sum"].as_f64().unwrap();
                assert!(
                    (sum - ws).abs() <= 1e-6 * ws.abs().max(1.0),
                    "{ctx}: yield {i} sum {sum} != {ws}"
                );
            }
        }
    }
}
