//! `cargo xtask bench kv [--runs N]`: the kv workload on cfdb-kv and on Python booklet.
//!
//! - cfdb-kv: `cargo run --release -p cfdb-kv --example bench_kv -- <dir>` (built once first);
//! - Python: `xtask/python/bench_kv.py <dir>` with the interop venv interpreter.
//!
//! Both print one JSON line `{"set_sync_s": .., "get_s": .., "iter_s": ..}`; the workload is
//! defined in the docstring of `xtask/python/bench_kv.py` (100,000 `%08d` str keys, 1 KiB values
//! = a splitmix64 block XOR the index, n_buckets 12007; set + close, shuffled gets, iteration).
//! Runs alternate backends (cfdb-kv first), each in a fresh directory under
//! `target/bench-kv/`, and the table shows per-phase medians over the runs.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd::{Cmd, Error, Result};
use crate::{Args, repo_root, venv};

/// The three timed phases, in output order: (JSON field, table label).
const PHASES: &[(&str, &str)] = &[
    ("set_sync_s", "set 100k + sync/close"),
    ("get_s", "100k random gets"),
    ("iter_s", "iterate items"),
];

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
    let mut rust: Vec<[f64; 3]> = Vec::new();
    let mut py: Vec<[f64; 3]> = Vec::new();
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
    for (i, (_, label)) in PHASES.iter().enumerate() {
        let r = median(rust.iter().map(|x| x[i]).collect());
        let p = median(py.iter().map(|x| x[i]).collect());
        let ratio = if r > 0.0 {
            format!("{:.2}", p / r)
        } else {
            "n/a".to_owned()
        };
        println!("| {label} | {r:.4} | {p:.4} | {ratio} |");
    }
    Ok(())
}

fn fmt_row(r: &[f64; 3]) -> String {
    PHASES
        .iter()
        .zip(r)
        .map(|((k, _), v)| format!("{k}={v:.4}"))
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

/// Median of a non-empty list (mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Reads the three phase timings from the last line of `out` that looks like a JSON object.
///
/// A deliberately small parser for one flat object of numbers (`{"k": 1.5, ...}`): xtask has no
/// dependencies.
fn parse_phases(out: &str) -> Result<[f64; 3]> {
    let line = out
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('{') && l.ends_with('}'))
        .ok_or_else(|| Error::new(format!("no JSON line in output:\n{out}")))?;
    let mut res = [f64::NAN; 3];
    for (i, (key, _)) in PHASES.iter().enumerate() {
        res[i] = json_number(line, key).ok_or_else(|| {
            Error::new(format!("field {key:?} missing or not a number in {line}"))
        })?;
    }
    Ok(res)
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
        assert_eq!(parse_phases(out).unwrap(), [2.5, 0.37, 0.1]);
        assert!(parse_phases("{\"set_sync_s\": 1}").is_err());
        assert!(parse_phases("nothing").is_err());
    }

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
