//! `cargo xtask fuzz --smoke [--seconds N] [--target NAME]`: a short libFuzzer run of every
//! target in `fuzz/` (its own cargo workspace, excluded from the root one).
//!
//! - Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) when `cargo fuzz` is missing.
//! - Runs `cargo fuzz run <target>` with `RUSTC_BOOTSTRAP=1`: cargo-fuzz passes nightly-only
//!   `-Z` flags (AddressSanitizer, sanitizer coverage), and that variable makes the stable
//!   toolchain accept them. Default durations: 60 s for `kv_open_iter`, 30 s for `codec_decode`.
//! - The corpus is `fuzz/corpus/<target>/` (git-ignored, kept between runs); `kv_open_iter` is
//!   also seeded with the golden booklet files up to 64 KiB.
//! - Honest result: a crash, a leak, an over-long input (`-timeout=20`), a build failure or a
//!   new file in `fuzz/artifacts/<target>/` makes the command fail.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd::{Cmd, Error, Result};
use crate::{Args, repo_root};

/// Every fuzz target with its default smoke duration in seconds.
pub(crate) const TARGETS: &[(&str, u64)] = &[("kv_open_iter", 60), ("codec_decode", 30)];

/// Golden files larger than this are not used as seeds (they would slow every iteration).
const MAX_SEED_BYTES: u64 = 64 * 1024;

/// `cargo xtask fuzz`.
pub(crate) fn cmd(mut args: Args) -> Result<()> {
    let smoke_flag = args.flag("--smoke");
    let seconds = args.number("--seconds")?;
    let target = args.value("--target")?;
    args.finish()?;
    if !smoke_flag {
        return Err(Error::new(
            "only `cargo xtask fuzz --smoke [--seconds N] [--target NAME]` exists; for long \
             runs use `RUSTC_BOOTSTRAP=1 cargo fuzz run <target>` directly",
        ));
    }
    smoke(seconds, target.as_deref())
}

/// Runs each target (or only `only`) for `seconds` (default: the per-target default).
pub(crate) fn smoke(seconds: Option<u64>, only: Option<&str>) -> Result<()> {
    let root = repo_root();
    let fuzz_dir = root.join("fuzz");
    let targets: Vec<(&str, u64)> = TARGETS
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o == *name))
        .map(|&(name, secs)| (name, seconds.unwrap_or(secs)))
        .collect();
    if targets.is_empty() {
        let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
        return Err(Error::new(format!(
            "unknown fuzz target {:?}; targets: {names:?}",
            only.unwrap_or("")
        )));
    }
    ensure_cargo_fuzz()?;
    for (name, secs) in targets {
        run_target(&root, &fuzz_dir, name, secs)
            .map_err(|e| e.context(format!("fuzz target `{name}`")))?;
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> Result<()> {
    if Cmd::cargo().args(["fuzz", "--version"]).quiet().succeeds() {
        return Ok(());
    }
    eprintln!("`cargo fuzz` is missing: installing cargo-fuzz from crates.io");
    Cmd::cargo()
        .args(["install", "cargo-fuzz", "--locked"])
        .run()
        .map_err(|e| e.context("installing cargo-fuzz"))?;
    if Cmd::cargo().args(["fuzz", "--version"]).succeeds() {
        Ok(())
    } else {
        Err(Error::new(
            "cargo-fuzz was installed but `cargo fuzz --version` still fails \
             (is ~/.cargo/bin on PATH?)",
        ))
    }
}

fn list(dir: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// Copies the small golden booklet files into a seed directory for `kv_open_iter`.
fn kv_seeds(root: &Path) -> Result<PathBuf> {
    let seeds = root.join("target").join("fuzz-seeds").join("kv_open_iter");
    fs::create_dir_all(&seeds)?;
    let src = root.join("tests").join("data").join("booklet");
    for entry in fs::read_dir(&src)? {
        let entry = entry?;
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if (ext == "blt" || ext == "cfdb") && entry.metadata()?.len() <= MAX_SEED_BYTES {
            fs::copy(&path, seeds.join(entry.file_name()))?;
        }
    }
    Ok(seeds)
}

fn run_target(root: &Path, fuzz_dir: &Path, name: &str, secs: u64) -> Result<()> {
    let src = fuzz_dir.join("fuzz_targets").join(format!("{name}.rs"));
    if !src.exists() {
        return Err(Error::new(format!("{} does not exist", src.display())));
    }
    let corpus = fuzz_dir.join("corpus").join(name);
    fs::create_dir_all(&corpus)?;
    let artifacts = fuzz_dir.join("artifacts").join(name);
    let before = list(&artifacts);

    let mut c = Cmd::cargo()
        .args(["fuzz", "run", "--fuzz-dir"])
        .arg(fuzz_dir)
        .arg(name)
        .arg(&corpus);
    if name == "kv_open_iter" {
        c = c.arg(kv_seeds(root)?);
    }
    let result = c
        .arg("--")
        .arg(format!("-max_total_time={secs}"))
        .args(["-timeout=20", "-print_final_stats=1"])
        .env("RUSTC_BOOTSTRAP", "1")
        .cwd(root)
        .run();

    let new: Vec<PathBuf> = list(&artifacts).difference(&before).cloned().collect();
    match (result, new.is_empty()) {
        (Ok(()), true) => {
            eprintln!("fuzz target `{name}`: {secs} s without a crash");
            Ok(())
        }
        (r, _) => {
            let mut msg = match r {
                Err(e) => e.to_string(),
                Ok(()) => "the run exited 0".to_owned(),
            };
            if !new.is_empty() {
                msg.push_str(
                    "; new crash artifacts (reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run",
                );
                msg.push_str(&format!(" {name} <artifact>`):"));
                for p in &new {
                    msg.push_str(&format!("\n  {}", p.display()));
                }
            }
            Err(Error::new(msg))
        }
    }
}
