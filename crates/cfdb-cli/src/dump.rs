//! `cfdb dump`: values as text or as the JSON dump contract, streamed.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::Path;

use cfdb::{Dataset, Index, ReadOnly, Sel};
use serde_json::Value;

use crate::ctx::{Ctx, stored_dtype};
use crate::error::{CliError, CliResult};
use crate::values::{JsonSink, TextSink, datetime_unit, out_err, tuple, walk};

/// One `--isel DIM=START:STOP` item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Isel {
    pub(crate) dim: String,
    pub(crate) index: Index,
}

fn parse_bound(s: &str) -> Option<Option<i64>> {
    let s = s.trim();
    if s.is_empty() {
        Some(None)
    } else {
        s.parse().ok().map(Some)
    }
}

/// Parses `DIM=START:STOP` (either end optional), or `DIM=I` for `I:I+1`.
pub(crate) fn parse_isel(spec: &str) -> CliResult<Isel> {
    let bad = || {
        CliError::usage_plain(format!(
            "--isel {spec:?}: expected DIM=START:STOP (e.g. time=0:10), DIM=START:, DIM=:STOP or DIM=INDEX"
        ))
    };
    let (dim, range) = spec.split_once('=').ok_or_else(bad)?;
    let dim = dim.trim();
    if dim.is_empty() {
        return Err(bad());
    }
    let index = match range.split_once(':') {
        Some((a, b)) => Index::Range(
            parse_bound(a).ok_or_else(bad)?,
            parse_bound(b).ok_or_else(bad)?,
        ),
        None => match parse_bound(range) {
            Some(Some(i)) => Index::At(i),
            _ => return Err(bad()),
        },
    };
    Ok(Isel {
        dim: dim.to_owned(),
        index,
    })
}

/// Resolves the `--isel` items against the dataset's coordinates: dimension name to absolute
/// range. Unknown dimensions, repeated dimensions and empty regions are usage errors.
fn resolve_isel(
    ds: &Dataset<ReadOnly>,
    path: &Path,
    specs: &[String],
) -> CliResult<HashMap<String, Range<usize>>> {
    let mut out = HashMap::new();
    for spec in specs {
        let Isel { dim, index } = parse_isel(spec)?;
        if !ds.coord_names().contains(&dim.as_str()) {
            return Err(CliError::usage(
                path,
                format!(
                    "--isel {spec}: no dimension named {dim:?} (dimensions: {})",
                    ds.coord_names().join(", ")
                ),
            ));
        }
        let len = ds
            .var_shape(&dim)
            .map_err(|e| CliError::core(path, e))?
            .first()
            .copied()
            .unwrap_or(0);
        let r = Sel::new(vec![index]).resolve(&[len]).map_err(|_| {
            let what = match index {
                Index::At(i) => format!("position {i} is out of range"),
                Index::Range(..) => "the region is empty".to_owned(),
            };
            CliError::usage(
                path,
                format!("--isel {spec}: {what} (dimension {dim:?} has length {len})"),
            )
        })?;
        if out.insert(dim.clone(), r[0].clone()).is_some() {
            return Err(CliError::usage(
                path,
                format!("--isel: dimension {dim:?} is given more than once"),
            ));
        }
    }
    Ok(out)
}

/// A variable to dump: its name, full shape and window.
struct Target {
    name: String,
    dims: Vec<String>,
    shape: Vec<usize>,
    window: Vec<Range<usize>>,
}

fn targets(
    ds: &Dataset<ReadOnly>,
    path: &Path,
    vars: &[String],
    isel: &HashMap<String, Range<usize>>,
) -> CliResult<Vec<Target>> {
    for v in vars {
        if !ds.contains(v) {
            return Err(CliError::usage(
                path,
                format!(
                    "--var {v}: no variable named {v:?} (variables: {})",
                    ds.var_names().join(", ")
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for name in ds.var_names() {
        if !vars.is_empty() && !vars.iter().any(|v| v == name) {
            continue;
        }
        let dims = ds.var_coords(name).map_err(|e| CliError::core(path, e))?;
        let shape = ds.var_shape(name).map_err(|e| CliError::core(path, e))?;
        let window = dims
            .iter()
            .zip(&shape)
            .map(|(d, &n)| isel.get(d).cloned().unwrap_or(0..n))
            .collect();
        out.push(Target {
            name: name.to_owned(),
            dims,
            shape,
            window,
        });
    }
    Ok(out)
}

/// Runs `cfdb dump`.
pub(crate) fn run(
    ctx: &Ctx,
    path: &Path,
    vars: &[String],
    isel: &[String],
    json: bool,
) -> CliResult<i32> {
    // Parse the --isel syntax before touching the file.
    for spec in isel {
        parse_isel(spec)?;
    }
    let ds = ctx.open_ro(path)?;
    let sel = resolve_isel(&ds, path, isel)?;
    let targets = targets(&ds, path, vars, &sel)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    if json {
        let meta = ctx.stored_metadata(path)?;
        dump_json(&ds, path, &meta, &targets, !isel.is_empty(), &mut out)?;
    } else {
        dump_text(&ds, path, &targets, !isel.is_empty(), &mut out)?;
    }
    out.flush().map_err(out_err)?;
    Ok(0)
}

fn json_value(out: &mut dyn Write, v: &impl serde::Serialize) -> CliResult<()> {
    serde_json::to_writer(&mut *out, v).map_err(|e| out_err(std::io::Error::from(e)))
}

fn dump_json(
    ds: &Dataset<ReadOnly>,
    path: &Path,
    meta: &serde_json::Map<String, Value>,
    targets: &[Target],
    with_selection: bool,
    out: &mut dyn Write,
) -> CliResult<()> {
    let attrs = ds.attrs().map_err(|e| CliError::core(path, e))?;
    let w = |out: &mut dyn Write, s: &str| out.write_all(s.as_bytes()).map_err(out_err);
    w(out, "{\"dataset_type\":")?;
    json_value(out, &ds.dataset_type().as_str())?;
    w(out, ",\"compression\":")?;
    json_value(out, &ds.compression().as_str())?;
    w(out, ",\"compression_level\":")?;
    json_value(out, &ds.compression_level())?;
    w(out, ",\"crs\":")?;
    json_value(out, &ds.crs())?;
    w(out, ",\"attrs\":")?;
    json_value(out, &attrs)?;
    w(out, ",\"variables\":{")?;
    for (i, t) in targets.iter().enumerate() {
        if i > 0 {
            w(out, ",")?;
        }
        let var = ds.var(&t.name).map_err(|e| CliError::core(path, e))?;
        let kind = if var.is_coord() { "coord" } else { "data_var" };
        let chunk = var.chunk_shape().map_err(|e| CliError::core(path, e))?;
        let vattrs = var.attrs().map_err(|e| CliError::core(path, e))?;
        let dt = var.dtype().map_err(|e| CliError::core(path, e))?;
        json_value(out, &t.name)?;
        w(out, ":{\"kind\":")?;
        json_value(out, &kind)?;
        w(out, ",\"dims\":")?;
        json_value(out, &t.dims)?;
        w(out, ",\"shape\":")?;
        json_value(out, &t.shape)?;
        w(out, ",\"chunk_shape\":")?;
        json_value(out, &chunk)?;
        w(out, ",\"dtype\":")?;
        json_value(out, &stored_dtype(meta, &t.name))?;
        w(out, ",\"attrs\":")?;
        json_value(out, &vattrs)?;
        if with_selection {
            w(out, ",\"selection\":")?;
            let pairs: Vec<[usize; 2]> = t.window.iter().map(|r| [r.start, r.end]).collect();
            json_value(out, &pairs)?;
        }
        w(out, ",\"values\":")?;
        let mut sink = JsonSink::new(out, t.dims.len(), datetime_unit(&dt));
        walk(ds, &t.name, &t.window, &mut sink)?;
        let lens: Vec<usize> = t.window.iter().map(|r| r.len()).collect();
        sink.finish(&lens).map_err(out_err)?;
        w(out, "}")?;
    }
    w(out, "}}\n")
}

fn dump_text(
    ds: &Dataset<ReadOnly>,
    path: &Path,
    targets: &[Target],
    with_selection: bool,
    out: &mut dyn Write,
) -> CliResult<()> {
    for (i, t) in targets.iter().enumerate() {
        let dt = ds.dtype(&t.name).map_err(|e| CliError::core(path, e))?;
        let sel = if with_selection {
            let parts: Vec<String> = t
                .window
                .iter()
                .map(|r| format!("{}:{}", r.start, r.end))
                .collect();
            format!(", selection [{}]", parts.join(", "))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{}{} ({}) {}, shape {}{sel}",
            if i > 0 { "\n" } else { "" },
            t.name,
            t.dims.join(", "),
            dt.name(),
            tuple(&t.shape)
        )
        .map_err(out_err)?;
        if t.window.iter().any(|r| r.is_empty()) {
            writeln!(out, "  (no values)").map_err(out_err)?;
            continue;
        }
        let mut sink = TextSink::new(out, datetime_unit(&dt), &t.window);
        walk(ds, &t.name, &t.window, &mut sink)?;
        sink.finish().map_err(out_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isel_syntax() {
        let p = |s| parse_isel(s).map(|i| (i.dim, i.index));
        assert_eq!(
            p("time=0:10").unwrap(),
            ("time".into(), Index::Range(Some(0), Some(10)))
        );
        assert_eq!(
            p("x=:3").unwrap(),
            ("x".into(), Index::Range(None, Some(3)))
        );
        assert_eq!(
            p("x=-2:").unwrap(),
            ("x".into(), Index::Range(Some(-2), None))
        );
        assert_eq!(p("x=4").unwrap(), ("x".into(), Index::At(4)));
        for bad in ["x", "=1:2", "x=a:b", "x=", "x=1:2:3"] {
            assert_eq!(p(bad).unwrap_err().code, 2, "{bad}");
        }
    }
}
