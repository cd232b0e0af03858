//! The executor's own memory accounting ([`cfdb_rechunk::MemoryStats`]) against the real heap:
//! a counting global allocator measures the live heap bytes during a rechunk, and the peak must
//! stay within the accounted peak plus the yielded chunk in flight plus a small allowance for
//! bookkeeping (plan regions, parked-chunk keys). This catches hidden buffers the meter would
//! miss (e.g. a copy of the whole selection, or plan state growing with the array).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};

use cfdb_rechunk::Rechunker;
use ndarray::{ArrayD, IxDyn};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Tests in this file run one at a time (the counters are global).
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees carry over; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now =
                LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed) + layout.size() as isize;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs the rechunk over an `arange` source of `u64` (itemsize 8); returns (heap peak above the
/// starting level, the executor's accounted peak, one target chunk's bytes).
fn measure(r: &Rechunker) -> (isize, u128, u128) {
    let mut k = 0u64;
    let src = ArrayD::from_shape_simple_fn(IxDyn(r.shape()), || {
        k += 1;
        k
    });
    let predicted = r.simulate_memory();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut exec = r.execute(|region: &[Range<usize>]| {
        Ok::<_, std::convert::Infallible>(
            src.slice_each_axis(|ax| region[ax.axis.index()].clone().into())
                .to_owned(),
        )
    });
    let mut n = 0u64;
    for item in exec.by_ref() {
        let (_, data) = item.expect("yield");
        n += data.len() as u64;
    }
    let accounted = exec.memory();
    drop(exec);
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let selected: usize = r.extent().iter().product();
    assert_eq!(n as usize, selected);
    assert_eq!(accounted, predicted);
    let tgt = r.target_chunk_shape().iter().product::<usize>() as u128 * 8;
    (peak, accounted.peak_bytes, tgt)
}

/// (shape, source chunk, target chunk, max_mem, selection)
type Case<'a> = (
    &'a [usize],
    &'a [usize],
    &'a [usize],
    usize,
    Option<&'a [Range<usize>]>,
);

#[test]
fn heap_peak_matches_the_meter() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // (shape, source, target, max_mem, selection): ideal path, constrained bulk + batches,
    // batches only, a floor plan, a selection with phase, a wide array with parked rows. Chunks
    // hold 2-30 KiB: the bookkeeping per region (~100-150 bytes: plan regions, the batch's read
    // de-duplication) is then small next to the data, as with cfdb's chunk sizes.
    let cases: &[Case<'_>] = &[
        (&[480, 400], &[24, 80], &[60, 16], 8 << 20, None),
        (&[124, 124, 62], &[10, 8, 8], &[8, 10, 6], 600_000, None),
        (&[124, 124, 62], &[10, 8, 8], &[8, 10, 6], 60_000, None),
        (&[600, 600], &[50, 50], &[6, 600], 30_000, None),
        (
            &[400, 360],
            &[32, 24],
            &[20, 18],
            120_000,
            Some(&[7..390, 5..341]),
        ),
        (&[58, 8000], &[5, 80], &[1, 600], 600_000, None),
    ];
    for &(shape, s, t, m, sel) in cases {
        let r = Rechunker::new(shape, 8, s, t, m, sel).expect("plan");
        let (heap, accounted, tgt) = measure(&r);
        // The yielded chunk in flight and bookkeeping: 25% + 64 KiB.
        let allowance = (accounted + tgt) / 4 + (64 << 10);
        let array_bytes = shape.iter().product::<usize>() as u128 * 8;
        eprintln!(
            "{shape:?} {s:?} {t:?} M {m}: heap peak {heap}, accounted {accounted}, \
             whole array {array_bytes}"
        );
        assert!(
            heap as u128 <= accounted + tgt + allowance,
            "{shape:?}: heap peak {heap} > accounted {accounted} + {tgt} + {allowance}"
        );
        // And far below the array itself: nothing is held per array element.
        assert!(
            (heap as u128) < array_bytes / 2,
            "{shape:?}: {heap} vs {array_bytes}"
        );
    }
}
