//! Small reads on a read-only dataset: opening and reading a few chunks go through positional
//! reads (`cfdb_kv::Reader::get_into`) without mapping the file, whole-chunk regions decode
//! straight into their array, and regions of up to 8 chunks are fetched by the decoding
//! threads themselves. They must give exactly what a full read gives, and name the file,
//! variable and chunk when a stored chunk is damaged.

use cfdb_core::{CoordSpec, CoreError, DataTypeMeta, DataVarSpec, Sel, create, open, sel};
use ndarray::{Array1, Array3, ArrayD, s};

const X: usize = 23;
const Y: usize = 17;
const T: usize = 19;
const CHUNK: [usize; 3] = [5, 4, 6];

fn build(path: &std::path::Path) -> Array3<i32> {
    let mut ds = create(path).unwrap();
    for (name, n, c) in [("x", X, CHUNK[0]), ("y", Y, CHUNK[1]), ("t", T, CHUNK[2])] {
        ds.create_coord(
            name,
            CoordSpec::new(DataTypeMeta::new("int64"))
                .data(Array1::from_iter(0..n as i64).into_dyn())
                .chunk_len(c),
        )
        .unwrap();
    }
    ds.create_data_var(
        "v",
        &["x", "y", "t"],
        DataVarSpec::new(DataTypeMeta::new("int32")).chunk_shape(&CHUNK),
    )
    .unwrap();
    let full = Array3::from_shape_fn((X, Y, T), |(i, j, k)| {
        ((i * 7919 + j * 104_729 + k * 31) % 6007) as i32 - 3000
    });
    // Leave the last x band of chunks unwritten: those cells read as the blank.
    ds.write(
        "v",
        sel![..20, .., ..],
        full.slice(ndarray::s![..20, .., ..]).into_dyn(),
    )
    .unwrap();
    ds.close().unwrap();
    full
}

fn region(start: [usize; 3], len: [usize; 3]) -> Sel {
    let [a, b, c] = [0, 1, 2].map(|d| start[d]..start[d] + len[d]);
    sel![a, b, c]
}

#[test]
fn small_reads_equal_the_full_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.cfdb");
    build(&path);
    let all: ArrayD<i32> = open(&path).unwrap().data_var("v").unwrap().read().unwrap();
    let mut n = 0;
    // Regions of a chunk's shape and of other shapes, meeting 1 to 18 chunks (up to 8: the
    // positional path, more: the mapped one); each on a fresh handle, as the first read.
    for i in (0..X).step_by(3) {
        for j in (0..Y).step_by(5) {
            for k in (0..T).step_by(7) {
                for len in [[1, 1, 1], CHUNK, [5, 7, 3], [9, 4, 12], [6, 9, 8]] {
                    let start = [i, j, k];
                    let len = [0, 1, 2].map(|d| len[d].min([X, Y, T][d] - start[d]));
                    let ds = open(&path).unwrap();
                    let got: ArrayD<i32> = ds
                        .data_var("v")
                        .unwrap()
                        .select(region(start, len))
                        .unwrap()
                        .read()
                        .unwrap();
                    let [a, b, c] = [0, 1, 2].map(|d| start[d]..start[d] + len[d]);
                    let want = all.slice(s![a, b, c]).into_dyn();
                    assert_eq!(got, want, "region at {start:?} of {len:?}");
                    n += 1;
                }
            }
        }
    }
    assert!(n > 300);
    // The never-written x band reads as one blank value everywhere.
    assert_eq!(all[[22, 0, 0]], all[[21, 16, 18]]);
    assert_ne!(all[[22, 0, 0]], all[[0, 0, 0]]);
}

#[test]
fn a_damaged_chunk_is_named_on_small_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.cfdb");
    build(&path);
    {
        // Replace chunk (1, 1, 0), keyed by its first index, with bytes that are not a
        // compressed chunk.
        let mut w = cfdb_kv::Writer::open(&path, cfdb_kv::Mode::Write).unwrap();
        w.set(b"v!5.4.0", b"not a zstd frame").unwrap();
        w.close().unwrap();
    }
    let whole = region([5, 4, 0], CHUNK);
    let four = region([3, 2, 0], [5, 4, 6]);
    for sel in [whole, four] {
        let ds = open(&path).unwrap();
        let err = ds
            .data_var("v")
            .unwrap()
            .select(sel)
            .unwrap()
            .read::<i32>()
            .unwrap_err();
        match &err {
            CoreError::Codec {
                path: p, var, key, ..
            } => {
                assert_eq!(p, &path);
                assert_eq!(var, "v");
                assert_eq!(key.as_deref(), Some("v!5.4.0"));
            }
            other => panic!("expected a codec error, got {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("damaged.cfdb") && text.contains("v!5.4.0"),
            "{text}"
        );
    }
}
