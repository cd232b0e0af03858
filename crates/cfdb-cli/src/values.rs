//! Streaming a variable's values in row-major order without holding the variable in memory.
//!
//! [`walk`] reads a window of a variable in chunk-aligned slabs (bounded by
//! [`SLAB_BUDGET`] cells) and hands every row of the last dimension, or a piece of one, to a
//! [`RowSink`]: [`JsonSink`] writes the nested lists of the JSON dump contract, [`TextSink`]
//! one line per row.

use std::io::{self, Write};
use std::ops::Range;

use cfdb::codec::DatetimeUnit;
use cfdb::{ArrayData, DataType, Dataset, Element, ReadOnly, Sel};
use ndarray::ArrayD;

use crate::error::{CliError, CliResult};

/// The largest number of cells one read may decode (the dump's memory bound, about 64 MB of
/// f64 values).
pub(crate) const SLAB_BUDGET: usize = 8 << 20;

/// Receives the values of a window in row-major order.
pub(crate) trait RowSink {
    /// Cells `flat` of the (standard-layout) `data` are the cells of row `prefix` (indices of
    /// every dimension but the last, relative to the window) starting at column `col`.
    fn cells(
        &mut self,
        prefix: &[usize],
        col: usize,
        data: &ArrayData,
        flat: Range<usize>,
    ) -> io::Result<()>;
}

/// Maps a write error to a silent exit for a closed pipe (`cfdb dump | head`), else a file error.
pub(crate) fn out_err(e: io::Error) -> CliError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        CliError {
            code: 0,
            msg: String::new(),
        }
    } else {
        CliError {
            code: crate::error::EXIT_FILE,
            msg: format!("<stdout>: {e}"),
        }
    }
}

/// A standard-layout copy of `data` when it is not one already.
fn standard(data: ArrayData) -> ArrayData {
    fn fix<T: Element>(a: ArrayD<T>) -> ArrayData {
        if a.is_standard_layout() {
            T::wrap(a)
        } else {
            T::wrap(a.as_standard_layout().into_owned())
        }
    }
    cfdb::codec::with_array_data!(data, a => fix(a))
}

/// Walks the window `window` (absolute index ranges) of variable `name`, feeding `sink`.
pub(crate) fn walk(
    ds: &Dataset<ReadOnly>,
    name: &str,
    window: &[Range<usize>],
    sink: &mut dyn RowSink,
) -> CliResult<()> {
    walk_with_budget(ds, name, window, sink, SLAB_BUDGET)
}

/// [`walk`] with reads of at most about `budget` cells.
fn walk_with_budget(
    ds: &Dataset<ReadOnly>,
    name: &str,
    window: &[Range<usize>],
    sink: &mut dyn RowSink,
    budget: usize,
) -> CliResult<()> {
    let path = ds.path();
    let var = ds.var(name).map_err(|e| CliError::core(path, e))?;
    let chunk = var.chunk_shape().map_err(|e| CliError::core(path, e))?;
    let origins: Vec<i64> = var
        .coord_names()
        .iter()
        .map(|c| ds.coord(c).and_then(|c| c.origin()))
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::core(path, e))?;
    if window.is_empty() || window.iter().any(|r| r.is_empty()) {
        return Ok(());
    }
    let w = Walker {
        ds,
        name,
        window,
        chunk: &chunk,
        origins: &origins,
        budget: budget.max(1),
    };
    w.walk(0, &mut window.to_vec(), sink)
}

struct Walker<'a> {
    ds: &'a Dataset<ReadOnly>,
    name: &'a str,
    window: &'a [Range<usize>],
    chunk: &'a [usize],
    origins: &'a [i64],
    budget: usize,
}

impl Walker<'_> {
    /// Dimensions before `d` of `win` are single positions; `d..` are the window's ranges.
    fn walk(&self, d: usize, win: &mut [Range<usize>], sink: &mut dyn RowSink) -> CliResult<()> {
        let n = win.len();
        let rest: usize = win[d + 1..].iter().map(|r| r.len()).product();
        let cs = self.chunk[d].max(1);
        let one = cs.min(win[d].len()).saturating_mul(rest);
        if d + 1 < n && one > self.budget {
            // Even one chunk row of this dimension is too big: go one position at a time.
            for i in win[d].clone() {
                let mut w = win.to_vec();
                w[d] = i..i + 1;
                self.walk(d + 1, &mut w, sink)?;
            }
            return Ok(());
        }
        let k = (self.budget / one.max(1)).max(1);
        let step = cs.saturating_mul(k) as i64;
        let origin = self.origins[d];
        let (a, b) = (win[d].start, win[d].end);
        let mut s = a;
        while s < b {
            let p = origin + s as i64;
            let block_start = p.div_euclid(cs as i64) * cs as i64;
            let e = ((block_start + step - origin).max(s as i64 + 1) as usize).min(b);
            let mut w = win.to_vec();
            w[d] = s..e;
            self.emit_slab(&w, sink)?;
            s = e;
        }
        Ok(())
    }

    /// Reads one slab and hands its rows to the sink.
    fn emit_slab(&self, w: &[Range<usize>], sink: &mut dyn RowSink) -> CliResult<()> {
        let path = self.ds.path();
        let var = self
            .ds
            .var(self.name)
            .and_then(|v| v.select(Sel::from(w)))
            .map_err(|e| CliError::core(path, e))?;
        let data = standard(var.read_dyn().map_err(|e| CliError::core(path, e))?);
        let n = w.len();
        let lens: Vec<usize> = w.iter().map(|r| r.len()).collect();
        let row_len = lens[n - 1];
        let rows: usize = lens[..n - 1].iter().product();
        let col = w[n - 1].start - self.window[n - 1].start;
        let mut idx = vec![0usize; n - 1];
        let mut prefix = vec![0usize; n - 1];
        for r in 0..rows {
            for (dd, p) in prefix.iter_mut().enumerate() {
                *p = w[dd].start + idx[dd] - self.window[dd].start;
            }
            sink.cells(&prefix, col, &data, r * row_len..(r + 1) * row_len)
                .map_err(out_err)?;
            // Next multi-index, last dimension fastest.
            for dd in (0..n - 1).rev() {
                idx[dd] += 1;
                if idx[dd] < lens[dd] {
                    break;
                }
                idx[dd] = 0;
            }
        }
        Ok(())
    }
}

/// A shape as Python prints a tuple: `(5,)`, `(5, 7, 4)`.
pub(crate) fn tuple(v: &[usize]) -> String {
    let parts: Vec<String> = v.iter().map(ToString::to_string).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// The datetime unit of a dtype, if it is a datetime.
pub(crate) fn datetime_unit(dt: &DataType) -> Option<DatetimeUnit> {
    match dt {
        DataType::DateTime { unit, .. } => Some(*unit),
        _ => None,
    }
}

/// Writes an f64 as the dump contract says: a JSON number as serde_json prints it (shortest
/// round trip), NaN as null, infinities as "inf"/"-inf".
pub(crate) fn write_json_f64(out: &mut dyn Write, v: f64) -> io::Result<()> {
    if v.is_nan() {
        out.write_all(b"null")
    } else if v.is_infinite() {
        out.write_all(if v > 0.0 { b"\"inf\"" } else { b"\"-inf\"" })
    } else {
        serde_json::to_writer(&mut *out, &v).map_err(io::Error::from)
    }
}

fn write_json_str(out: &mut dyn Write, s: Option<&str>) -> io::Result<()> {
    match s {
        None => out.write_all(b"null"),
        Some(s) => serde_json::to_writer(&mut *out, s).map_err(io::Error::from),
    }
}

/// Writes cells `flat` of `data` as JSON values separated by commas.
pub(crate) fn write_json_cells(
    out: &mut dyn Write,
    data: &ArrayData,
    flat: Range<usize>,
    unit: Option<DatetimeUnit>,
) -> io::Result<()> {
    macro_rules! each {
        ($a:expr, $v:ident => $body:expr) => {{
            let cells: Box<dyn Iterator<Item = _>> = match $a.as_slice() {
                Some(s) => Box::new(s[flat.clone()].iter()),
                None => Box::new($a.iter().skip(flat.start).take(flat.len())),
            };
            for (j, $v) in cells.enumerate() {
                if j > 0 {
                    out.write_all(b",")?;
                }
                $body;
            }
        }};
    }
    macro_rules! ints {
        ($a:expr) => {
            each!($a, v => write!(out, "{v}")?)
        };
    }
    match data {
        ArrayData::F32(a) => each!(a, v => write_json_f64(out, f64::from(*v))?),
        ArrayData::F64(a) => each!(a, v => write_json_f64(out, *v)?),
        ArrayData::I8(a) => ints!(a),
        ArrayData::I16(a) => ints!(a),
        ArrayData::I32(a) => ints!(a),
        ArrayData::I64(a) => ints!(a),
        ArrayData::U8(a) => ints!(a),
        ArrayData::U16(a) => ints!(a),
        ArrayData::U32(a) => ints!(a),
        ArrayData::U64(a) => ints!(a),
        ArrayData::Bool(a) => each!(a, v => out.write_all(if *v { b"true" } else { b"false" })?),
        ArrayData::DateTime(a) => each!(a, v => {
            if v.is_nat() {
                out.write_all(b"null")?;
            } else {
                let text = match unit {
                    Some(u) => cfdb::time::format_ticks(v.0, u),
                    None => v.0.to_string(),
                };
                write_json_str(out, Some(&text))?;
            }
        }),
        ArrayData::Str(a) => each!(a, v => write_json_str(out, v.as_deref())?),
        ArrayData::Geometry(a) => each!(a, v => write_json_str(out, v.as_str())?),
    }
    Ok(())
}

/// Cell `i` (row-major) of an array, in O(1) for standard layouts.
fn at<T>(a: &ArrayD<T>, i: usize) -> Option<&T> {
    match a.as_slice() {
        Some(s) => s.get(i),
        None => a.iter().nth(i),
    }
}

/// Formats a float for people: shortest round-trip text (`5.0`, `0.1`, `1e-7`), `nan`, `inf`.
fn text_float(v: impl std::fmt::Debug, nan: bool) -> String {
    if nan {
        "nan".to_owned()
    } else {
        format!("{v:?}")
    }
}

/// Formats one cell for people (used by the text dump and `info`).
pub(crate) fn text_cell(data: &ArrayData, i: usize, unit: Option<DatetimeUnit>) -> String {
    match data {
        ArrayData::F32(a) => at(a, i).map(|v| text_float(v, v.is_nan())),
        ArrayData::F64(a) => at(a, i).map(|v| text_float(v, v.is_nan())),
        ArrayData::Bool(a) => at(a, i).map(|v| v.to_string()),
        ArrayData::DateTime(a) => at(a, i).map(|v| {
            if v.is_nat() {
                "NaT".to_owned()
            } else {
                match unit {
                    Some(u) => cfdb::time::format_ticks(v.0, u),
                    None => v.0.to_string(),
                }
            }
        }),
        ArrayData::Str(a) => at(a, i).map(|v| match v {
            Some(s) => serde_json::to_string(s).unwrap_or_default(),
            None => "None".to_owned(),
        }),
        ArrayData::Geometry(a) => at(a, i).map(|v| v.as_str().unwrap_or("None").to_owned()),
        other => cfdb::codec::with_array_data!(other, a => at(a, i).map(|v| format!("{v:?}"))),
    }
    .unwrap_or_default()
}

/// Writes the nested lists of the JSON dump contract.
pub(crate) struct JsonSink<'w> {
    out: &'w mut dyn Write,
    ndim: usize,
    unit: Option<DatetimeUnit>,
    prev: Option<Vec<usize>>,
}

impl<'w> JsonSink<'w> {
    pub(crate) fn new(out: &'w mut dyn Write, ndim: usize, unit: Option<DatetimeUnit>) -> Self {
        JsonSink {
            out,
            ndim,
            unit,
            prev: None,
        }
    }

    /// Closes the lists; for a window with no cells writes the empty nested lists of `shape`.
    pub(crate) fn finish(self, shape: &[usize]) -> io::Result<()> {
        if self.prev.is_some() {
            for _ in 0..self.ndim {
                self.out.write_all(b"]")?;
            }
            Ok(())
        } else {
            write_empty(self.out, shape)
        }
    }
}

/// The nested lists of an array of `shape` that has no cells.
fn write_empty(out: &mut dyn Write, shape: &[usize]) -> io::Result<()> {
    out.write_all(b"[")?;
    if let Some((&n, rest)) = shape.split_first()
        && !rest.is_empty()
    {
        for i in 0..n {
            if i > 0 {
                out.write_all(b",")?;
            }
            write_empty(out, rest)?;
        }
    }
    out.write_all(b"]")
}

impl RowSink for JsonSink<'_> {
    fn cells(
        &mut self,
        prefix: &[usize],
        col: usize,
        data: &ArrayData,
        flat: Range<usize>,
    ) -> io::Result<()> {
        if col == 0 {
            match &self.prev {
                None => {
                    for _ in 0..self.ndim.saturating_sub(1) {
                        self.out.write_all(b"[")?;
                    }
                }
                Some(p) => {
                    let k = p.iter().zip(prefix).position(|(a, b)| a != b).unwrap_or(0);
                    let depth = self.ndim.saturating_sub(2).saturating_sub(k);
                    self.out.write_all(b"]")?;
                    for _ in 0..depth {
                        self.out.write_all(b"]")?;
                    }
                    self.out.write_all(b",")?;
                    for _ in 0..depth {
                        self.out.write_all(b"[")?;
                    }
                }
            }
            self.out.write_all(b"[")?;
            self.prev = Some(prefix.to_vec());
        } else if !flat.is_empty() {
            self.out.write_all(b",")?;
        }
        write_json_cells(self.out, data, flat, self.unit)
    }
}

/// Writes one line per row: `  [i, j, :] v v v ...`.
pub(crate) struct TextSink<'w> {
    out: &'w mut dyn Write,
    unit: Option<DatetimeUnit>,
    /// Absolute start of the window per dimension (the printed indices are absolute).
    offset: Vec<usize>,
    at_line_start: bool,
}

impl<'w> TextSink<'w> {
    pub(crate) fn new(
        out: &'w mut dyn Write,
        unit: Option<DatetimeUnit>,
        window: &[Range<usize>],
    ) -> Self {
        TextSink {
            out,
            unit,
            offset: window.iter().map(|r| r.start).collect(),
            at_line_start: true,
        }
    }

    pub(crate) fn finish(self) -> io::Result<()> {
        if !self.at_line_start {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// Values per text line.
const TEXT_PER_LINE: usize = 10;

impl RowSink for TextSink<'_> {
    fn cells(
        &mut self,
        prefix: &[usize],
        col: usize,
        data: &ArrayData,
        flat: Range<usize>,
    ) -> io::Result<()> {
        for (j, i) in flat.enumerate() {
            let c = col + j;
            if c.is_multiple_of(TEXT_PER_LINE) {
                if !self.at_line_start {
                    self.out.write_all(b"\n")?;
                }
                let idx: Vec<String> = prefix
                    .iter()
                    .zip(&self.offset)
                    .map(|(p, o)| (p + o).to_string())
                    .chain(std::iter::once(format!(
                        "{}:",
                        c + self.offset.last().copied().unwrap_or(0)
                    )))
                    .collect();
                write!(self.out, "  [{}]", idx.join(", "))?;
                self.at_line_start = false;
            }
            write!(self.out, " {}", text_cell(data, i, self.unit))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden() -> Vec<std::path::PathBuf> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/cfdb");
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cfdb"))
            .collect();
        v.sort();
        assert_eq!(v.len(), 10);
        v
    }

    fn json_of(
        ds: &Dataset<ReadOnly>,
        name: &str,
        window: &[Range<usize>],
        budget: usize,
    ) -> String {
        let dt = ds.dtype(name).unwrap();
        let mut buf = Vec::new();
        let mut sink = JsonSink::new(&mut buf, window.len(), datetime_unit(&dt));
        walk_with_budget(ds, name, window, &mut sink, budget).unwrap();
        let lens: Vec<usize> = window.iter().map(|r| r.len()).collect();
        sink.finish(&lens).unwrap();
        String::from_utf8(buf).unwrap()
    }

    /// Small read budgets (slabs of one chunk, one row, part of a row) give the same text as
    /// one read of the whole window, for whole variables and for windows not on chunk edges.
    #[test]
    fn slabs_do_not_change_the_output() {
        for path in golden() {
            let ds = cfdb::open(&path).unwrap();
            for name in ds.var_names() {
                let shape = ds.var_shape(name).unwrap();
                let full: Vec<Range<usize>> = shape.iter().map(|&n| 0..n).collect();
                let inner: Vec<Range<usize>> = shape
                    .iter()
                    .map(|&n| if n > 2 { 1..n - 1 } else { 0..n })
                    .collect();
                for window in [full, inner] {
                    let want = json_of(&ds, name, &window, usize::MAX);
                    let parsed: serde_json::Value = serde_json::from_str(&want).unwrap();
                    assert!(parsed.is_array(), "{name}: {want}");
                    for budget in [1, 2, 3, 5, 7, 50] {
                        assert_eq!(
                            json_of(&ds, name, &window, budget),
                            want,
                            "{}: {name} {window:?} budget {budget}",
                            path.display()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn empty_nested_lists() {
        let mut b = Vec::new();
        write_empty(&mut b, &[0]).unwrap();
        write_empty(&mut b, &[2, 0]).unwrap();
        write_empty(&mut b, &[0, 3]).unwrap();
        write_empty(&mut b, &[2, 1, 0]).unwrap();
        assert_eq!(String::from_utf8(b).unwrap(), "[][[],[]][][[[]],[[]]]");
    }

    #[test]
    fn float_text() {
        let f = |v: f64| {
            let mut b = Vec::new();
            write_json_f64(&mut b, v).unwrap();
            String::from_utf8(b).unwrap()
        };
        assert_eq!(f(f64::NAN), "null");
        assert_eq!(f(f64::INFINITY), "\"inf\"");
        assert_eq!(f(f64::NEG_INFINITY), "\"-inf\"");
        assert_eq!(f(1.0), "1.0");
        assert_eq!(f(f64::from(0.1f32)), "0.10000000149011612");
        assert_eq!(f(-0.0), "-0.0");
    }
}
