//! `cfdb plan`: what a rechunked read of a variable would cost (rechunkit's planner).

use std::path::Path;

use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult};

/// Python's default memory budget (2^29 bytes).
pub(crate) const DEFAULT_MAX_MEM: usize = 1 << 29;

fn parse_chunk(path: &Path, spec: &str) -> CliResult<(String, usize)> {
    let (dim, n) = spec
        .split_once('=')
        .ok_or_else(|| CliError::usage(path, format!("--chunk {spec:?}: expected DIM=N")))?;
    let n: usize = n.trim().parse().map_err(|_| {
        CliError::usage(
            path,
            format!("--chunk {spec:?}: N must be a positive integer"),
        )
    })?;
    if n == 0 {
        return Err(CliError::usage(
            path,
            format!("--chunk {spec:?}: N must be > 0"),
        ));
    }
    Ok((dim.trim().to_owned(), n))
}

/// Runs `cfdb plan`.
pub(crate) fn run(
    ctx: &Ctx,
    file: &Path,
    var: &str,
    chunks: &[String],
    max_mem: usize,
    json_out: bool,
) -> CliResult<i32> {
    let ds = ctx.open_ro(file)?;
    let v = ds
        .data_var(var)
        .map_err(|_| CliError::usage(file, format!("no data variable named {var:?}")))?;
    let mut target = v.shape();
    for spec in chunks {
        let (dim, n) = parse_chunk(file, spec)?;
        let d = v
            .coord_names()
            .iter()
            .position(|c| *c == dim)
            .ok_or_else(|| {
                CliError::usage(
                    file,
                    format!(
                        "{var:?} has no dimension {dim:?} (its dimensions: {})",
                        v.coord_names().join(", ")
                    ),
                )
            })?;
        target[d] = n;
    }
    let core = |e| CliError::core(file, e);
    let n_chunks = v.calc_n_chunks().map_err(core)?;
    let (n_reads, n_writes) = v.calc_n_reads_rechunker(&target, max_mem).map_err(core)?;
    let ideal = v.calc_ideal_read_chunk_shape(&target).map_err(core)?;
    let ideal_mem = v.calc_ideal_read_chunk_mem(&target).map_err(core)?;
    let source = v
        .calc_source_read_chunk_shape(&target, max_mem)
        .map_err(core)?;
    if json_out {
        let out = json!({
            "n_chunks": n_chunks as u64,
            "n_reads": n_reads,
            "n_writes": n_writes,
            "ideal_read_chunk_shape": ideal,
            "ideal_read_chunk_mem": ideal_mem as u64,
            "source_read_chunk_shape": source,
        });
        println!("{out}");
    } else {
        let dims = v.coord_names().join(", ");
        println!("variable            {var} ({dims})");
        println!("shape               {:?}", v.shape());
        println!(
            "storage chunks      {:?} ({n_chunks} chunks)",
            v.chunk_shape().map_err(core)?
        );
        println!("target chunks       {target:?} ({n_writes} chunks)");
        println!("memory budget       {max_mem} bytes");
        println!(
            "source reads        {n_reads} ({:.2} per storage chunk)",
            n_reads as f64 / (n_chunks.max(1) as f64)
        );
        println!("read chunk shape    {source:?}");
        println!("ideal read shape    {ideal:?} ({ideal_mem} bytes)");
    }
    Ok(0)
}
