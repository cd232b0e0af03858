//! `cargo xtask golden --check | --out DIR`: regenerates the golden data with the pinned Python
//! packages (interop venv).
//!
//! - `tests/data/booklet/generate.py OUTDIR [--check]`
//! - `tests/data/cfdb/generate.py OUTDIR [--check]`
//!
//! `--check` writes into `target/golden-check/{booklet,cfdb}` (emptied first) and has each
//! generator compare what it wrote with its `MANIFEST.json` (items, metadata, keys, decoded
//! values: everything but UUIDs and clock timestamps). `--out DIR` only writes the files, into
//! `DIR/booklet` and `DIR/cfdb`, for inspection or to refresh the committed ones by hand.

use std::fs;
use std::path::PathBuf;

use crate::cmd::{Cmd, Error, Result};
use crate::{Args, repo_root, venv};

/// The generators, by data subdirectory.
const SETS: &[&str] = &["booklet", "cfdb"];

/// `cargo xtask golden`.
pub(crate) fn cmd(mut args: Args) -> Result<()> {
    let check = args.flag("--check");
    let out = args.value("--out")?.map(PathBuf::from);
    args.finish()?;
    let root = repo_root();
    let (base, check) = match (check, out) {
        (true, None) => (root.join("target").join("golden-check"), true),
        (false, Some(dir)) => (dir, false),
        _ => {
            return Err(Error::new(
                "usage: cargo xtask golden --check | cargo xtask golden --out DIR",
            ));
        }
    };
    let python = venv::ensure(None)?;
    let mut failed = Vec::new();
    for set in SETS {
        let dir = base.join(set);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        let script = root
            .join("tests")
            .join("data")
            .join(set)
            .join("generate.py");
        let mut c = Cmd::new(&python).arg(&script).arg(&dir);
        if check {
            c = c.arg("--check");
        }
        // Run both generators even if the first fails, then report.
        if let Err(e) = c.run() {
            eprintln!("golden {set}: {e}");
            failed.push(*set);
        }
    }
    if failed.is_empty() {
        eprintln!(
            "golden data {} in {}",
            if check {
                "regenerated and matches the manifests"
            } else {
                "written"
            },
            base.display()
        );
        Ok(())
    } else {
        Err(Error::new(format!("golden generators failed: {failed:?}")))
    }
}
