//! Layout-changing operations of a writable dataset: append, prepend, truncate, delete, CRS,
//! sync, close, prune and copy (`cfdb-format.md` §9–10).

use std::path::Path;

use cfdb_codec::{DataType, with_array_data};
use cfdb_models::{Axis, Variable};

use crate::coord::{StepValue, Vals};
use crate::dataset::{
    Access, ArrayDataArg, CoordSpec, Crs, DataVarSpec, Dataset, OpenMode, OpenOptions, ReadWrite,
};
use crate::error::{CoreError, Result};
use crate::grid::{chunk_key, starts_1d};
use crate::loc::Label;
use crate::select::Sel;

impl Dataset<ReadWrite> {
    fn coord_step(&self, name: &str) -> Result<Option<StepValue>> {
        let c = self.coord_meta(name)?;
        let dt = self.dtype(name)?;
        Ok(c.step.as_ref().and_then(|n| StepValue::from_number(n, &dt)))
    }

    fn extend_coord(&mut self, name: &str, data: ArrayDataArg, at_end: bool) -> Result<usize> {
        let dt = self.dtype(name)?;
        let kind = dt.element_kind();
        let mut data = crate::dataset::convert_kind(name, data.0, kind)?;
        if let DataType::Geometry { precision, .. } = dt {
            data = crate::dataset::format_geometries(name, data, precision)?;
        }
        if data.shape().len() != 1 {
            return Err(CoreError::InvalidCoordData {
                coord: name.to_owned(),
                reason: format!("coordinate data must be 1-D, got shape {:?}", data.shape()),
            });
        }
        let old_arr = self.coord_values(name)?;
        let old = Vals::from_array(name, &old_arr)?;
        let new = Vals::from_array(name, &data)?;
        let step = self.coord_step(name)?;
        let added = Vals::extend_values(name, &old, new, step, at_end)?;
        let n_added = added.len();
        let all = if at_end {
            Vals::concat(&old, &added)
        } else {
            Vals::concat(&added, &old)
        };
        let origin = self.coord_meta(name)?.origin.unwrap_or(0);
        let new_origin = if at_end {
            origin
        } else {
            origin - n_added as i64
        };
        let arr = all.to_array(name, kind)?;
        self.write_coord_values(name, &arr, new_origin)?;
        Ok(n_added)
    }

    /// Appends values to a coordinate (Python `coord.append`): sorted, all greater than the
    /// last value, unique; with a step, spaced by it, the gap to the current end filled.
    /// Data variables on the coordinate grow; their new cells read as blank, except where a
    /// [`truncate`](Self::truncate) left old values in a boundary chunk (Python shows those
    /// again too, `cfdb-format.md` §9.5). Returns how many values were added (gap fill
    /// included).
    pub fn append(&mut self, coord: &str, data: impl Into<ArrayDataArg>) -> Result<usize> {
        self.extend_coord(coord, data.into(), true)
    }

    /// Prepends values to a coordinate (Python `coord.prepend`): the mirror of
    /// [`append`](Self::append). The origin moves down; no existing chunk is rewritten except
    /// the coordinate's own.
    pub fn prepend(&mut self, coord: &str, data: impl Into<ArrayDataArg>) -> Result<usize> {
        self.extend_coord(coord, data.into(), false)
    }

    /// Keeps only the coordinate values within `start..=stop` (labels; `None` = open end)
    /// (Python `coord.truncate`). Chunks wholly outside the kept range are deleted, for the
    /// coordinate and for every data variable on it.
    pub fn truncate(
        &mut self,
        coord: &str,
        start: Option<Label>,
        stop: Option<Label>,
    ) -> Result<()> {
        let len = self.coord_meta(coord)?.len() as usize;
        let (a, b) = crate::loc::label_bounds(self, coord, start.as_ref(), stop.as_ref())?;
        if a == 0 && b == len {
            return Ok(());
        }
        if a >= b {
            return Err(CoreError::InvalidCoordData {
                coord: coord.to_owned(),
                reason: "truncating would remove every value".to_owned(),
            });
        }
        let c = self.coord_meta(coord)?.clone();
        let origin = c.origin.unwrap_or(0);
        let old_lo = origin;
        let old_hi = origin + len as i64;
        let new_lo = origin + a as i64;
        let new_hi = origin + b as i64;
        let values = self.coord_values(coord)?;
        let kept = with_array_data!(values.as_ref(), x => {
            cfdb_codec::Element::wrap(x.slice_each_axis(|_| ndarray::Slice::from(a..b)).to_owned())
        });
        // Delete whole chunks outside the kept range, for the coordinate and its users.
        let mut dead: Vec<String> = Vec::new();
        let cs = c.chunk_shape.first().copied().unwrap_or(1) as usize;
        for s in starts_1d(old_lo, old_hi, cs) {
            if s + cs as i64 <= new_lo || s >= new_hi {
                dead.push(chunk_key(coord, &[s]));
            }
        }
        let users: Vec<String> = self
            .meta
            .variables
            .iter()
            .filter_map(|(n, v)| {
                v.as_data_var()
                    .filter(|d| d.coords.iter().any(|x| x == coord))
                    .map(|_| n.clone())
            })
            .collect();
        for u in &users {
            let coords = self.var_coords(u)?;
            let shape = self.var_shape(u)?;
            let cshape = self.chunk_shape(u)?;
            let mut per_dim: Vec<Vec<(i64, bool)>> = Vec::new();
            for (d, cn) in coords.iter().enumerate() {
                let o = self.coord_meta(cn)?.origin.unwrap_or(0);
                let lo = o;
                let hi = o + shape[d] as i64;
                let csd = cshape[d];
                per_dim.push(
                    starts_1d(lo, hi, csd)
                        .map(|s| {
                            let outside = cn == coord && (s + csd as i64 <= new_lo || s >= new_hi);
                            (s, outside)
                        })
                        .collect(),
                );
            }
            for starts in cartesian(&per_dim) {
                if starts.iter().any(|(_, out)| *out) {
                    let s: Vec<i64> = starts.iter().map(|(s, _)| *s).collect();
                    dead.push(chunk_key(u, &s));
                }
            }
        }
        let w = self.writer_mut()?;
        for k in &dead {
            w.delete(k)?;
        }
        self.write_coord_values(coord, &kept, new_lo)?;
        Ok(())
    }

    /// Sets (or clears) a coordinate's step; the current values must be spaced by it.
    pub fn update_step(&mut self, coord: &str, step: Option<f64>) -> Result<()> {
        let dt = self.dtype(coord)?;
        let s = match step {
            None => None,
            Some(v) => {
                let s = StepValue::from_user(coord, v, &dt)?;
                let vals = Vals::from_array(coord, self.coord_values(coord)?.as_ref())?;
                vals.check_step(coord, s)?;
                Some(s)
            }
        };
        if let Some(Variable::Coord(c)) = self.meta.variables.get_mut(coord) {
            c.step = s.map(StepValue::to_number);
        }
        Ok(())
    }

    /// Deletes a variable: its chunks over the current extent, its attributes and its entry
    /// (Python `del ds[name]`). A coordinate still used by data variables is refused.
    pub fn delete(&mut self, name: &str) -> Result<()> {
        let v = self.variable(name)?.clone();
        if v.as_coord().is_some() {
            let users: Vec<String> = self
                .meta
                .variables
                .iter()
                .filter(|(_, x)| {
                    x.as_data_var()
                        .is_some_and(|d| d.coords.iter().any(|c| c == name))
                })
                .map(|(n, _)| n.clone())
                .collect();
            if !users.is_empty() {
                return Err(CoreError::CoordInUse {
                    coord: name.to_owned(),
                    users,
                });
            }
        }
        let shape = self.var_shape(name)?;
        let region: Vec<std::ops::Range<usize>> = shape.iter().map(|&n| 0..n).collect();
        let keys = if shape.contains(&0) {
            Vec::new()
        } else {
            let origins: Vec<i64> = self
                .var_coords(name)?
                .iter()
                .map(|c| Ok(self.coord_meta(c)?.origin.unwrap_or(0)))
                .collect::<Result<_>>()?;
            crate::io::region_keys(name, &region, &origins, &self.chunk_shape(name)?)
        };
        let attrs_key = format!("_{name}.attrs");
        let w = self.writer_mut()?;
        for k in &keys {
            w.delete(k)?;
        }
        w.delete(&attrs_key)?;
        self.forget_var(name);
        self.meta.variables.shift_remove(name);
        Ok(())
    }

    /// Sets the CRS and the x/y axes of two coordinates (Python
    /// `ds.create.crs.from_user_input(crs, x_coord, y_coord)`).
    pub fn set_crs(&mut self, crs: Crs, x_coord: &str, y_coord: &str) -> Result<()> {
        self.coord_meta(x_coord)?;
        self.coord_meta(y_coord)?;
        self.meta.crs = Some(crs.stored());
        for (n, a) in [(x_coord, Axis::X), (y_coord, Axis::Y)] {
            if let Some(Variable::Coord(c)) = self.meta.variables.get_mut(n) {
                c.axis = Some(a);
            }
        }
        Ok(())
    }

    /// Sets the CRS and the `xy` axis of a geometry coordinate (station datasets).
    pub fn set_crs_xy(&mut self, crs: Crs, xy_coord: &str) -> Result<()> {
        if !matches!(self.dtype(xy_coord)?, DataType::Geometry { .. }) {
            return Err(CoreError::Invalid(format!(
                "{xy_coord:?} is not a geometry coordinate"
            )));
        }
        self.meta.crs = Some(crs.stored());
        if let Some(Variable::Coord(c)) = self.meta.variables.get_mut(xy_coord) {
            c.axis = Some(Axis::Xy);
        }
        Ok(())
    }

    /// Writes changed attributes and metadata, then makes everything durable (fsync).
    pub fn sync(&mut self) -> Result<()> {
        self.flush_meta()?;
        self.writer_mut()?.sync()?;
        Ok(())
    }

    /// Syncs and closes, reporting errors (dropping also closes, printing errors instead).
    pub fn close(mut self) -> Result<()> {
        self.close_impl()
    }

    pub(crate) fn close_impl(&mut self) -> Result<()> {
        crate::dataset::close_store(self)
    }

    /// Compacts the file: drops overwritten and deleted values (and, with a cutoff in µs since
    /// the epoch, items older than it). Returns how many items were removed.
    pub fn prune(&mut self, older_than_us: Option<u64>) -> Result<u64> {
        self.flush_meta()?;
        Ok(self.writer_mut()?.prune(older_than_us, &[])?)
    }

    /// Creates a coordinate from a template (Python `ds.create.coord.<short>(data)`).
    ///
    /// The template sets the name, dtype, axis and attributes; the step is inferred.
    /// A datetime array replaces the template's datetime dtype, as in Python.
    pub fn create_coord_template(
        &mut self,
        template: crate::CoordTemplate,
        data: Option<ArrayDataArg>,
    ) -> Result<()> {
        // Datetime values keep the template's dtype: Rust datetimes carry no unit of their own,
        // they are ticks of the template's unit.
        let mut spec = Self::coord_template_spec(template).attrs(template.attrs());
        if let Some(d) = data {
            spec = spec.data(d);
        }
        self.create_coord(template.var_name(), spec)
    }

    /// Creates a coordinate from a template with a full [`CoordSpec`] override (dtype, chunk
    /// length, axis, step); the template's attributes are set unless the spec has its own.
    pub fn create_coord_template_with(
        &mut self,
        template: crate::CoordTemplate,
        mut spec: CoordSpec,
    ) -> Result<()> {
        if spec.attrs.is_empty() {
            spec.attrs = template.attrs();
        }
        self.create_coord(template.var_name(), spec)
    }

    /// A [`CoordSpec`] prefilled from a template (dtype, axis, inferred step).
    pub fn coord_template_spec(template: crate::CoordTemplate) -> CoordSpec {
        let mut spec = CoordSpec::new(template.dtype()).step(crate::Step::Infer);
        if let Some(a) = template.axis() {
            spec = spec.axis(a);
        }
        spec
    }

    /// Creates a data variable from a template (Python `ds.create.data_var.<short>(coords)`).
    pub fn create_data_var_template(
        &mut self,
        template: crate::DataVarTemplate,
        coords: &[&str],
        chunk_shape: Option<&[usize]>,
    ) -> Result<()> {
        let mut spec = DataVarSpec::new(template.dtype()).attrs(template.attrs());
        if let Some(cs) = chunk_shape {
            spec = spec.chunk_shape(cs);
        }
        self.create_data_var(template.var_name(), coords, spec)
    }

    /// Creates a coordinate like another one of this dataset (Python `create.coord.like`):
    /// same dtype, chunk length and step, optionally the same values; no axis (axes are
    /// unique within a dataset).
    pub fn create_coord_like(&mut self, name: &str, other: &str, copy_data: bool) -> Result<()> {
        let c = self.coord_meta(other)?.clone();
        let dt = self.dtype(other)?;
        let mut spec = CoordSpec::new(c.dtype.clone())
            .chunk_len(c.chunk_shape.first().copied().unwrap_or(1) as usize);
        if let Some(s) = c.step.as_ref().and_then(|n| StepValue::from_number(n, &dt)) {
            spec = spec.step(crate::Step::Value(match s {
                StepValue::F(v) => v,
                StepValue::I(v) => v as f64,
            }));
        }
        if copy_data && !c.is_empty() {
            spec = spec.data(self.coord_values(other)?.as_ref().clone());
        }
        self.create_coord(name, spec)
    }

    /// Creates a data variable like another (Python `create.data_var.like`): same coordinates,
    /// dtype and chunk shape.
    pub fn create_data_var_like(&mut self, name: &str, other: &str) -> Result<()> {
        let d = self
            .variable(other)?
            .as_data_var()
            .ok_or_else(|| CoreError::NotFound {
                kind: "data variable",
                name: other.to_owned(),
            })?
            .clone();
        let coords: Vec<&str> = d.coords.iter().map(String::as_str).collect();
        let cs: Vec<usize> = d.chunk_shape.iter().map(|&c| c as usize).collect();
        self.create_data_var(
            name,
            &coords,
            DataVarSpec::new(d.dtype.clone()).chunk_shape(&cs),
        )
    }

    /// Writes through a label selection (Python `var.loc[...] = data`).
    pub fn write_loc<T: cfdb_codec::Element>(
        &mut self,
        name: &str,
        loc: &crate::LocSel,
        data: ndarray::ArrayViewD<'_, T>,
    ) -> Result<()> {
        let region = crate::loc::resolve_loc(self, name, loc)?;
        self.write_region(name, &region, data)
    }
}

fn cartesian(per_dim: &[Vec<(i64, bool)>]) -> Vec<Vec<(i64, bool)>> {
    let mut out: Vec<Vec<(i64, bool)>> = vec![Vec::new()];
    for dim in per_dim {
        let mut next = Vec::with_capacity(out.len() * dim.len());
        for prefix in &out {
            for x in dim {
                let mut p = prefix.clone();
                p.push(*x);
                next.push(p);
            }
        }
        out = next;
    }
    out
}

impl<A: Access> Dataset<A> {
    /// Copies the dataset (or a subset of its data variables) into a new file (Python
    /// `ds.copy`): the coordinates the chosen data variables use (values, dtype, chunk length,
    /// step, axis, attributes; origins restart at 0), the CRS, the data variables with their
    /// attributes, and the dataset attributes. When every origin is 0, chunks are copied as
    /// stored bytes; otherwise values are re-written.
    pub fn copy_to(
        &self,
        path: impl AsRef<Path>,
        include: Option<&[&str]>,
        exclude: Option<&[&str]>,
    ) -> Result<Dataset<ReadWrite>> {
        let data_vars: Vec<String> = self
            .data_var_names()
            .into_iter()
            .filter(|n| include.is_none_or(|inc| inc.contains(n)))
            .filter(|n| !exclude.is_some_and(|exc| exc.contains(n)))
            .map(str::to_owned)
            .collect();
        if let Some(inc) = include {
            for n in inc {
                if self.variable(n)?.as_data_var().is_none() {
                    return Err(CoreError::NotFound {
                        kind: "data variable",
                        name: (*n).to_owned(),
                    });
                }
            }
        }
        let mut coords: Vec<String> = Vec::new();
        for n in self.coord_names() {
            let used = data_vars
                .iter()
                .any(|d| self.var_coords(d).is_ok_and(|c| c.iter().any(|x| x == n)));
            if used {
                coords.push(n.to_owned());
            }
        }
        let info = self.store()?;
        let n_buckets = match info {
            crate::io::Store::Read(r) => r.info().n_buckets,
            crate::io::Store::Write(w) => w.info().n_buckets,
        };
        let mut out = OpenOptions::new()
            .dataset_type(self.meta.dataset_type)
            .compression(self.meta.compression)
            .compression_level(self.meta.compression_level)
            .n_buckets(n_buckets)
            .open_rw(path, OpenMode::New)?;
        let all_zero = coords
            .iter()
            .all(|c| self.coord_meta(c).is_ok_and(|m| m.origin.unwrap_or(0) == 0));
        for c in &coords {
            let m = self.coord_meta(c)?.clone();
            let mut spec = CoordSpec::new(m.dtype.clone())
                .chunk_len(m.chunk_shape.first().copied().unwrap_or(1) as usize);
            if let Some(a) = m.axis {
                spec = spec.axis(a);
            }
            if !m.is_empty() {
                spec = spec.data(self.coord_values(c)?.as_ref().clone());
            }
            out.create_coord(c, spec)?;
            if let Some(Variable::Coord(nc)) = out.meta.variables.get_mut(c.as_str()) {
                nc.step = m.step.clone();
                nc.units = m.units.clone();
            }
            let attrs = self.var_attrs(c)?;
            if !attrs.is_empty() {
                *out.var_attrs_mut(c)? = attrs;
            }
        }
        out.meta.crs = self.meta.crs.clone();
        for d in &data_vars {
            let dv =
                self.variable(d)?
                    .as_data_var()
                    .cloned()
                    .ok_or_else(|| CoreError::NotFound {
                        kind: "data variable",
                        name: d.clone(),
                    })?;
            let coords_of: Vec<&str> = dv.coords.iter().map(String::as_str).collect();
            let cs: Vec<usize> = dv.chunk_shape.iter().map(|&c| c as usize).collect();
            let mut dtype = dv.dtype.clone();
            dtype.form = cfdb_models::DtypeForm::Compact;
            out.create_data_var(d, &coords_of, DataVarSpec::new(dtype).chunk_shape(&cs))?;
            out.update_units(d, dv.units.as_deref())?;
            let attrs = self.var_attrs(d)?;
            if !attrs.is_empty() {
                *out.var_attrs_mut(d)? = attrs;
            }
            let shape = self.var_shape(d)?;
            if shape.contains(&0) {
                continue;
            }
            if all_zero {
                let region: Vec<std::ops::Range<usize>> = shape.iter().map(|&n| 0..n).collect();
                let keys = crate::io::region_keys(d, &region, &vec![0; shape.len()], &cs);
                let values = self.store()?.get_many(&keys)?;
                let w = out.writer_mut()?;
                for (k, v) in keys.iter().zip(values) {
                    if let Some(v) = v {
                        w.set(k, &v)?;
                    }
                }
            } else {
                let data = self.read_region(d, &shape.iter().map(|&n| 0..n).collect::<Vec<_>>())?;
                out.write_dyn(d, Sel::all(), &data)?;
            }
        }
        let attrs = self.attrs()?;
        if !attrs.is_empty() {
            let a = out.attrs_mut()?;
            for (k, v) in attrs {
                a.insert(k, v);
            }
        }
        out.sync()?;
        Ok(out)
    }
}
