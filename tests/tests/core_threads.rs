//! Reading a selection that spans many chunks decodes them on more than one thread.
//!
//! Uses cfdb-core's test-only `instrument` feature, which records the id of every thread that
//! decodes a chunk. Nothing is timed: the test counts threads. This file holds a single test so
//! no other test of the same binary decodes chunks while it counts.

use cfdb_core::{CoordSpec, DataTypeMeta, DataVarSpec, create, instrument, open, sel};
use ndarray::{Array1, Array2};

const CHUNK: usize = 200;
const CHUNKS_PER_DIM: usize = 12;
const N: usize = CHUNK * CHUNKS_PER_DIM;

#[test]
fn a_multi_chunk_read_decodes_on_several_threads() {
    // rayon's global pool has one thread per core unless RAYON_NUM_THREADS says otherwise.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let pool = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(cores);
    assert!(
        pool >= 2,
        "the decode pool would have {pool} thread(s); this test needs 2+ (cores: {cores})"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads.cfdb");
    let values = Array2::from_shape_fn((N, N), |(i, j)| (i * N + j) as f64 * 0.5);
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
    assert_eq!(v.chunk_shape().unwrap(), [CHUNK, CHUNK]);
    // 144 chunks of 320 kB: one read. A scheduler hiccup on a loaded 2-core machine could let
    // one worker drain a whole read before the other wakes, so a few separate reads are
    // allowed; each is counted on its own (reset before every read).
    let mut counts = Vec::new();
    for _ in 0..3 {
        instrument::reset();
        let got = v.read::<f64>().unwrap();
        let threads = instrument::decode_threads();
        assert_eq!(got, values.view().into_dyn(), "the values read back");
        counts.push(threads);
        if threads >= 2 {
            break;
        }
    }
    eprintln!("decode threads per read: {counts:?}");
    assert!(
        counts.iter().any(|&t| t >= 2),
        "every read of {} chunks decoded on a single thread: {counts:?}",
        CHUNKS_PER_DIM * CHUNKS_PER_DIM
    );
    // A window over a few chunks is decoded by the same parallel path.
    instrument::reset();
    let w = v
        .select(sel![CHUNK / 2..CHUNK * 5 / 2, ..CHUNK * 3])
        .unwrap()
        .read::<f64>()
        .unwrap();
    assert_eq!(w[[0, 0]], values[[CHUNK / 2, 0]]);
    assert!(instrument::decode_threads() >= 1);
}
