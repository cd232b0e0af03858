//! A rechunked iteration decodes its source chunks ahead on more than one thread.
//!
//! Like `core_threads`, counts threads with the test-only `instrument` feature (one test per
//! binary, so nothing else decodes while it counts); nothing is timed.

use cfdb_core::{CoordSpec, DataTypeMeta, DataVarSpec, create, instrument, open, sel};
use ndarray::{Array1, Array2, s};

const CHUNK: usize = 100;
const N: usize = CHUNK * 10;

#[test]
fn a_rechunked_iteration_decodes_ahead_on_several_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rechunk.cfdb");
    let values = Array2::from_shape_fn((N, N), |(i, j)| (i * N + j) as f64);
    {
        let mut ds = create(&path).unwrap();
        for c in ["y", "x"] {
            ds.create_coord(
                c,
                CoordSpec::new(DataTypeMeta::new("int32"))
                    .data(Array1::from_iter(0..N as i32).into_dyn()),
            )
            .unwrap();
        }
        ds.create_data_var(
            "v",
            &["y", "x"],
            DataVarSpec::new(DataTypeMeta::new("float64")).chunk_shape(&[CHUNK, CHUNK]),
        )
        .unwrap();
        ds.write("v", sel![], values.view().into_dyn()).unwrap();
        ds.close().unwrap();
    }
    let ds = open(&path).unwrap();
    let v = ds.data_var("v").unwrap();
    let mut counts = Vec::new();
    for _ in 0..3 {
        instrument::reset();
        let mut n = 0;
        // Full columns 25 wide: every source chunk is read once into a 8 MB budget.
        for item in v.iter_chunks_with(&[("x", 25)], 8 << 20).unwrap() {
            let (region, data) = item.unwrap();
            let a = data.typed::<f64>().unwrap();
            assert_eq!(
                a.view().into_dimensionality::<ndarray::Ix2>().unwrap(),
                values.slice(s![region[0].clone(), region[1].clone()])
            );
            n += 1;
        }
        assert_eq!(n, N / 25);
        let threads = instrument::decode_threads();
        counts.push(threads);
        if threads >= 2 {
            break;
        }
    }
    eprintln!("decode threads per rechunked pass: {counts:?}");
    assert!(counts.iter().any(|&t| t >= 2), "{counts:?}");
}
