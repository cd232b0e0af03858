//! cfdb's own benchmark suite (`../shared/spec/bench-spec.md`), one (tier, backend) per process.
//!
//! ```text
//! cfdb-bench --tier small|medium|large --backend cfdb-rs|zarrs|floor --data DIR --work DIR
//!            [--iterations N] [--only OP[,OP..]]
//! ```
//!
//! * `--data DIR` holds `{tier}_var.f32` and `{tier}_extra.f32`, the numpy data of bench-spec §2
//!   (written and SHA-256-checked by `xtask/python/bench_suite.py dump`);
//! * `--work DIR` is where the datasets are written (removed again at the end);
//! * `--only OP[,OP..]` runs only these ops (with the setup they need), for profiling; with
//!   `CFDB_BENCH_PERF_CTL=FIFO` and `perf record --control fifo:FIFO -D -1`, perf samples only
//!   the timed regions.
//!
//! The process runs the spec's op sequence (§4): write_full × n (new file each time), write_append
//! × n (untimed write_full, timed append), one untimed write_full, then read_full,
//! read_slice_aligned, read_slice_unaligned, iterate_chunks, iterate_rechunked and groupby_7day ×
//! n on it, then file_size. Each timed region is one call: open, the work, close, and the drop of
//! the output. It prints one JSON line per op to stdout:
//!
//! ```text
//! {"backend":"cfdb-rs","tier":"small","op":"read_full","wall_s":[..],"cpu_s":[..],"peak_heap_bytes":[..]}
//! {"backend":"cfdb-rs","tier":"small","op":"file_size","bytes":2531104}
//! ```
//!
//! `cpu_s` is the process CPU clock (all threads) over the region; `peak_heap_bytes` is the peak
//! of heap bytes in use during the region above what was in use when it started (a counting
//! global allocator around the system allocator). Every op's result is checked against the
//! source data (counts, a few values) and a mismatch fails the process.
//!
//! Backends: `cfdb-rs` (the `cfdb` crate, zstd_shuffle level 1, the Python default),
//! `zarrs` (the zarrs crate, plain zstd level 1, same chunking, with a filesystem store that does
//! not fsync, like zarr-python's), and `floor` (the unavoidable work of each op on 2 threads,
//! the cost model of bench-baseline §5). See the modules.

mod alloc;
mod cfdb_rs;
mod data;
mod floor;
mod zarrs_backend;

use std::path::{Path, PathBuf};
use std::time::Instant;

use data::{Data, Tier};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What an op returns for checking (its output itself is dropped inside the timed region).
#[derive(Debug, PartialEq)]
pub(crate) enum Check {
    /// A few values of the output.
    Values(Vec<f32>),
    /// A count (elements or groups).
    Count(usize),
}

/// One backend, op by op (bench-spec §5).
pub(crate) trait Backend {
    /// Creates a new dataset with all the data; returns its path.
    fn write_full(&mut self) -> Result<PathBuf>;
    /// Appends `extra` along time to the dataset at `path`.
    fn write_append(&mut self, path: &Path) -> Result<()>;
    /// Reads the whole variable; `[v[0,0,0], v[L/2,M/3,T/2], v[L-1,M-1,T-1]]`.
    fn read_full(&self, path: &Path) -> Result<Check>;
    /// Reads chunk (0,0,0); its first and last values.
    fn read_slice_aligned(&self, path: &Path) -> Result<Check>;
    /// Reads `[5:5+c0, 10:10+c1, 0:min(c2,T)]`; its first and last values.
    fn read_slice_unaligned(&self, path: &Path) -> Result<Check>;
    /// Visits every storage chunk; the element count.
    fn iterate_chunks(&self, path: &Path) -> Result<Check>;
    /// Visits (L, M, 7) blocks; the element count.
    fn iterate_rechunked(&self, path: &Path) -> Result<Check>;
    /// Visits (L, M, 7) blocks and takes each one's mean; the group count.
    fn groupby_7day(&self, path: &Path) -> Result<Check>;
    /// Bytes on disk, `None` when the backend has no dataset (the floor).
    fn file_size(&self, path: &Path) -> Result<Option<u64>>;
    /// Deletes a dataset.
    fn cleanup(&self, path: &Path) -> Result<()>;
}

/// Per-iteration measurements of one op.
#[derive(Default)]
struct Samples {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    heap: Vec<usize>,
}

/// `perf record --control fifo:CTL -D -1` support: with `CFDB_BENCH_PERF_CTL=CTL`, sampling is
/// enabled only inside the timed regions, so a profile shows exactly the timed work.
fn perf_ctl(cmd: &str) {
    if let Some(p) = std::env::var_os("CFDB_BENCH_PERF_CTL") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(p) {
            let _ = f.write_all(cmd.as_bytes());
        }
    }
}

/// Times one call: wall, process CPU and peak heap above the start.
fn measure<R>(s: &mut Samples, f: impl FnOnce() -> Result<R>) -> Result<R> {
    perf_ctl("enable\n");
    let base = alloc::reset_peak();
    let c0 = alloc::cpu_time();
    let t0 = Instant::now();
    let r = f()?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = alloc::cpu_time() - c0;
    perf_ctl("disable\n");
    s.wall.push(wall);
    s.cpu.push(cpu);
    s.heap.push(alloc::peak().saturating_sub(base));
    Ok(r)
}

/// The mean of float32 values, summed in 16 float32 lanes (vectorised; numpy sums float32
/// pairwise), for every backend's groupby.
pub(crate) fn mean_f32(v: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let mut it = v.chunks_exact(16);
    for c in it.by_ref() {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += *x;
        }
    }
    let tail: f32 = it.remainder().iter().sum();
    (acc.iter().sum::<f32>() + tail) / v.len().max(1) as f32
}

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

struct Emitter {
    backend: String,
    tier: &'static str,
}

impl Emitter {
    fn op(&self, op: &str, s: &Samples) {
        println!(
            "{{\"backend\":\"{}\",\"tier\":\"{}\",\"op\":\"{op}\",\"wall_s\":[{}],\"cpu_s\":[{}],\"peak_heap_bytes\":[{}]}}",
            self.backend,
            self.tier,
            list(&s.wall),
            list(&s.cpu),
            list(&s.heap)
        );
    }

    fn bytes(&self, op: &str, n: u64) {
        println!(
            "{{\"backend\":\"{}\",\"tier\":\"{}\",\"op\":\"{op}\",\"bytes\":{n}}}",
            self.backend, self.tier
        );
    }
}

/// The expected checks of the read ops, from the source data.
struct Expected {
    full: Check,
    aligned: Check,
    unaligned: Check,
    elements: Check,
    groups: Check,
}

fn expected(d: &Data) -> Expected {
    let [l, m, t] = d.tier.shape;
    let [c0, c1, c2] = d.tier.chunk;
    let t2 = c2.min(t);
    Expected {
        full: Check::Values(vec![
            d.at(0, 0, 0),
            d.at(l / 2, m / 3, t / 2),
            d.at(l - 1, m - 1, t - 1),
        ]),
        aligned: Check::Values(vec![d.at(0, 0, 0), d.at(c0 - 1, c1 - 1, c2 - 1)]),
        unaligned: Check::Values(vec![d.at(5, 10, 0), d.at(5 + c0 - 1, 10 + c1 - 1, t2 - 1)]),
        elements: Check::Count(l * m * t),
        groups: Check::Count(t.div_ceil(7)),
    }
}

fn check(op: &str, got: &Check, want: &Check) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{op}: got {got:?}, expected {want:?}").into())
    }
}

/// The op sequence of bench-spec §4 on one backend.
fn run(b: &mut dyn Backend, d: &Data, n: usize, only: Option<&str>, out: &Emitter) -> Result<()> {
    let log = |op: &str| eprintln!("[{} {}] {op}", out.backend, out.tier);
    let wanted = |op: &str| only.is_none_or(|o| o.split(',').any(|x| x == op));

    if wanted("write_full") {
        log("write_full");
        let mut s = Samples::default();
        let mut paths = Vec::new();
        for _ in 0..n {
            paths.push(measure(&mut s, || b.write_full())?);
        }
        for p in &paths {
            b.cleanup(p)?;
        }
        out.op("write_full", &s);
    }

    if wanted("write_append") {
        log("write_append");
        let mut s = Samples::default();
        for _ in 0..n {
            let p = b.write_full()?;
            measure(&mut s, || b.write_append(&p))?;
            b.cleanup(&p)?;
        }
        out.op("write_append", &s);
    }

    let fp = b.write_full()?;
    let want = expected(d);
    type Op<'a> = (&'a str, fn(&dyn Backend, &Path) -> Result<Check>, &'a Check);
    let ops: [Op; 6] = [
        ("read_full", |b, p| b.read_full(p), &want.full),
        (
            "read_slice_aligned",
            |b, p| b.read_slice_aligned(p),
            &want.aligned,
        ),
        (
            "read_slice_unaligned",
            |b, p| b.read_slice_unaligned(p),
            &want.unaligned,
        ),
        ("iterate_chunks", |b, p| b.iterate_chunks(p), &want.elements),
        (
            "iterate_rechunked",
            |b, p| b.iterate_rechunked(p),
            &want.elements,
        ),
        ("groupby_7day", |b, p| b.groupby_7day(p), &want.groups),
    ];
    for (name, f, want) in ops {
        if !wanted(name) {
            continue;
        }
        log(name);
        let mut s = Samples::default();
        for _ in 0..n {
            let got = measure(&mut s, || f(b, &fp))?;
            check(name, &got, want)?;
        }
        out.op(name, &s);
    }
    if wanted("file_size")
        && let Some(bytes) = b.file_size(&fp)?
    {
        out.bytes("file_size", bytes);
    }
    b.cleanup(&fp)?;
    Ok(())
}

const USAGE: &str = "usage: cfdb-bench --tier small|medium|large --backend cfdb-rs|zarrs|floor \
                     --data DIR --work DIR [--iterations N] [--only OP]";

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cfdb-bench: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut tier, mut backend, mut data, mut work, mut iterations, mut only) =
        (None, None, None, None, None, None);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--tier" => tier = Some(value()?),
            "--backend" => backend = Some(value()?),
            "--data" => data = Some(PathBuf::from(value()?)),
            "--work" => work = Some(PathBuf::from(value()?)),
            "--iterations" => iterations = Some(value()?.parse::<usize>()?),
            "--only" => only = Some(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}").into()),
        }
    }
    let (Some(tier), Some(backend), Some(data), Some(work)) = (tier, backend, data, work) else {
        return Err(USAGE.into());
    };
    let tier: Tier = Tier::by_name(&tier).ok_or_else(|| format!("unknown tier {tier:?}"))?;
    let n = iterations.unwrap_or(tier.iterations).max(1);
    let d = Data::load(tier, &data)?;
    std::fs::create_dir_all(&work)?;
    let out = Emitter {
        backend: backend.clone(),
        tier: tier.name,
    };
    eprintln!(
        "[{backend} {}] rayon threads {}, output buffers: fresh heap allocations per call \
         (glibc malloc, THP {})",
        tier.name,
        rayon::current_num_threads(),
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default()
            .trim()
    );
    match backend.as_str() {
        "cfdb-rs" => run(
            &mut cfdb_rs::CfdbRs::new(&d, &work),
            &d,
            n,
            only.as_deref(),
            &out,
        ),
        "zarrs" => run(
            &mut zarrs_backend::Zarrs::new(&d, &work),
            &d,
            n,
            only.as_deref(),
            &out,
        ),
        "floor" => run(
            &mut floor::Floor::new(&d, &work)?,
            &d,
            n,
            only.as_deref(),
            &out,
        ),
        other => Err(format!("unknown backend {other:?}\n{USAGE}").into()),
    }
}
