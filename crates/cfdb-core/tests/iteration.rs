//! Iteration: storage chunks, rechunked views (equal to direct slicing, in C order of the
//! target grid), dataset-level lockstep iteration, parallel map, and typed errors for bad
//! chunk sizes and budgets.

use cfdb_core::{
    ArrayData, CoordSpec, DataTypeMeta, DataVarSpec, GroupBy, Step, create, open, sel,
};
use ndarray::{Array1, Array3, s};

fn build(path: &std::path::Path) -> Array3<f64> {
    let mut ds = create(path).unwrap();
    for (name, n, cs) in [("t", 30usize, 7usize), ("y", 11, 4), ("x", 13, 5)] {
        ds.create_coord(
            name,
            CoordSpec::new(DataTypeMeta::new("int64"))
                .data(Array1::from_iter(0..n as i64).into_dyn())
                .step(Step::Infer)
                .chunk_len(cs),
        )
        .unwrap();
    }
    let data = Array3::from_shape_fn((30, 11, 13), |(i, j, k)| (i * 1000 + j * 20 + k) as f64);
    for v in ["a", "b"] {
        ds.create_data_var(
            v,
            &["t", "y", "x"],
            DataVarSpec::new(DataTypeMeta::new("float64")).chunk_shape(&[4, 3, 5]),
        )
        .unwrap();
        ds.write(v, sel![..], data.view().into_dyn()).unwrap();
    }
    ds.close().unwrap();
    data
}

fn region_of(
    r: &[std::ops::Range<usize>],
) -> ndarray::SliceInfo<[ndarray::SliceInfoElem; 3], ndarray::Ix3, ndarray::Ix3> {
    s![r[0].clone(), r[1].clone(), r[2].clone()]
}

#[test]
fn rechunked_views_equal_direct_slicing_in_c_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.cfdb");
    let data = build(&path);
    let ds = open(&path).unwrap();
    let v = ds
        .data_var("a")
        .unwrap()
        .select(sel![3..29, 1.., 2..12])
        .unwrap();
    let view = data.slice(s![3..29, 1.., 2..12]);
    for (chunk, budget) in [
        (vec![("t", 5), ("x", 3)], 1 << 20),
        (vec![("y", 1)], 3000),
        (vec![], 1 << 29),
    ] {
        let mut last: Option<Vec<usize>> = None;
        let mut cells = 0;
        for item in v.iter_chunks_with(&chunk, budget).unwrap() {
            let (region, d) = item.unwrap();
            let ArrayData::F64(a) = d else {
                panic!("f64 expected")
            };
            let a = a.into_dimensionality::<ndarray::Ix3>().unwrap();
            assert_eq!(a, view.slice(region_of(&region)), "{chunk:?} {region:?}");
            let starts: Vec<usize> = region.iter().map(|r| r.start).collect();
            if let Some(l) = &last {
                assert!(starts > *l, "C order: {starts:?} after {l:?}");
            }
            last = Some(starts);
            cells += a.len();
        }
        assert_eq!(cells, view.len(), "{chunk:?}: every cell once");
    }
}

#[test]
fn dataset_iteration_and_map() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.cfdb");
    let data = build(&path);
    let ds = open(&path).unwrap();
    let mut n = 0;
    for item in ds.iter_chunks(&[("t", 8)], None, 1 << 20).unwrap() {
        let (regions, vars) = item.unwrap();
        assert_eq!(vars.len(), 2);
        let r = [
            regions["t"].clone(),
            regions["y"].clone(),
            regions["x"].clone(),
        ];
        for d in vars.values() {
            let ArrayData::F64(a) = d else { panic!() };
            assert_eq!(
                a.view().into_dimensionality::<ndarray::Ix3>().unwrap(),
                data.slice(region_of(&r))
            );
        }
        n += 1;
    }
    assert_eq!(n, 4);
    let v = ds.data_var("b").unwrap();
    let sums = v
        .map(
            |_, d| Some(d.typed::<f64>().unwrap().sum()),
            Some(&[("t", 6)]),
            Some(2),
        )
        .unwrap();
    assert_eq!(sums.len(), 5);
    assert_eq!(sums.iter().map(|(_, s)| s).sum::<f64>(), data.sum());
    let storage = v
        .map(|r, _| (r[0].start == 0).then_some(1), None, None)
        .unwrap();
    assert_eq!(
        storage.len(),
        4 * 3,
        "chunks in the first row of the storage grid"
    );
}

#[test]
fn bad_sizes_and_budgets_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.cfdb");
    build(&path);
    let ds = open(&path).unwrap();
    let v = ds.data_var("a").unwrap();
    assert!(v.iter_chunks_with(&[("t", 0)], 1 << 20).is_err());
    assert!(v.iter_chunks_with(&[("nope", 2)], 1 << 20).is_err());
    let e = v
        .iter_chunks_with(&[("t", 2)], 0)
        .expect_err("a zero budget is refused");
    assert!(
        e.to_string().contains("budget") || e.to_string().contains("max_mem"),
        "{e}"
    );
    assert!(
        v.groupby(&[("t", GroupBy::Period("D".parse().unwrap()))], 1 << 20)
            .is_err()
    );
    assert!(
        ds.iter_chunks(&[("t", 2)], Some(&["a", "t"]), 1 << 20)
            .is_err()
    );
}
