//! `cfdb info`: a summary like Python's repr, or the metadata as JSON.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use cfdb::{DatasetType, ReadOnly};
use serde_json::{Map, Value};

use crate::ctx::{Ctx, stored_dtype};
use crate::error::{CliError, CliResult};
use crate::values::{datetime_unit, out_err, text_cell, tuple};

fn class_name(t: DatasetType) -> &'static str {
    match t {
        DatasetType::Grid => "Grid",
        DatasetType::TsOrtho => "TimeSeriesOrtho",
        DatasetType::TsForecast => "TimeSeriesForecast",
        DatasetType::GridForecast => "GridForecast",
    }
}

/// `key value` with the key padded to Python's repr column.
fn line(s: &mut String, key: &str, value: &str) {
    let _ = writeln!(s, "{key:<19} {value}");
}

fn attr_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn attr_lines(s: &mut String, indent: &str, attrs: &Map<String, Value>) {
    for (k, v) in attrs {
        line(s, &format!("{indent}{k}"), &attr_text(v));
    }
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 * 1e-6)
    } else if bytes >= 1_000 {
        format!("{:.1} kB", bytes as f64 * 1e-3)
    } else {
        format!("{bytes} B")
    }
}

/// Runs `cfdb info`.
pub(crate) fn run(ctx: &Ctx, path: &Path, json: bool) -> CliResult<i32> {
    let ds = ctx.open_ro(path)?;
    let meta = ctx.stored_metadata(path)?;
    let size = std::fs::metadata(path)
        .map_err(|e| CliError::io(path, &e))?
        .len();
    let core = |e| CliError::core(path, e);
    let text = if json {
        let mut var_attrs = Map::new();
        for name in ds.var_names() {
            var_attrs.insert(
                name.to_owned(),
                Value::Object(ds.var_attrs(name).map_err(core)?),
            );
        }
        let doc = serde_json::json!({
            "file": path.display().to_string(),
            "file_size": size,
            "metadata": meta,
            "attrs": ds.attrs().map_err(core)?,
            "variable_attrs": var_attrs,
        });
        let mut s = serde_json::to_string_pretty(&doc)
            .map_err(|e| CliError::file(path, format!("cannot format the metadata: {e}")))?;
        s.push('\n');
        s
    } else {
        summary(&ds, path, &meta, size)?
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(out_err)?;
    out.flush().map_err(out_err)?;
    Ok(0)
}

fn summary(
    ds: &cfdb::Dataset<ReadOnly>,
    path: &Path,
    meta: &Map<String, Value>,
    size: u64,
) -> CliResult<String> {
    let core = |e| CliError::core(path, e);
    let mut s = String::new();
    let _ = writeln!(s, "<cfdb.{}>", class_name(ds.dataset_type()));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    line(&mut s, "file name", &name);
    line(&mut s, "file size", &size_text(size));
    line(&mut s, "dataset type", ds.dataset_type().as_str());
    line(
        &mut s,
        "compression",
        &format!(
            "{} (level {})",
            ds.compression().as_str(),
            ds.compression_level()
        ),
    );
    line(&mut s, "crs", ds.crs().unwrap_or("None"));
    let _ = writeln!(s, "Coordinates:");
    for c in ds.coord_names() {
        let coord = ds.coord(c).map_err(core)?;
        let dt = ds.dtype(c).map_err(core)?;
        let n = coord.len();
        let ends = if n == 0 {
            String::new()
        } else {
            let v = coord.all_values().map_err(core)?;
            let u = datetime_unit(&dt);
            format!(" {} ... {}", text_cell(&v, 0, u), text_cell(&v, n - 1, u))
        };
        line(
            &mut s,
            &format!("    {c}"),
            &format!("({n}) {}{ends}", dt.name()),
        );
        let mut facts = vec![format!(
            "chunks {}",
            tuple(&ds.chunk_shape(c).map_err(core)?)
        )];
        if let Some(a) = coord.axis().map_err(core)? {
            facts.push(format!("axis {}", a.as_str()));
        }
        if let Some(st) = coord.step().map_err(core)? {
            facts.push(format!("step {st}"));
        }
        let origin = coord.origin().map_err(core)?;
        if origin != 0 {
            facts.push(format!("origin {origin}"));
        }
        line(&mut s, "", &facts.join(", "));
        line(&mut s, "", &format!("dtype {}", stored_dtype(meta, c)));
        attr_lines(&mut s, "        ", &ds.var_attrs(c).map_err(core)?);
    }
    let _ = writeln!(s, "Data Variables:");
    for d in ds.data_var_names() {
        let dt = ds.dtype(d).map_err(core)?;
        let dims = ds.var_coords(d).map_err(core)?;
        line(
            &mut s,
            &format!("    {d}"),
            &format!("({}) {}", dims.join(", "), dt.name()),
        );
        line(
            &mut s,
            "",
            &format!(
                "shape {}, chunks {}",
                tuple(&ds.var_shape(d).map_err(core)?),
                tuple(&ds.chunk_shape(d).map_err(core)?)
            ),
        );
        line(&mut s, "", &format!("dtype {}", stored_dtype(meta, d)));
        attr_lines(&mut s, "        ", &ds.var_attrs(d).map_err(core)?);
    }
    let _ = writeln!(s, "Attributes:");
    attr_lines(&mut s, "    ", &ds.attrs().map_err(core)?);
    Ok(s)
}
