//! The reference vectors of `algorithms.md` §2 (produced with rechunkit 0.6.0), exactly.
#![allow(clippy::single_range_in_vec_init)] // regions of one dimension

use super::*;

struct Vector {
    shape: &'static [usize],
    b: usize,
    src: &'static [usize],
    tgt: &'static [usize],
    max_mem: usize,
    sel: Option<&'static [Range<usize>]>,
    ideal: &'static [usize],
    read: &'static [usize],
    reads: u64,
    writes: u64,
    simple: Option<u128>,
    /// (multi groups, bulk groups)
    kinds: (usize, usize),
}

const VECTORS: &[Vector] = &[
    Vector {
        shape: &[31, 31, 31],
        b: 4,
        src: &[5, 2, 4],
        tgt: &[4, 5, 3],
        max_mem: 2000,
        sel: None,
        ideal: &[20, 10, 12],
        read: &[5, 4, 4],
        reads: 2288,
        writes: 616,
        simple: Some(3952),
        kinds: (88, 0),
    },
    Vector {
        shape: &[31, 31, 31],
        b: 4,
        src: &[5, 2, 4],
        tgt: &[4, 5, 3],
        max_mem: 30000,
        sel: None,
        ideal: &[20, 10, 12],
        read: &[5, 4, 4],
        reads: 1782,
        writes: 616,
        simple: Some(3952),
        kinds: (24, 18),
    },
    Vector {
        shape: &[31, 31, 31],
        b: 4,
        src: &[5, 2, 4],
        tgt: &[4, 5, 3],
        max_mem: 30000,
        sel: Some(&[3..21, 11..27, 7..17]),
        ideal: &[20, 10, 12],
        read: &[5, 2, 4],
        reads: 219,
        writes: 80,
        simple: None,
        kinds: (3, 4),
    },
    Vector {
        shape: &[24, 80],
        b: 8,
        src: &[4, 10],
        tgt: &[9, 10],
        max_mem: 4096,
        sel: None,
        ideal: &[24, 10],
        read: &[8, 10],
        reads: 64,
        writes: 24,
        simple: Some(64),
        kinds: (4, 8),
    },
    Vector {
        shape: &[48, 24000],
        b: 8,
        src: &[4, 300],
        tgt: &[6, 300],
        max_mem: 1 << 19,
        sel: None,
        ideal: &[12, 300],
        read: &[4, 1200],
        reads: 1280,
        writes: 640,
        simple: Some(1280),
        kinds: (19, 0),
    },
    Vector {
        shape: &[40, 40],
        b: 1,
        src: &[8, 8],
        tgt: &[16, 2],
        max_mem: 300,
        sel: Some(&[7..39, 7..39]),
        ideal: &[16, 8],
        read: &[8, 8],
        reads: 42,
        writes: 32,
        simple: None,
        kinds: (5, 0),
    },
    Vector {
        shape: &[72, 73, 144],
        b: 8,
        src: &[10, 10, 10],
        tgt: &[1, 73, 144],
        max_mem: 1 << 19,
        sel: None,
        ideal: &[10, 80, 150],
        read: &[10, 70, 140],
        reads: 2040,
        writes: 72,
        simple: Some(8640),
        kinds: (12, 0),
    },
    Vector {
        shape: &[72, 73, 144],
        b: 8,
        src: &[10, 10, 10],
        tgt: &[1, 73, 144],
        max_mem: 1 << 20,
        sel: None,
        ideal: &[10, 80, 150],
        read: &[10, 80, 150],
        reads: 960,
        writes: 72,
        simple: Some(8640),
        kinds: (0, 8),
    },
    Vector {
        shape: &[100],
        b: 4,
        src: &[7],
        tgt: &[11],
        max_mem: 500,
        sel: Some(&[10..80]),
        ideal: &[70],
        read: &[70],
        reads: 11,
        writes: 7,
        simple: None,
        kinds: (0, 1),
    },
    Vector {
        shape: &[50],
        b: 4,
        src: &[7],
        tgt: &[11],
        max_mem: 50,
        sel: None,
        ideal: &[56],
        read: &[7],
        reads: 12,
        writes: 5,
        simple: Some(12),
        kinds: (5, 0),
    },
    Vector {
        shape: &[1000, 6400],
        b: 8,
        src: &[100, 640],
        tgt: &[1000, 24],
        max_mem: 1 << 22,
        sel: None,
        ideal: &[1000, 1920],
        read: &[1000, 640],
        reads: 240,
        writes: 267,
        simple: Some(2730),
        kinds: (15, 0),
    },
    Vector {
        shape: &[53, 11],
        b: 8,
        src: &[3, 8],
        tgt: &[6, 6],
        max_mem: 1024,
        sel: None,
        ideal: &[6, 16],
        read: &[6, 16],
        reads: 36,
        writes: 18,
        simple: Some(54),
        kinds: (0, 9),
    },
];

#[test]
fn reference_table() {
    for v in VECTORS {
        let label = format!(
            "shape {:?} b {} src {:?} tgt {:?} M {} sel {:?}",
            v.shape, v.b, v.src, v.tgt, v.max_mem, v.sel
        );
        let extent: Vec<usize> = match v.sel {
            Some(sel) => sel.iter().map(|r| r.end - r.start).collect(),
            None => v.shape.to_vec(),
        };
        let phase: Vec<usize> = match v.sel {
            Some(sel) => sel.iter().zip(v.src).map(|(r, s)| r.start % s).collect(),
            None => vec![0; v.shape.len()],
        };
        assert_eq!(
            calc_ideal_read_chunk_shape(v.src, v.tgt, Some(&extent)).unwrap(),
            v.ideal,
            "{label}"
        );
        assert_eq!(
            calc_source_read_chunk_shape(v.src, v.tgt, v.b, v.max_mem, Some(&extent), Some(&phase))
                .unwrap(),
            v.read,
            "{label}"
        );
        let spec = PlanSpec::new(v.shape, v.b, v.src, v.tgt, v.max_mem, v.sel).unwrap();
        let read: Vec<usize> = spec.read.iter().map(|&x| x as usize).collect();
        assert_eq!(read, v.read, "{label}");
        assert_eq!(
            calc_n_reads_rechunker(v.shape, v.b, v.src, v.tgt, v.max_mem, v.sel).unwrap(),
            (v.reads, v.writes),
            "{label}"
        );
        if let Some(simple) = v.simple {
            assert_eq!(
                calc_n_reads_simple(v.shape, v.src, v.tgt).unwrap(),
                simple,
                "{label}"
            );
        }
        let (mut multi, mut bulk) = (0, 0);
        for g in Plan::new(spec) {
            match g.kind {
                GroupKind::Multi => multi += 1,
                GroupKind::Bulk => bulk += 1,
            }
        }
        assert_eq!((multi, bulk), v.kinds, "{label}");
    }
}

#[test]
fn single_call_vectors() {
    assert_eq!(
        calc_source_read_chunk_shape(&[2, 2], &[3, 3], 8, 100, None, None).unwrap(),
        [4, 2]
    );
    assert_eq!(
        calc_source_read_chunk_shape(&[5, 16], &[14, 2], 8, 640, None, None).unwrap(),
        [10, 16]
    );
    let (s, t, sh) = ([100, 100, 100], [1, 721, 1440], [720, 721, 1440]);
    assert_eq!(
        calc_source_read_chunk_shape(&s, &t, 8, 1 << 29, Some(&sh), None).unwrap(),
        [100, 700, 1400]
    );
    assert_eq!(
        calc_n_reads_rechunker(&sh, 8, &s, &t, 1 << 29, None).unwrap(),
        (2280, 720)
    );
}

#[test]
fn ideal_examples() {
    assert_eq!(
        calc_ideal_read_chunk_shape(&[100, 100, 100], &[1, 721, 1440], None).unwrap(),
        [100, 72100, 7200]
    );
    assert_eq!(
        calc_ideal_read_chunk_shape(&[100, 100, 100], &[1, 721, 1440], Some(&[720, 721, 1440]))
            .unwrap(),
        [100, 800, 1500]
    );
    assert_eq!(
        calc_ideal_read_chunk_shape(&[5, 2, 4], &[4, 5, 3], Some(&[31, 31, 31])).unwrap(),
        [20, 10, 12]
    );
    // A zero extent keeps the LCM.
    assert_eq!(
        calc_ideal_read_chunk_shape(&[5, 2], &[4, 5], Some(&[0, 3])).unwrap(),
        [20, 4]
    );
    assert_eq!(calc_ideal_read_chunk_mem(&[20, 10, 12], 4).unwrap(), 9600);
    assert!(calc_ideal_read_chunk_mem(&[usize::MAX, usize::MAX, 2], 2).is_err());
}

#[test]
fn counts() {
    assert_eq!(calc_n_chunks(&[20, 20], &[5, 5]).unwrap(), 16);
    assert_eq!(calc_n_chunks(&[20, 20], &[7, 7]).unwrap(), 9);
    assert_eq!(calc_n_chunks(&[], &[]).unwrap(), 1);
    assert_eq!(calc_n_chunks(&[0, 3], &[2, 2]).unwrap(), 0);
    assert_eq!(calc_n_reads_simple(&[], &[], &[]).unwrap(), 1);
    assert_eq!(calc_n_reads_simple(&[0], &[3], &[2]).unwrap(), 0);
    assert!(matches!(
        calc_n_chunks(&[3], &[0]),
        Err(RechunkError::ZeroChunkDim { dim: 0, .. })
    ));
}

/// calc_n_reads_simple against the literal double loop of rechunkit.
#[test]
fn simple_reads_match_brute_force() {
    use crate::chunk_range;
    for (shape, s, t) in [
        (vec![31, 31], vec![5, 2], vec![4, 5]),
        (vec![17, 1, 9], vec![3, 1, 4], vec![2, 1, 9]),
        (vec![10], vec![10], vec![1]),
    ] {
        let mut n = 0u128;
        for w in chunk_range(None, &shape, &t, true, true).unwrap() {
            let a: Vec<usize> = w.iter().map(|r| r.start).collect();
            let b: Vec<usize> = w.iter().map(|r| r.end).collect();
            n += chunk_range(Some(&a), &b, &s, true, true).unwrap().count() as u128;
        }
        assert_eq!(calc_n_reads_simple(&shape, &s, &t).unwrap(), n);
    }
}

#[test]
fn errors() {
    assert!(matches!(
        calc_source_read_chunk_shape(&[2, 2], &[3], 8, 100, None, None),
        Err(RechunkError::DimMismatch { .. })
    ));
    assert!(matches!(
        calc_source_read_chunk_shape(&[2, 0], &[3, 3], 8, 100, None, None),
        Err(RechunkError::ZeroChunkDim { dim: 1, .. })
    ));
    assert_eq!(
        calc_source_read_chunk_shape(&[2], &[3], 0, 100, None, None),
        Err(RechunkError::ZeroItemsize)
    );
    assert!(matches!(
        calc_n_reads_rechunker(&[10, 10], 4, &[3, 3], &[5, 5], 500, Some(&[0..11, 0..10])),
        Err(RechunkError::SelectionOutOfBounds { dim: 0, .. })
    ));
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = [5..4, 0..10];
    assert!(matches!(
        calc_n_reads_rechunker(&[10, 10], 4, &[3, 3], &[5, 5], 500, Some(&reversed)),
        Err(RechunkError::SelectionOutOfBounds { dim: 0, .. })
    ));
    assert!(matches!(
        calc_n_reads_rechunker(&[10, 10], 4, &[3, 3], &[5, 5], 500, Some(&[0..1])),
        Err(RechunkError::DimMismatch { .. })
    ));
    assert!(matches!(
        calc_n_reads_rechunker(&[MAX_EXTENT + 1], 4, &[3], &[5], 500, None),
        Err(RechunkError::TooLarge { .. })
    ));
}

#[test]
fn empty_and_zero_dimensional() {
    // Empty selections and zero-length arrays: no reads, no writes.
    assert_eq!(
        calc_n_reads_rechunker(&[10, 10], 4, &[2, 2], &[3, 3], 1000, Some(&[5..5, 0..10])).unwrap(),
        (0, 0)
    );
    assert_eq!(
        calc_n_reads_rechunker(&[0], 4, &[2], &[3], 1000, None).unwrap(),
        (0, 0)
    );
    // A zero-dimensional array is one element, one read, one write.
    assert_eq!(
        calc_n_reads_rechunker(&[], 4, &[], &[], 1000, None).unwrap(),
        (1, 1)
    );
    assert_eq!(
        calc_n_reads_rechunker(&[], 4, &[], &[], 1, None).unwrap(),
        (1, 1)
    );
    assert_eq!(
        calc_source_read_chunk_shape(&[], &[], 8, 0, None, None).unwrap(),
        Vec::<usize>::new()
    );
}

#[test]
fn bulk_possible_shortcut_matches_full_scan() {
    // The periodic shortcut in bulk_possible against the literal loop over every target chunk.
    let full = |spec: &PlanSpec| {
        (0..spec.extent.len()).all(|d| {
            let (ts, t, s, p, r) = (
                spec.extent[d] as i128,
                spec.target[d] as i128,
                spec.source[d] as i128,
                spec.phase[d] as i128,
                spec.read[d] as i128,
            );
            let n = if ts == 0 { 0 } else { (ts + t - 1) / t };
            (0..n).any(|k| {
                let start = k * t;
                let stop = (start + t).min(ts);
                let aligned = s * ((start + p) / s) - p;
                stop - aligned <= r
            })
        })
    };
    let mut seed = 1u64;
    let mut rnd = |m: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % m
    };
    for _ in 0..20_000 {
        let s = (rnd(9) + 1) as u128;
        let t = (rnd(12) + 1) as u128;
        let ts = rnd(60) as u128;
        let p = rnd(s as u64) as u128;
        let r = s * (rnd(4) as u128 + 1);
        let spec = PlanSpec {
            extent: vec![ts],
            phase: vec![p],
            source: vec![s],
            target: vec![t],
            read: vec![r],
            ideal: vec![0],
            itemsize: 1,
            max_mem: 0,
        };
        assert_eq!(bulk_possible(&spec), full(&spec), "{spec:?}");
    }
}
