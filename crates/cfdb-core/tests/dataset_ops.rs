//! Dataset-level operations: copy (raw and re-written paths), delete, prune, CRS and axes,
//! `like`, units, attributes lifecycle, views and the repr.

use cfdb_core::{
    Axis, CoordSpec, CoreError, Crs, DataTypeMeta, DataVarSpec, Step, create, loc, open, open_rw,
    sel,
};
use ndarray::{Array1, Array2, arr1};
use serde_json::json;

fn build(path: &std::path::Path) {
    let mut ds = create(path).unwrap();
    ds.create_coord(
        "x",
        CoordSpec::new(DataTypeMeta::new("float64"))
            .data(arr1(&[0.0, 0.5, 1.0, 1.5]).into_dyn())
            .step(Step::Infer)
            .chunk_len(3),
    )
    .unwrap();
    ds.create_coord(
        "t",
        CoordSpec::new(DataTypeMeta::new("int64"))
            .data(Array1::from_iter(0..5i64).into_dyn())
            .step(Step::Infer)
            .chunk_len(2),
    )
    .unwrap();
    ds.create_data_var(
        "v",
        &["x", "t"],
        DataVarSpec::new(DataTypeMeta::new("int32")).chunk_shape(&[3, 2]),
    )
    .unwrap();
    ds.create_data_var(
        "w",
        &["t"],
        DataVarSpec::new(DataTypeMeta::new("float32")).chunk_shape(&[4]),
    )
    .unwrap();
    let v = Array2::from_shape_fn((4, 5), |(i, j)| (i * 10 + j) as i32).into_dyn();
    ds.write("v", sel![..], v.view()).unwrap();
    ds.write("w", sel![1..3], arr1(&[1.5f32, 2.5]).into_dyn().view())
        .unwrap();
    ds.set_crs(Crs::Epsg(2193), "x", "t").unwrap();
    ds.attrs_mut().unwrap().insert("title".into(), json!("ops"));
    ds.var_attrs_mut("v")
        .unwrap()
        .insert("units".into(), json!("m"));
    ds.update_units("v", Some("metres")).unwrap();
    ds.close().unwrap();
}

#[test]
fn copy_keeps_values_attrs_crs_and_axes_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.cfdb");
    build(&src);
    // Raw path: all origins are 0.
    {
        let ds = open(&src).unwrap();
        let out = ds
            .copy_to(dir.path().join("raw.cfdb"), Some(&["v"]), None)
            .unwrap();
        assert_eq!(out.data_var_names(), vec!["v"]);
        assert_eq!(out.coord_names(), vec!["x", "t"]);
        out.close().unwrap();
    }
    // Re-written path: a prepend moves an origin.
    {
        let mut ds = open_rw(&src).unwrap();
        ds.prepend("t", arr1(&[-2i64]).into_dyn()).unwrap();
        assert_eq!(ds.coord("t").unwrap().origin().unwrap(), -2);
        ds.close().unwrap();
        let ds = open(&src).unwrap();
        ds.copy_to(dir.path().join("moved.cfdb"), None, Some(&["w"]))
            .unwrap()
            .close()
            .unwrap();
    }
    let orig = open(&src).unwrap();
    for name in ["raw.cfdb", "moved.cfdb"] {
        let c = open(dir.path().join(name)).unwrap();
        assert_eq!(c.crs(), Some("EPSG:2193"), "{name}");
        assert_eq!(c.coord("x").unwrap().axis().unwrap(), Some(Axis::X));
        assert_eq!(c.attrs().unwrap()["title"], "ops");
        assert_eq!(c.var_attrs("v").unwrap()["units"], "m");
        assert_eq!(c.units("v").unwrap(), Some("metres"));
        assert!(!c.contains("w"), "{name}");
        // raw.cfdb was copied before the prepend of two `t` values
        let window = if name == "raw.cfdb" {
            sel![.., 2..]
        } else {
            sel![..]
        };
        assert_eq!(
            c.data_var("v").unwrap().read::<i32>().unwrap(),
            orig.data_var("v")
                .unwrap()
                .select(window)
                .unwrap()
                .read::<i32>()
                .unwrap(),
            "{name}"
        );
        assert_eq!(c.coord("t").unwrap().origin().unwrap(), 0);
    }
    let missing = orig.copy_to(dir.path().join("bad.cfdb"), Some(&["nope"]), None);
    assert!(matches!(missing, Err(CoreError::NotFound { .. })));
}

#[test]
fn delete_prune_like_and_attrs_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.cfdb");
    build(&path);
    let mut ds = open_rw(&path).unwrap();
    assert!(matches!(ds.delete("t"), Err(CoreError::CoordInUse { .. })));
    ds.create_data_var_like("v2", "v").unwrap();
    ds.create_coord_like("t2", "t", true).unwrap();
    assert_eq!(ds.coord("t2").unwrap().axis().unwrap(), None);
    assert_eq!(ds.coord("t2").unwrap().len(), 5);
    ds.delete("v").unwrap();
    ds.delete("w").unwrap();
    // overwrite v2 twice so there is something to prune
    let ones = Array2::<i32>::ones((4, 5)).into_dyn();
    ds.write("v2", sel![..], ones.view()).unwrap();
    ds.write("v2", sel![..], ones.view()).unwrap();
    let removed = ds.prune(None).unwrap();
    assert!(removed > 0, "prune removed {removed}");
    ds.close().unwrap();
    let ds = open(&path).unwrap();
    assert_eq!(ds.var_names(), vec!["x", "t", "v2", "t2"]);
    assert!(matches!(ds.var_attrs("v"), Err(CoreError::NotFound { .. })));
    assert_eq!(ds.data_var("v2").unwrap().read::<i32>().unwrap(), ones);
    drop(ds);
    // a re-created variable of the same name does not see the old attributes or chunks
    let mut ds = open_rw(&path).unwrap();
    ds.create_data_var(
        "v",
        &["x"],
        DataVarSpec::new(DataTypeMeta::new("int16")).chunk_shape(&[2]),
    )
    .unwrap();
    assert!(ds.var_attrs("v").unwrap().is_empty());
    assert_eq!(ds.data_var("v").unwrap().read::<i16>().unwrap().sum(), 0);
}

#[test]
fn views_labels_and_repr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.cfdb");
    build(&path);
    let ds = open(&path).unwrap();
    let view = ds
        .select([("x", 1..4)])
        .unwrap()
        .select([("x", 1..)])
        .unwrap();
    let v = view.data_var("v").unwrap();
    assert_eq!(v.window(), &[2..4, 0..5]);
    let by_label = ds
        .select_loc([("x", 1.0..=1.5)])
        .unwrap()
        .data_var("v")
        .unwrap();
    assert_eq!(by_label.window(), &[2..4, 0..5]);
    let l = ds
        .data_var("v")
        .unwrap()
        .loc(&loc![0.5..1.5, 2i64..=3])
        .unwrap();
    assert_eq!(l.window(), &[1..3, 2..4]);
    let text = ds.to_string();
    assert!(text.starts_with("<cfdb.Grid>\n"), "{text}");
    for needle in ["file name:", "x", "(x, t) int32", "title"] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    let vtext = ds.data_var("v").unwrap().to_string();
    assert!(
        vtext.contains("dims order:") && vtext.contains("(x, t)"),
        "{vtext}"
    );
}

#[test]
fn datasets_are_send_and_sync_and_read_from_many_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<cfdb_core::Dataset<cfdb_core::ReadOnly>>();
    assert_send_sync::<cfdb_core::Dataset<cfdb_core::ReadWrite>>();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.cfdb");
    build(&path);
    let ds = open(&path).unwrap();
    let whole = ds.data_var("v").unwrap().read::<i32>().unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let ds = &ds;
            let whole = &whole;
            s.spawn(move || {
                for _ in 0..20 {
                    let w = ds.data_var("v").unwrap().select(sel![t % 4, ..]).unwrap();
                    let got = w.read::<i32>().unwrap();
                    assert_eq!(
                        got.index_axis(ndarray::Axis(0), 0),
                        whole.index_axis(ndarray::Axis(0), t % 4)
                    );
                }
            });
        }
    });
}
