//! `cfdb_rechunk::guess_chunk_shape` against rechunkit 0.6.0's `guess_chunk_shape` (the function
//! cfdb 0.11.0 uses for its default chunk shapes): seeded random cases, all run in one Python
//! process by `tests/python/guess_chunk_shape.py`.
//!
//! Needs the interop venv (`cargo xtask test`, or `CFDB_INTEROP_PYTHON`).

use cfdb_rechunk::{RechunkError, guess_chunk_shape};
use cfdb_tests::run_python_json;
use serde_json::{Value, json};

/// splitmix64: a tiny seeded generator, so the cases are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (slightly biased; irrelevant here).
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        let span = u64::try_from(hi - lo).expect("fits u64").saturating_add(1);
        let r = if span == 0 {
            self.next()
        } else {
            self.next() % span
        };
        lo + usize::try_from(r).expect("fits usize")
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.range(0, xs.len() - 1)]
    }
}

struct Case {
    shape: Vec<usize>,
    itemsize: usize,
    target: usize,
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(0x0EC4_0A4C_2026);
    let mut out = Vec::new();
    for i in 0..600 {
        let ndims = rng.pick(&[0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6]);
        let dim_max = rng.pick(&[3, 20, 1000, 5000, 100_000, 2_000_000, 1 << 40, usize::MAX]);
        let mut shape: Vec<usize> = (0..ndims).map(|_| rng.range(1, dim_max)).collect();
        // A few invalid shapes (a zero-length dimension): both sides must refuse them.
        if i % 50 == 7 && !shape.is_empty() {
            let k = rng.range(0, shape.len() - 1);
            shape[k] = 0;
        }
        let itemsize = match rng.range(0, 9) {
            0 => rng.range(1, 1 << 20),
            1 => rng.range(1, usize::MAX),
            _ => rng.pick(&[1, 2, 4, 8, 12, 16, 60]),
        };
        let target = match rng.range(0, 5) {
            0 => 1 << 21,
            1 => (1 << 18) * itemsize.min(1 << 20),
            2 => rng.range(0, 1 << 30),
            3 => rng.range(0, 1000),
            4 => rng.range(0, usize::MAX),
            // Around 2^53, where `target * 1.5` in f64 starts to round.
            _ => rng.range((1 << 53) - 5, (1 << 54) + 5),
        };
        out.push(Case {
            shape,
            itemsize,
            target,
        });
    }
    // cfdb's own call sites (algorithms.md §1) and the spec's reference vectors.
    for itemsize in [1, 2, 4, 8, 12, 60] {
        out.push(Case {
            shape: vec![1_000_000],
            itemsize,
            target: 1 << 21,
        });
    }
    out.push(Case {
        shape: vec![744, 1, 324, 277],
        itemsize: 2,
        target: 512 << 10,
    });
    out.push(Case {
        shape: vec![3600, 1800, 24],
        itemsize: 1,
        target: 256 << 10,
    });
    out
}

#[test]
fn guess_chunk_shape_matches_rechunkit() {
    let cases = cases();
    let input: Vec<Value> = cases
        .iter()
        .map(|c| json!({"shape": c.shape, "itemsize": c.itemsize, "target": c.target}))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cases.json");
    std::fs::write(&path, serde_json::to_vec(&input).expect("JSON")).expect("write cases");
    let out = run_python_json("guess_chunk_shape.py", &[&path.display().to_string()]);
    let out = out.as_array().expect("a list");
    assert_eq!(out.len(), cases.len());

    let mut n_ok = 0;
    let mut n_shrunk = 0;
    for (c, py) in cases.iter().zip(out) {
        let ours = guess_chunk_shape(&c.shape, c.itemsize, c.target);
        let label = format!(
            "shape {:?} itemsize {} target {}",
            c.shape, c.itemsize, c.target
        );
        match (
            &ours,
            py.get("chunk"),
            py.get("error").and_then(Value::as_str),
        ) {
            (Ok(chunk), Some(want), None) => {
                let want: Vec<usize> = serde_json::from_value(want.clone()).expect("ints");
                assert_eq!(chunk, &want, "{label}");
                n_ok += 1;
                if chunk != &c.shape {
                    n_shrunk += 1;
                }
            }
            (Err(RechunkError::ZeroDim { dim }), None, Some(err)) => {
                assert!(err.starts_with("ValueError"), "{label}: Python said {err}");
                assert_eq!(c.shape.get(*dim), Some(&0), "{label}");
            }
            _ => panic!("{label}: Rust {ours:?}, Python {py}"),
        }
    }
    // The cases really exercise the shrinking loop, not just the pass-through.
    assert!(n_ok > 550 && n_shrunk > 200, "ok {n_ok}, shrunk {n_shrunk}");
}
