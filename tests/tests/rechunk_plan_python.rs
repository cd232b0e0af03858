//! `cfdb_rechunk`'s planner and executor against rechunkit 0.6.0 (and cfdb 0.11.0's declared-space
//! rechunk, `algorithms.md` §4): seeded random plans over fixed-width dtypes plus the spec's
//! reference vectors, all run in one Python process by `tests/python/rechunk_plan.py`.
//!
//! Per plan: every `calc_*` result, the read/write counts, and — for plans small enough to run
//! in Python — the plan groups, the source regions read (in order), the yielded target chunks
//! (order, regions, data checksums) and the bytes held at every yield (rechunkit's bulk buffer,
//! parked chunks and batch buffers, read from its generator frame). Per cfdb case: the declared
//! shape and selection, the read/write prediction, the regions read and the yields.
//!
//! Needs the interop venv (`cargo xtask test`, or `CFDB_INTEROP_PYTHON`).

use std::ops::Range;

use cfdb_rechunk::{
    DeclaredSpace, GroupKind, RechunkError, Rechunker, calc_ideal_read_chunk_mem,
    calc_ideal_read_chunk_shape, calc_n_chunks, calc_n_reads_rechunker, calc_n_reads_simple,
    calc_source_read_chunk_shape,
};
use cfdb_tests::run_python_json;
use ndarray::{ArrayD, IxDyn};
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
        lo + usize::try_from(self.next() % (hi - lo + 1) as u64).expect("fits usize")
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.range(0, xs.len() - 1)]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.range(0, 99) < percent
    }
}

#[derive(Debug, Clone)]
struct Case {
    shape: Vec<usize>,
    itemsize: usize,
    source: Vec<usize>,
    target: Vec<usize>,
    max_mem: usize,
    sel: Option<Vec<Range<usize>>>,
    phase: Option<Vec<usize>>,
    execute: bool,
}

impl Case {
    fn extent(&self) -> Vec<usize> {
        match &self.sel {
            Some(sel) => sel.iter().map(|r| r.end - r.start).collect(),
            None => self.shape.clone(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "shape": self.shape,
            "itemsize": self.itemsize,
            "source": self.source,
            "target": self.target,
            "max_mem": self.max_mem,
            "sel": self.sel.as_ref().map(|s| s.iter().map(|r| [r.start, r.end]).collect::<Vec<_>>()),
            "phase": self.phase,
            "execute": self.execute,
        })
    }
}

/// `prod max(s + p, t) * b`: one source chunk's bulk buffer (rechunkit's floor test).
fn source_buf(c: &Case) -> usize {
    let phase: Vec<usize> = match &c.sel {
        Some(sel) => sel
            .iter()
            .zip(&c.source)
            .map(|(r, s)| r.start % s)
            .collect(),
        None => vec![0; c.shape.len()],
    };
    c.source
        .iter()
        .zip(&phase)
        .zip(&c.target)
        .map(|((&s, &p), &t)| (s + p).max(t))
        .product::<usize>()
        * c.itemsize
}

fn random_case(rng: &mut Rng) -> Case {
    let ndims = rng.pick(&[1, 1, 2, 2, 2, 3, 3, 3, 4]);
    let dim_max = [0, 400, 70, 24, 10][ndims];
    let shape: Vec<usize> = (0..ndims)
        .map(|_| {
            if rng.chance(3) {
                0
            } else {
                rng.range(1, dim_max)
            }
        })
        .collect();
    let source: Vec<usize> = (0..ndims)
        .map(|d| {
            let extra = rng.range(0, 3);
            rng.range(1, (shape[d].max(2) / 2).clamp(1, 12) + extra)
        })
        .collect();
    let target: Vec<usize> = (0..ndims)
        .map(|d| {
            if rng.chance(15) {
                shape[d].max(1) // the full length, as cfdb's iter_chunks does
            } else {
                rng.range(1, 14)
            }
        })
        .collect();
    let itemsize = rng.pick(&[1, 2, 4, 8]);
    let sel = rng.chance(45).then(|| {
        shape
            .iter()
            .map(|&len| {
                let a = rng.range(0, len);
                let b = rng.range(0, len);
                if rng.chance(5) {
                    a..a
                } else {
                    a.min(b)..a.max(b)
                }
            })
            .collect::<Vec<_>>()
    });
    let phase = rng
        .chance(30)
        .then(|| source.iter().map(|&s| rng.range(0, s + 1)).collect());
    let mut c = Case {
        shape,
        itemsize,
        source,
        target,
        max_mem: 0,
        sel,
        phase,
        execute: false,
    };
    let extent = c.extent();
    let ideal = calc_ideal_read_chunk_shape(&c.source, &c.target, Some(&extent)).expect("ideal");
    let ideal_mem: usize = ideal.iter().product::<usize>() * itemsize;
    c.max_mem = match rng.range(0, 9) {
        // Log-uniform from one element to 4x the ideal block: the constrained regime.
        0..=4 => {
            let hi = (4 * ideal_mem).max(itemsize + 1) as f64;
            let lo = itemsize as f64;
            let x = lo * (hi / lo).powf(rng.range(0, 1_000_000) as f64 / 1e6);
            x as usize
        }
        5 => (ideal_mem + rng.range(0, 2)).saturating_sub(1),
        6 => (source_buf(&c) + rng.range(0, 2)).saturating_sub(1),
        7 => rng.range(0, 3 * itemsize),
        _ => rng.range(ideal_mem, 20 * ideal_mem.max(1)),
    };
    let n_target: u128 = calc_n_chunks(&extent, &c.target).expect("count");
    let elems: usize = c.shape.iter().product();
    c.execute = c.max_mem >= itemsize && n_target <= 1500 && elems <= 60_000;
    c
}

fn reference_cases() -> Vec<Case> {
    let mk = |shape: &[usize],
              b: usize,
              s: &[usize],
              t: &[usize],
              m: usize,
              sel: Option<Vec<Range<usize>>>| {
        let elems: usize = shape.iter().product();
        Case {
            shape: shape.to_vec(),
            itemsize: b,
            source: s.to_vec(),
            target: t.to_vec(),
            max_mem: m,
            sel,
            phase: None,
            execute: elems <= 200_000,
        }
    };
    vec![
        mk(&[31, 31, 31], 4, &[5, 2, 4], &[4, 5, 3], 2000, None),
        mk(&[31, 31, 31], 4, &[5, 2, 4], &[4, 5, 3], 30000, None),
        mk(
            &[31, 31, 31],
            4,
            &[5, 2, 4],
            &[4, 5, 3],
            30000,
            Some(vec![3..21, 11..27, 7..17]),
        ),
        mk(&[24, 80], 8, &[4, 10], &[9, 10], 4096, None),
        mk(&[48, 24000], 8, &[4, 300], &[6, 300], 1 << 19, None),
        mk(
            &[40, 40],
            1,
            &[8, 8],
            &[16, 2],
            300,
            Some(vec![7..39, 7..39]),
        ),
        mk(
            &[72, 73, 144],
            8,
            &[10, 10, 10],
            &[1, 73, 144],
            1 << 19,
            None,
        ),
        mk(
            &[72, 73, 144],
            8,
            &[10, 10, 10],
            &[1, 73, 144],
            1 << 20,
            None,
        ),
        #[allow(clippy::single_range_in_vec_init)] // a one-dimensional selection
        mk(&[100], 4, &[7], &[11], 500, Some(vec![10..80])),
        mk(&[50], 4, &[7], &[11], 50, None),
        mk(&[1000, 6400], 8, &[100, 640], &[1000, 24], 1 << 22, None),
        mk(&[53, 11], 8, &[3, 8], &[6, 6], 1024, None),
        mk(
            &[720, 721, 1440],
            8,
            &[100, 100, 100],
            &[1, 721, 1440],
            1 << 29,
            None,
        ),
        // A zero-dimensional array.
        mk(&[], 8, &[], &[], 64, None),
        // The documented excess of parked chunks over rechunkit's pending model.
        mk(&[29, 16], 8, &[5, 4], &[1, 3], 963, None),
    ]
}

/// `(shape, source, target, itemsize, max_mem)`.
type Decisive = (
    &'static [usize],
    &'static [usize],
    &'static [usize],
    usize,
    usize,
);

/// Plans where one detail of the read-shape planner decides the result (found by mutating the
/// Rust planner and diffing its outputs over 300 000 random plans): the `greedy(M // 2)`
/// candidate, the aligned snap's `<= max(k, 1)` bound, the floor test `buf(s) >= M` at
/// equality, and the candidate check's limit of 20 000 target chunks.
const DECISIVE: &[Decisive] = &[
    (&[103, 112], &[4, 6], &[7, 7], 8, 12776),
    (&[47, 49], &[4, 7], &[14, 12], 1, 1098),
    (&[38, 63], &[11, 7], &[4, 16], 4, 5976),
    (&[37, 24], &[2, 3], &[17, 5], 1, 638),
    (&[96, 116], &[7, 8], &[16, 13], 1, 4066),
    (&[43, 50], &[8, 6], &[9, 4], 8, 6755),
    (&[81, 90], &[5, 14], &[4, 3], 2, 2219),
    (&[26, 67], &[12, 7], &[9, 8], 2, 5927),
    (&[99, 11], &[10, 10], &[11, 13], 2, 2604),
    (&[68, 85], &[4, 15], &[13, 11], 1, 3940),
    (&[44, 14], &[7, 13], &[8, 17], 2, 1113),
    (&[47, 37], &[15, 10], &[12, 12], 1, 1555),
    (&[29, 5, 24], &[6, 13, 9], &[8, 17, 14], 1, 9434),
    (&[7, 30, 13], &[2, 5, 11], &[13, 14, 17], 2, 10507),
    (&[63, 12], &[3, 4], &[16, 5], 2, 541),
    (&[14, 1, 4], &[5, 1, 5], &[8, 17, 12], 4, 6528),
    (&[9, 1, 1], &[6, 4, 3], &[10, 12, 16], 2, 3840),
    (&[7, 1, 7], &[6, 1, 4], &[11, 16, 14], 1, 2464),
    (&[18, 2, 3], &[7, 2, 5], &[16, 16, 16], 2, 8192),
    (&[15, 6, 2], &[5, 1, 2], &[13, 16, 11], 4, 9152),
    (&[10, 9, 1], &[9, 4, 1], &[15, 4, 13], 1, 780),
    // Scored because at most SCORE_LIMIT target chunks (1100, 1197, 1254)...
    (&[48, 57, 51], &[3, 7, 2], &[5, 6, 5], 1, 2866),
    (&[337, 83], &[10, 11], &[6, 4], 4, 4287),
    (&[342, 131], &[11, 11], &[6, 6], 4, 9809),
    // ... and not scored with 21 490 (scoring would change the read shape).
    (&[347, 307], &[2, 7], &[5, 1], 4, 265),
];

/// Larger plans, compared on the `calc_*` results only (too many chunks to run in Python).
fn large_case(rng: &mut Rng) -> Case {
    let ndims = rng.pick(&[1, 2, 2, 3]);
    let dim_max = [0, 3000, 120, 30][ndims];
    let shape: Vec<usize> = (0..ndims).map(|_| rng.range(1, dim_max)).collect();
    let source: Vec<usize> = (0..ndims).map(|_| rng.range(1, 15)).collect();
    let target: Vec<usize> = (0..ndims).map(|_| rng.range(1, 17)).collect();
    let itemsize = rng.pick(&[1, 2, 4, 8]);
    let sel = rng.chance(30).then(|| {
        shape
            .iter()
            .map(|&len| {
                let a = rng.range(0, len / 2);
                a..rng.range(a, len)
            })
            .collect::<Vec<_>>()
    });
    let mut c = Case {
        shape,
        itemsize,
        source,
        target,
        max_mem: 0,
        sel,
        phase: None,
        execute: false,
    };
    let ideal =
        calc_ideal_read_chunk_shape(&c.source, &c.target, Some(&c.extent())).expect("ideal");
    let ideal_mem: usize = ideal.iter().product::<usize>() * itemsize;
    c.max_mem = if rng.chance(25) {
        source_buf(&c)
    } else {
        ideal_mem * rng.range(0, 1500) / 1000
    };
    c
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(0x2EC4_0A4C_0600);
    let mut out: Vec<Case> = (0..420).map(|_| random_case(&mut rng)).collect();
    out.extend((0..150).map(|_| large_case(&mut rng)));
    out.extend(reference_cases());
    for &(shape, s, t, b, m) in DECISIVE {
        let elems: usize = shape.iter().product();
        out.push(Case {
            shape: shape.to_vec(),
            itemsize: b,
            source: s.to_vec(),
            target: t.to_vec(),
            max_mem: m,
            sel: None,
            phase: None,
            execute: elems <= 60_000 && calc_n_chunks(shape, t).expect("n") <= 1500,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers.

fn usizes(v: &Value) -> Vec<usize> {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("ints: {e}: {v}"))
}

fn is_err(v: &Value) -> bool {
    v.get("error").is_some()
}

fn regions_i64(v: &Value) -> Vec<Vec<Range<i64>>> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("region")
                .iter()
                .map(|p| {
                    let p: Vec<i64> = serde_json::from_value(p.clone()).expect("pair");
                    p[0]..p[1]
                })
                .collect()
        })
        .collect()
}

fn region_usize(v: &Value) -> Vec<Range<usize>> {
    v.as_array()
        .expect("region")
        .iter()
        .map(|p| {
            let p: Vec<usize> = serde_json::from_value(p.clone()).expect("pair");
            p[0]..p[1]
        })
        .collect()
}

fn to_i64(r: &[Vec<Range<usize>>]) -> Vec<Vec<Range<i64>>> {
    r.iter()
        .map(|w| w.iter().map(|x| x.start as i64..x.end as i64).collect())
        .collect()
}

/// `sum(value * (flat index + 1))`, the script's checksum.
fn checksum(a: &ArrayD<i64>) -> i64 {
    a.iter().zip(1i64..).map(|(&v, k)| v * k).sum()
}

/// `arange(prod(shape)) % 97`.
fn source_array(shape: &[usize]) -> ArrayD<i64> {
    let mut k = 0i64;
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        let v = k % 97;
        k += 1;
        v
    })
}

fn slice_of(a: &ArrayD<i64>, r: &[Range<usize>]) -> ArrayD<i64> {
    a.slice_each_axis(|ax| r[ax.axis.index()].clone().into())
        .to_owned()
}

#[derive(Default)]
struct Tally {
    executed: usize,
    constrained: usize,
    ideal: usize,
    bulk_groups: usize,
    multi_groups: usize,
    with_sel: usize,
    read_errors: usize,
    scored: usize,
    parked_over_model: usize,
}

fn check_case(c: &Case, py: &Value, tally: &mut Tally) {
    let label = format!("{c:?}");
    let extent = c.extent();
    let sel = c.sel.as_deref();
    let sel_phase: Vec<usize> = match sel {
        Some(sel) => sel
            .iter()
            .zip(&c.source)
            .map(|(r, s)| r.start % s)
            .collect(),
        None => vec![0; c.shape.len()],
    };
    let (s, t, b, m) = (&c.source, &c.target, c.itemsize, c.max_mem);

    assert_eq!(
        calc_ideal_read_chunk_shape(s, t, None).expect("ideal"),
        usizes(&py["ideal_unclipped"]),
        "ideal_unclipped {label}"
    );
    let ideal = calc_ideal_read_chunk_shape(s, t, Some(&extent)).expect("ideal");
    assert_eq!(ideal, usizes(&py["ideal"]), "ideal {label}");
    assert_eq!(
        calc_ideal_read_chunk_mem(&ideal, b).expect("mem") as u64,
        py["ideal_mem"].as_u64().expect("int"),
        "ideal_mem {label}"
    );
    let cmp_read = |ours: Result<Vec<usize>, RechunkError>, theirs: &Value, what: &str| match ours {
        Ok(r) => assert_eq!(r, usizes(theirs), "{what} {label}"),
        Err(e) => assert!(is_err(theirs), "{what} {label}: Rust {e}, Python {theirs}"),
    };
    cmp_read(
        calc_source_read_chunk_shape(s, t, b, m, None, None),
        &py["read_noshape"],
        "read_noshape",
    );
    if let Some(p) = &c.phase {
        cmp_read(
            calc_source_read_chunk_shape(s, t, b, m, None, Some(p)),
            &py["read_phase"],
            "read_phase",
        );
    }
    let read = calc_source_read_chunk_shape(s, t, b, m, Some(&extent), Some(&sel_phase));
    cmp_read(read.clone(), &py["read"], "read");
    let read = read.expect("read shape");
    assert_eq!(
        calc_n_chunks(&c.shape, s).expect("n") as u64,
        py["n_chunks_source"].as_u64().expect("int")
    );
    assert_eq!(
        calc_n_chunks(&c.shape, t).expect("n") as u64,
        py["n_chunks_target"].as_u64().expect("int")
    );
    assert_eq!(
        calc_n_reads_simple(&c.shape, s, t).expect("simple") as u64,
        py["simple"].as_u64().expect("int"),
        "simple {label}"
    );
    let counts = calc_n_reads_rechunker(&c.shape, b, s, t, m, sel).expect("counts");
    assert_eq!(
        [counts.0, counts.1],
        <[u64; 2]>::try_from(
            py["counts"]
                .as_array()
                .expect("pair")
                .iter()
                .map(|v| v.as_u64().expect("int"))
                .collect::<Vec<_>>()
        )
        .expect("two"),
        "counts {label}"
    );
    if read != ideal && calc_n_chunks(&extent, t).expect("n") <= 20_000 {
        tally.scored += 1;
    }
    if sel.is_some() {
        tally.with_sel += 1;
    }

    if c.max_mem < c.itemsize {
        assert!(matches!(
            Rechunker::new(&c.shape, b, s, t, m, sel),
            Err(RechunkError::BudgetTooSmall { .. })
        ));
    }
    if !c.execute {
        return;
    }
    tally.executed += 1;
    let r = Rechunker::new(&c.shape, b, s, t, m, sel).expect("rechunker");
    assert_eq!(r.read_chunk_shape(), read.as_slice());
    if r.is_ideal() {
        tally.ideal += 1;
    } else {
        tally.constrained += 1;
    }

    // The plan, group by group.
    let py_plan = py["plan"].as_array().expect("plan");
    let plan: Vec<_> = r.plan().collect();
    assert_eq!(plan.len(), py_plan.len(), "groups {label}");
    for (k, (g, pg)) in plan.iter().zip(py_plan).enumerate() {
        let kind = match g.kind {
            GroupKind::Bulk => {
                tally.bulk_groups += 1;
                "bulk"
            }
            GroupKind::Multi => {
                tally.multi_groups += 1;
                "multi"
            }
        };
        assert_eq!(pg[0].as_str(), Some(kind), "group {k} kind {label}");
        assert_eq!(g.reads, regions_i64(&pg[1]), "group {k} reads {label}");
        assert_eq!(
            to_i64(&g.writes),
            regions_i64(&pg[2]),
            "group {k} writes {label}"
        );
        let gs: Option<Vec<i64>> = serde_json::from_value(pg[3].clone()).expect("start");
        assert_eq!(g.group_start, gs, "group {k} start {label}");
    }

    // The execution: requests, yields, held bytes at every yield.
    let src = source_array(&c.shape);
    let mut requests: Vec<Vec<Range<usize>>> = Vec::new();
    let mut exec = r.execute(|region: &[Range<usize>]| {
        requests.push(region.to_vec());
        Ok::<_, std::convert::Infallible>(slice_of(&src, region))
    });
    let mut yields = Vec::new();
    let mut held = Vec::new();
    while let Some(item) = exec.next() {
        let (w, data) = item.expect("yield");
        held.push(exec.memory().current_bytes as u64);
        yields.push((w, checksum(&data)));
    }
    let mem = exec.memory();
    drop(exec);
    let py_requests: Vec<Vec<Range<usize>>> = py["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(region_usize)
        .collect();
    assert_eq!(requests, py_requests, "requests {label}");
    assert_eq!(requests.len() as u64, counts.0);
    let py_yields: Vec<(Vec<Range<usize>>, i64)> = py["yields"]
        .as_array()
        .expect("yields")
        .iter()
        .map(|y| (region_usize(&y[0]), y[1].as_i64().expect("checksum")))
        .collect();
    assert_eq!(yields, py_yields, "yields {label}");
    assert_eq!(yields.len() as u64, counts.1);
    let py_held: Vec<u64> = serde_json::from_value(py["held"].clone()).expect("held");
    assert_eq!(held, py_held, "held bytes per yield {label}");
    assert!(mem.peak_buffer_bytes <= r.buffer_bound(), "{label}");
    if mem.peak_parked_bytes > r.pending_model_bytes() {
        tally.parked_over_model += 1;
    }
}

#[derive(Debug, Clone)]
struct CfdbCase {
    lens: Vec<usize>,
    prepend: Vec<usize>,
    chunk: Vec<usize>,
    target: Vec<usize>,
    max_mem: usize,
    view: Option<Vec<Range<usize>>>,
}

fn cfdb_cases() -> Vec<CfdbCase> {
    let mut rng = Rng(0xCFDB_0011);
    (0..24)
        .map(|_| {
            let ndims = rng.pick(&[1, 2, 2, 3]);
            let lens: Vec<usize> = (0..ndims)
                .map(|_| rng.range(3, [0, 60, 25, 9][ndims]))
                .collect();
            let prepend: Vec<usize> = (0..ndims)
                .map(|_| if rng.chance(70) { rng.range(1, 9) } else { 0 })
                .collect();
            let full: Vec<usize> = lens.iter().zip(&prepend).map(|(a, b)| a + b).collect();
            let chunk: Vec<usize> = full.iter().map(|&n| rng.range(1, n.min(7))).collect();
            let target: Vec<usize> = full.iter().map(|&n| rng.range(1, n.min(9))).collect();
            let view = rng.chance(50).then(|| {
                full.iter()
                    .map(|&n| {
                        let a = rng.range(0, n - 1);
                        a..rng.range(a + 1, n)
                    })
                    .collect()
            });
            let ideal_mem: usize = chunk
                .iter()
                .zip(&target)
                .map(|(a, b)| a * b)
                .product::<usize>()
                * 4;
            let max_mem = rng.range(4 * chunk.iter().product::<usize>(), 2 * ideal_mem.max(8));
            CfdbCase {
                lens,
                prepend,
                chunk,
                target,
                max_mem,
                view,
            }
        })
        .collect()
}

fn check_cfdb_case(c: &CfdbCase, py: &Value) {
    let label = format!("{c:?}");
    let origins: Vec<i64> = serde_json::from_value(py["origins"].clone()).expect("origins");
    let expected_origins: Vec<i64> = c.prepend.iter().map(|&p| -(p as i64)).collect();
    assert_eq!(origins, expected_origins, "{label}");
    let full: Vec<usize> = c.lens.iter().zip(&c.prepend).map(|(a, b)| a + b).collect();
    let space = DeclaredSpace::new(&full, &origins, &c.chunk, c.view.as_deref()).expect("space");
    assert_eq!(
        space.shape(),
        usizes(&py["decl_shape"]).as_slice(),
        "{label}"
    );
    assert_eq!(
        space.selection(),
        region_usize(&py["decl_sel"]).as_slice(),
        "{label}"
    );
    let itemsize = py["itemsize"].as_u64().expect("itemsize") as usize;
    let counts = space
        .calc_n_reads_rechunker(itemsize, &c.target, c.max_mem)
        .expect("counts");
    let py_counts: Vec<u64> = serde_json::from_value(py["counts"].clone()).expect("counts");
    assert_eq!(vec![counts.0, counts.1], py_counts, "{label}");

    // Run in declared space; the source maps declared positions back to variable indices
    // (declared = index + d); positions before the variable read as -1 (never yielded).
    let data = source_array(&full);
    let d = space.offsets().to_vec();
    let r = space
        .rechunker(itemsize, &c.target, c.max_mem)
        .expect("rechunker");
    let mut requests = Vec::new();
    let exec = r.execute(|region: &[Range<usize>]| {
        requests.push(region.to_vec());
        let shape: Vec<usize> = region.iter().map(|x| x.end - x.start).collect();
        Ok::<_, std::convert::Infallible>(ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
            let pos: Option<Vec<usize>> = (0..shape.len())
                .map(|k| (region[k].start + ix[k]).checked_sub(d[k]))
                .collect();
            pos.and_then(|p| data.get(IxDyn(&p)).copied()).unwrap_or(-1)
        }))
    });
    let yields: Vec<(Vec<Range<usize>>, i64)> = exec
        .map(|y| {
            let (w, a) = y.expect("yield");
            (w, checksum(&a))
        })
        .collect();
    let py_yields: Vec<(Vec<Range<usize>>, i64)> = py["yields"]
        .as_array()
        .expect("yields")
        .iter()
        .map(|y| (region_usize(&y[0]), y[1].as_i64().expect("checksum")))
        .collect();
    assert_eq!(yields, py_yields, "yields {label}");
    let py_requests: Vec<Vec<Range<usize>>> = py["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(region_usize)
        .collect();
    assert_eq!(requests, py_requests, "requests {label}");
    // §4: every read hits exactly one storage chunk.
    for q in &requests {
        for (st, &cs) in space.to_storage(q).iter().zip(&c.chunk) {
            let cs = cs as i64;
            assert_eq!(
                st.start.div_euclid(cs),
                (st.end - 1).div_euclid(cs),
                "{label}"
            );
        }
    }
}

#[test]
fn rechunk_plans_match_rechunkit() {
    let cases = cases();
    let cfdb = cfdb_cases();
    let input = json!({
        "plans": cases.iter().map(Case::to_json).collect::<Vec<_>>(),
        "cfdb": cfdb.iter().map(|c| json!({
            "lens": c.lens,
            "prepend": c.prepend,
            "chunk": c.chunk,
            "target": c.target,
            "max_mem": c.max_mem,
            "view": c.view.as_ref().map(|v| v.iter().map(|r| [r.start, r.end]).collect::<Vec<_>>()),
        })).collect::<Vec<_>>(),
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cases.json");
    std::fs::write(&path, serde_json::to_vec(&input).expect("JSON")).expect("write cases");
    let out = run_python_json("rechunk_plan.py", &[&path.display().to_string()]);

    let plans = out["plans"].as_array().expect("plans");
    assert_eq!(plans.len(), cases.len());
    let mut tally = Tally::default();
    for (c, py) in cases.iter().zip(plans) {
        if is_err(&py["read"]) {
            tally.read_errors += 1;
        }
        check_case(c, py, &mut tally);
    }
    let py_cfdb = out["cfdb"].as_array().expect("cfdb");
    assert_eq!(py_cfdb.len(), cfdb.len());
    for (c, py) in cfdb.iter().zip(py_cfdb) {
        check_cfdb_case(c, py);
    }

    // The cases really exercise every regime.
    eprintln!(
        "plans {}, executed {} (ideal {}, constrained {}), bulk groups {}, multi groups {}, \
         with selection {}, scored {}, parked over rechunkit's pending model {}",
        cases.len(),
        tally.executed,
        tally.ideal,
        tally.constrained,
        tally.bulk_groups,
        tally.multi_groups,
        tally.with_sel,
        tally.scored,
        tally.parked_over_model
    );
    assert_eq!(tally.read_errors, 0);
    assert!(tally.executed >= 300, "executed {}", tally.executed);
    assert!(tally.ideal >= 50 && tally.constrained >= 150);
    assert!(tally.bulk_groups >= 1000 && tally.multi_groups >= 500);
    assert!(tally.with_sel >= 150 && tally.scored >= 80);
    assert!(tally.parked_over_model >= 1);
}

/// Rank mismatches: rechunkit's read-shape planner raises `ValueError`, ours a typed error (the
/// other rechunkit functions zip silently, ours refuse as well).
#[test]
fn rank_mismatch_is_an_error() {
    assert!(matches!(
        calc_source_read_chunk_shape(&[2, 2], &[3], 8, 100, None, None),
        Err(RechunkError::DimMismatch { .. })
    ));
    assert!(matches!(
        calc_n_reads_rechunker(&[10, 10], 8, &[2, 2], &[3], 100, None),
        Err(RechunkError::DimMismatch { .. })
    ));
}
