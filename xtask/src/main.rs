//! Project automation for cfdb-rs, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! Commands (std only, no dependencies):
//!
//! - `test [--soak] [--no-fuzz]`: fmt check, clippy `-D warnings`, the interop venv, the whole
//!   test suite (doc tests included) with `CFDB_INTEROP_PYTHON` set, then the fuzz smoke run.
//!   `--soak` exports `CFDB_CRASH_ITERS=2000` for the kv crash test. See [`test`].
//! - `venv [--dir DIR]`: creates or refreshes the pinned Python interop venv. See [`venv`].
//! - `fuzz --smoke [--seconds N] [--target NAME]`: runs every cargo-fuzz target for a short
//!   time on stable Rust. See [`fuzz`].
//! - `bench kv [--runs N]`: cfdb-kv against Python booklet on the same workload. See [`bench`].
//! - `bench suite [--tier T] [--runs N] [--json PATH] [--no-idle-wait]`: cfdb's own benchmark
//!   suite on cfdb-rs, Python cfdb, zarrs and the floor probe. See [`bench::suite`].
//! - `golden --check` / `golden --out DIR`: regenerates the golden files with the Python
//!   packages and checks them against the manifests. See [`golden`].

mod bench;
mod cmd;
mod fuzz;
mod golden;
mod test;
mod venv;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cmd::{Error, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test [--soak] [--no-fuzz]        fmt + clippy + interop venv + all tests + fuzz smoke
  venv [--dir DIR]                 create/refresh the pinned Python interop venv
  fuzz --smoke [--seconds N] [--target NAME]
                                   run each fuzz target briefly (default 60 s kv, 30 s codec)
  bench kv [--runs N]              cfdb-kv vs Python booklet, medians over N runs (default 3)
  bench suite [--tier small|medium|large|all] [--runs N] [--json PATH] [--no-idle-wait]
                                   cfdb's benchmark suite: cfdb-rs, Python cfdb, zarrs and the
                                   floor probe, one process per (tier, backend, run)
  golden --check | --out DIR       regenerate the golden files with Python; --check compares
                                   them with tests/data/*/MANIFEST.json
";

/// The repository root (the directory holding the workspace `Cargo.toml`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Command-line arguments, consumed flag by flag.
pub(crate) struct Args {
    rest: Vec<String>,
}

impl Args {
    /// Removes `--name` if present.
    pub(crate) fn flag(&mut self, name: &str) -> bool {
        match self.rest.iter().position(|a| a == name) {
            Some(i) => {
                self.rest.remove(i);
                true
            }
            None => false,
        }
    }

    /// Removes `--name VALUE` (or `--name=VALUE`) if present.
    pub(crate) fn value(&mut self, name: &str) -> Result<Option<String>> {
        let eq = format!("{name}=");
        if let Some(i) = self.rest.iter().position(|a| a.starts_with(&eq)) {
            let a = self.rest.remove(i);
            return Ok(Some(a[eq.len()..].to_owned()));
        }
        match self.rest.iter().position(|a| a == name) {
            Some(i) if i + 1 < self.rest.len() => {
                self.rest.remove(i);
                Ok(Some(self.rest.remove(i)))
            }
            Some(_) => Err(Error::new(format!("{name} needs a value"))),
            None => Ok(None),
        }
    }

    /// Removes `--name N` as a positive integer.
    pub(crate) fn number(&mut self, name: &str) -> Result<Option<u64>> {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(Error::new(format!(
                    "{name} needs a positive integer, got {v:?}"
                ))),
            },
        }
    }

    /// Removes the next positional argument.
    pub(crate) fn positional(&mut self) -> Option<String> {
        let i = self.rest.iter().position(|a| !a.starts_with("--"))?;
        Some(self.rest.remove(i))
    }

    /// Errors on anything not consumed.
    pub(crate) fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::new(format!("unexpected arguments: {:?}", self.rest)))
        }
    }
}

fn run(mut args: Args) -> Result<()> {
    let Some(command) = args.positional() else {
        return Err(Error::new(format!("no command given\n\n{USAGE}")));
    };
    match command.as_str() {
        "test" => test::cmd(args),
        "venv" => venv::cmd(args),
        "fuzz" => fuzz::cmd(args),
        "bench" => bench::cmd(args),
        "golden" => golden::cmd(args),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(Error::new(format!("unknown command {other:?}\n\n{USAGE}"))),
    }
}

fn main() -> ExitCode {
    let args = Args {
        rest: std::env::args().skip(1).collect(),
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
