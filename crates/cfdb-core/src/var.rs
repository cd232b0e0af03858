//! Read handles: [`DataVar`] (a variable or a window of it), [`Coord`] and [`DatasetView`].

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use cfdb_codec::{ArrayData, DataType, Element, with_array_data};
use cfdb_models::Axis;
use ndarray::{ArrayD, ArrayViewMutD, IxDyn, Slice};
use serde_json::{Map, Value};

use crate::dataset::{Access, Dataset};
use crate::error::{CoreError, Result};
use crate::loc::{LocSel, resolve_loc};
use crate::select::{Index, Sel, compose, resolve_sel};

/// A variable, or a rectangular window of one: lazy, no I/O until a read.
///
/// Windows compose: `var.select(...)` on a window is relative to it.
///
/// ```
/// # use cfdb_core::{create, sel, CoordSpec, DataVarSpec};
/// # use cfdb_models::DataTypeMeta;
/// # let dir = tempfile::tempdir().unwrap();
/// # let mut ds = create(dir.path().join("a.cfdb"))?;
/// # ds.create_coord("x", CoordSpec::new(DataTypeMeta::new("int64")).data(ndarray::Array1::from_iter(0..10i64).into_dyn()))?;
/// # ds.create_data_var("v", &["x"], DataVarSpec::new(DataTypeMeta::new("int64")))?;
/// # ds.write("v", sel![..], ndarray::Array1::from_iter(100..110i64).into_dyn().view())?;
/// let v = ds.data_var("v")?;
/// let w = v.select(sel![2..8])?.select(sel![1..3])?; // absolute 3..5
/// assert_eq!(w.read::<i64>()?.into_raw_vec_and_offset().0, vec![103, 104]);
/// # Ok::<(), cfdb_core::CoreError>(())
/// ```
pub struct DataVar<'a, A: Access> {
    ds: &'a Dataset<A>,
    name: String,
    coords: Vec<String>,
    window: Vec<Range<usize>>,
}

impl<A: Access> Dataset<A> {
    /// A handle on any variable (a data variable or a coordinate), the whole of it.
    pub fn var(&self, name: &str) -> Result<DataVar<'_, A>> {
        let coords = self.var_coords(name)?;
        let window = self.var_shape(name)?.into_iter().map(|n| 0..n).collect();
        Ok(DataVar {
            ds: self,
            name: name.to_owned(),
            coords,
            window,
        })
    }

    /// A handle on a data variable.
    pub fn data_var(&self, name: &str) -> Result<DataVar<'_, A>> {
        if self.variable(name)?.as_data_var().is_none() {
            return Err(CoreError::NotFound {
                kind: "data variable",
                name: name.to_owned(),
            });
        }
        self.var(name)
    }

    /// A handle on a coordinate.
    pub fn coord(&self, name: &str) -> Result<Coord<'_, A>> {
        self.coord_meta(name)?;
        Ok(Coord {
            var: self.var(name)?,
        })
    }

    /// A read-only view of the dataset with positional selections per coordinate (Python
    /// `ds.select`); unknown coordinates are an error.
    pub fn select<'s, I: Into<Index>>(
        &self,
        sel: impl IntoIterator<Item = (&'s str, I)>,
    ) -> Result<DatasetView<'_, A>> {
        DatasetView::full(self).select(sel)
    }

    /// A read-only view of the dataset with label selections per coordinate (Python
    /// `ds.select_loc`).
    pub fn select_loc<'s, I: Into<crate::LocIndex>>(
        &self,
        sel: impl IntoIterator<Item = (&'s str, I)>,
    ) -> Result<DatasetView<'_, A>> {
        DatasetView::full(self).select_loc(sel)
    }
}

impl<A: Access> Clone for DataVar<'_, A> {
    fn clone(&self) -> Self {
        DataVar {
            ds: self.ds,
            name: self.name.clone(),
            coords: self.coords.clone(),
            window: self.window.clone(),
        }
    }
}

impl<'a, A: Access> DataVar<'a, A> {
    /// The variable's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The coordinate names of its dimensions.
    pub fn coord_names(&self) -> &[String] {
        &self.coords
    }
    /// Number of dimensions.
    pub fn ndims(&self) -> usize {
        self.window.len()
    }
    /// The shape of the window.
    pub fn shape(&self) -> Vec<usize> {
        self.window.iter().map(|r| r.end - r.start).collect()
    }
    /// Number of cells in the window.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }
    /// Whether the window has no cells (a variable over an empty coordinate).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The window in absolute index ranges of the variable.
    pub fn window(&self) -> &[Range<usize>] {
        &self.window
    }
    /// The storage chunk shape.
    pub fn chunk_shape(&self) -> Result<Vec<usize>> {
        self.ds.chunk_shape(&self.name)
    }
    /// The data type.
    pub fn dtype(&self) -> Result<DataType> {
        self.ds.dtype(&self.name)
    }
    /// Whether it is a coordinate.
    pub fn is_coord(&self) -> bool {
        self.ds
            .variable(&self.name)
            .is_ok_and(|v| v.as_coord().is_some())
    }
    /// The attributes.
    pub fn attrs(&self) -> Result<Map<String, Value>> {
        self.ds.var_attrs(&self.name)
    }
    /// The `units` metadata string.
    pub fn units(&self) -> Result<Option<&'a str>> {
        self.ds.units(&self.name)
    }
    /// The dataset.
    pub fn dataset(&self) -> &'a Dataset<A> {
        self.ds
    }

    /// A window of this window (positional; integers keep their dimension).
    pub fn select(&self, sel: impl Into<Sel>) -> Result<DataVar<'a, A>> {
        let inner = resolve_sel(&sel.into(), &self.shape(), &self.name, &self.coords)?;
        Ok(DataVar {
            window: compose(&self.window, &inner),
            ..self.clone()
        })
    }

    /// A window by labels (Python `.loc`), relative to this window.
    pub fn loc(&self, loc: &LocSel) -> Result<DataVar<'a, A>> {
        // Labels are looked up on the whole coordinates, then intersected with this window.
        let abs = resolve_loc(self.ds, &self.name, loc)?;
        let mut window = Vec::with_capacity(abs.len());
        for (d, (w, a)) in self.window.iter().zip(&abs).enumerate() {
            let lo = w.start.max(a.start);
            let hi = w.end.min(a.end);
            if lo >= hi {
                return Err(CoreError::EmptySelection {
                    var: self.name.clone(),
                    dim: d,
                    coord: self.coords[d].clone(),
                    range: format!("{:?}", loc.items().get(d)),
                    len: w.end - w.start,
                });
            }
            window.push(lo..hi);
        }
        Ok(DataVar {
            window,
            ..self.clone()
        })
    }

    /// Reads the window's decoded values (Python `.data` / `.values`), chunks decoded in
    /// parallel; never-written cells are the dtype's blank.
    pub fn read_dyn(&self) -> Result<ArrayData> {
        if self.is_coord() {
            let all = self.ds.coord_values(&self.name)?;
            let w = &self.window[0];
            return Ok(with_array_data!(all.as_ref(), a => {
                Element::wrap(a.slice_each_axis(|_| Slice::from(w.clone())).to_owned())
            }));
        }
        self.ds.read_region(&self.name, &self.window)
    }

    /// Reads the window as `ArrayD<T>`; `T` must be the variable's element type.
    pub fn read<T: Element>(&self) -> Result<ArrayD<T>> {
        let mismatch = |expected: String| CoreError::DtypeMismatch {
            var: self.name.clone(),
            expected,
            actual: T::KIND.to_string(),
        };
        let kind = self.dtype()?.element_kind();
        if kind != T::KIND {
            return Err(mismatch(kind.to_string()));
        }
        // One zeroed allocation, every cell written once (read_dyn), then unwrapped.
        T::unwrap(self.read_dyn()?).map_err(|got| mismatch(got.kind().to_string()))
    }

    /// Reads the window into a caller's buffer of exactly the window's shape.
    pub fn get_into<T: Element>(&self, out: &mut ArrayViewMutD<'_, T>) -> Result<()> {
        if self.is_coord() {
            let data = self.read_dyn()?;
            let src = T::view(&data).ok_or_else(|| CoreError::DtypeMismatch {
                var: self.name.clone(),
                expected: data.kind().to_string(),
                actual: T::KIND.to_string(),
            })?;
            if out.shape() != src.shape() {
                return Err(CoreError::ShapeMismatch {
                    var: self.name.clone(),
                    expected: src.shape().to_vec(),
                    actual: out.shape().to_vec(),
                });
            }
            out.assign(src);
            return Ok(());
        }
        self.ds.read_region_into(&self.name, &self.window, out)
    }
}

impl<A: Access> fmt::Debug for DataVar<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataVar")
            .field("name", &self.name)
            .field("window", &self.window)
            .finish()
    }
}

/// A coordinate handle: its values are held in memory.
#[derive(Debug)]
pub struct Coord<'a, A: Access> {
    var: DataVar<'a, A>,
}

impl<A: Access> Clone for Coord<'_, A> {
    fn clone(&self) -> Self {
        Coord {
            var: self.var.clone(),
        }
    }
}

impl<'a, A: Access> Coord<'a, A> {
    /// As a generic variable window.
    pub fn as_var(&self) -> &DataVar<'a, A> {
        &self.var
    }
    /// The name.
    pub fn name(&self) -> &str {
        self.var.name()
    }
    /// The number of values in the window.
    pub fn len(&self) -> usize {
        self.var.len()
    }
    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.var.is_empty()
    }
    /// The decoded values of the window.
    pub fn values(&self) -> Result<ArrayData> {
        self.var.read_dyn()
    }
    /// All values (shared, cached).
    pub fn all_values(&self) -> Result<Arc<ArrayData>> {
        self.var.ds.coord_values(self.name())
    }
    fn meta(&self) -> Result<&'a cfdb_models::Coordinate> {
        self.var.ds.coord_meta(self.name())
    }
    /// The storage position of index 0.
    pub fn origin(&self) -> Result<i64> {
        Ok(self.meta()?.origin.unwrap_or(0))
    }
    /// The axis.
    pub fn axis(&self) -> Result<Option<Axis>> {
        Ok(self.meta()?.axis)
    }
    /// The stored step (a JSON number: float for float coordinates, ticks for datetimes).
    pub fn step(&self) -> Result<Option<serde_json::Number>> {
        Ok(self.meta()?.step.clone())
    }
    /// The chunk length.
    pub fn chunk_len(&self) -> Result<usize> {
        Ok(self.meta()?.chunk_shape.first().copied().unwrap_or(1) as usize)
    }
    /// A window of the coordinate.
    pub fn select(&self, sel: impl Into<Sel>) -> Result<Coord<'a, A>> {
        Ok(Coord {
            var: self.var.select(sel)?,
        })
    }
    /// A window by labels.
    pub fn loc(&self, loc: &LocSel) -> Result<Coord<'a, A>> {
        Ok(Coord {
            var: self.var.loc(loc)?,
        })
    }
}

/// A read-only view of a dataset: a window per coordinate (Python `DatasetView`).
#[derive(Debug)]
pub struct DatasetView<'a, A: Access> {
    ds: &'a Dataset<A>,
    windows: HashMap<String, Range<usize>>,
}

impl<A: Access> Clone for DatasetView<'_, A> {
    fn clone(&self) -> Self {
        DatasetView {
            ds: self.ds,
            windows: self.windows.clone(),
        }
    }
}

impl<'a, A: Access> DatasetView<'a, A> {
    fn full(ds: &'a Dataset<A>) -> Self {
        DatasetView {
            ds,
            windows: HashMap::new(),
        }
    }

    fn window_of(&self, coord: &str) -> Result<Range<usize>> {
        match self.windows.get(coord) {
            Some(w) => Ok(w.clone()),
            None => Ok(0..self.ds.coord_meta(coord)?.len() as usize),
        }
    }

    /// Narrows the view positionally (relative to the current view).
    pub fn select<'s, I: Into<Index>>(
        &self,
        sel: impl IntoIterator<Item = (&'s str, I)>,
    ) -> Result<DatasetView<'a, A>> {
        let mut out = self.clone();
        for (c, idx) in sel {
            let w = self.window_of(c)?;
            let coords = [c.to_owned()];
            let r = resolve_sel(&Sel::from(idx.into()), &[w.end - w.start], c, &coords)?;
            out.windows
                .insert(c.to_owned(), w.start + r[0].start..w.start + r[0].end);
        }
        Ok(out)
    }

    /// Narrows the view by labels.
    pub fn select_loc<'s, I: Into<crate::LocIndex>>(
        &self,
        sel: impl IntoIterator<Item = (&'s str, I)>,
    ) -> Result<DatasetView<'a, A>> {
        let mut out = self.clone();
        for (c, idx) in sel {
            let w = self.window_of(c)?;
            let abs = resolve_loc(self.ds, c, &LocSel::new(vec![idx.into()]))?;
            let lo = w.start.max(abs[0].start);
            let hi = w.end.min(abs[0].end);
            if lo >= hi {
                return Err(CoreError::EmptySelection {
                    var: c.to_owned(),
                    dim: 0,
                    coord: c.to_owned(),
                    range: format!("{:?}..{:?}", abs[0], w),
                    len: w.end - w.start,
                });
            }
            out.windows.insert(c.to_owned(), lo..hi);
        }
        Ok(out)
    }

    /// The dataset.
    pub fn dataset(&self) -> &'a Dataset<A> {
        self.ds
    }

    /// Variable names (all of the dataset's).
    pub fn var_names(&self) -> Vec<&'a str> {
        self.ds.var_names()
    }

    /// A variable restricted to the view.
    pub fn var(&self, name: &str) -> Result<DataVar<'a, A>> {
        let mut v = self.ds.var(name)?;
        v.window = v
            .coords
            .iter()
            .map(|c| self.window_of(c))
            .collect::<Result<_>>()?;
        Ok(v)
    }

    /// A data variable restricted to the view.
    pub fn data_var(&self, name: &str) -> Result<DataVar<'a, A>> {
        self.ds.data_var(name)?;
        self.var(name)
    }

    /// A coordinate restricted to the view.
    pub fn coord(&self, name: &str) -> Result<Coord<'a, A>> {
        self.ds.coord_meta(name)?;
        Ok(Coord {
            var: self.var(name)?,
        })
    }

    /// The CRS text.
    pub fn crs(&self) -> Option<&'a str> {
        self.ds.crs()
    }
}

/// Group regions in C order, and the equivalent target chunk shape when every dimension is
/// split regularly.
type GroupPlan = (Vec<Vec<Range<usize>>>, Option<Vec<usize>>);

/// How [`DataVar::groupby`] splits one coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// One group per value (Python `groupby('lat')`).
    Each,
    /// Groups of this many values.
    Size(usize),
    /// Calendar periods of a datetime coordinate (`'D'`, `'7D'`, `'M'`, ...).
    Period(crate::Period),
}

/// Chunks decoded ahead per batch by [`ChunkIter`] (in parallel on the rayon pool).
const ITER_BATCH: usize = 8;

/// Storage-chunk iteration over a window (Python `var.iter_chunks()`): yields
/// `(region relative to the window, decoded values)` per storage chunk the window touches, in
/// C order of the chunk grid, edge chunks clipped; never-written chunks yield blanks.
///
/// Chunks are decoded ahead in parallel batches of a few chunks, so iteration keeps every core
/// busy; memory is bounded by one batch of decoded chunks.
pub struct ChunkIter<'a, A: Access> {
    var: DataVar<'a, A>,
    parts: std::vec::IntoIter<Vec<Range<usize>>>,
    ready: std::collections::VecDeque<(Vec<Range<usize>>, ArrayData)>,
    with_data: bool,
    batch: usize,
}

impl<'a, A: Access> DataVar<'a, A> {
    /// Iterates the storage chunks of the window with their data.
    ///
    /// ```
    /// # use cfdb_core::{create, sel, CoordSpec, DataVarSpec};
    /// # use cfdb_models::DataTypeMeta;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let mut ds = create(dir.path().join("a.cfdb"))?;
    /// # ds.create_coord("x", CoordSpec::new(DataTypeMeta::new("int64")).data(ndarray::Array1::from_iter(0..10i64).into_dyn()))?;
    /// # ds.create_data_var("v", &["x"], DataVarSpec::new(DataTypeMeta::new("int64")).chunk_shape(&[4]))?;
    /// let v = ds.data_var("v")?;
    /// let mut total = 0;
    /// for item in v.iter_chunks()? {
    ///     let (region, data) = item?;
    ///     assert_eq!(data.len(), region[0].len());
    ///     total += data.len();
    /// }
    /// assert_eq!(total, 10);
    /// # Ok::<(), cfdb_core::CoreError>(())
    /// ```
    pub fn iter_chunks(&self) -> Result<ChunkIter<'a, A>> {
        self.chunk_iter(true)
    }

    /// The regions of [`iter_chunks`](Self::iter_chunks) without reading anything.
    pub fn chunk_regions(&self) -> Result<Vec<Vec<Range<usize>>>> {
        let cs = self.chunk_shape()?;
        let origins = self.origins()?;
        Ok(crate::grid::chunk_parts(&self.window, &origins, &cs)
            .into_iter()
            .map(|p| p.in_region)
            .collect())
    }

    fn origins(&self) -> Result<Vec<i64>> {
        self.coords
            .iter()
            .map(|c| Ok(self.ds.coord_meta(c)?.origin.unwrap_or(0)))
            .collect()
    }

    fn chunk_iter(&self, with_data: bool) -> Result<ChunkIter<'a, A>> {
        Ok(self.regions_iter(self.chunk_regions()?, with_data, ITER_BATCH))
    }

    /// Iterates over given regions (relative to the window), decoding `batch` ahead.
    fn regions_iter(
        &self,
        regions: Vec<Vec<Range<usize>>>,
        with_data: bool,
        batch: usize,
    ) -> ChunkIter<'a, A> {
        ChunkIter {
            var: self.clone(),
            parts: regions.into_iter(),
            ready: std::collections::VecDeque::new(),
            with_data,
            batch: batch.max(1),
        }
    }

    /// Rechunked iteration (Python `var.iter_chunks({coord: size}, max_mem)`): target chunks of
    /// `size` along the named coordinates and the full window length along the others, in C
    /// order of the target grid, edge chunks clipped. `max_mem` bounds the target chunks decoded
    /// ahead (at least one is always held).
    ///
    /// ```
    /// # use cfdb_core::{create, sel, CoordSpec, DataVarSpec};
    /// # use cfdb_models::DataTypeMeta;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let mut ds = create(dir.path().join("a.cfdb"))?;
    /// # ds.create_coord("x", CoordSpec::new(DataTypeMeta::new("int64")).data(ndarray::Array1::from_iter(0..10i64).into_dyn()))?;
    /// # ds.create_coord("y", CoordSpec::new(DataTypeMeta::new("int64")).data(ndarray::Array1::from_iter(0..3i64).into_dyn()))?;
    /// # ds.create_data_var("v", &["x", "y"], DataVarSpec::new(DataTypeMeta::new("int64")).chunk_shape(&[4, 3]))?;
    /// let v = ds.data_var("v")?;
    /// let regions: Vec<_> = v.iter_chunks_with(&[("x", 6)], 1 << 29)?.map(|r| r.unwrap().0).collect();
    /// assert_eq!(regions, vec![vec![0..6, 0..3], vec![6..10, 0..3]]);
    /// # Ok::<(), cfdb_core::CoreError>(())
    /// ```
    pub fn iter_chunks_with(
        &self,
        chunk: &[(&str, usize)],
        max_mem: usize,
    ) -> Result<RechunkIter<'a>> {
        let spec: Vec<(&str, GroupBy)> =
            chunk.iter().map(|(c, n)| (*c, GroupBy::Size(*n))).collect();
        self.groupby(&spec, max_mem)
    }

    /// Groups (Python `var.groupby`): per named coordinate, each value ([`GroupBy::Each`]), a
    /// fixed size, or a time [`Period`](crate::Period) on a datetime coordinate (at most one);
    /// other coordinates keep their full window length. Yields `(region, data)` per group in C
    /// order, with the groups of `algorithms.md` §5 (fast path and calendar path give the same
    /// groups).
    pub fn groupby(&self, spec: &[(&str, GroupBy)], max_mem: usize) -> Result<RechunkIter<'a>> {
        let (regions, target) = self.group_regions(spec)?;
        if let Some(t) = target {
            return self.rechunk(&t, max_mem);
        }
        let itemsize = self.itemsize()?;
        let biggest = regions
            .iter()
            .map(|r| r.iter().map(|x| x.len()).product::<usize>() * itemsize)
            .max()
            .unwrap_or(1)
            .max(1);
        let batch = (max_mem / biggest).clamp(1, ITER_BATCH);
        Ok(RechunkIter::new(NoRecycling(
            self.regions_iter(regions, true, batch),
        )))
    }

    /// The group regions of a spec (C order) and, when every dimension is split regularly
    /// (no calendar period), the equivalent target chunk shape.
    fn group_regions(&self, spec: &[(&str, GroupBy)]) -> Result<GroupPlan> {
        let shape = self.shape();
        let mut target = shape.clone();
        let mut per_dim: Vec<Vec<Range<usize>>> = shape
            .iter()
            .map(|&n| std::iter::once(0..n).collect())
            .collect();
        let mut n_periods = 0;
        let mut irregular = None;
        for (name, g) in spec {
            let d =
                self.coords
                    .iter()
                    .position(|c| c == name)
                    .ok_or_else(|| CoreError::NotFound {
                        kind: "coordinate of this variable",
                        name: (*name).to_owned(),
                    })?;
            let n = shape[d];
            per_dim[d] = match g {
                GroupBy::Each => {
                    target[d] = 1;
                    (0..n).map(|i| i..i + 1).collect()
                }
                GroupBy::Size(0) => {
                    return Err(CoreError::Invalid(format!(
                        "variable {:?}: chunk size 0 for coordinate {name:?}",
                        self.name
                    )));
                }
                GroupBy::Size(k) => {
                    target[d] = (*k).min(n.max(1));
                    (0..n).step_by(*k).map(|i| i..(i + k).min(n)).collect()
                }
                GroupBy::Period(p) => {
                    n_periods += 1;
                    if n_periods > 1 {
                        return Err(CoreError::Invalid(
                            "only one coordinate can be grouped by a time period".to_owned(),
                        ));
                    }
                    let DataType::DateTime { unit, .. } = self.ds.dtype(name)? else {
                        return Err(CoreError::Invalid(format!(
                            "coordinate {name:?} is not a datetime coordinate; periods need one"
                        )));
                    };
                    let all = self.ds.coord_values(name)?;
                    let ArrayData::DateTime(t) = all.as_ref() else {
                        return Err(CoreError::Invalid(format!(
                            "coordinate {name:?} holds no datetimes"
                        )));
                    };
                    let w = &self.window[d];
                    let ticks: Vec<i64> = t
                        .iter()
                        .skip(w.start)
                        .take(w.end - w.start)
                        .map(|x| x.0)
                        .collect();
                    let step = self
                        .ds
                        .coord_meta(name)?
                        .step
                        .as_ref()
                        .and_then(serde_json::Number::as_i64);
                    match crate::period::fast_chunk(*p, step, unit, ticks.first().copied()) {
                        Some(k) => {
                            target[d] = k.min(n.max(1));
                            (0..n).step_by(k).map(|i| i..(i + k).min(n)).collect()
                        }
                        None => {
                            irregular = Some(*name);
                            crate::period::calendar_groups(&ticks, unit, *p)
                        }
                    }
                }
            };
        }
        if let Some(p) = irregular {
            for (name, g) in spec {
                if let GroupBy::Size(k) = g {
                    let d = self.coords.iter().position(|c| c == name).unwrap_or(0);
                    if *k != shape[d] {
                        return Err(CoreError::Invalid(format!(
                            "mixing the irregular time period groupby on {p:?} with chunk size {k} on \
                             {name:?} is not supported; use the full length {}",
                            shape[d]
                        )));
                    }
                }
            }
        }
        let mut regions = vec![Vec::new()];
        for dim in &per_dim {
            let mut next = Vec::with_capacity(regions.len() * dim.len());
            for prefix in &regions {
                for r in dim {
                    let mut p: Vec<Range<usize>> = prefix.clone();
                    p.push(r.clone());
                    next.push(p);
                }
            }
            regions = next;
        }
        let regular = irregular.is_none() && !shape.contains(&0);
        Ok((regions, regular.then_some(target)))
    }
}

impl<A: Access> ChunkIter<'_, A> {
    fn fill(&mut self) -> Result<()> {
        use rayon::prelude::*;
        let batch: Vec<Vec<Range<usize>>> = self.parts.by_ref().take(self.batch).collect();
        if !self.with_data {
            self.ready.extend(
                batch
                    .into_iter()
                    .map(|r| (r, ArrayData::blank(cfdb_codec::ElementKind::Bool, &[0]))),
            );
            return Ok(());
        }
        let var = &self.var;
        let decoded: Vec<(Vec<Range<usize>>, ArrayData)> = batch
            .into_par_iter()
            .map(|r| {
                let abs = compose(&var.window, &r);
                var.ds.read_region(&var.name, &abs).map(|d| (r, d))
            })
            .collect::<Result<_>>()?;
        self.ready.extend(decoded);
        Ok(())
    }
}

impl<A: Access> Iterator for ChunkIter<'_, A> {
    type Item = Result<(Vec<Range<usize>>, ArrayData)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty()
            && let Err(e) = self.fill()
        {
            return Some(Err(e));
        }
        self.ready.pop_front().map(Ok)
    }
}

impl<A: Access> DataVar<'_, A> {
    /// Runs `f` on every chunk in parallel (Python `var.map`): storage chunks when `chunk` is
    /// `None`, else the target chunks of [`iter_chunks_with`](Self::iter_chunks_with). Unlike
    /// Python, `f` may be any closure and no data is copied between processes; never-written
    /// chunks are passed as blanks on both paths. `n_workers` sizes a dedicated rayon pool
    /// (default: the global pool). `None` results are dropped; results come in chunk order.
    ///
    /// ```
    /// # use cfdb_core::{create, sel, CoordSpec, DataVarSpec};
    /// # use cfdb_models::DataTypeMeta;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let mut ds = create(dir.path().join("a.cfdb"))?;
    /// # ds.create_coord("x", CoordSpec::new(DataTypeMeta::new("int64")).data(ndarray::Array1::from_iter(0..10i64).into_dyn()))?;
    /// # ds.create_data_var("v", &["x"], DataVarSpec::new(DataTypeMeta::new("int64")).chunk_shape(&[4]))?;
    /// # ds.write("v", sel![..], ndarray::Array1::from_iter(0..10i64).into_dyn().view())?;
    /// let v = ds.data_var("v")?;
    /// let sums = v.map(|_, d| Some(d.typed::<i64>().unwrap().sum()), None, Some(2))?;
    /// assert_eq!(sums.iter().map(|(_, s)| s).sum::<i64>(), 45);
    /// # Ok::<(), cfdb_core::CoreError>(())
    /// ```
    pub fn map<R, F>(
        &self,
        f: F,
        chunk: Option<&[(&str, usize)]>,
        n_workers: Option<usize>,
    ) -> Result<Vec<(Vec<Range<usize>>, R)>>
    where
        R: Send,
        F: Fn(&[Range<usize>], ArrayData) -> Option<R> + Sync,
    {
        use rayon::prelude::*;
        let regions: Vec<Vec<Range<usize>>> = match chunk {
            None => self.chunk_regions()?,
            Some(c) => {
                let spec: Vec<(&str, GroupBy)> =
                    c.iter().map(|(n, k)| (*n, GroupBy::Size(*k))).collect();
                self.group_regions(&spec)?.0
            }
        };
        let run = || -> Result<Vec<(Vec<Range<usize>>, R)>> {
            let out: Vec<Option<(Vec<Range<usize>>, R)>> = regions
                .into_par_iter()
                .map(|r| {
                    let abs = compose(&self.window, &r);
                    let data = self.ds.read_region(&self.name, &abs)?;
                    Ok(f(&r, data).map(|x| (r, x)))
                })
                .collect::<Result<_>>()?;
            Ok(out.into_iter().flatten().collect())
        };
        match n_workers {
            None => run(),
            Some(n) => rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| CoreError::Invalid(format!("cannot start {n} workers: {e}")))?
                .install(run),
        }
    }
}

/// One step of [`Dataset::iter_chunks`]: the region per coordinate and the data per variable.
pub type DatasetChunk = (HashMap<String, Range<usize>>, HashMap<String, ArrayData>);

impl<A: Access> Dataset<A> {
    /// Iterates several data variables in lockstep (Python `ds.iter_chunks`): target chunks of
    /// `chunk` per named coordinate (full length elsewhere); all variables must have the same
    /// coordinates and shape. `data_vars = None` means every data variable; `max_mem` is shared.
    pub fn iter_chunks(
        &self,
        chunk: &[(&str, usize)],
        data_vars: Option<&[&str]>,
        max_mem: usize,
    ) -> Result<impl Iterator<Item = Result<DatasetChunk>> + '_> {
        let names: Vec<String> = match data_vars {
            Some(v) => v.iter().map(|s| (*s).to_owned()).collect(),
            None => self
                .data_var_names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        };
        let first = names
            .first()
            .ok_or_else(|| CoreError::Invalid("no data variables to iterate".to_owned()))?;
        let coords = self.var_coords(first)?;
        let shape = self.var_shape(first)?;
        for n in &names {
            self.data_var(n)?;
            if self.var_coords(n)? != coords || self.var_shape(n)? != shape {
                return Err(CoreError::Invalid(format!(
                    "data variables {first:?} and {n:?} do not share coordinates and shape"
                )));
            }
        }
        let per_var = max_mem / names.len().max(1);
        let mut iters = Vec::with_capacity(names.len());
        for n in &names {
            iters.push((
                n.clone(),
                self.data_var(n)?.iter_chunks_with(chunk, per_var)?,
            ));
        }
        Ok(std::iter::from_fn(move || {
            let mut regions = HashMap::new();
            let mut data = HashMap::new();
            for (n, it) in iters.iter_mut() {
                match it.next()? {
                    Ok((r, d)) => {
                        if regions.is_empty() {
                            regions = coords.iter().cloned().zip(r).collect();
                        }
                        data.insert(n.clone(), d);
                    }
                    Err(e) => return Some(Err(e)),
                }
            }
            Some(Ok((regions, data)))
        }))
    }
}

/// Yields of [`DataVar::rechunk`], [`DataVar::iter_chunks_with`] and [`DataVar::groupby`]:
/// target chunks (relative to the window) with their values, in C order.
///
/// Every yielded array is the caller's. Handing one back with
/// [`recycle`](RechunkIter::recycle) once it is no longer needed lets a later chunk of the
/// same shape reuse its memory instead of a fresh allocation (fresh pages cost page faults and
/// zeroing on every chunk of a large rechunk).
///
/// ```
/// # use cfdb_core::{create, CoordSpec, DataTypeMeta, DataVarSpec, sel};
/// # let dir = tempfile::tempdir().unwrap();
/// # let mut ds = create(dir.path().join("a.cfdb"))?;
/// # ds.create_coord("x", CoordSpec::new(DataTypeMeta::new("int64")).data(ndarray::Array1::from_iter(0..10i64).into_dyn()))?;
/// # ds.create_data_var("v", &["x"], DataVarSpec::new(DataTypeMeta::new("int64")).chunk_shape(&[4]))?;
/// # ds.write("v", sel![], ndarray::Array1::from_iter(0..10i64).into_dyn().view())?;
/// let v = ds.data_var("v")?;
/// let mut iter = v.rechunk(&[2], 1 << 20)?;
/// let mut total = 0;
/// while let Some(item) = iter.next() {
///     let (_region, data) = item?;
///     total += data.typed::<i64>()?.sum();
///     iter.recycle(data);
/// }
/// assert_eq!(total, 45);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RechunkIter<'a> {
    inner: Box<dyn Recycling + 'a>,
}

impl fmt::Debug for RechunkIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RechunkIter").finish_non_exhaustive()
    }
}

impl<'a> RechunkIter<'a> {
    fn new(inner: impl Recycling + 'a) -> RechunkIter<'a> {
        RechunkIter {
            inner: Box::new(inner),
        }
    }

    /// Hands a yielded array back for reuse by a later chunk of the same shape and type (other
    /// arrays are dropped).
    pub fn recycle(&mut self, data: ArrayData) {
        self.inner.recycle(data);
    }
}

impl Iterator for RechunkIter<'_> {
    type Item = Result<(Vec<Range<usize>>, ArrayData)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

/// An iterator of target chunks that may reuse handed-back arrays.
trait Recycling: Iterator<Item = Result<(Vec<Range<usize>>, ArrayData)>> {
    fn recycle(&mut self, data: ArrayData);
}

/// Chunks computed without the executor: nothing to reuse.
struct NoRecycling<I>(I);

impl<I: Iterator<Item = Result<(Vec<Range<usize>>, ArrayData)>>> Iterator for NoRecycling<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

impl<I: Iterator<Item = Result<(Vec<Range<usize>>, ArrayData)>>> Recycling for NoRecycling<I> {
    fn recycle(&mut self, _: ArrayData) {}
}

/// The executor's chunks as [`ArrayData`].
struct ExecChunks<'a, A: Access, T>(cfdb_rechunk::Execution<T, CoreError, VarSource<'a, A, T>>);

impl<A: Access, T: Element> Iterator for ExecChunks<'_, A, T> {
    type Item = Result<(Vec<Range<usize>>, ArrayData)>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.0.next()? {
            Ok((region, a)) => Ok((region, T::wrap(a))),
            Err(cfdb_rechunk::ExecError::Rechunk(e)) => Err(rechunk_err(e)),
            Err(cfdb_rechunk::ExecError::Source { error, .. }) => Err(error),
        })
    }
}

impl<A: Access, T: Element> Recycling for ExecChunks<'_, A, T> {
    fn recycle(&mut self, data: ArrayData) {
        if let Ok(a) = T::unwrap(data) {
            self.0.recycle(a);
        }
    }
}

fn rechunk_err(e: cfdb_rechunk::RechunkError) -> CoreError {
    CoreError::Invalid(e.to_string())
}

/// The rechunk planning API of a variable window (Python `var.rechunker()`): the same numbers as
/// rechunkit 0.6.0 for the same variable, target and budget.
impl<'a, A: Access> DataVar<'a, A> {
    /// Element size used for planning: the stored width (packed code, else decoded), or an
    /// estimate for strings (12) and geometries (60) (`algorithms.md` §4 allows a different
    /// estimate for variable-length types; it changes plans, never data).
    pub fn itemsize(&self) -> Result<usize> {
        Ok(match self.dtype()? {
            DataType::Str => 12,
            DataType::Geometry { .. } => 60,
            d => d.stored_size().unwrap_or(8),
        })
    }

    /// Python `rechunker.guess_chunk_shape(target_chunk_size)` for the window's shape.
    pub fn guess_chunk_shape(&self, target_chunk_size: usize) -> Result<Vec<usize>> {
        cfdb_rechunk::guess_chunk_shape(&self.shape(), self.itemsize()?, target_chunk_size)
            .map_err(rechunk_err)
    }

    /// Number of chunks of the storage chunk shape over the window's shape (`calc_n_chunks`;
    /// like Python, a view counts its own shape in storage-chunk-sized pieces).
    pub fn calc_n_chunks(&self) -> Result<u128> {
        let shape = self.shape();
        cfdb_rechunk::calc_n_chunks(&shape, &self.chunk_shape()?).map_err(rechunk_err)
    }

    /// The ideal read chunk shape for `target` (extent-clipped LCM).
    pub fn calc_ideal_read_chunk_shape(&self, target: &[usize]) -> Result<Vec<usize>> {
        let shape = self.shape();
        cfdb_rechunk::calc_ideal_read_chunk_shape(&self.chunk_shape()?, target, Some(&shape))
            .map_err(rechunk_err)
    }

    /// Bytes of the ideal read chunk for `target`.
    pub fn calc_ideal_read_chunk_mem(&self, target: &[usize]) -> Result<u128> {
        let ideal = self.calc_ideal_read_chunk_shape(target)?;
        cfdb_rechunk::calc_ideal_read_chunk_mem(&ideal, self.itemsize()?).map_err(rechunk_err)
    }

    /// The source read chunk shape the planner picks for `target` under `max_mem`.
    pub fn calc_source_read_chunk_shape(
        &self,
        target: &[usize],
        max_mem: usize,
    ) -> Result<Vec<usize>> {
        let shape = self.shape();
        cfdb_rechunk::calc_source_read_chunk_shape(
            &self.chunk_shape()?,
            target,
            self.itemsize()?,
            max_mem,
            Some(&shape),
            None,
        )
        .map_err(rechunk_err)
    }

    fn declared(&self) -> Result<cfdb_rechunk::DeclaredSpace> {
        let shape = self.ds.var_shape(&self.name)?;
        cfdb_rechunk::DeclaredSpace::new(
            &shape,
            &self.origins()?,
            &self.chunk_shape()?,
            Some(&self.window),
        )
        .map_err(rechunk_err)
    }

    /// `(reads, writes)` of [`rechunk`](Self::rechunk) to `target` under `max_mem`
    /// (`calc_n_reads_rechunker`, with cfdb's declared-space transform for views and shifted
    /// origins, so it equals the number of source reads the rechunk makes).
    pub fn calc_n_reads_rechunker(&self, target: &[usize], max_mem: usize) -> Result<(u64, u64)> {
        self.declared()?
            .calc_n_reads_rechunker(self.itemsize()?, target, max_mem)
            .map_err(rechunk_err)
    }

    /// Rechunks the window to `target` (Python `var.rechunker().rechunk(target, max_mem)`):
    /// target chunks in C order of the target grid, read with rechunkit's plan (each source
    /// read is one storage chunk), holding at most `max_mem` in buffers plus one source and
    /// one target chunk (see `cfdb_rechunk::Rechunker::buffer_bound`).
    pub fn rechunk(&self, target: &[usize], max_mem: usize) -> Result<RechunkIter<'a>> {
        let kind = self.dtype()?.element_kind();
        let blank = ArrayData::blank(kind, &[0]);
        with_array_data!(blank, b => self.rechunk_typed(target, max_mem, elem_of(&b)))
    }

    fn rechunk_typed<T: Element>(
        &self,
        target: &[usize],
        max_mem: usize,
        _elem: PhantomElem<T>,
    ) -> Result<RechunkIter<'a>> {
        let space = self.declared()?;
        let rc = space
            .rechunker(self.itemsize()?, target, max_mem)
            .map_err(rechunk_err)?;
        // Decode ahead: the executor asks for the reads of batched groups one at a time, in
        // plan order, so the next reads are known and are decoded in parallel while earlier
        // ones are used. Bulk groups are filled through `read_into` instead.
        let sel_off: Vec<i64> = space.selection().iter().map(|r| r.start as i64).collect();
        let dshape = space.shape().to_vec();
        let upcoming = rc
            .plan()
            .filter(|g| g.kind != cfdb_rechunk::GroupKind::Bulk)
            .flat_map(|g| g.reads.into_iter())
            .map(move |r| {
                r.iter()
                    .zip(&sel_off)
                    .zip(&dshape)
                    .map(|((r, &off), &len)| {
                        let a = (r.start + off).max(0) as usize;
                        let b = ((r.end + off).max(0) as usize).min(len);
                        a..b
                    })
                    .collect::<Vec<Range<usize>>>()
            });
        let source = VarSource::<A, T> {
            reader: VarReader {
                var: self.clone(),
                offsets: space.offsets().iter().map(|&o| o as i64).collect(),
                full: self.ds.var_shape(&self.name)?,
                io: self.ds.var_io(&self.name)?,
            },
            upcoming: Box::new(upcoming),
            prefetch: (2 * rayon::current_num_threads()).max(2),
            cache: std::collections::VecDeque::new(),
        };
        let exec = rc.execute_source(source).with_fill(T::zero());
        Ok(RechunkIter::new(ExecChunks(exec)))
    }
}

/// Where a source region (declared space) lies in the variable.
enum Placement {
    /// Entirely outside: all blank.
    Outside,
    /// Entirely inside, at these index ranges.
    Inside(Vec<Range<usize>>),
    /// Partly inside: the index ranges and where they sit in the region.
    Partial(Vec<Range<usize>>, Vec<Range<usize>>),
}

/// The rechunk source of one variable: reads of batched groups one at a time with parallel
/// decode-ahead, bulk groups decoded in parallel straight into the executor's buffer.
struct VarSource<'a, A: Access, T> {
    reader: VarReader<'a, A>,
    upcoming: Box<dyn Iterator<Item = Vec<Range<usize>>> + 'a>,
    prefetch: usize,
    cache: std::collections::VecDeque<(Vec<Range<usize>>, ArrayD<T>)>,
}

/// The shared (thread-safe) part of a [`VarSource`].
struct VarReader<'a, A: Access> {
    var: DataVar<'a, A>,
    offsets: Vec<i64>,
    full: Vec<usize>,
    io: crate::io::VarIo,
}

impl<A: Access> VarReader<'_, A> {
    fn place(&self, region: &[Range<usize>]) -> Placement {
        let mut idx = Vec::with_capacity(region.len());
        let mut sub = Vec::with_capacity(region.len());
        for ((r, &d), &n) in region.iter().zip(&self.offsets).zip(&self.full) {
            let lo = (r.start as i64 - d).clamp(0, n as i64) as usize;
            let hi = (r.end as i64 - d).clamp(0, n as i64) as usize;
            if lo >= hi {
                return Placement::Outside;
            }
            let at = (lo as i64 + d) as usize - r.start;
            idx.push(lo..hi);
            sub.push(at..at + (hi - lo));
        }
        if sub
            .iter()
            .zip(region)
            .all(|(s, r)| s.start == 0 && s.len() == r.len())
        {
            Placement::Inside(idx)
        } else {
            Placement::Partial(idx, sub)
        }
    }

    /// Reads one source region (declared space) as values, blank outside the variable.
    fn read_one<T: Element>(&self, region: &[Range<usize>]) -> Result<ArrayD<T>> {
        let shape: Vec<usize> = region.iter().map(|r| r.len()).collect();
        match self.place(region) {
            Placement::Outside => Ok(ArrayD::from_elem(IxDyn(&shape), T::blank())),
            Placement::Inside(idx) => self.var.ds.read_region_owned(&self.var.name, &idx),
            Placement::Partial(idx, sub) => {
                let mut out = ArrayD::from_elem(IxDyn(&shape), T::blank());
                let mut view =
                    out.slice_each_axis_mut(|ax| Slice::from(sub[ax.axis.index()].clone()));
                self.var
                    .ds
                    .read_region_into(&self.var.name, &idx, &mut view)?;
                Ok(out)
            }
        }
    }

    fn codec_err(&self, key: &str, source: cfdb_codec::CodecError) -> CoreError {
        CoreError::Codec {
            path: self.io.path.clone(),
            var: self.var.name.clone(),
            key: Some(key.to_owned()),
            source,
        }
    }
}

impl<A: Access, T: Element> cfdb_rechunk::Source<T, CoreError> for VarSource<'_, A, T> {
    fn read(&mut self, region: &[Range<usize>]) -> Result<ArrayD<T>> {
        use rayon::prelude::*;
        if self
            .cache
            .front()
            .is_some_and(|(r, _)| r.as_slice() == region)
            && let Some((_, a)) = self.cache.pop_front()
        {
            return Ok(a);
        }
        self.cache.clear();
        // Find this request in the plan, then take the reads after it.
        let mut batch: Vec<Vec<Range<usize>>> = Vec::with_capacity(self.prefetch);
        for r in self.upcoming.by_ref() {
            if r.as_slice() == region {
                batch.push(r);
                break;
            }
        }
        if batch.is_empty() {
            return self.reader.read_one(region);
        }
        batch.extend(self.upcoming.by_ref().take(self.prefetch - 1));
        let this = &self.reader;
        let mut decoded: Vec<(Vec<Range<usize>>, ArrayD<T>)> = batch
            .into_par_iter()
            .map(|r| this.read_one(&r).map(|a| (r, a)))
            .collect::<Result<_>>()?;
        let (_, first) = decoded.remove(0);
        self.cache.extend(decoded);
        Ok(first)
    }

    fn read_into(
        &mut self,
        reads: Vec<cfdb_rechunk::SourceRead<'_, T>>,
    ) -> std::result::Result<(), cfdb_rechunk::ExecError<CoreError>> {
        use rayon::prelude::*;
        let src_err = |region: &[Range<usize>], error| cfdb_rechunk::ExecError::Source {
            region: region.to_vec(),
            error,
        };
        // Whole storage chunks are fetched together (one batched lookup), then decoded in
        // parallel, each into a per-thread scratch chunk and scattered into the target chunks
        // it overlaps.
        let this = &self.reader;
        let mut work = Vec::with_capacity(reads.len());
        let mut keys = Vec::new();
        for r in reads {
            let place = this.place(&r.region);
            let key = match &place {
                Placement::Inside(idx) => this.io.whole_chunk_key(idx),
                _ => None,
            };
            let slot = key.map(|k| {
                keys.push(k);
                keys.len() - 1
            });
            work.push((r, slot));
        }
        let store = this.var.ds.store().map_err(|e| src_err(&[], e))?;
        let values = store.get_many(&keys).map_err(|e| src_err(&[], e))?;
        work.into_par_iter()
            .with_max_len(1)
            .try_for_each(|(r, slot)| {
                let region = &r.region;
                let fail = |e| src_err(region, e);
                let scatter = |block: &ArrayD<T>, parts: Vec<cfdb_rechunk::SourcePart<'_, T>>| {
                    for (part, dst) in parts {
                        let src =
                            block.slice_each_axis(|ax| Slice::from(part[ax.axis.index()].clone()));
                        cfdb_rechunk::copy_block(dst, src).map_err(|e| fail(rechunk_err(e)))?;
                    }
                    Ok(())
                };
                let bytes =
                    slot.and_then(|i| values.get(i).and_then(|v| v.as_deref()).map(|b| (i, b)));
                match (slot, bytes) {
                    (Some(_), None) => {
                        // A whole chunk never written: blank.
                        for (_, mut dst) in r.parts {
                            dst.fill(T::blank());
                        }
                        Ok(())
                    }
                    (_, Some((i, bytes))) => crate::io::with_scratch(|scratch, chunk| {
                        #[cfg(feature = "instrument")]
                        crate::io::instrument::record();
                        this.io
                            .codec
                            .decode_into(bytes, scratch, chunk)
                            .map_err(|e| fail(this.codec_err(&keys[i], e)))?;
                        let block = T::view(chunk).ok_or_else(|| {
                            fail(CoreError::DtypeMismatch {
                                var: this.var.name.clone(),
                                expected: chunk.kind().to_string(),
                                actual: T::KIND.to_string(),
                            })
                        })?;
                        scatter(block, r.parts)
                    }),
                    (None, _) => {
                        let owned = this.read_one::<T>(&r.region).map_err(fail)?;
                        scatter(&owned, r.parts)
                    }
                }
            })
    }

    fn prefers_read_into(&self) -> bool {
        true
    }
}

/// A zero-sized carrier of an element type, to dispatch on [`ArrayData`]'s variant.
struct PhantomElem<T>(std::marker::PhantomData<T>);

fn elem_of<T: Element>(_: &ArrayD<T>) -> PhantomElem<T> {
    PhantomElem(std::marker::PhantomData)
}
