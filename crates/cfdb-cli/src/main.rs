//! `cfdb`: the command-line tool of cfdb-rs.
//!
//! Inspect (`info`, `dump`), copy and maintain (`copy`, `prune`, `check`, `repair`) cfdb
//! datasets, and run the end-to-end `demo`. Errors are one line on stderr naming the file; the
//! exit code is 2 for usage errors (bad arguments, an unknown variable or dimension, an empty
//! region) and 1 for a bad, damaged, unclean or locked file.

// cfdb-core's errors carry the file, variable and chunk they are about (large, cold paths).
#![allow(clippy::result_large_err)]

mod check;
mod copy;
mod ctx;
mod demo;
mod dump;
mod error;
mod info;
mod plan;
mod progress;
mod values;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_FILE};

/// cfdb: CF-conventions N-d array datasets in one booklet file (compatible with Python
/// cfdb 0.11).
#[derive(Debug, Parser)]
#[command(name = "cfdb", version, about, propagate_version = true)]
struct Cli {
    /// Give up waiting for another process's lock on a file after SECONDS (default: wait).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse_seconds)]
    lock_timeout: Option<Duration>,

    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Print a summary of a dataset: type, compression, CRS, coordinates and data variables
    /// with shape, chunks, dtype and attributes.
    Info {
        /// The dataset file.
        file: PathBuf,
        /// Print the stored metadata and all attributes as JSON:
        /// {"file", "file_size", "metadata", "attrs", "variable_attrs"}.
        #[arg(long)]
        json: bool,
    },
    /// Print the values of variables, optionally limited to a positional region.
    Dump {
        /// The dataset file.
        file: PathBuf,
        /// Only this variable (repeatable).
        #[arg(long = "var", value_name = "NAME")]
        vars: Vec<String>,
        /// Limit dimension DIM to positions START:STOP, half-open as in Python slicing,
        /// clamped to the dimension; either end may be left out or negative; a single
        /// position I means I:I+1 (repeatable, like `ncks -d`).
        #[arg(long = "isel", value_name = "DIM=START:STOP")]
        isel: Vec<String>,
        /// One JSON object: {"dataset_type", "compression", "compression_level", "crs",
        /// "attrs", "variables"}; values streamed as nested lists.
        #[arg(long)]
        json: bool,
    },
    /// Copy a dataset (or some of its data variables) into a new file.
    Copy {
        /// The dataset to copy.
        src: PathBuf,
        /// The new file (must not exist unless --force).
        dst: PathBuf,
        /// Copy only this data variable (repeatable); coordinates follow the data variables.
        #[arg(long, value_name = "VAR")]
        include: Vec<String>,
        /// Leave out this data variable (repeatable).
        #[arg(long, value_name = "VAR")]
        exclude: Vec<String>,
        /// Compression of the new file (default: the source's).
        #[arg(long, value_parser = ["zstd", "lz4", "zstd_shuffle", "lz4_shuffle"])]
        compression: Option<String>,
        /// Compression level of the new file (default: the source's).
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        level: Option<i64>,
        /// Overwrite DST when it exists.
        #[arg(long)]
        force: bool,
    },
    /// Compact a dataset in place: drop overwritten and deleted values.
    Prune {
        /// The dataset file.
        file: PathBuf,
    },
    /// Verify a dataset read-only: the container, the metadata, the attributes and every
    /// chunk. Exits 1 when the file is damaged or was not closed cleanly.
    Check {
        /// The dataset file.
        file: PathBuf,
    },
    /// Recover a file that was not closed cleanly (a crashed writer), in place.
    Repair {
        /// The dataset file.
        file: PathBuf,
    },
    /// Print what a rechunked read of a variable would cost: chunk counts, source reads and
    /// read shapes, as Python cfdb's Rechunker computes them.
    Plan {
        /// The dataset file.
        file: PathBuf,
        /// The data variable.
        #[arg(long = "var", value_name = "NAME")]
        var: String,
        /// Target chunk length of dimension DIM (repeatable); other dimensions keep their full
        /// length.
        #[arg(long = "chunk", value_name = "DIM=N")]
        chunks: Vec<String>,
        /// Memory budget in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = plan::DEFAULT_MAX_MEM)]
        max_mem: usize,
        /// One JSON object: {"n_chunks", "n_reads", "n_writes", "ideal_read_chunk_shape",
        /// "ideal_read_chunk_mem", "source_read_chunk_shape"}.
        #[arg(long)]
        json: bool,
    },
    /// Build a realistic demo dataset (~200 MB raw: hourly air temperature and precipitation
    /// on a 0.1° grid), append a week, read a region by labels, iterate its storage chunks and
    /// a rechunked view, run a weekly groupby, and print a summary with timings.
    Demo {
        /// The dataset to write (replaced when it exists).
        #[arg(default_value = "demo.cfdb")]
        file: PathBuf,
        /// Scale the grid size (for quick runs; 1 is the full demo).
        #[arg(long, default_value_t = 1.0, hide = true)]
        scale: f64,
    },
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?} is not a non-negative number of seconds"));
    }
    Duration::try_from_secs_f64(v).map_err(|e| e.to_string())
}

fn run(cli: Cli) -> Result<i32, CliError> {
    let ctx = Ctx::new(cli.lock_timeout);
    match cli.command {
        Command::Info { file, json } => info::run(&ctx, &file, json),
        Command::Dump {
            file,
            vars,
            isel,
            json,
        } => dump::run(&ctx, &file, &vars, &isel, json),
        Command::Copy {
            src,
            dst,
            include,
            exclude,
            compression,
            level,
            force,
        } => copy::run(
            &ctx,
            &copy::CopyArgs {
                src,
                dst,
                include,
                exclude,
                compression,
                level,
                force,
            },
        ),
        Command::Prune { file } => copy::prune(&ctx, &file),
        Command::Check { file } => check::check(&ctx, &file),
        Command::Repair { file } => check::repair(&ctx, &file),
        Command::Plan {
            file,
            var,
            chunks,
            max_mem,
            json,
        } => plan::run(&ctx, &file, &var, &chunks, max_mem, json),
        Command::Demo { file, scale } => demo::run(&ctx, &file, scale),
    }
}

fn main() -> ExitCode {
    // A panic is a bug, never an answer to bad input: one line, no backtrace.
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        let at = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("cfdb: internal error: {payload}{at}");
        std::process::exit(EXIT_FILE);
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if !e.msg.is_empty() {
                eprintln!("cfdb: {e}");
            }
            e.code
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
