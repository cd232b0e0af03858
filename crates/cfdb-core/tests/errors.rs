//! Every misuse of the dataset API is a typed [`CoreError`] naming what it is about (the
//! variable, the dimension, the index, the label, the file), never a panic.
//!
//! Not tested here because it cannot happen: writing through a read-only dataset. The write
//! methods (`write`, `create_coord`, `append`, `delete`, `sync`, ...) exist only on
//! `Dataset<ReadWrite>`, so `open(path)?.write(...)` does not compile (no trybuild test; the type
//! system is the check).

use std::path::Path;

use cfdb_core::{
    CoordSpec, CoreError, DataTypeMeta, DataVarSpec, Dataset, Index, Label, OpenMode, OpenOptions,
    ReadWrite, Sel, Step, create, loc, open, open_rw, sel,
};
use cfdb_kv::KvError;
use cfdb_models::Axis;
use ndarray::{ArrayD, IxDyn, arr1};

/// `lat` (float64, 4 values, step 0.5, axis y), `time` (int64, 3 values, no step) and `temp`
/// (float64 over both, chunks 2x2), with a little data.
fn fixture(path: &Path) -> Dataset<ReadWrite> {
    let mut ds = create(path).unwrap();
    ds.create_coord(
        "lat",
        CoordSpec::new(DataTypeMeta::new("float64"))
            .data(arr1(&[0.0, 0.5, 1.0, 1.5]).into_dyn())
            .step(Step::Infer)
            .axis(Axis::Y)
            .chunk_len(3),
    )
    .unwrap();
    ds.create_coord(
        "time",
        CoordSpec::new(DataTypeMeta::new("int64")).data(arr1(&[10i64, 20, 30]).into_dyn()),
    )
    .unwrap();
    ds.create_data_var(
        "temp",
        &["lat", "time"],
        DataVarSpec::new(DataTypeMeta::new("float64")).chunk_shape(&[2, 2]),
    )
    .unwrap();
    ds.write("temp", sel![.., ..], zeros(&[4, 3]).view())
        .unwrap();
    ds
}

fn zeros(shape: &[usize]) -> ArrayD<f64> {
    ArrayD::zeros(IxDyn(shape))
}

fn with_fixture(f: impl FnOnce(&mut Dataset<ReadWrite>)) {
    let dir = tempfile::tempdir().unwrap();
    let mut ds = fixture(&dir.path().join("e.cfdb"));
    f(&mut ds);
    ds.close().unwrap();
}

/// The error's message names every one of `parts`.
fn names(e: &CoreError, parts: &[&str]) {
    let msg = e.to_string();
    for p in parts {
        assert!(
            msg.contains(p),
            "the message {msg:?} does not mention {p:?}"
        );
    }
}

#[test]
fn index_out_of_range() {
    with_fixture(|ds| {
        let v = ds.data_var("temp").unwrap();
        let e = v.select(sel![4]).unwrap_err();
        match &e {
            CoreError::IndexOutOfRange {
                var,
                dim,
                coord,
                index,
                len,
            } => {
                assert_eq!((var.as_str(), *dim, coord.as_str()), ("temp", 0, "lat"));
                assert_eq!((*index, *len), (4, 4));
            }
            other => panic!("unexpected {other:?}"),
        }
        names(&e, &["temp", "lat", "4"]);
        let e = v.select(sel![.., -4]).unwrap_err();
        assert!(
            matches!(&e, CoreError::IndexOutOfRange { dim: 1, index: -4, len: 3, coord, .. } if coord == "time"),
            "{e:?}"
        );
        names(&e, &["temp", "time", "-4"]);
        // Relative to a window: index 2 of a window of length 2.
        let w = v.select(sel![1..3]).unwrap();
        assert!(matches!(
            w.select(sel![2]).unwrap_err(),
            CoreError::IndexOutOfRange {
                index: 2,
                len: 2,
                ..
            }
        ));
        // Writes check the same way, before touching anything.
        let e = ds
            .write("temp", sel![.., 3], zeros(&[4, 1]).view())
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::IndexOutOfRange { var, dim: 1, index: 3, .. } if var == "temp"),
            "{e:?}"
        );
        // Coordinates too.
        let e = ds.coord("time").unwrap().select(sel![7]).unwrap_err();
        assert!(
            matches!(&e, CoreError::IndexOutOfRange { var, index: 7, .. } if var == "time"),
            "{e:?}"
        );
        // And dataset views.
        let e = ds.select([("lat", 9)]).unwrap_err();
        assert!(
            matches!(&e, CoreError::IndexOutOfRange { index: 9, .. }),
            "{e:?}"
        );
    });
}

#[test]
fn empty_selection() {
    with_fixture(|ds| {
        let v = ds.data_var("temp").unwrap();
        for (s, dim) in [
            (sel![2..2], 0),
            (Sel::new(vec![Index::Range(Some(3), Some(1))]), 0),
            (sel![10..], 0),
            (
                Sel::new(vec![Index::ALL, Index::Range(Some(-1), Some(-2))]),
                1,
            ),
            (sel![.., ..-3], 1),
        ] {
            let e = v.select(s.clone()).unwrap_err();
            match &e {
                CoreError::EmptySelection { var, dim: d, .. } => {
                    assert_eq!((var.as_str(), *d), ("temp", dim), "{s}");
                }
                other => panic!("{s}: unexpected {other:?}"),
            }
            names(&e, &["temp"]);
        }
        // A label range that holds no value.
        let e = v.loc(&loc![0.6..0.9]).unwrap_err();
        assert!(
            matches!(&e, CoreError::EmptySelection { var, coord, .. } if var == "temp" && coord == "lat"),
            "{e:?}"
        );
        let e = ds
            .write("temp", sel![1..1], zeros(&[0, 3]).view())
            .unwrap_err();
        assert!(matches!(e, CoreError::EmptySelection { .. }), "{e:?}");
    });
}

#[test]
fn too_many_indices() {
    with_fixture(|ds| {
        let v = ds.data_var("temp").unwrap();
        let e = v.select(sel![0, 0, 0]).unwrap_err();
        assert!(
            matches!(&e, CoreError::TooManyIndices { var, ndims: 2, given: 3 } if var == "temp"),
            "{e:?}"
        );
        names(&e, &["temp", "2", "3"]);
        let e = v.loc(&loc![0.0, 10i64, 1i64]).unwrap_err();
        assert!(
            matches!(
                &e,
                CoreError::TooManyIndices {
                    ndims: 2,
                    given: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = ds
            .write("temp", sel![0, 0, 0], zeros(&[1, 1, 1]).view())
            .unwrap_err();
        assert!(matches!(e, CoreError::TooManyIndices { .. }), "{e:?}");
        let e = ds.coord("lat").unwrap().select(sel![0, 0]).unwrap_err();
        assert!(
            matches!(&e, CoreError::TooManyIndices { var, ndims: 1, given: 2 } if var == "lat"),
            "{e:?}"
        );
    });
}

#[test]
fn shape_mismatch_on_write_and_get_into() {
    with_fixture(|ds| {
        let e = ds
            .write("temp", sel![0..2, ..], zeros(&[3, 2]).view())
            .unwrap_err();
        match &e {
            CoreError::ShapeMismatch {
                var,
                expected,
                actual,
            } => {
                assert_eq!(var, "temp");
                assert_eq!(expected, &[2, 3]);
                assert_eq!(actual, &[3, 2]);
            }
            other => panic!("unexpected {other:?}"),
        }
        names(&e, &["temp", "[2, 3]", "[3, 2]"]);
        // Wrong number of dimensions.
        let e = ds.write("temp", sel![0], zeros(&[3]).view()).unwrap_err();
        assert!(matches!(e, CoreError::ShapeMismatch { .. }), "{e:?}");
        // Nothing was written by the failed calls.
        let all = ds.data_var("temp").unwrap().read::<f64>().unwrap();
        assert!(all.iter().all(|v| *v == 0.0));
        // A read buffer of the wrong shape.
        let mut buf = zeros(&[2, 2]);
        let e = ds
            .data_var("temp")
            .unwrap()
            .get_into(&mut buf.view_mut())
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::ShapeMismatch { var, .. } if var == "temp"),
            "{e:?}"
        );
        let mut buf = ArrayD::<f64>::zeros(IxDyn(&[2]));
        let e = ds
            .coord("lat")
            .unwrap()
            .as_var()
            .get_into(&mut buf.view_mut())
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::ShapeMismatch { var, .. } if var == "lat"),
            "{e:?}"
        );
    });
}

#[test]
fn dtype_mismatch_on_write_and_typed_read() {
    with_fixture(|ds| {
        let data = ArrayD::<f32>::zeros(IxDyn(&[4, 3]));
        let e = ds.write("temp", sel![], data.view()).unwrap_err();
        match &e {
            CoreError::DtypeMismatch {
                var,
                expected,
                actual,
            } => {
                assert_eq!(var, "temp");
                assert_eq!(expected, "float64");
                assert_eq!(actual, "float32");
            }
            other => panic!("unexpected {other:?}"),
        }
        names(&e, &["temp", "float64", "float32"]);
        let e = ds
            .write_dyn(
                "temp",
                sel![0, 0],
                &cfdb_core::ArrayData::Str(ArrayD::from_elem(IxDyn(&[1, 1]), None)),
            )
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::DtypeMismatch { actual, .. } if actual == "str"),
            "{e:?}"
        );
        let v = ds.data_var("temp").unwrap();
        let e = v.read::<i16>().unwrap_err();
        assert!(
            matches!(&e, CoreError::DtypeMismatch { var, expected, actual } if var == "temp" && expected == "float64" && actual == "int16"),
            "{e:?}"
        );
        let e = v.select(sel![0, 0]).unwrap().read::<f32>().unwrap_err();
        assert!(matches!(e, CoreError::DtypeMismatch { .. }), "{e:?}");
        // Coordinates: typed reads of the wrong type, and appends of the wrong kind of data.
        let e = ds
            .coord("time")
            .unwrap()
            .as_var()
            .read::<f64>()
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::DtypeMismatch { var, .. } if var == "time"),
            "{e:?}"
        );
        let strs = ArrayD::from_shape_vec(IxDyn(&[1]), vec![Some("x".to_owned())]).unwrap();
        let e = ds.append("time", strs).unwrap_err();
        assert!(
            matches!(&e, CoreError::DtypeMismatch { var, .. } if var == "time"),
            "{e:?}"
        );
    });
}

#[test]
fn label_not_found_and_bad_labels() {
    with_fixture(|ds| {
        let v = ds.data_var("temp").unwrap();
        let e = v.loc(&loc![0.25]).unwrap_err();
        match &e {
            CoreError::LabelNotFound { coord, label } => {
                assert_eq!(coord, "lat");
                assert!(label.contains("0.25"), "{label}");
            }
            other => panic!("unexpected {other:?}"),
        }
        names(&e, &["lat", "0.25"]);
        let e = v.loc(&loc![.., 15i64]).unwrap_err();
        assert!(
            matches!(&e, CoreError::LabelNotFound { coord, label } if coord == "time" && label.contains("15")),
            "{e:?}"
        );
        let e = ds.coord("time").unwrap().loc(&loc![40i64]).unwrap_err();
        assert!(matches!(e, CoreError::LabelNotFound { .. }), "{e:?}");
        let e = ds.select_loc([("lat", 3.0)]).unwrap_err();
        assert!(matches!(e, CoreError::LabelNotFound { .. }), "{e:?}");
        // A text label on a numeric coordinate that does not parse as a number.
        let e = v.loc(&loc!["north"]).unwrap_err();
        assert!(
            matches!(&e, CoreError::BadLabel { coord, label, .. } if coord == "lat" && label.contains("north")),
            "{e:?}"
        );
        // Writes by label check labels first.
        let e = ds
            .write_loc("temp", &loc![0.25], zeros(&[1, 3]).view())
            .unwrap_err();
        assert!(matches!(e, CoreError::LabelNotFound { .. }), "{e:?}");
        // Truncate with labels of the wrong type.
        let e = ds
            .truncate("time", Some(Label::Str("soon".into())), None)
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::BadLabel { coord, .. } if coord == "time"),
            "{e:?}"
        );
    });
}

fn assert_bad_coord(e: CoreError, name: &str) {
    match &e {
        CoreError::InvalidCoordData { coord, .. } => assert_eq!(coord, name, "{e}"),
        other => panic!("expected InvalidCoordData for {name}, got {other:?}"),
    }
    names(&e, &[name]);
}

#[test]
fn invalid_coordinate_data() {
    with_fixture(|ds| {
        // Duplicates (numbers and strings), NaN, NaT, 2-D data.
        let dup = ds.create_coord(
            "x",
            CoordSpec::new(DataTypeMeta::new("float64")).data(arr1(&[1.0, 2.0, 1.0]).into_dyn()),
        );
        assert_bad_coord(dup.unwrap_err(), "x");
        assert!(!ds.contains("x"), "a failed creation registers nothing");
        let strs = ArrayD::from_shape_vec(
            IxDyn(&[3]),
            vec![
                Some("a".to_owned()),
                Some("b".to_owned()),
                Some("a".to_owned()),
            ],
        )
        .unwrap();
        let e = ds
            .create_coord("s", CoordSpec::new(DataTypeMeta::new("str")).data(strs))
            .unwrap_err();
        assert_bad_coord(e, "s");
        let e = ds
            .create_coord(
                "n",
                CoordSpec::new(DataTypeMeta::new("float32"))
                    .data(arr1(&[1.0f32, f32::NAN]).into_dyn()),
            )
            .unwrap_err();
        assert_bad_coord(e, "n");
        let nat = ArrayD::from_shape_vec(
            IxDyn(&[2]),
            vec![cfdb_core::Datetime64(5), cfdb_core::Datetime64::NAT],
        )
        .unwrap();
        let e = ds
            .create_coord(
                "t",
                CoordSpec::new(DataTypeMeta::new("datetime64[D]")).data(nat),
            )
            .unwrap_err();
        assert_bad_coord(e, "t");
        let e = ds
            .create_coord(
                "m",
                CoordSpec::new(DataTypeMeta::new("int32")).data(zeros(&[2, 2])),
            )
            .unwrap_err();
        assert_bad_coord(e, "m");
        // Values that do not fit the coordinate's dtype.
        let e = ds
            .create_coord(
                "small",
                CoordSpec::new(DataTypeMeta::new("int8")).data(arr1(&[1i64, 1000]).into_dyn()),
            )
            .unwrap_err();
        assert_bad_coord(e, "small");
        assert!(!ds.contains("small"));
        // Appended values must be greater than the last one (they are sorted first, so
        // non-ascending input that all lies beyond the end is fine, and input reaching back is
        // not); prepended values less than the first.
        assert_bad_coord(
            ds.append("time", arr1(&[30i64]).into_dyn()).unwrap_err(),
            "time",
        );
        assert_bad_coord(
            ds.append("time", arr1(&[50i64, 25]).into_dyn())
                .unwrap_err(),
            "time",
        );
        assert_bad_coord(
            ds.append("time", arr1(&[40i64, 40]).into_dyn())
                .unwrap_err(),
            "time",
        );
        assert_bad_coord(
            ds.prepend("time", arr1(&[5i64, 10]).into_dyn())
                .unwrap_err(),
            "time",
        );
        assert_bad_coord(
            ds.append("lat", arr1(&[1.5]).into_dyn()).unwrap_err(),
            "lat",
        );
        let empty = ArrayD::<i64>::zeros(IxDyn(&[0]));
        assert_bad_coord(ds.append("time", empty).unwrap_err(), "time");
        // The failed calls changed nothing.
        assert_eq!(ds.var_shape("time").unwrap(), vec![3]);
        assert_eq!(ds.var_shape("lat").unwrap(), vec![4]);
        assert_eq!(ds.append("time", arr1(&[50i64, 40]).into_dyn()).unwrap(), 2);
        // Truncating everything away.
        assert_bad_coord(
            ds.truncate("time", Some(Label::Int(31)), Some(Label::Int(39)))
                .unwrap_err(),
            "time",
        );
    });
}

#[test]
fn step_mismatch() {
    with_fixture(|ds| {
        // Values not spaced by the given step.
        let e = ds
            .create_coord(
                "x",
                CoordSpec::new(DataTypeMeta::new("float64"))
                    .data(arr1(&[0.0, 1.0, 2.0]).into_dyn())
                    .step(Step::Value(2.0)),
            )
            .unwrap_err();
        assert_bad_coord(e, "x");
        // Invalid steps.
        for bad in [0.0, -1.0, f64::NAN] {
            let e = ds
                .create_coord(
                    "y",
                    CoordSpec::new(DataTypeMeta::new("float64")).step(Step::Value(bad)),
                )
                .unwrap_err();
            assert_bad_coord(e, "y");
        }
        let e = ds
            .create_coord(
                "k",
                CoordSpec::new(DataTypeMeta::new("int32")).step(Step::Value(1.5)),
            )
            .unwrap_err();
        assert_bad_coord(e, "k");
        // lat has step 0.5: an append whose gap is not whole steps, or not spaced by it.
        assert_bad_coord(
            ds.append("lat", arr1(&[2.2]).into_dyn()).unwrap_err(),
            "lat",
        );
        assert_bad_coord(
            ds.append("lat", arr1(&[2.0, 2.7]).into_dyn()).unwrap_err(),
            "lat",
        );
        assert_bad_coord(
            ds.prepend("lat", arr1(&[-0.7]).into_dyn()).unwrap_err(),
            "lat",
        );
        // A step the current values do not follow.
        assert_bad_coord(ds.update_step("lat", Some(0.3)).unwrap_err(), "lat");
        assert_bad_coord(ds.update_step("time", Some(7.0)).unwrap_err(), "time");
        assert_eq!(ds.var_shape("lat").unwrap(), vec![4]);
        // The gap is filled with a whole number of steps.
        assert_eq!(ds.append("lat", arr1(&[2.5]).into_dyn()).unwrap(), 2);
    });
}

#[test]
fn delete_coordinate_in_use() {
    with_fixture(|ds| {
        let e = ds.delete("lat").unwrap_err();
        match &e {
            CoreError::CoordInUse { coord, users } => {
                assert_eq!(coord, "lat");
                assert_eq!(users, &["temp".to_owned()]);
            }
            other => panic!("unexpected {other:?}"),
        }
        names(&e, &["lat", "temp"]);
        assert!(ds.contains("lat"));
        assert_eq!(
            ds.coord("lat").unwrap().values().unwrap(),
            cfdb_core::ArrayData::F64(arr1(&[0.0, 0.5, 1.0, 1.5]).into_dyn())
        );
        ds.delete("temp").unwrap();
        ds.delete("lat").unwrap();
        assert!(!ds.contains("lat"));
    });
}

#[test]
fn duplicate_names() {
    with_fixture(|ds| {
        let e = ds
            .create_coord("lat", CoordSpec::new(DataTypeMeta::new("float64")))
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::AlreadyExists { name } if name == "lat"),
            "{e:?}"
        );
        names(&e, &["lat"]);
        let e = ds
            .create_data_var(
                "temp",
                &["lat"],
                DataVarSpec::new(DataTypeMeta::new("int16")),
            )
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::AlreadyExists { name } if name == "temp"),
            "{e:?}"
        );
        // A data variable cannot take a coordinate's name either, and vice versa.
        let e = ds
            .create_data_var(
                "time",
                &["lat"],
                DataVarSpec::new(DataTypeMeta::new("int16")),
            )
            .unwrap_err();
        assert!(matches!(e, CoreError::AlreadyExists { .. }), "{e:?}");
        let e = ds
            .create_coord("temp", CoordSpec::new(DataTypeMeta::new("int16")))
            .unwrap_err();
        assert!(matches!(e, CoreError::AlreadyExists { .. }), "{e:?}");
        let e = ds.create_coord_like("time", "lat", true).unwrap_err();
        assert!(matches!(e, CoreError::AlreadyExists { .. }), "{e:?}");
        let e = ds.create_data_var_like("temp", "temp").unwrap_err();
        assert!(matches!(e, CoreError::AlreadyExists { .. }), "{e:?}");
        assert_eq!(ds.var_names(), ["lat", "time", "temp"]);
    });
}

#[test]
fn invalid_names() {
    with_fixture(|ds| {
        let long = "a".repeat(257);
        for bad in ["", "1abc", "_x", "a-b", "x y", "é", "a.b", long.as_str()] {
            let e = ds
                .create_coord(bad, CoordSpec::new(DataTypeMeta::new("int32")))
                .unwrap_err();
            assert!(
                matches!(&e, CoreError::InvalidName { name } if name == bad),
                "{bad:?}: {e:?}"
            );
            let e = ds
                .create_data_var(bad, &["lat"], DataVarSpec::new(DataTypeMeta::new("int32")))
                .unwrap_err();
            assert!(
                matches!(&e, CoreError::InvalidName { name } if name == bad),
                "{bad:?}: {e:?}"
            );
            assert!(!cfdb_core::valid_name(bad));
        }
        let ok = "a".repeat(256);
        ds.create_coord(&ok, CoordSpec::new(DataTypeMeta::new("int32")))
            .unwrap();
        ds.create_coord("A_1b", CoordSpec::new(DataTypeMeta::new("int32")))
            .unwrap();
    });
}

#[test]
fn duplicate_axis() {
    with_fixture(|ds| {
        let e = ds
            .create_coord(
                "y2",
                CoordSpec::new(DataTypeMeta::new("float64")).axis(Axis::Y),
            )
            .unwrap_err();
        match &e {
            CoreError::AxisTaken { axis, owner } => {
                assert_eq!(axis, "y");
                assert_eq!(owner, "lat");
            }
            other => panic!("unexpected {other:?}"),
        }
        names(&e, &["lat"]);
        assert!(!ds.contains("y2"));
        let e = ds.update_axis("time", Some(Axis::Y)).unwrap_err();
        assert!(
            matches!(&e, CoreError::AxisTaken { owner, .. } if owner == "lat"),
            "{e:?}"
        );
        // Setting a coordinate's own axis again is fine; moving it after clearing too.
        ds.update_axis("lat", Some(Axis::Y)).unwrap();
        ds.update_axis("lat", None).unwrap();
        ds.update_axis("time", Some(Axis::Y)).unwrap();
    });
}

#[test]
fn unknown_variables() {
    with_fixture(|ds| {
        let check = |e: CoreError, want_kind: &str, want: &str| match &e {
            CoreError::NotFound { kind, name } => {
                assert_eq!((*kind, name.as_str()), (want_kind, want), "{e}");
                names(&e, &[want]);
            }
            other => panic!("expected NotFound {want}, got {other:?}"),
        };
        check(ds.var("nope").unwrap_err(), "variable", "nope");
        check(ds.data_var("nope").unwrap_err(), "variable", "nope");
        check(ds.data_var("lat").unwrap_err(), "data variable", "lat");
        check(ds.coord("temp").unwrap_err(), "coordinate", "temp");
        check(ds.dtype("nope").unwrap_err(), "variable", "nope");
        check(ds.var_attrs("nope").unwrap_err(), "variable", "nope");
        check(ds.coord_values("temp").unwrap_err(), "coordinate", "temp");
        check(
            ds.write("nope", sel![], zeros(&[1]).view()).unwrap_err(),
            "variable",
            "nope",
        );
        check(
            ds.append("nope", arr1(&[1i64]).into_dyn()).unwrap_err(),
            "variable",
            "nope",
        );
        check(
            ds.append("temp", arr1(&[1.0]).into_dyn()).unwrap_err(),
            "coordinate",
            "temp",
        );
        check(ds.delete("nope").unwrap_err(), "variable", "nope");
        check(
            ds.update_units("nope", None).unwrap_err(),
            "variable",
            "nope",
        );
        check(
            ds.create_data_var(
                "other",
                &["lat", "nope"],
                DataVarSpec::new(DataTypeMeta::new("int16")),
            )
            .unwrap_err(),
            "variable",
            "nope",
        );
        check(
            ds.create_data_var(
                "other",
                &["temp"],
                DataVarSpec::new(DataTypeMeta::new("int16")),
            )
            .unwrap_err(),
            "coordinate",
            "temp",
        );
        assert!(!ds.contains("other"));
        let e = ds.select([("nope", 0)]).unwrap_err();
        assert!(matches!(e, CoreError::NotFound { .. }), "{e:?}");
        let e = ds
            .copy_to(
                tempfile::tempdir().unwrap().path().join("c.cfdb"),
                Some(&["nope"]),
                None,
            )
            .unwrap_err();
        assert!(matches!(e, CoreError::NotFound { .. }), "{e:?}");
    });
}

#[test]
fn other_invalid_arguments() {
    with_fixture(|ds| {
        // Coordinates change only through append/prepend/truncate.
        let e = ds
            .write("lat", sel![0], ArrayD::<f64>::zeros(IxDyn(&[1])).view())
            .unwrap_err();
        assert!(
            matches!(e, CoreError::Invalid(ref m) if m.contains("lat")),
            "{e:?}"
        );
        // Chunk shapes: wrong length, zero.
        for cs in [&[2][..], &[2, 0], &[1, 1, 1]] {
            let e = ds
                .create_data_var(
                    "v",
                    &["lat", "time"],
                    DataVarSpec::new(DataTypeMeta::new("int16")).chunk_shape(cs),
                )
                .unwrap_err();
            assert!(
                matches!(e, CoreError::Invalid(ref m) if m.contains("\"v\"")),
                "{e:?}"
            );
        }
        let e = ds
            .create_data_var("v", &[], DataVarSpec::new(DataTypeMeta::new("int16")))
            .unwrap_err();
        assert!(matches!(e, CoreError::Invalid(_)), "{e:?}");
        let e = ds
            .create_coord("c", CoordSpec::new(DataTypeMeta::new("int16")).chunk_len(0))
            .unwrap_err();
        assert!(
            matches!(e, CoreError::Invalid(ref m) if m.contains("\"c\"")),
            "{e:?}"
        );
        // An unknown dtype names the variable.
        let e = ds
            .create_data_var(
                "v",
                &["lat"],
                DataVarSpec::new(DataTypeMeta::new("complex64")),
            )
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::Codec { var, .. } if var == "v"),
            "{e:?}"
        );
        assert!(!ds.contains("v") && !ds.contains("c"));
    });
}

#[test]
fn opening_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.cfdb");
    let e = open(&path).unwrap_err();
    assert!(
        matches!(&e, CoreError::Kv(KvError::NotFound { path: p }) if p == &path),
        "{e:?}"
    );
    names(&e, &["missing.cfdb"]);
    let e = open_rw(&path).unwrap_err();
    assert!(
        matches!(e, CoreError::Kv(KvError::NotFound { .. })),
        "{e:?}"
    );
    assert!(!path.exists(), "a failed open must not create the file");
    let e = open(dir.path().join("no/such/dir/x.cfdb")).unwrap_err();
    assert!(matches!(e, CoreError::Kv(_)), "{e:?}");
}

#[test]
fn opening_files_that_are_not_datasets() {
    let dir = tempfile::tempdir().unwrap();
    // An empty booklet file: a booklet, but no cfdb metadata.
    let empty = dir.path().join("empty.blt");
    cfdb_kv::Writer::open(&empty, cfdb_kv::Mode::New)
        .unwrap()
        .close()
        .unwrap();
    let e = open(&empty).unwrap_err();
    assert!(
        matches!(&e, CoreError::NotADataset { path } if path == &empty),
        "{e:?}"
    );
    names(&e, &["empty.blt"]);

    // A booklet with other metadata: not JSON, JSON of another shape.
    for (name, meta) in [
        ("text.blt", &b"hello"[..]),
        ("json.blt", &br#"{"some": "thing"}"#[..]),
        ("array.blt", &b"[1, 2, 3]"[..]),
    ] {
        let p = dir.path().join(name);
        let mut w = cfdb_kv::Writer::open(&p, cfdb_kv::Mode::New).unwrap();
        w.set_metadata(meta).unwrap();
        w.close().unwrap();
        let e = open(&p).unwrap_err();
        assert!(
            matches!(&e, CoreError::Metadata { path, .. } if path == &p),
            "{name}: {e:?}"
        );
        names(&e, &[name]);
    }

    // Random bytes, a zero-length file, a text file, a truncated dataset.
    let garbage = dir.path().join("garbage.bin");
    let bytes: Vec<u8> = (0u32..5000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &bytes).unwrap();
    let zero = dir.path().join("zero.bin");
    std::fs::write(&zero, b"").unwrap();
    let text = dir.path().join("text.txt");
    std::fs::write(&text, "not a dataset\n".repeat(100)).unwrap();
    let cut = dir.path().join("cut.cfdb");
    fixture(&cut).close().unwrap();
    let len = std::fs::metadata(&cut).unwrap().len();
    let head = std::fs::read(&cut).unwrap()[..100].to_vec();
    std::fs::write(&cut, head).unwrap();
    assert!(len > 100);
    for p in [&garbage, &zero, &text, &cut] {
        let e = open(p).unwrap_err();
        assert!(
            matches!(
                &e,
                CoreError::Kv(KvError::NotBooklet { .. } | KvError::Corrupted { .. })
            ),
            "{}: {e:?}",
            p.display()
        );
        names(&e, &[&p.file_name().unwrap().to_string_lossy()]);
        if p != &zero {
            // (the zero-length file: see a_zero_length_file_does_not_open_for_writing)
            let e = open_rw(p).unwrap_err();
            assert!(matches!(e, CoreError::Kv(_)), "{}: {e:?}", p.display());
        }
    }
    // The read-write open must not have "repaired" the files into something else.
    assert_eq!(std::fs::read(&garbage).unwrap(), bytes);
}

/// Python's `open_dataset(path, 'w')` and `(path, 'c')` on an existing booklet without
/// metadata raise (msgspec `ValidationError: Expected object, got null`); only `'n'` starts
/// afresh. A foreign booklet must not silently become a dataset.
#[test]
fn an_empty_booklet_does_not_open_for_writing() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.blt");
    cfdb_kv::Writer::open(&empty, cfdb_kv::Mode::New)
        .unwrap()
        .close()
        .unwrap();
    for mode in [OpenMode::Write, OpenMode::Create] {
        let e = OpenOptions::new().open_rw(&empty, mode).unwrap_err();
        assert!(
            matches!(&e, CoreError::NotADataset { path } if path == &empty),
            "{mode:?}: {e:?}"
        );
    }
    assert_eq!(
        cfdb_kv::Reader::open(&empty).unwrap().metadata().unwrap(),
        None,
        "the failed opens must leave the booklet as it was"
    );
    OpenOptions::new()
        .open_rw(&empty, OpenMode::New)
        .unwrap()
        .close()
        .unwrap();
    open(&empty).unwrap();
}

/// Python booklet (and so cfdb) refuses a zero-length file in every flag, `'w'` included
/// (`TypeError: This is not the correct file type.`): `open_dataset(path, 'w')` on it raises.
/// A read-write open in `OpenMode::Write` must not turn it into a dataset either.
#[test]
fn a_zero_length_file_does_not_open_for_writing() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.cfdb");
    std::fs::write(&zero, b"").unwrap();
    let e = open(&zero).unwrap_err();
    assert!(matches!(e, CoreError::Kv(_)), "{e:?}");
    let r = open_rw(&zero);
    assert!(
        matches!(r, Err(CoreError::Kv(_) | CoreError::NotADataset { .. })),
        "open_rw of a zero-length file: {r:?}"
    );
    drop(r);
    assert_eq!(
        std::fs::metadata(&zero).unwrap().len(),
        0,
        "the file was written"
    );
}

#[test]
fn open_options_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.cfdb");
    let ds = create(&path).unwrap();
    // The file is held by a writer of this process: a second handle is refused, not a deadlock.
    let e = OpenOptions::new()
        .lock_timeout(std::time::Duration::from_millis(50))
        .open(&path)
        .unwrap_err();
    assert!(matches!(e, CoreError::Kv(_)), "{e:?}");
    let e = OpenOptions::new()
        .lock_timeout(std::time::Duration::from_millis(50))
        .open_rw(&path, OpenMode::Write)
        .unwrap_err();
    assert!(matches!(e, CoreError::Kv(_)), "{e:?}");
    ds.close().unwrap();
    open(&path).unwrap();
}
