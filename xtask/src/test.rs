//! `cargo xtask test [--soak] [--no-fuzz]`: the project's test command (what CI runs).
//!
//! Steps, in order, stopping at the first failure (the error names the step):
//!
//! 1. `fmt`: `cargo fmt --all --check`
//! 2. `clippy`: `cargo clippy --workspace --all-targets -- -D warnings`
//! 3. `venv`: the pinned Python interop venv (see [`crate::venv`])
//! 4. `tests`: `cargo test --workspace` (unit, integration and doc tests) with
//!    `CFDB_INTEROP_PYTHON` set to the venv interpreter; `--soak` also exports
//!    `CFDB_CRASH_ITERS=2000` (the kv crash test's iteration count, default 200)
//! 5. `bench`: the benchmark suite's smoke check: builds `cfdb-bench` and runs the small tier
//!    once on every backend (cfdb-rs, Python cfdb, zarrs, floor), asserting no times (see
//!    [`crate::bench::smoke`])
//! 6. `fuzz`: `cargo xtask fuzz --smoke` with the default durations, unless `--no-fuzz`
//!
//! A timing summary is printed at the end (also after a failure).

use std::time::{Duration, Instant};

use crate::cmd::{Cmd, Error, Result};
use crate::{Args, bench, fuzz, repo_root, venv};

/// `cargo xtask test`.
pub(crate) fn cmd(mut args: Args) -> Result<()> {
    let soak = args.flag("--soak");
    let no_fuzz = args.flag("--no-fuzz");
    args.finish()?;

    let root = repo_root();
    let mut timings: Vec<(&str, Duration, bool)> = Vec::new();
    let mut python = None;

    let result = (|| -> Result<()> {
        step(&mut timings, "fmt", || {
            Cmd::cargo()
                .args(["fmt", "--all", "--check"])
                .cwd(&root)
                .run()
                .map_err(|e| e.context("formatting differs (fix with `cargo fmt --all`)"))
        })?;
        step(&mut timings, "clippy", || {
            Cmd::cargo()
                .args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
                .cwd(&root)
                .run()
        })?;
        step(&mut timings, "venv", || {
            python = Some(venv::ensure(None)?);
            Ok(())
        })?;
        step(&mut timings, "tests", || {
            let py = python
                .as_ref()
                .ok_or_else(|| Error::new("no interop python"))?;
            let mut c = Cmd::cargo()
                .args(["test", "--workspace"])
                .env("CFDB_INTEROP_PYTHON", py)
                .cwd(&root);
            if soak {
                c = c.env("CFDB_CRASH_ITERS", "2000").env("CFDB_SOAK", "1");
            }
            c.run()
        })?;
        step(&mut timings, "bench", || {
            let py = python
                .as_ref()
                .ok_or_else(|| Error::new("no interop python"))?;
            bench::smoke(py)
        })?;
        if !no_fuzz {
            step(&mut timings, "fuzz", || fuzz::smoke(None, None))?;
        }
        Ok(())
    })();

    eprintln!("\n== cargo xtask test: step timings");
    for (name, d, ok) in &timings {
        eprintln!(
            "  {name:<7} {:>8.1} s  {}",
            d.as_secs_f64(),
            if *ok { "ok" } else { "FAILED" }
        );
    }
    if no_fuzz {
        eprintln!("  fuzz    skipped (--no-fuzz)");
    }
    match result {
        Ok(()) => {
            eprintln!("all steps passed");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Runs one named step, recording its duration; a failure names the step.
fn step<'a>(
    timings: &mut Vec<(&'a str, Duration, bool)>,
    name: &'a str,
    f: impl FnOnce() -> Result<()>,
) -> Result<()> {
    eprintln!("\n== step `{name}`");
    let t = Instant::now();
    let r = f();
    timings.push((name, t.elapsed(), r.is_ok()));
    r.map_err(|e| e.context(format!("step `{name}` failed")))
}
