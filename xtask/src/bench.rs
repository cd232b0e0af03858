//! `cargo xtask bench kv [--runs N]`: the kv workload on cfdb-kv and on Python booklet.
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

/// `cargo xtask bench kv [--runs N]`.
pub(crate) fn cmd(mut args: Args) -> Result<()> {
    let runs = args.number("--runs")?.unwrap_or(3);
    let what = args.positional();
    args.finish()?;
    match what.as_deref() {
        Some("kv") => kv(runs),
        other => Err(Error::new(format!(
            "unknown benchmark {other:?}; available: `cargo xtask bench kv [--runs N]`"
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
    fn median_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
