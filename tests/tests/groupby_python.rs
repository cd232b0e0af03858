//! Groupby by time periods and by coordinate values gives the same groups, in the same order,
//! with the same values, in Python cfdb 0.11.0 and in cfdb-core (`algorithms.md` §5).

use cfdb_core::{
    CoordSpec, DataTypeMeta, DataVarSpec, Datetime64, GroupBy, Step, create, open, sel,
};
use cfdb_tests::run_python_json;
use ndarray::{Array1, Array2};

fn daily_file(dir: &std::path::Path, first_day: i64, n: usize) -> std::path::PathBuf {
    let path = dir.join("daily.cfdb");
    let mut ds = create(&path).unwrap();
    let days = Array1::from_iter((0..n as i64).map(|i| Datetime64(first_day + i))).into_dyn();
    ds.create_coord(
        "time",
        CoordSpec::new(DataTypeMeta::new("datetime64[D]"))
            .data(days)
            .step(Step::Infer)
            .chunk_len(30),
    )
    .unwrap();
    ds.create_coord(
        "lat",
        CoordSpec::new(DataTypeMeta::new("float64"))
            .data(ndarray::arr1(&[-1.0, 0.0, 1.0]).into_dyn())
            .chunk_len(2),
    )
    .unwrap();
    ds.create_data_var(
        "v",
        &["time", "lat"],
        DataVarSpec::new(DataTypeMeta::new("float64")).chunk_shape(&[20, 2]),
    )
    .unwrap();
    let data = Array2::from_shape_fn((n, 3), |(i, j)| (i * 3 + j) as f64 * 0.5).into_dyn();
    ds.write("v", sel![..], data.view()).unwrap();
    ds.close().unwrap();
    path
}

fn rust_groups(
    path: &std::path::Path,
    spec: &[(&str, GroupBy)],
) -> Vec<(Vec<[usize; 2]>, f64, usize)> {
    let ds = open(path).unwrap();
    let v = ds.data_var("v").unwrap();
    v.groupby(spec, 1 << 29)
        .unwrap()
        .map(|item| {
            let (region, data) = item.unwrap();
            let a = data.typed::<f64>().unwrap();
            let ok: Vec<f64> = a.iter().copied().filter(|x| !x.is_nan()).collect();
            (
                region.iter().map(|r| [r.start, r.end]).collect(),
                ok.iter().sum(),
                ok.len(),
            )
        })
        .collect()
}

fn python_groups(path: &std::path::Path, spec: &str) -> Vec<(Vec<[usize; 2]>, f64, usize)> {
    let out = run_python_json("groupby_dump.py", &[path.to_str().unwrap(), "v", spec]);
    out.as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let region = g["region"]
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
            (
                region,
                g["sum"].as_f64().unwrap(),
                g["count"].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

#[test]
fn periods_and_values_match_python() {
    let dir = tempfile::tempdir().unwrap();
    // 2020-01-15 (a Wednesday, mid-month) for 400 days: partial first week, month and year.
    let path = daily_file(dir.path(), 18276, 400);
    let cases: Vec<(&str, Vec<(&str, GroupBy)>)> = vec![
        (
            r#"{"time": "7D"}"#,
            vec![("time", GroupBy::Period("7D".parse().unwrap()))],
        ),
        (
            r#"{"time": "M"}"#,
            vec![("time", GroupBy::Period("M".parse().unwrap()))],
        ),
        (
            r#"{"time": "Y"}"#,
            vec![("time", GroupBy::Period("Y".parse().unwrap()))],
        ),
        (
            r#"{"time": "W"}"#,
            vec![("time", GroupBy::Period("W".parse().unwrap()))],
        ),
        (
            r#"{"time": "D"}"#,
            vec![("time", GroupBy::Period("D".parse().unwrap()))],
        ),
        (r#"["lat"]"#, vec![("lat", GroupBy::Each)]),
        (
            r#"{"time": 45, "lat": 2}"#,
            vec![("time", GroupBy::Size(45)), ("lat", GroupBy::Size(2))],
        ),
    ];
    for (py, rs) in cases {
        let want = python_groups(&path, py);
        let got = rust_groups(&path, &rs);
        assert_eq!(got.len(), want.len(), "{py}: number of groups");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.0, w.0, "{py}: group {i} region");
            assert_eq!(g.2, w.2, "{py}: group {i} count");
            assert!(
                (g.1 - w.1).abs() <= 1e-9 * w.1.abs().max(1.0),
                "{py}: group {i} sum {} != {}",
                g.1,
                w.1
            );
        }
    }
}

#[test]
fn bad_specs_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = daily_file(dir.path(), 0, 10);
    let ds = open(&path).unwrap();
    let v = ds.data_var("v").unwrap();
    assert!(v.groupby(&[("nope", GroupBy::Each)], 1 << 20).is_err());
    assert!(
        v.groupby(&[("lat", GroupBy::Period("D".parse().unwrap()))], 1 << 20)
            .is_err()
    );
    assert!(v.groupby(&[("lat", GroupBy::Size(0))], 1 << 20).is_err());
    assert!("3fortnights".parse::<cfdb_core::Period>().is_err());
}
