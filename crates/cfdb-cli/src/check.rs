//! `cfdb check` (read-only verification) and `cfdb repair` (in-place recovery).

use std::path::Path;
use std::sync::Mutex;

use cfdb::Sel;
use cfdb::kv::{KvError, Reader};
use cfdb::models::SysMeta;
use rayon::prelude::*;

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, EXIT_FILE};
use crate::progress;

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// What `check` found.
struct Report<'p> {
    path: &'p Path,
    problems: Vec<String>,
}

impl Report<'_> {
    fn note(&self, what: &str, text: &str) {
        println!("{}: {what}: {text}", self.path.display());
    }

    fn problem(&mut self, text: impl Into<String>) {
        let t: String = text.into();
        let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("{}: PROBLEM: {t}", self.path.display());
        self.problems.push(t);
    }

    /// Prints the verdict; the exit code.
    fn finish(self, ok_text: &str) -> i32 {
        if self.problems.is_empty() {
            println!("{}: OK: {ok_text}", self.path.display());
            0
        } else {
            println!(
                "{}: DAMAGED: {} problem(s)",
                self.path.display(),
                self.problems.len()
            );
            eprintln!(
                "cfdb: {}: {} problem(s); first: {}",
                self.path.display(),
                self.problems.len(),
                self.problems[0]
            );
            EXIT_FILE
        }
    }
}

/// Strips a leading `path: ` from a message (the report lines already name the file).
fn strip_path(path: &Path, msg: &str) -> String {
    let p = format!("{}: ", path.display());
    msg.strip_prefix(&p).unwrap_or(msg).to_owned()
}

/// Checks the container: header, cleanliness, every item. Returns whether the metadata parsed.
fn check_container(r: &Reader, rep: &mut Report<'_>) -> bool {
    let path = rep.path;
    let info = r.info();
    rep.note(
        "container",
        &format!(
            "booklet version {}, {} buckets, {} keys, {} bytes",
            info.version,
            info.n_buckets,
            r.len(),
            file_size(path)
        ),
    );
    if !info.clean {
        rep.problem(
            "the file was not closed cleanly (a writer crashed or is still writing); \
             `cfdb repair` recovers it",
        );
    }
    let (mut n, mut bytes) = (0u64, 0u64);
    for item in r.items() {
        match item {
            Ok(i) => {
                n += 1;
                bytes += i.value.len() as u64;
            }
            Err(e) => {
                rep.problem(format!(
                    "item {} of the container: {}",
                    n + 1,
                    strip_path(path, &e.to_string())
                ));
                break;
            }
        }
    }
    rep.note("items", &format!("{n} readable, {bytes} value bytes"));
    match r.metadata() {
        Ok(Some(b)) => match SysMeta::from_json_bytes(b).and_then(|m| m.validate().map(|()| m)) {
            Ok(m) => {
                rep.note(
                    "metadata",
                    &format!(
                        "{}, {} level {}, {} variable(s)",
                        m.dataset_type.as_str(),
                        m.compression.as_str(),
                        m.compression_level,
                        m.variables.len()
                    ),
                );
                true
            }
            Err(e) => {
                rep.problem(format!("invalid cfdb metadata: {e}"));
                false
            }
        },
        Ok(None) => {
            rep.problem("no cfdb metadata (a booklet file, but not a cfdb dataset)");
            false
        }
        Err(e) => {
            rep.problem(format!("metadata: {}", strip_path(path, &e.to_string())));
            false
        }
    }
}

/// Runs `cfdb check`.
pub(crate) fn check(ctx: &Ctx, path: &Path) -> CliResult<i32> {
    let r = ctx.reader(path)?;
    let mut rep = Report {
        path,
        problems: Vec::new(),
    };
    let meta_ok = check_container(&r, &mut rep);
    drop(r);
    if !meta_ok {
        return Ok(rep.finish(""));
    }
    let ds = match ctx.open_ro(path) {
        Ok(ds) => ds,
        Err(e) => {
            rep.problem(strip_path(path, &e.msg));
            return Ok(rep.finish(""));
        }
    };
    if let Err(e) = ds.attrs() {
        rep.problem(strip_path(path, &e.to_string()));
    }
    let names: Vec<String> = ds.var_names().into_iter().map(str::to_owned).collect();
    let mut regions = Vec::new();
    for name in &names {
        if let Err(e) = ds.var_attrs(name) {
            rep.problem(strip_path(path, &e.to_string()));
        }
        if ds.coord_names().contains(&name.as_str()) {
            // Coordinates are read whole (and kept in memory by the dataset).
            if let Err(e) = ds.coord_values(name) {
                rep.problem(format!(
                    "coordinate {name:?}: {}",
                    strip_path(path, &e.to_string())
                ));
            }
            continue;
        }
        match ds.var(name).and_then(|v| v.chunk_regions()) {
            Ok(rs) => regions.extend(rs.into_iter().map(|r| (name.as_str(), r))),
            Err(e) => rep.problem(strip_path(path, &e.to_string())),
        }
    }
    let pb = progress::bar(regions.len() as u64, "checking", "chunks");
    let errors = Mutex::new(Vec::new());
    regions.par_iter().for_each(|(name, region)| {
        let res = ds
            .var(name)
            .and_then(|v| v.select(Sel::from(region.as_slice())))
            .and_then(|w| w.read_dyn());
        if let Err(e) = res {
            let at: Vec<String> = region
                .iter()
                .map(|r| format!("{}:{}", r.start, r.end))
                .collect();
            errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!(
                    "data variable {name:?}, cells [{}]: {}",
                    at.join(", "),
                    strip_path(path, &e.to_string())
                ));
        }
        pb.inc(1);
    });
    pb.finish_and_clear();
    let mut errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
    errors.sort();
    for e in errors {
        rep.problem(e);
    }
    let n_data = ds.data_var_names().len();
    let text = format!(
        "{} coordinate(s) and {n_data} data variable(s) read, {} chunk region(s) decoded",
        names.len() - n_data,
        regions.len()
    );
    Ok(rep.finish(&text))
}

/// The error of the first item that does not read, if any.
fn first_bad_item(r: &Reader) -> Option<String> {
    r.items().find_map(|i| i.err()).map(|e| e.to_string())
}

/// Runs `cfdb repair`.
pub(crate) fn repair(ctx: &Ctx, path: &Path) -> CliResult<i32> {
    let before = file_size(path);
    let mut reason = "the file was not closed cleanly";
    match ctx.reader_kv(path) {
        Ok(r) if r.info().clean => match first_bad_item(&r) {
            None => {
                println!(
                    "{}: closed cleanly and every item reads; nothing to repair ({} keys, {before} bytes)",
                    path.display(),
                    r.len()
                );
                return Ok(0);
            }
            // A file cut short after a clean close: the writable open's recovery judges it.
            Some(_) => reason = "items at the end of the file are unreadable (a torn tail)",
        },
        Ok(r) => drop(r),
        // Damage that a read-only open refuses is left to the recovery to judge; anything
        // else (a missing, locked or foreign file) cannot be repaired.
        Err(KvError::Corrupted { .. }) => reason = "the read-only open found damage",
        Err(e) => return Err(CliError::kv(path, e)),
    }
    let w = ctx.writer(path)?;
    let keys = w.len();
    w.close().map_err(|e| CliError::kv(path, e))?;
    let r = ctx.reader(path)?;
    if !r.info().clean {
        return Err(CliError::file(path, "still not clean after recovery"));
    }
    if let Some(e) = first_bad_item(&r) {
        return Err(CliError::file(
            path,
            format!("still damaged after recovery: {}", strip_path(path, &e)),
        ));
    }
    drop(r);
    // The dataset must open again.
    let ds = ctx.open_ro(path)?;
    let n_vars = ds.var_names().len();
    drop(ds);
    let after = file_size(path);
    let tail = if after < before {
        format!(", a torn tail of {} bytes dropped", before - after)
    } else {
        String::new()
    };
    println!(
        "{}: recovered: {reason}; index rebuilt with {keys} keys{tail}; \
         {n_vars} variable(s) readable; {before} -> {after} bytes",
        path.display()
    );
    Ok(0)
}
