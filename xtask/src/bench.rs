//! `cargo xtask bench kv [--runs N]` and `cargo xtask bench suite [...]`.
//!
//! # `bench kv`
//!
//! The kv workload on cfdb-kv and on Python booklet.
//!
//! - cfdb-kv: `cargo run --release -p cfdb-kv --example bench_kv -- <dir>` (built once first);
//! - Python: `xtask/python/bench_kv.py <dir>` with the interop venv interpreter.
//!
//! Both print one JSON line `{"set_sync_s": .., "get_s": .., "iter_s": ..}`; the workload is
//! defined in the docstring of `xtask/python/bench_kv.py` (100,000 `%08d` str keys, 1 KiB values
//! = a splitmix64 block XOR the index, n_buckets 12007; set + close, shuffled gets, iteration).
//! cfdb-kv may print extra fields (`get_many_s`: the batch API), shown where present.
//! Runs alternate backends (cfdb-kv first), each in a fresh directory under
//! `target/bench-kv/`, and the table shows per-phase medians over the runs.
//!
//! # `bench suite`
//!
//! cfdb's own benchmark suite (`../shared/spec/bench-spec.md`) on four backends, see
//! [`suite`].

use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd::{Cmd, Error, Result};
use crate::{Args, repo_root, venv};

/// The timed phases, in table order: (JSON field, table label, required). Both sides must
/// print the required ones; an optional one (a cfdb-kv-only API) shows as `n/a` where absent.
const PHASES: &[(&str, &str, bool)] = &[
    ("set_sync_s", "set 100k + sync/close", true),
    ("get_s", "100k random gets", true),
    ("get_many_s", "100k random gets, batch `get_many`", false),
    ("iter_s", "iterate items", true),
];

/// One run's timings, indexed like [`PHASES`].
type Row = Vec<Option<f64>>;

/// `cargo xtask bench kv [--runs N]` | `cargo xtask bench suite [--tier T] [--runs N]
/// [--json PATH] [--no-idle-wait]`.
pub(crate) fn cmd(mut args: Args) -> Result<()> {
    let runs = args.number("--runs")?.unwrap_or(3);
    let what = args.positional();
    match what.as_deref() {
        Some("kv") => {
            args.finish()?;
            kv(runs)
        }
        Some("suite") => {
            let tiers = match args.value("--tier")?.as_deref() {
                None | Some("all") => TIERS.to_vec(),
                Some(t) => vec![
                    *TIERS
                        .iter()
                        .find(|x| **x == t)
                        .ok_or_else(|| Error::new(format!("unknown tier {t:?}")))?,
                ],
            };
            let json = args.value("--json")?.map(PathBuf::from);
            let idle_wait = !args.flag("--no-idle-wait");
            args.finish()?;
            suite(&SuiteOpts {
                tiers,
                runs,
                json,
                idle_wait,
                release: true,
                python: None,
            })
        }
        other => Err(Error::new(format!(
            "unknown benchmark {other:?}; available: `cargo xtask bench kv [--runs N]`, \
             `cargo xtask bench suite [--tier small|medium|large|all] [--runs N] [--json PATH] \
             [--no-idle-wait]`"
        ))),
    }
}

fn kv(runs: u64) -> Result<()> {
    let root = repo_root();
    let python = venv::ensure(None)?;
    let script = root.join("xtask").join("python").join("bench_kv.py");
    Cmd::cargo()
        .args([
            "build",
            "--release",
            "-p",
            "cfdb-kv",
            "--example",
            "bench_kv",
        ])
        .cwd(&root)
        .run()
        .map_err(|e| e.context("building the cfdb-kv bench_kv example"))?;

    let base = root.join("target").join("bench-kv");
    let mut rust: Vec<Row> = Vec::new();
    let mut py: Vec<Row> = Vec::new();
    for run in 1..=runs {
        let dir = fresh_dir(&base, &format!("run{run}-cfdb-kv"))?;
        let out = Cmd::cargo()
            .args([
                "run",
                "--quiet",
                "--release",
                "-p",
                "cfdb-kv",
                "--example",
                "bench_kv",
                "--",
            ])
            .arg(&dir)
            .cwd(&root)
            .output()
            .map_err(|e| e.context("cfdb-kv bench_kv"))?;
        let r = parse_phases(&out).map_err(|e| e.context("cfdb-kv bench_kv output"))?;
        eprintln!("run {run}/{runs} cfdb-kv: {}", fmt_row(&r));
        rust.push(r);
        fs::remove_dir_all(&dir)?;

        let dir = fresh_dir(&base, &format!("run{run}-python"))?;
        let out = Cmd::new(&python)
            .arg(&script)
            .arg(&dir)
            .output()
            .map_err(|e| e.context("Python bench_kv.py"))?;
        let p = parse_phases(&out).map_err(|e| e.context("bench_kv.py output"))?;
        eprintln!("run {run}/{runs} Python:  {}", fmt_row(&p));
        py.push(p);
        fs::remove_dir_all(&dir)?;
    }

    println!("\nkv workload, medians over {runs} run(s) (seconds):\n");
    println!("| phase | cfdb-kv median | Python median | Python/cfdb-kv |");
    println!("|---|---|---|---|");
    for (i, (_, label, _)) in PHASES.iter().enumerate() {
        let r = median(rust.iter().filter_map(|x| x[i]).collect());
        let p = median(py.iter().filter_map(|x| x[i]).collect());
        let ratio = match (r, p) {
            (Some(r), Some(p)) if r > 0.0 => format!("{:.2}", p / r),
            _ => "n/a".to_owned(),
        };
        println!("| {label} | {} | {} | {ratio} |", secs(r), secs(p));
    }
    Ok(())
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.4}"))
}

fn fmt_row(r: &Row) -> String {
    PHASES
        .iter()
        .zip(r)
        .filter_map(|((k, _, _), v)| v.map(|v| format!("{k}={v:.4}")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn fresh_dir(base: &Path, name: &str) -> Result<PathBuf> {
    let dir = base.join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Median (mean of the middle two for an even count); `None` for an empty list.
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// Reads the phase timings from the last line of `out` that looks like a JSON object.
///
/// A deliberately small parser for one flat object of numbers (`{"k": 1.5, ...}`): xtask has no
/// dependencies. A missing required field is an error.
fn parse_phases(out: &str) -> Result<Row> {
    let line = out
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('{') && l.ends_with('}'))
        .ok_or_else(|| Error::new(format!("no JSON line in output:\n{out}")))?;
    PHASES
        .iter()
        .map(|&(key, _, required)| match json_number(line, key) {
            None if required => Err(Error::new(format!(
                "field {key:?} missing or not a number in {line}"
            ))),
            v => Ok(v),
        })
        .collect()
}

fn json_number(obj: &str, key: &str) -> Option<f64> {
    let pat = format!("\"{key}\"");
    let after = &obj[obj.find(&pat)? + pat.len()..];
    let after = after.trim_start().strip_prefix(':')?.trim_start();
    let end = after
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(after.len());
    after[..end].parse().ok()
}

// ---------------------------------------------------------------------------------------------
// `cargo xtask bench suite`
// ---------------------------------------------------------------------------------------------

/// The tiers of bench-spec §1, in table order.
const TIERS: [&str; 3] = ["small", "medium", "large"];

/// The ops of bench-spec §5 in table order (file_size last, in bytes).
const OPS: [&str; 9] = [
    "write_full",
    "write_append",
    "read_full",
    "read_slice_aligned",
    "read_slice_unaligned",
    "iterate_chunks",
    "iterate_rechunked",
    "groupby_7day",
    "file_size",
];

/// The suite's backends: (name on the command line and in the processes' output, JSON key,
/// table label).
const BACKENDS: [(&str, &str, &str); 4] = [
    ("cfdb-rs", "cfdb_rs", "cfdb-rs"),
    ("python-cfdb", "python_cfdb", "Python"),
    ("zarrs", "zarrs", "zarrs"),
    ("floor", "floor", "floor"),
];

/// Raw bytes of the variable per tier (the read_full output size).
fn raw_bytes(tier: &str) -> f64 {
    match tier {
        "small" => 1_960_000.0,
        "medium" => 98_000_000.0,
        _ => 1_456_000_000.0,
    }
}

/// Options of [`suite`].
pub(crate) struct SuiteOpts {
    pub(crate) tiers: Vec<&'static str>,
    pub(crate) runs: u64,
    pub(crate) json: Option<PathBuf>,
    /// Wait for an idle CPU (>= 70 % idle over 2 s, at most 30 s) before each process.
    pub(crate) idle_wait: bool,
    /// Build and run cfdb-bench in release (else the dev profile: the smoke check).
    pub(crate) release: bool,
    /// The interop venv interpreter, when the caller already has it.
    pub(crate) python: Option<PathBuf>,
}

/// One op's samples from one process: wall, CPU, peak heap per iteration, or bytes.
#[derive(Clone, Debug, Default, PartialEq)]
struct OpSamples {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    heap: Vec<f64>,
    bytes: Option<f64>,
}

/// Pooled results: tier -> backend -> op -> samples (all runs).
type Pool = std::collections::BTreeMap<(usize, usize, usize), OpSamples>;

/// `cargo xtask bench suite`: cfdb's own benchmark suite (bench-spec) on cfdb-rs, Python cfdb
/// 0.11.0, zarrs and the floor probe.
///
/// 1. Builds `cfdb-bench` (release), makes sure of the interop venv, and has
///    `xtask/python/bench_suite.py dump` write the numpy data of each tier once into
///    `target/bench-suite/data/` (checked against the spec's SHA-256 sums).
/// 2. For each tier and run, one process per backend (`cfdb-bench --backend cfdb-rs|zarrs|floor`,
///    `bench_suite.py run` for Python), the starting backend rotating from run to run, each in a
///    fresh directory under `target/bench-suite/work/`, each started once the CPU is idle
///    (unless `--no-idle-wait`). Every process runs the spec's op sequence and prints one JSON
///    line per op.
/// 3. Pools the samples of all runs: median, min and max wall time, median CPU time, the
///    largest peak heap; prints one markdown table per tier (and a details table and the
///    goals of issue 7), and with `--json PATH` writes
///    `{"runs": N, "tiers": {T: {"ops": {OP: {"cfdb_rs": {"median_s", "min_s", "max_s",
///    "cpu_s", "peak_heap_bytes"}, "python_cfdb": {..}, "zarrs": {..}, "floor_s": F}}}}}`
///    (file_size: `{"bytes": B}` per backend, no floor).
pub(crate) fn suite(o: &SuiteOpts) -> Result<()> {
    let root = repo_root();
    let python = match &o.python {
        Some(p) => p.clone(),
        None => venv::ensure(None)?,
    };
    let script = root.join("xtask").join("python").join("bench_suite.py");
    let mut build = Cmd::cargo().args(["build", "-p", "cfdb-bench"]).cwd(&root);
    if o.release {
        build = build.arg("--release");
    }
    build.run().map_err(|e| e.context("building cfdb-bench"))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target
        .join(if o.release { "release" } else { "debug" })
        .join("cfdb-bench");
    let base = root.join("target").join("bench-suite");
    let data = base.join("data");
    fs::create_dir_all(&data)?;

    let mut pool = Pool::new();
    let mut busy_starts = 0;
    for (ti, tier) in TIERS.iter().enumerate() {
        if !o.tiers.contains(tier) {
            continue;
        }
        let have = ["var", "extra"]
            .iter()
            .all(|n| data.join(format!("{tier}_{n}.f32")).is_file());
        if !have {
            Cmd::new(&python)
                .arg(&script)
                .args(["dump", "--tier", tier, "--out"])
                .arg(&data)
                .output()
                .map_err(|e| e.context(format!("writing the {tier} data")))?;
        }
        for run in 0..o.runs {
            for k in 0..BACKENDS.len() {
                let bi = (k + run as usize) % BACKENDS.len();
                let (name, _, _) = BACKENDS[bi];
                if o.idle_wait && !wait_idle() {
                    busy_starts += 1;
                }
                let work = fresh_dir(&base.join("work"), &format!("{tier}-{name}-run{}", run + 1))?;
                let cmd = if name == "python-cfdb" {
                    Cmd::new(&python)
                        .arg(&script)
                        .args(["run", "--tier", tier, "--work"])
                        .arg(&work)
                } else {
                    Cmd::new(&bin)
                        .args(["--tier", tier, "--backend", name, "--data"])
                        .arg(&data)
                        .arg("--work")
                        .arg(&work)
                };
                let t = std::time::Instant::now();
                let out = cmd
                    .cwd(&root)
                    .output()
                    .map_err(|e| e.context(format!("{name} on the {tier} tier")))?;
                let parsed = parse_suite_output(&out)
                    .map_err(|e| e.context(format!("{name} {tier} output")))?;
                eprintln!(
                    "{tier} run {}/{} {name}: {} ops in {:.1} s",
                    run + 1,
                    o.runs,
                    parsed.len(),
                    t.elapsed().as_secs_f64()
                );
                for (op, s) in parsed {
                    let Some(oi) = OPS.iter().position(|x| *x == op) else {
                        return Err(Error::new(format!("{name} printed an unknown op {op:?}")));
                    };
                    let e = pool.entry((ti, bi, oi)).or_default();
                    e.wall.extend(s.wall);
                    e.cpu.extend(s.cpu);
                    e.heap.extend(s.heap);
                    if s.bytes.is_some() {
                        e.bytes = s.bytes;
                    }
                }
                fs::remove_dir_all(&work)?;
            }
        }
    }
    if busy_starts > 0 {
        eprintln!("note: {busy_starts} process(es) started without an idle CPU (waited 30 s)");
    }
    for (ti, tier) in TIERS.iter().enumerate() {
        if o.tiers.contains(tier) {
            print!("{}", tier_tables(&pool, ti, o.runs));
        }
    }
    if let Some(path) = &o.json {
        fs::write(path, suite_json(&pool, &o.tiers, o.runs))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Aggregates of one (tier, backend, op).
struct Agg {
    median: f64,
    min: f64,
    max: f64,
    cpu: f64,
    heap: Option<f64>,
}

fn agg(pool: &Pool, ti: usize, bi: usize, oi: usize) -> Option<Agg> {
    let s = pool.get(&(ti, bi, oi))?;
    let median_s = median(s.wall.clone())?;
    Some(Agg {
        median: median_s,
        min: s.wall.iter().copied().fold(f64::INFINITY, f64::min),
        max: s.wall.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        cpu: median(s.cpu.clone()).unwrap_or(f64::NAN),
        heap: s.heap.iter().copied().reduce(f64::max),
    })
}

fn bytes_of(pool: &Pool, ti: usize, bi: usize) -> Option<f64> {
    pool.get(&(ti, bi, OPS.len() - 1))?.bytes
}

/// A duration for the tables: µs, ms or s.
fn human(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn human_bytes(b: f64) -> String {
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

fn with_commas(n: f64) -> String {
    let s = format!("{n:.0}");
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}"))
}

/// The markdown tables of one tier: the columns, the details, and the goals.
fn tier_tables(pool: &Pool, ti: usize, runs: u64) -> String {
    use std::fmt::Write as _;
    let tier = TIERS[ti];
    let mut t = String::new();
    let med = |bi: usize, oi: usize| agg(pool, ti, bi, oi).map(|a| a.median);
    let _ = writeln!(
        t,
        "\n### {tier} (medians over {runs} run(s), pooled iterations)\n\n\
         | op | cfdb-rs median | Python median | zarrs median | floor | Python/cfdb-rs | \
         zarrs/cfdb-rs | cfdb-rs/floor |\n|---|---|---|---|---|---|---|---|"
    );
    for (oi, op) in OPS.iter().enumerate() {
        if *op == "file_size" {
            let b: Vec<Option<f64>> = (0..3).map(|bi| bytes_of(pool, ti, bi)).collect();
            let cell = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), with_commas);
            let _ = writeln!(
                t,
                "| file_size (bytes) | {} | {} | {} | | {} | {} | |",
                cell(b[0]),
                cell(b[1]),
                cell(b[2]),
                fmt_ratio(ratio(b[1], b[0])),
                fmt_ratio(ratio(b[2], b[0]))
            );
            continue;
        }
        let m: Vec<Option<f64>> = (0..4).map(|bi| med(bi, oi)).collect();
        let cell = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), human);
        let _ = writeln!(
            t,
            "| {op} | {} | {} | {} | {} | {} | {} | {} |",
            cell(m[0]),
            cell(m[1]),
            cell(m[2]),
            cell(m[3]),
            fmt_ratio(ratio(m[1], m[0])),
            fmt_ratio(ratio(m[2], m[0])),
            fmt_ratio(ratio(m[0], m[3]))
        );
    }
    let _ = writeln!(
        t,
        "\n{tier} details: wall min–max, median process CPU time (all threads) and the largest \
         peak heap of an iteration (above the heap in use when the op started; Python: \
         tracemalloc)\n\n\
         | op | cfdb-rs min–max | cfdb-rs CPU | cfdb-rs heap | Python min–max | Python CPU | \
         Python heap | zarrs min–max | zarrs CPU | zarrs heap | floor CPU |\n\
         |---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (oi, op) in OPS.iter().enumerate().take(OPS.len() - 1) {
        let mut row = format!("| {op} |");
        for bi in 0..3 {
            match agg(pool, ti, bi, oi) {
                Some(a) => {
                    let _ = write!(
                        row,
                        " {} – {} | {} | {} |",
                        human(a.min),
                        human(a.max),
                        human(a.cpu),
                        a.heap.map_or_else(|| "n/a".to_owned(), human_bytes)
                    );
                }
                None => row.push_str(" n/a | n/a | n/a |"),
            }
        }
        let floor_cpu = agg(pool, ti, 3, oi).map_or_else(|| "n/a".to_owned(), |a| human(a.cpu));
        let _ = writeln!(row, " {floor_cpu} |");
        t.push_str(&row);
    }
    t.push_str(&goals(pool, ti));
    t
}

/// The goals of issue 7 for one tier, met or missed.
fn goals(pool: &Pool, ti: usize) -> String {
    use std::fmt::Write as _;
    let tier = TIERS[ti];
    let mut t = format!("\n{tier} goals:\n\n");
    let med = |bi: usize, oi: usize| agg(pool, ti, bi, oi).map(|a| a.median);
    let limit = if tier == "small" { 3.0 } else { 1.5 };
    let mut line = |ok: Option<bool>, what: String| {
        let mark = match ok {
            Some(true) => "met",
            Some(false) => "**MISSED**",
            None => "n/a",
        };
        let _ = writeln!(t, "- {mark}: {what}");
    };
    for (oi, op) in OPS.iter().enumerate().take(OPS.len() - 1) {
        let r = ratio(med(0, oi), med(3, oi));
        line(
            r.map(|r| r <= limit),
            format!("{op}: cfdb-rs/floor {} <= {limit}", fmt_ratio(r)),
        );
    }
    for (oi, op) in OPS.iter().enumerate().take(OPS.len() - 1).skip(2) {
        let need = if matches!(*op, "iterate_rechunked" | "groupby_7day") {
            1.5
        } else {
            1.0
        };
        let r = ratio(med(2, oi), med(0, oi));
        let ok = r.map(|r| if need > 1.0 { r >= need } else { r > need });
        let cmp = if need > 1.0 { ">=" } else { ">" };
        line(
            ok,
            format!("{op}: zarrs/cfdb-rs {} {cmp} {need}", fmt_ratio(r)),
        );
    }
    let (rs, py) = (bytes_of(pool, ti, 0), bytes_of(pool, ti, 1));
    line(
        rs.zip(py).map(|(a, b)| a <= b),
        format!(
            "file_size: cfdb-rs {} <= Python {} bytes",
            rs.map_or_else(|| "n/a".to_owned(), with_commas),
            py.map_or_else(|| "n/a".to_owned(), with_commas)
        ),
    );
    let out = raw_bytes(tier);
    let heap = agg(pool, ti, 0, 2).and_then(|a| a.heap);
    line(
        heap.map(|h| h <= 1.1 * out),
        format!(
            "read_full peak heap {} <= 1.1 x output ({})",
            heap.map_or_else(|| "n/a".to_owned(), human_bytes),
            human_bytes(1.1 * out)
        ),
    );
    let heap = agg(pool, ti, 0, 6).and_then(|a| a.heap);
    line(
        heap.map(|h| h <= 2f64.powi(31)),
        format!(
            "iterate_rechunked peak heap {} <= max_mem 2 GiB",
            heap.map_or_else(|| "n/a".to_owned(), human_bytes)
        ),
    );
    t
}

/// The `--json` file.
fn suite_json(pool: &Pool, tiers: &[&str], runs: u64) -> String {
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v}")
        } else {
            "null".to_owned()
        }
    };
    let mut tier_parts = Vec::new();
    for (ti, tier) in TIERS.iter().enumerate() {
        if !tiers.contains(tier) {
            continue;
        }
        let mut op_parts = Vec::new();
        for (oi, op) in OPS.iter().enumerate() {
            let mut fields = Vec::new();
            for (bi, (_, key, _)) in BACKENDS.iter().enumerate().take(3) {
                if *op == "file_size" {
                    if let Some(b) = bytes_of(pool, ti, bi) {
                        fields.push(format!("\"{key}\": {{\"bytes\": {b:.0}}}"));
                    }
                } else if let Some(a) = agg(pool, ti, bi, oi) {
                    fields.push(format!(
                        "\"{key}\": {{\"median_s\": {}, \"min_s\": {}, \"max_s\": {}, \
                         \"cpu_s\": {}, \"peak_heap_bytes\": {}}}",
                        num(a.median),
                        num(a.min),
                        num(a.max),
                        num(a.cpu),
                        a.heap
                            .map_or_else(|| "null".to_owned(), |h| format!("{h:.0}"))
                    ));
                }
            }
            if *op != "file_size"
                && let Some(a) = agg(pool, ti, 3, oi)
            {
                fields.push(format!("\"floor_s\": {}", num(a.median)));
            }
            op_parts.push(format!("\"{op}\": {{{}}}", fields.join(", ")));
        }
        tier_parts.push(format!(
            "\"{tier}\": {{\"ops\": {{\n      {}\n    }}}}",
            op_parts.join(",\n      ")
        ));
    }
    format!(
        "{{\"runs\": {runs}, \"tiers\": {{\n    {}\n  }}}}\n",
        tier_parts.join(",\n    ")
    )
}

/// Reads /proc/stat's aggregate line: (idle + iowait, total) jiffies.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((idle, v.iter().sum()))
}

/// Waits until the CPU is at least 70 % idle over 2 s (bench-spec §6), at most 30 s;
/// false when it never was.
fn wait_idle() -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(30) {
        let Some((i0, t0)) = cpu_jiffies() else {
            return true;
        };
        std::thread::sleep(std::time::Duration::from_secs(2));
        let Some((i1, t1)) = cpu_jiffies() else {
            return true;
        };
        if t1 > t0 && (i1 - i0) as f64 >= 0.7 * (t1 - t0) as f64 {
            return true;
        }
    }
    false
}

/// The first string value of `"key"` in a flat JSON object.
fn json_string<'a>(obj: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\"");
    let after = &obj[obj.find(&pat)? + pat.len()..];
    let after = after.trim_start().strip_prefix(':')?.trim_start();
    let after = after.strip_prefix('"')?;
    Some(&after[..after.find('"')?])
}

/// The numbers of the array `"key": [..]` in a flat JSON object.
fn json_numbers(obj: &str, key: &str) -> Option<Vec<f64>> {
    let pat = format!("\"{key}\"");
    let after = &obj[obj.find(&pat)? + pat.len()..];
    let after = after.trim_start().strip_prefix(':')?.trim_start();
    let after = after.strip_prefix('[')?;
    let body = &after[..after.find(']')?];
    body.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().ok())
        .collect()
}

/// The per-op lines of a suite process (`{"op": .., "wall_s": [..], ..}` or `"bytes"`).
fn parse_suite_output(out: &str) -> Result<Vec<(String, OpSamples)>> {
    let mut v = Vec::new();
    for line in out.lines().map(str::trim) {
        if !(line.starts_with('{') && line.ends_with('}')) {
            continue;
        }
        let Some(op) = json_string(line, "op") else {
            continue;
        };
        let s = if let Some(b) = json_number(line, "bytes") {
            OpSamples {
                bytes: Some(b),
                ..OpSamples::default()
            }
        } else {
            let get = |k: &str| {
                json_numbers(line, k).ok_or_else(|| Error::new(format!("no {k:?} array in {line}")))
            };
            OpSamples {
                wall: get("wall_s")?,
                cpu: get("cpu_s")?,
                heap: get("peak_heap_bytes")?,
                bytes: None,
            }
        };
        v.push((op.to_owned(), s));
    }
    if v.is_empty() {
        return Err(Error::new(format!("no op lines in output:\n{out}")));
    }
    Ok(v)
}

/// The smoke check of `cargo xtask test`: the small tier once on every backend, dev build, no
/// idle wait, no time asserted (only that every process runs and checks its results).
pub(crate) fn smoke(python: &Path) -> Result<()> {
    suite(&SuiteOpts {
        tiers: vec!["small"],
        runs: 1,
        json: None,
        idle_wait: false,
        release: false,
        python: Some(python.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_bench_line() {
        let out = "noise\n{\"set_sync_s\": 2.5, \"get_s\":0.37,\"iter_s\": 1e-1}\n";
        assert_eq!(
            parse_phases(out).unwrap(),
            vec![Some(2.5), Some(0.37), None, Some(0.1)]
        );
        let out = "{\"set_sync_s\": 1, \"get_s\": 2, \"get_many_s\": 3, \"iter_s\": 4}";
        assert_eq!(
            parse_phases(out).unwrap(),
            vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)]
        );
        assert!(parse_phases("{\"set_sync_s\": 1}").is_err());
        assert!(parse_phases("nothing").is_err());
    }

    #[test]
    fn parses_suite_lines() {
        let out = "noise\n{\"backend\":\"cfdb-rs\",\"tier\":\"small\",\"op\":\"read_full\",\"wall_s\":[0.5,1e-3],\"cpu_s\":[1,2],\"peak_heap_bytes\":[10,20]}\n\
                   {\"backend\": \"python-cfdb\", \"op\": \"file_size\", \"bytes\": 2531104}\n";
        let v = parse_suite_output(out).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].0, "read_full");
        assert_eq!(v[0].1.wall, vec![0.5, 0.001]);
        assert_eq!(v[0].1.heap, vec![10.0, 20.0]);
        assert_eq!(v[1].1.bytes, Some(2531104.0));
        assert!(parse_suite_output("nothing").is_err());
        assert_eq!(json_numbers("{\"a\": []}", "a"), Some(Vec::new()));
    }

    #[test]
    fn formats() {
        assert_eq!(human(0.000_25), "250 µs");
        assert_eq!(human(0.0123), "12.3 ms");
        assert_eq!(human(4.9), "4.90 s");
        assert_eq!(with_commas(2531104.0), "2,531,104");
        assert_eq!(with_commas(999.0), "999");
    }

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
