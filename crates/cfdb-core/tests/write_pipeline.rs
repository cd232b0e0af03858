//! The chunk write pipeline (`io::write_region`): more chunks than its in-flight window,
//! strided and transposed input, partial chunks updated in stored space, and writes run
//! inside rayon pools (including a 1-thread pool, where the writing thread must run the
//! encode jobs itself).

use cfdb_core::{CoordSpec, DataTypeMeta, DataVarSpec, Dataset, ReadWrite, create, open, sel};
use ndarray::{Array1, Array3, ArrayD, Axis, s};

const X: usize = 37;
const Y: usize = 23;
const T: usize = 41;

fn dataset(path: &std::path::Path, dtype: &str) -> Dataset<ReadWrite> {
    let mut ds = create(path).unwrap();
    for (name, n, c) in [("x", X, 5), ("y", Y, 4), ("t", T, 6)] {
        ds.create_coord(
            name,
            CoordSpec::new(DataTypeMeta::new("int64"))
                .data(Array1::from_iter(0..n as i64).into_dyn())
                .chunk_len(c),
        )
        .unwrap();
    }
    let meta = if dtype == "float32" {
        DataTypeMeta::from_json_bytes(
            br#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-1.0}"#,
        )
        .unwrap()
    } else {
        DataTypeMeta::new(dtype)
    };
    ds.create_data_var(
        "v",
        &["x", "y", "t"],
        DataVarSpec::new(meta).chunk_shape(&[5, 4, 6]),
    )
    .unwrap();
    ds
}

fn values(seed: u32) -> Array3<i32> {
    Array3::from_shape_fn((X, Y, T), |(i, j, k)| {
        ((i * 7919 + j * 104_729 + k * 31 + seed as usize * 13) % 6007) as i32 - 3000
    })
}

/// Writes everything through a transposed (t, y, x) array's view, then a partial block (not
/// chunk-aligned) through a reversed, strided view; reads back and compares.
fn write_and_check(path: &std::path::Path) {
    let full = values(1);
    {
        let mut ds = dataset(path, "int32");
        // (t, y, x) memory order, viewed as (x, y, t): every row along t is strided.
        let tyx = Array3::from_shape_fn((T, Y, X), |(k, j, i)| full[[i, j, k]]);
        let xyt = tyx.view().permuted_axes([2, 1, 0]);
        assert!(!xyt.is_standard_layout());
        ds.write("v", sel![.., .., ..], xyt.into_dyn()).unwrap();
        ds.close().unwrap();
    }
    let mut want = full.clone();
    {
        let mut ds = cfdb_core::open_rw(path).unwrap();
        let patch = values(2);
        // a reversed, step-2 view of shape (11, 9, 13) written at [3..14, 2..11, 7..20]
        let src = patch.slice(s![..;-2, 1..19;2, 3..16]);
        assert_eq!(src.shape(), &[19, 9, 13]);
        let src = src.slice(s![..11, .., ..]);
        ds.write("v", sel![3..14, 2..11, 7..20], src.into_dyn())
            .unwrap();
        want.slice_mut(s![3..14, 2..11, 7..20]).assign(&src);
        ds.close().unwrap();
    }
    let ds = open(path).unwrap();
    let got: ArrayD<i32> = ds.data_var("v").unwrap().read().unwrap();
    assert_eq!(got, want.into_dyn());
}

#[test]
fn strided_writes_of_many_chunks_read_back() {
    let dir = tempfile::tempdir().unwrap();
    write_and_check(&dir.path().join("a.cfdb"));
}

#[test]
fn writes_inside_rayon_pools_of_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let path = dir.path().join(format!("p{threads}.cfdb"));
        pool.install(|| write_and_check(&path));
    }
}

#[test]
fn partial_writes_keep_untouched_packed_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.cfdb");
    let mut ds = dataset(&path, "float32");
    // values on the 0.01 grid, computed as the decoder computes them
    let grid = |c: i32| c as f32 / 100.0 - 1.0;
    let full = Array3::from_shape_fn((X, Y, T), |(i, j, k)| grid(((i + j + k) % 500) as i32 + 1));
    ds.write("v", sel![.., .., ..], full.view().into_dyn())
        .unwrap();
    // a column of partial chunks along t, and one single cell
    let col = Array3::from_elem((X, Y, 2), grid(777));
    ds.write("v", sel![.., .., 10..12], col.view().into_dyn())
        .unwrap();
    ds.write(
        "v",
        sel![4..5, 3..4, 0..1],
        Array3::from_elem((1, 1, 1), f32::NAN).view().into_dyn(),
    )
    .unwrap();
    ds.close().unwrap();
    let mut want = full;
    want.slice_mut(s![.., .., 10..12]).fill(grid(777));
    want[[4, 3, 0]] = f32::NAN;
    let ds = open(&path).unwrap();
    let got: ArrayD<f32> = ds.data_var("v").unwrap().read().unwrap();
    assert_eq!(got.shape(), want.shape());
    for (a, b) in got.iter().zip(want.iter()) {
        assert!(
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            "{a} != {b}"
        );
    }
    // untouched chunks' neighbours along t are intact
    assert_eq!(
        got.index_axis(Axis(2), 9).to_owned(),
        want.index_axis(Axis(2), 9).to_owned().into_dyn()
    );
}

#[test]
fn a_failing_chunk_fails_the_write_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let path = dir.path().join(format!("e{threads}.cfdb"));
        pool.install(|| {
            let mut ds = create(&path).unwrap();
            ds.create_coord(
                "x",
                CoordSpec::new(DataTypeMeta::new("int64"))
                    .data(Array1::from_iter(0..3000i64).into_dyn())
                    .chunk_len(7),
            )
            .unwrap();
            let meta = DataTypeMeta::from_json_bytes(
                br#"{"name":"int32","dtype_encoded":"uint8","fillvalue":0,"offset":-1}"#,
            )
            .unwrap();
            ds.create_data_var("v", &["x"], DataVarSpec::new(meta).chunk_shape(&[7]))
                .unwrap();
            // codes 1..=250 fit uint8; one value far into the write does not
            let mut v = Array1::from_iter((0..3000i32).map(|i| i % 250)).into_dyn();
            v[[2100]] = 100_000;
            let e = ds.write("v", sel![..], v.view()).unwrap_err();
            assert!(e.to_string().contains("100000"), "{e}");
            // the dataset stays usable
            v[[2100]] = 0;
            ds.write("v", sel![..], v.view()).unwrap();
            ds.close().unwrap();
            let got: ArrayD<i32> = open(&path).unwrap().data_var("v").unwrap().read().unwrap();
            assert_eq!(got, v);
        });
    }
}
