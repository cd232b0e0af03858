//! The pinned Python interop environment (`target/interop-venv` by default).
//!
//! The pins live in `xtask/requirements-interop.txt` (every package, transitive ones included).
//! A stamp file `<venv>/xtask-stamp` records an FNV-1a hash of that file:
//!
//! - no venv (or no `bin/python` in it): `python3 -m venv`, `pip install -r`, write the stamp;
//! - a stamp that differs from the current requirements: delete the venv and recreate it;
//! - a venv without a stamp (made by hand): `pip install -r` into it (pip brings every pin to the
//!   exact version), then write the stamp;
//! - a matching stamp: nothing to do.
//!
//! The directory can be moved with `--dir DIR` or `CFDB_INTEROP_VENV=DIR` (used to test the
//! from-scratch path without touching the shared venv).

use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd::{Cmd, Error, Result};
use crate::{Args, repo_root};

/// Name of the stamp file inside the venv.
const STAMP: &str = "xtask-stamp";

/// `cargo xtask venv [--dir DIR]`.
pub(crate) fn cmd(mut args: Args) -> Result<()> {
    let dir = args.value("--dir")?.map(PathBuf::from);
    args.finish()?;
    let python = ensure(dir.as_deref())?;
    println!("{}", python.display());
    Ok(())
}

/// The requirements file with the exact pins.
pub(crate) fn requirements() -> PathBuf {
    repo_root().join("xtask").join("requirements-interop.txt")
}

/// The venv directory: `dir`, else `$CFDB_INTEROP_VENV`, else `target/interop-venv`.
pub(crate) fn venv_dir(dir: Option<&Path>) -> PathBuf {
    let d = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::var_os("CFDB_INTEROP_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target").join("interop-venv")),
    };
    if d.is_absolute() {
        d
    } else {
        std::env::current_dir().map(|c| c.join(&d)).unwrap_or(d)
    }
}

/// 64-bit FNV-1a: a stable content hash without dependencies.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Makes sure the venv exists and matches the pins; returns its interpreter.
pub(crate) fn ensure(dir: Option<&Path>) -> Result<PathBuf> {
    let dir = venv_dir(dir);
    let req = requirements();
    let req_text =
        fs::read(&req).map_err(|e| Error::new(format!("cannot read {}: {e}", req.display())))?;
    let want_stamp = format!(
        "requirements-interop.txt fnv1a64={:016x}\n",
        fnv1a64(&req_text)
    );
    let python = dir.join("bin").join("python");
    let stamp_path = dir.join(STAMP);

    if python.exists() {
        match fs::read_to_string(&stamp_path) {
            Ok(s) if s == want_stamp => {
                eprintln!("interop venv up to date: {}", dir.display());
                return Ok(python);
            }
            Ok(_) => {
                eprintln!(
                    "interop venv at {} was built from other requirements: recreating it",
                    dir.display()
                );
                fs::remove_dir_all(&dir)
                    .map_err(|e| Error::new(format!("cannot remove {}: {e}", dir.display())))?;
                create(&dir)?;
            }
            Err(_) => {
                eprintln!(
                    "interop venv at {} has no stamp: installing the pins into it",
                    dir.display()
                );
            }
        }
    } else {
        if dir.exists() {
            eprintln!("{} has no bin/python: recreating it", dir.display());
            fs::remove_dir_all(&dir)
                .map_err(|e| Error::new(format!("cannot remove {}: {e}", dir.display())))?;
        }
        create(&dir)?;
    }

    Cmd::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
        ])
        .arg("-r")
        .arg(&req)
        .env("PIP_NO_INPUT", "1")
        .run()
        .map_err(|e| e.context("pip install of the interop pins"))?;
    // The one import every interop test needs; fails loudly if the install is broken.
    Cmd::new(&python)
        .args([
            "-c",
            "import booklet, cfdb, rechunkit, cfdb_vars, cfdb_models, numpy; \
             print('interop venv ok: booklet', booklet.__version__)",
        ])
        .run()
        .map_err(|e| e.context("interop venv import check"))?;
    fs::write(&stamp_path, want_stamp)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", stamp_path.display())))?;
    Ok(python)
}

fn create(dir: &Path) -> Result<()> {
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)?;
    }
    let base = std::env::var_os("CFDB_PYTHON3").unwrap_or_else(|| "python3".into());
    Cmd::new(base)
        .args(["-m", "venv"])
        .arg(dir)
        .run()
        .map_err(|e| e.context("creating the interop venv (needs python3 with the venv module)"))
}
