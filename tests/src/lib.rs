//! Shared helpers for the cross-crate tests in `tests/tests/`: where the golden data is, and how
//! to run the pinned Python interop environment (`target/interop-venv`, made by `cargo xtask test`).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `tests/data`: the golden files and their manifests.
pub fn data_dir() -> PathBuf {
    workspace_root().join("tests").join("data")
}

/// A golden file's path under `tests/data/<sub>/<name>`.
pub fn data_file(sub: &str, name: &str) -> PathBuf {
    data_dir().join(sub).join(name)
}

/// Parses `tests/data/<sub>/MANIFEST.json`.
pub fn manifest(sub: &str) -> serde_json::Value {
    let path = data_file(sub, "MANIFEST.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON in {}: {e}", path.display()))
}

/// The interpreter of the pinned interop venv.
///
/// `CFDB_INTEROP_PYTHON` wins; otherwise `target/interop-venv/bin/python`. Panics with an
/// instruction when neither exists: interop tests never silently skip.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CFDB_INTEROP_PYTHON") {
        return PathBuf::from(p);
    }
    let p = workspace_root().join("target/interop-venv/bin/python");
    assert!(
        p.exists(),
        "the Python interop venv is missing at {}; run `cargo xtask test` (it creates it) \
         or set CFDB_INTEROP_PYTHON",
        p.display()
    );
    p
}

/// `tests/python/<name>`: the Python side of the interop tests.
pub fn python_script(name: &str) -> PathBuf {
    workspace_root().join("tests").join("python").join(name)
}

/// Runs a script from `tests/python/` with the interop interpreter and returns its stdout.
/// Panics with the script's stderr when it exits non-zero.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(python_script(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start the interop python: {e}"));
    assert!(
        out.status.success(),
        "python {script} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Like [`run_python`], parsing stdout as one JSON document.
pub fn run_python_json(script: &str, args: &[&str]) -> serde_json::Value {
    let out = run_python(script, args);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("python {script} printed invalid JSON ({e}):\n{out}"))
}

/// Like [`run_python_json`], feeding `stdin` to the script.
pub fn run_python_stdin_json(script: &str, args: &[&str], stdin: &str) -> serde_json::Value {
    use std::io::Write;
    let mut child = Command::new(python())
        .arg(python_script(script))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the interop python: {e}"));
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin.as_bytes())
            .unwrap_or_else(|e| panic!("cannot write to python {script}: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("python {script} did not finish: {e}"));
    assert!(
        out.status.success(),
        "python {script} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("python {script} printed invalid JSON ({e}):\n{text}"))
}

pub mod crash;
pub mod values;
