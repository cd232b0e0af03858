//! Executor tests: reference vectors, property tests against direct slicing, memory bound,
//! declared space, errors.
#![allow(clippy::single_range_in_vec_init)] // regions of one dimension

use super::*;
use crate::{DeclaredSpace, calc_n_reads_rechunker};
use proptest::prelude::*;
use std::convert::Infallible;

fn arange(shape: &[usize]) -> ArrayD<i64> {
    let mut k = 0i64;
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        k += 1;
        k
    })
}

/// Everything observable about one full run.
struct Run {
    yields: Vec<(Vec<Range<usize>>, ArrayD<i64>)>,
    requests: Vec<Vec<Range<usize>>>,
    mem: MemoryStats,
}

fn run(r: &Rechunker, src: &ArrayD<i64>) -> Run {
    let mut requests = Vec::new();
    let mut exec = r.execute(|region: &[Range<usize>]| {
        requests.push(region.to_vec());
        Ok::<_, Infallible>(view(src, region).to_owned())
    });
    let mut yields = Vec::new();
    for item in exec.by_ref() {
        yields.push(item.unwrap());
    }
    let mem = exec.memory();
    let n_reads = exec.n_reads();
    drop(exec);
    assert_eq!(n_reads as usize, requests.len());
    Run {
        yields,
        requests,
        mem,
    }
}

/// A source that fills bulk buffers itself, in reverse order, recording every region.
struct BatchSource<'a> {
    src: &'a ArrayD<i64>,
    requests: Vec<Vec<Range<usize>>>,
    batches: usize,
}

impl Source<i64, Infallible> for BatchSource<'_> {
    fn read(&mut self, region: &[Range<usize>]) -> Result<ArrayD<i64>, Infallible> {
        self.requests.push(region.to_vec());
        Ok(view(self.src, region).to_owned())
    }

    fn read_into(&mut self, reads: Vec<SourceRead<'_, i64>>) -> Result<(), ExecError<Infallible>> {
        self.batches += 1;
        for r in reads.into_iter().rev() {
            self.requests.push(r.region.clone());
            let block = view(self.src, &r.region);
            for (part, mut dst) in r.parts {
                dst.assign(&view(&block.to_owned(), &part));
            }
        }
        Ok(())
    }

    fn prefers_read_into(&self) -> bool {
        true
    }
}

fn run_batched(r: &Rechunker, src: &ArrayD<i64>) -> Run {
    let mut source = BatchSource {
        src,
        requests: Vec::new(),
        batches: 0,
    };
    let mut exec = r.execute_source(&mut source).with_fill(-1);
    let mut yields = Vec::new();
    while let Some(item) = exec.next() {
        let (w, a) = item.unwrap();
        // Hand back garbage of the same shape: reused targets must be overwritten entirely.
        exec.recycle(ArrayD::from_elem(a.raw_dim(), -7));
        yields.push((w, a));
    }
    let mem = exec.memory();
    let n_reads = exec.n_reads();
    drop(exec);
    assert_eq!(n_reads as usize, source.requests.len());
    let bulk_groups = r.plan().filter(|g| g.kind == GroupKind::Bulk).count();
    assert_eq!(source.batches, bulk_groups);
    Run {
        yields,
        requests: source.requests,
        mem,
    }
}

/// Checks a run against direct slicing, the plan and the counts; returns the run.
fn check(r: &Rechunker) -> Run {
    let src = arange(r.shape());
    let out = run(r, &src);
    let selected = view(&src, r.selection());
    // Order: exactly the positions, i.e. every target chunk once, in C order.
    let regions: Vec<Vec<Range<usize>>> = out.yields.iter().map(|(w, _)| w.clone()).collect();
    let positions: Vec<Vec<Range<usize>>> = r.positions().collect();
    assert_eq!(regions, positions, "order");
    assert_eq!(regions.len() as u64, r.n_target_chunks());
    // Values: direct slicing of the selection.
    for (w, data) in &out.yields {
        assert_eq!(data.view(), view(&selected.to_owned(), w), "data of {w:?}");
    }
    // Reads: the plan's reads, translated to absolute and clipped to the array.
    let planned: Vec<Vec<Range<usize>>> = r
        .plan()
        .flat_map(|g| g.reads)
        .map(|rc| {
            rc.iter()
                .zip(r.selection())
                .zip(r.shape())
                .map(|((x, s), &len)| {
                    (x.start + s.start as i64) as usize
                        ..((x.end + s.start as i64) as usize).min(len)
                })
                .collect()
        })
        .collect();
    assert_eq!(out.requests, planned, "read regions");
    let (reads, writes) = r.calc_n_reads().unwrap();
    assert_eq!(out.requests.len() as u64, reads);
    assert_eq!(out.yields.len() as u64, writes);
    let sel: Vec<Range<usize>> = r.selection().to_vec();
    assert_eq!(
        calc_n_reads_rechunker(
            r.shape(),
            r.itemsize(),
            r.source_chunk_shape(),
            r.target_chunk_shape(),
            r.max_mem(),
            Some(&sel),
        )
        .unwrap(),
        (reads, writes)
    );
    // Memory: the buffers within the documented bound, the run exactly as the dry run
    // predicts, and nothing held at the end.
    assert!(
        out.mem.peak_buffer_bytes <= r.buffer_bound(),
        "buffers {} > bound {}",
        out.mem.peak_buffer_bytes,
        r.buffer_bound()
    );
    assert!(out.mem.peak_bytes <= out.mem.peak_buffer_bytes + out.mem.peak_parked_bytes);
    assert_eq!(out.mem, r.simulate_memory());
    assert_eq!(out.mem.current_bytes, 0);
    out
}

/// (shape, itemsize, source chunk, target chunk, max_mem, selection, reads)
type Vector<'a> = (
    &'a [usize],
    usize,
    &'a [usize],
    &'a [usize],
    usize,
    Option<&'a [Range<usize>]>,
    u64,
);

#[test]
fn reference_vectors_execute() {
    let cases: &[Vector<'_>] = &[
        (&[31, 31, 31], 4, &[5, 2, 4], &[4, 5, 3], 2000, None, 2288),
        (&[31, 31, 31], 4, &[5, 2, 4], &[4, 5, 3], 30000, None, 1782),
        (
            &[31, 31, 31],
            4,
            &[5, 2, 4],
            &[4, 5, 3],
            30000,
            Some(&[3..21, 11..27, 7..17]),
            219,
        ),
        (&[24, 80], 8, &[4, 10], &[9, 10], 4096, None, 64),
        (
            &[40, 40],
            1,
            &[8, 8],
            &[16, 2],
            300,
            Some(&[7..39, 7..39]),
            42,
        ),
        (
            &[72, 73, 144],
            8,
            &[10, 10, 10],
            &[1, 73, 144],
            1 << 19,
            None,
            2040,
        ),
        (
            &[72, 73, 144],
            8,
            &[10, 10, 10],
            &[1, 73, 144],
            1 << 20,
            None,
            960,
        ),
        (&[100], 4, &[7], &[11], 500, Some(&[10..80]), 11),
        (&[50], 4, &[7], &[11], 50, None, 12),
        (&[53, 11], 8, &[3, 8], &[6, 6], 1024, None, 36),
    ];
    for &(shape, b, s, t, m, sel, reads) in cases {
        let r = Rechunker::new(shape, b, s, t, m, sel).unwrap();
        let out = check(&r);
        assert_eq!(out.requests.len() as u64, reads, "{shape:?} {m}");
    }
}

#[test]
fn ideal_path_reads_each_source_chunk_once() {
    let r = Rechunker::new(&[24, 30, 20], 4, &[6, 5, 4], &[4, 6, 5], 1 << 20, None).unwrap();
    assert!(r.is_ideal());
    let out = check(&r);
    assert_eq!(out.requests.len(), 4 * 6 * 5);
    let mut seen = std::collections::HashSet::new();
    for q in &out.requests {
        assert!(seen.insert(q.clone()), "{q:?} read twice");
    }
}

#[test]
fn zero_dimensional_and_empty() {
    let r = Rechunker::new(&[], 8, &[], &[], 8, None).unwrap();
    let out = check(&r);
    assert_eq!(out.yields.len(), 1);
    assert_eq!(out.yields[0].1.shape(), &[] as &[usize]);
    for (shape, sel) in [
        (vec![10, 10], Some(vec![5..5, 0..10])),
        (vec![0, 4], None),
        (vec![3, 0, 2], None),
    ] {
        let r = Rechunker::new(
            &shape,
            4,
            &vec![2; shape.len()],
            &vec![3; shape.len()],
            1000,
            sel.as_deref(),
        )
        .unwrap();
        let out = check(&r);
        assert!(out.yields.is_empty() && out.requests.is_empty());
    }
}

#[test]
fn errors() {
    assert_eq!(
        Rechunker::new(&[10], 8, &[2], &[3], 7, None).unwrap_err(),
        RechunkError::BudgetTooSmall {
            max_mem: 7,
            minimum: 8
        }
    );
    assert!(
        RechunkError::BudgetTooSmall {
            max_mem: 7,
            minimum: 8
        }
        .to_string()
        .contains("minimum of 8 bytes")
    );
    // One element is enough (the floor plan).
    assert!(Rechunker::new(&[10], 8, &[2], &[3], 8, None).is_ok());
    assert!(matches!(
        Rechunker::new(&[10, 10], 8, &[2, 0], &[3, 3], 800, None),
        Err(RechunkError::ZeroChunkDim {
            what: "source chunk shape",
            dim: 1
        })
    ));
    assert!(matches!(
        Rechunker::new(&[10, 10], 8, &[2, 2], &[3], 800, None),
        Err(RechunkError::DimMismatch { .. })
    ));
    assert!(matches!(
        Rechunker::new(&[10], 8, &[2], &[3], 800, Some(&[4..12])),
        Err(RechunkError::SelectionOutOfBounds { .. })
    ));
    assert_eq!(
        Rechunker::new(&[10], 0, &[2], &[3], 800, None).unwrap_err(),
        RechunkError::ZeroItemsize
    );

    // A failing source: the error is yielded once, then the iterator ends.
    let r = Rechunker::new(&[20], 4, &[3], &[5], 1000, None).unwrap();
    let mut calls = 0;
    let mut exec = r.execute(|region: &[Range<usize>]| {
        calls += 1;
        if calls == 3 {
            Err(format!("disk on fire at {region:?}"))
        } else {
            Ok(ArrayD::<u8>::zeros(IxDyn(&len_of(region))))
        }
    });
    let mut ok = 0;
    let err = loop {
        match exec.next() {
            Some(Ok(_)) => ok += 1,
            Some(Err(e)) => break e,
            None => panic!("no error"),
        }
    };
    assert!(matches!(&err, ExecError::Source { error, .. } if error.contains("on fire")));
    assert!(err.to_string().contains("disk on fire"));
    assert!(exec.next().is_none());
    assert!(ok < 4);

    // A source returning the wrong shape.
    let mut exec =
        r.execute(|_: &[Range<usize>]| Ok::<_, Infallible>(ArrayD::<u8>::zeros(IxDyn(&[1]))));
    match exec.next() {
        Some(Err(ExecError::Rechunk(RechunkError::SourceShape { expected, got, .. }))) => {
            assert_eq!(got, [1]);
            assert_ne!(expected, [1]);
        }
        other => panic!("{other:?}"),
    }
    assert!(exec.next().is_none());
    assert_eq!(exec.memory().current_bytes, 0);
}

#[test]
fn declared_space_reads_hit_one_storage_chunk() {
    // §4: origin -7 with chunk 3 (d = 2), a view, and a 2-D variable.
    for (full, origins, chunk, view_sel, target, m) in [
        (vec![11], vec![-3i64], vec![3], None, vec![4], 1000usize),
        (
            vec![30, 17],
            vec![-7, 5],
            vec![4, 6],
            Some(vec![3..29, 1..16]),
            vec![5, 3],
            400,
        ),
        (
            vec![30, 17],
            vec![-7, 5],
            vec![4, 6],
            None,
            vec![7, 17],
            1 << 20,
        ),
        (vec![25], vec![-1], vec![5], Some(vec![2..24]), vec![3], 40),
    ] {
        let space = DeclaredSpace::new(&full, &origins, &chunk, view_sel.as_deref()).unwrap();
        let r = space.rechunker(8, &target, m).unwrap();
        let out = check(&r);
        for q in &out.requests {
            for (st, &cs) in space.to_storage(q).iter().zip(&chunk) {
                let cs = cs as i64;
                assert_eq!(
                    st.start.div_euclid(cs),
                    (st.end - 1).div_euclid(cs),
                    "{q:?} -> {st:?} spans storage chunks"
                );
            }
        }
        assert_eq!(
            space.calc_n_reads_rechunker(8, &target, m).unwrap(),
            (out.requests.len() as u64, out.yields.len() as u64)
        );
    }
}

/// Strategy: (shape, source chunk, target chunk, itemsize, budget, selection).
fn case() -> impl Strategy<Value = Rechunker> {
    (1usize..=3)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(0usize..=24, n),
                proptest::collection::vec(1usize..=9, n),
                proptest::collection::vec(1usize..=11, n),
                prop_oneof![Just(1usize), Just(2), Just(4), Just(8)],
                0.0f64..2.5,
                proptest::collection::vec((0.0f64..1.0, 0.0f64..1.0), n),
                any::<bool>(),
            )
        })
        .prop_map(|(shape, s, t, b, mem_frac, sel_frac, use_sel)| {
            let sel: Option<Vec<Range<usize>>> = use_sel.then(|| {
                shape
                    .iter()
                    .zip(&sel_frac)
                    .map(|(&len, &(a, c))| {
                        let x = (a * len as f64) as usize;
                        let y = (c * len as f64) as usize;
                        x.min(y)..x.max(y).max(x.min(y)).min(len)
                    })
                    .collect()
            });
            let extent: Vec<usize> = match &sel {
                Some(sel) => sel.iter().map(|r| r.end - r.start).collect(),
                None => shape.clone(),
            };
            let ideal = calc_ideal_read_chunk_shape_for(&s, &t, &extent);
            let ideal_mem = ideal.iter().product::<usize>() * b;
            // Budgets from one element to 2.5x the ideal block.
            let m = ((ideal_mem as f64 * mem_frac) as usize).max(b);
            Rechunker::new(&shape, b, &s, &t, m, sel.as_deref()).unwrap()
        })
}

fn calc_ideal_read_chunk_shape_for(s: &[usize], t: &[usize], extent: &[usize]) -> Vec<usize> {
    crate::calc_ideal_read_chunk_shape(s, t, Some(extent)).unwrap()
}

/// Random declared spaces (§4): origins of either sign, an optional view, any target.
fn declared_case() -> impl Strategy<Value = (DeclaredSpace, Rechunker)> {
    (1usize..=3)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(1usize..=20, n),
                proptest::collection::vec(-25i64..=25, n),
                proptest::collection::vec(1usize..=7, n),
                proptest::collection::vec(1usize..=9, n),
                proptest::collection::vec((0.0f64..1.0, 0.0f64..1.0), n),
                any::<bool>(),
                0.0f64..2.0,
            )
        })
        .prop_map(|(full, origins, chunk, target, fr, use_view, mem)| {
            let view: Option<Vec<Range<usize>>> = use_view.then(|| {
                full.iter()
                    .zip(&fr)
                    .map(|(&len, &(a, b))| {
                        let x = (a * len as f64) as usize;
                        let y = (b * len as f64) as usize;
                        x.min(y)..x.max(y)
                    })
                    .collect()
            });
            let space = DeclaredSpace::new(&full, &origins, &chunk, view.as_deref()).unwrap();
            let ideal: usize = chunk.iter().zip(&target).map(|(a, b)| a * b).product();
            let m = ((ideal * 8) as f64 * mem) as usize + 8;
            let r = space.rechunker(8, &target, m).unwrap();
            (space, r)
        })
}

/// `PROPTEST_CASES` overrides the default number of cases (for soak runs).
fn n_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(n_cases(600)))]

    #[test]
    fn executor_matches_direct_slicing(r in case()) {
        let plain = check(&r);
        // The batched path (Source::read_into into the bulk buffer) yields the same chunks
        // with the same reads and the same memory accounting.
        let batched = run_batched(&r, &arange(r.shape()));
        prop_assert_eq!(&batched.yields, &plain.yields);
        prop_assert_eq!(batched.mem, plain.mem);
        let mut a = batched.requests.clone();
        let mut b = plain.requests.clone();
        a.sort_by_key(|q| q.iter().map(|x| (x.start, x.end)).collect::<Vec<_>>());
        b.sort_by_key(|q| q.iter().map(|x| (x.start, x.end)).collect::<Vec<_>>());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn declared_space_reads_one_storage_chunk_each((space, r) in declared_case()) {
        let out = check(&r);
        // The declared selection holds the view (or the whole variable), shifted by d.
        for (sel, &d) in r.selection().iter().zip(space.offsets()) {
            prop_assert!(sel.start >= d);
        }
        for q in &out.requests {
            for (st, &cs) in space.to_storage(q).iter().zip(space.chunk_shape()) {
                let cs = cs as i64;
                prop_assert_eq!(st.start.div_euclid(cs), (st.end - 1).div_euclid(cs));
            }
        }
    }
}
