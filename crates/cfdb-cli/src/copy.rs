//! `cfdb copy` and `cfdb prune`.

use std::path::{Path, PathBuf};

use cfdb::models::{DtypeForm, Variable};
use cfdb::{
    Axis, Compression, CoordSpec, Crs, DataVarSpec, Dataset, Element, OpenOptions, ReadOnly,
    ReadWrite, Sel, Step,
};
use ndarray::ArrayD;

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult};
use crate::progress;

/// The arguments of `cfdb copy`.
#[derive(Debug)]
pub(crate) struct CopyArgs {
    pub(crate) src: PathBuf,
    pub(crate) dst: PathBuf,
    pub(crate) include: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) compression: Option<String>,
    pub(crate) level: Option<i64>,
    pub(crate) force: bool,
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 * 1e-6)
}

/// Runs `cfdb copy`.
pub(crate) fn run(ctx: &Ctx, a: &CopyArgs) -> CliResult<i32> {
    let src = ctx.open_ro(&a.src)?;
    let data_vars_all = src.data_var_names();
    for (flag, names) in [("--include", &a.include), ("--exclude", &a.exclude)] {
        for n in names {
            if !data_vars_all.contains(&n.as_str()) {
                return Err(CliError::usage(
                    &a.src,
                    format!(
                        "{flag} {n}: no data variable named {n:?} (data variables: {})",
                        data_vars_all.join(", ")
                    ),
                ));
            }
        }
    }
    if a.dst.exists() {
        let same = match (a.src.canonicalize(), a.dst.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        };
        if same {
            return Err(CliError::usage(&a.dst, "is the source file itself"));
        }
        if !a.force {
            return Err(CliError::usage(
                &a.dst,
                "already exists (pass --force to replace it)",
            ));
        }
    }
    let compression = match &a.compression {
        Some(c) => c
            .parse::<Compression>()
            .map_err(|e| CliError::usage_plain(format!("--compression {c}: {e}")))?,
        None => src.compression(),
    };
    let level = a.level.unwrap_or(src.compression_level());
    let data_vars: Vec<&str> = data_vars_all
        .iter()
        .copied()
        .filter(|n| a.include.is_empty() || a.include.iter().any(|x| x == n))
        .filter(|n| !a.exclude.iter().any(|x| x == n))
        .collect();
    let before = file_size(&a.src);
    let recode = compression != src.compression() || level != src.compression_level();
    let n_coords = if recode {
        recode_copy(ctx, &src, &a.dst, &data_vars, compression, level)?
    } else {
        // `copy_to` opens DST without a lock timeout: wait for (or give up on) another
        // process's lock here first.
        if a.dst.exists()
            && let Err(e @ cfdb::kv::KvError::LockTimeout { .. }) = ctx.reader_kv(&a.dst)
        {
            return Err(CliError::kv(&a.dst, e));
        }
        let inc: Vec<&str> = a.include.iter().map(String::as_str).collect();
        let exc: Vec<&str> = a.exclude.iter().map(String::as_str).collect();
        let sp = progress::spinner(&format!(
            "copying {} data variable(s) as stored chunks",
            data_vars.len()
        ));
        let out = src
            .copy_to(
                &a.dst,
                (!inc.is_empty()).then_some(inc.as_slice()),
                (!exc.is_empty()).then_some(exc.as_slice()),
            )
            .map_err(|e| CliError::core(&a.dst, e))?;
        let n = out.coord_names().len();
        out.close().map_err(|e| CliError::core(&a.dst, e))?;
        sp.finish_and_clear();
        n
    };
    println!(
        "{} -> {}: {} data variable(s), {} coordinate(s), {} (level {}); {} -> {}",
        a.src.display(),
        a.dst.display(),
        data_vars.len(),
        n_coords,
        compression.as_str(),
        level,
        mb(before),
        mb(file_size(&a.dst))
    );
    Ok(0)
}

/// Whether every cell is the dtype's blank (what a never-written chunk reads as).
fn all_blank(data: &cfdb::ArrayData) -> bool {
    fn eq<T: Element + PartialEq>(a: &ArrayD<T>) -> bool {
        let b = T::blank();
        a.iter().all(|v| *v == b)
    }
    match data {
        cfdb::ArrayData::F32(a) => a.iter().all(|v| v.is_nan()),
        cfdb::ArrayData::F64(a) => a.iter().all(|v| v.is_nan()),
        other => cfdb::codec::with_array_data!(other, a => eq(a)),
    }
}

/// Copies into a new file with another compression: the structure through the dataset API,
/// the values chunk by chunk (decoded and encoded again). Returns the number of coordinates.
fn recode_copy(
    ctx: &Ctx,
    src: &Dataset<ReadOnly>,
    dst: &Path,
    data_vars: &[&str],
    compression: Compression,
    level: i64,
) -> CliResult<usize> {
    let sp_path = src.path().to_path_buf();
    let core_src = |e| CliError::core(&sp_path, e);
    let core_dst = |e| CliError::core(dst, e);
    let n_buckets = ctx.reader(src.path())?.info().n_buckets;
    let opts = OpenOptions::new()
        .dataset_type(src.dataset_type())
        .compression(compression)
        .compression_level(level)
        .n_buckets(n_buckets);
    let mut out: Dataset<ReadWrite> = ctx.create(dst, opts)?;
    let meta = src.sys_meta();
    let coords: Vec<&str> = src
        .coord_names()
        .into_iter()
        .filter(|c| {
            data_vars
                .iter()
                .any(|d| src.var_coords(d).is_ok_and(|cs| cs.iter().any(|x| x == c)))
        })
        .collect();
    for c in &coords {
        let Some(Variable::Coord(m)) = meta.variables.get(*c) else {
            continue;
        };
        let mut dtype = m.dtype.clone();
        dtype.form = DtypeForm::Compact;
        let mut spec = CoordSpec::new(dtype)
            .chunk_len(m.chunk_shape.first().copied().unwrap_or(1) as usize)
            .attrs(src.var_attrs(c).map_err(core_src)?);
        if let Some(ax) = m.axis {
            spec = spec.axis(ax);
        }
        if let Some(st) = m.step.as_ref().and_then(serde_json::Number::as_f64) {
            spec = spec.step(Step::Value(st));
        }
        if !m.is_empty() {
            spec = spec.data(src.coord_values(c).map_err(core_src)?.as_ref().clone());
        }
        out.create_coord(c, spec).map_err(core_dst)?;
        out.update_units(c, m.units.as_deref()).map_err(core_dst)?;
    }
    if let Some(crs) = src.crs() {
        let axis_of = |a: Axis| {
            coords
                .iter()
                .copied()
                .find(|c| src.coord(c).and_then(|c| c.axis()).ok().flatten() == Some(a))
        };
        match (axis_of(Axis::X), axis_of(Axis::Y), axis_of(Axis::Xy)) {
            (Some(x), Some(y), _) => out
                .set_crs(Crs::Text(crs.to_owned()), x, y)
                .map_err(core_dst)?,
            (_, _, Some(xy)) => out
                .set_crs_xy(Crs::Text(crs.to_owned()), xy)
                .map_err(core_dst)?,
            _ => eprintln!(
                "cfdb: {}: the CRS {crs:?} is not copied: no x/y coordinates are copied",
                dst.display()
            ),
        }
    }
    let mut total = 0u64;
    for d in data_vars {
        let Some(Variable::DataVar(m)) = meta.variables.get(*d) else {
            continue;
        };
        let mut dtype = m.dtype.clone();
        dtype.form = DtypeForm::Compact;
        let cs: Vec<usize> = m.chunk_shape.iter().map(|&c| c as usize).collect();
        let dims: Vec<&str> = m.coords.iter().map(String::as_str).collect();
        let spec = DataVarSpec::new(dtype)
            .chunk_shape(&cs)
            .attrs(src.var_attrs(d).map_err(core_src)?);
        out.create_data_var(d, &dims, spec).map_err(core_dst)?;
        out.update_units(d, m.units.as_deref()).map_err(core_dst)?;
        total += src
            .data_var(d)
            .and_then(|v| v.chunk_regions())
            .map_err(core_src)?
            .len() as u64;
    }
    let attrs = src.attrs().map_err(core_src)?;
    let out_attrs = out.attrs_mut().map_err(core_dst)?;
    for (k, v) in attrs {
        out_attrs.insert(k, v);
    }
    let pb = progress::bar(total, "copying", "chunks");
    for d in data_vars {
        let v = src.data_var(d).map_err(core_src)?;
        if v.is_empty() {
            continue;
        }
        for item in v.iter_chunks().map_err(core_src)? {
            let (region, data) = item.map_err(core_src)?;
            if !all_blank(&data) {
                out.write_dyn(d, Sel::from(region.as_slice()), &data)
                    .map_err(core_dst)?;
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    let n = out.coord_names().len();
    out.close().map_err(core_dst)?;
    Ok(n)
}

/// Runs `cfdb prune`.
pub(crate) fn prune(ctx: &Ctx, path: &Path) -> CliResult<i32> {
    let before = file_size(path);
    let mut ds = ctx.open_rw(path)?;
    let sp = progress::spinner("pruning");
    let removed = ds.prune(None).map_err(|e| CliError::core(path, e))?;
    ds.close().map_err(|e| CliError::core(path, e))?;
    sp.finish_and_clear();
    println!(
        "{}: removed {removed} stale value(s); {} -> {}",
        path.display(),
        mb(before),
        mb(file_size(path))
    );
    Ok(0)
}
