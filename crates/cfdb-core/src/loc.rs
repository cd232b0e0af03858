//! Label selections (Python cfdb's `.loc`, features G7), a separate type from positional
//! [`Sel`](crate::Sel)s.
//!
//! Rules (decided in `docs/parity.md`): a single label must exist (floats compare like numpy's
//! `isclose`, everything else exactly), else [`CoreError::LabelNotFound`]. A range `a..b`
//! selects the values `>= a` and `< b`; `a..=b` includes `b`, for every coordinate type. String
//! and geometry coordinates are not ordered, so their range bounds must be labels that exist.
//!
//! ```
//! use cfdb_core::{loc, Label, LocIndex};
//! let l = loc![1.5..=3.0, "2020-01-01"];
//! assert_eq!(l.items()[1], LocIndex::At(Label::Str("2020-01-01".into())));
//! ```

use std::ops::{Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

use cfdb_codec::{DataType, Datetime64};

use crate::coord::{Vals, is_close};
use crate::dataset::{Access, Dataset};
use crate::error::{CoreError, Result};

/// One label: a number, a text (a string value, or an ISO datetime for datetime coordinates),
/// or a typed datetime in the coordinate's unit.
#[derive(Clone, Debug, PartialEq)]
pub enum Label {
    /// A float label.
    Float(f64),
    /// An integer label.
    Int(i64),
    /// Text: a string value, an ISO-8601 datetime, or a WKT geometry.
    Str(String),
    /// Ticks of the coordinate's datetime unit.
    Time(Datetime64),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Float(v) => write!(f, "{v}"),
            Label::Int(v) => write!(f, "{v}"),
            Label::Str(s) => write!(f, "{s:?}"),
            Label::Time(t) => write!(f, "{} ticks", t.0),
        }
    }
}

macro_rules! label_from {
    ($($t:ty => $e:expr),*) => {$(
        impl From<$t> for Label {
            fn from(v: $t) -> Label {
                let f: fn($t) -> Label = $e;
                f(v)
            }
        }
    )*};
}
label_from!(
    f64 => Label::Float,
    f32 => |v| Label::Float(f64::from(v)),
    i64 => Label::Int,
    i32 => |v| Label::Int(i64::from(v)),
    &str => |v| Label::Str(v.to_owned()),
    String => Label::Str,
    Datetime64 => Label::Time
);

/// One item of a label selection.
#[derive(Clone, Debug, PartialEq)]
pub enum LocIndex {
    /// One label (keeps the dimension, length 1).
    At(Label),
    /// A range of labels; `inclusive` says whether `stop` itself is included.
    Range {
        /// First label (inclusive), or the start.
        start: Option<Label>,
        /// Last label, or the end.
        stop: Option<Label>,
        /// Whether `stop` is included (`a..=b`).
        inclusive: bool,
    },
}

impl LocIndex {
    /// The whole dimension.
    pub const ALL: LocIndex = LocIndex::Range {
        start: None,
        stop: None,
        inclusive: false,
    };
}

macro_rules! loc_from {
    ($($t:ty),*) => {$(
        impl From<$t> for LocIndex {
            fn from(v: $t) -> LocIndex { LocIndex::At(v.into()) }
        }
        impl From<Range<$t>> for LocIndex {
            fn from(r: Range<$t>) -> LocIndex {
                LocIndex::Range { start: Some(r.start.into()), stop: Some(r.end.into()), inclusive: false }
            }
        }
        impl From<RangeInclusive<$t>> for LocIndex {
            fn from(r: RangeInclusive<$t>) -> LocIndex {
                let (a, b) = r.into_inner();
                LocIndex::Range { start: Some(a.into()), stop: Some(b.into()), inclusive: true }
            }
        }
        impl From<RangeFrom<$t>> for LocIndex {
            fn from(r: RangeFrom<$t>) -> LocIndex {
                LocIndex::Range { start: Some(r.start.into()), stop: None, inclusive: false }
            }
        }
        impl From<RangeTo<$t>> for LocIndex {
            fn from(r: RangeTo<$t>) -> LocIndex {
                LocIndex::Range { start: None, stop: Some(r.end.into()), inclusive: false }
            }
        }
        impl From<RangeToInclusive<$t>> for LocIndex {
            fn from(r: RangeToInclusive<$t>) -> LocIndex {
                LocIndex::Range { start: None, stop: Some(r.end.into()), inclusive: true }
            }
        }
    )*};
}
loc_from!(f64, f32, i64, i32, &str, String, Datetime64);

impl From<RangeFull> for LocIndex {
    fn from(_: RangeFull) -> LocIndex {
        LocIndex::ALL
    }
}

impl From<Label> for LocIndex {
    fn from(l: Label) -> LocIndex {
        LocIndex::At(l)
    }
}

/// A label selection: one [`LocIndex`] per leading dimension.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocSel(Vec<LocIndex>);

impl LocSel {
    /// From items.
    pub fn new(items: Vec<LocIndex>) -> LocSel {
        LocSel(items)
    }
    /// The items.
    pub fn items(&self) -> &[LocIndex] {
        &self.0
    }
}

/// Builds a [`LocSel`]: `loc![0.5..=2.0, "2020-01-01".."2020-02-01", ..]`.
#[macro_export]
macro_rules! loc {
    ($($x:expr),* $(,)?) => { $crate::LocSel::new(vec![$($crate::LocIndex::from($x)),*]) };
}

/// A coordinate's values and dtype, ready for label lookups.
struct Lookup {
    coord: String,
    dtype: DataType,
    vals: Vals,
}

impl Lookup {
    fn new<A: Access>(ds: &Dataset<A>, coord: &str) -> Result<Lookup> {
        let dtype = ds.dtype(coord)?;
        let vals = Vals::from_array(coord, ds.coord_values(coord)?.as_ref())?;
        Ok(Lookup {
            coord: coord.to_owned(),
            dtype,
            vals,
        })
    }

    fn bad(&self, l: &Label) -> CoreError {
        CoreError::BadLabel {
            coord: self.coord.clone(),
            dtype: self.dtype.name(),
            label: l.to_string(),
        }
    }

    fn not_found(&self, l: &Label) -> CoreError {
        CoreError::LabelNotFound {
            coord: self.coord.clone(),
            label: l.to_string(),
        }
    }

    fn as_f64(&self, l: &Label) -> Result<f64> {
        match l {
            Label::Float(v) => Ok(*v),
            Label::Int(v) => Ok(*v as f64),
            Label::Str(s) => s.trim().parse().map_err(|_| self.bad(l)),
            Label::Time(_) => Err(self.bad(l)),
        }
    }

    fn as_i128(&self, l: &Label) -> Result<i128> {
        match (&self.dtype, l) {
            (DataType::DateTime { unit, .. }, Label::Str(s)) => crate::time::parse_ticks(s, *unit)
                .map(i128::from)
                .ok_or_else(|| self.bad(l)),
            (DataType::DateTime { .. }, Label::Time(t)) => Ok(i128::from(t.0)),
            (DataType::DateTime { .. }, _) => Err(self.bad(l)),
            (_, Label::Int(v)) => Ok(i128::from(*v)),
            (_, Label::Float(v)) if v.fract() == 0.0 => Ok(*v as i128),
            (_, Label::Str(s)) => s.trim().parse().map_err(|_| self.bad(l)),
            _ => Err(self.bad(l)),
        }
    }

    fn text<'a>(&self, l: &'a Label) -> Result<&'a str> {
        match l {
            Label::Str(s) => Ok(s),
            _ => Err(self.bad(l)),
        }
    }

    /// Position of a label that must exist.
    fn position(&self, l: &Label) -> Result<usize> {
        let found = match &self.vals {
            Vals::F(v) => {
                let x = self.as_f64(l)?;
                v.iter().position(|y| is_close(*y, x))
            }
            Vals::I(v) => {
                let x = self.as_i128(l)?;
                v.binary_search(&x).ok()
            }
            Vals::S(v) => {
                let x = self.text(l)?;
                v.iter().position(|y| y.as_deref() == Some(x))
            }
            Vals::G(v) => {
                let x = self.text(l)?;
                v.iter().position(|y| y.as_str() == Some(x))
            }
        };
        found.ok_or_else(|| self.not_found(l))
    }

    /// First position whose value is `>= l` (ordered coordinates).
    fn lower(&self, l: &Label) -> Result<usize> {
        match &self.vals {
            Vals::F(v) => {
                let x = self.as_f64(l)?;
                Ok(v.partition_point(|y| *y < x && !is_close(*y, x)))
            }
            Vals::I(v) => {
                let x = self.as_i128(l)?;
                Ok(v.partition_point(|y| *y < x))
            }
            _ => self.position(l),
        }
    }

    /// One past the last position whose value is `<= l` (`inclusive`) or `< l`.
    fn upper(&self, l: &Label, inclusive: bool) -> Result<usize> {
        match &self.vals {
            Vals::F(v) => {
                let x = self.as_f64(l)?;
                Ok(if inclusive {
                    v.partition_point(|y| *y <= x || is_close(*y, x))
                } else {
                    v.partition_point(|y| *y < x && !is_close(*y, x))
                })
            }
            Vals::I(v) => {
                let x = self.as_i128(l)?;
                Ok(if inclusive {
                    v.partition_point(|y| *y <= x)
                } else {
                    v.partition_point(|y| *y < x)
                })
            }
            _ => Ok(self.position(l)? + usize::from(inclusive)),
        }
    }

    fn resolve(&self, idx: &LocIndex, var: &str, dim: usize) -> Result<Range<usize>> {
        let n = self.vals.len();
        let r = match idx {
            LocIndex::At(l) => {
                let i = self.position(l)?;
                i..i + 1
            }
            LocIndex::Range {
                start,
                stop,
                inclusive,
            } => {
                let a = start.as_ref().map_or(Ok(0), |l| self.lower(l))?;
                let b = stop.as_ref().map_or(Ok(n), |l| self.upper(l, *inclusive))?;
                a..b.max(a)
            }
        };
        if r.is_empty() {
            return Err(CoreError::EmptySelection {
                var: var.to_owned(),
                dim,
                coord: self.coord.clone(),
                range: format!("{idx:?}"),
                len: n,
            });
        }
        Ok(r)
    }
}

/// Resolves a label selection on variable `var` into absolute index ranges.
pub(crate) fn resolve_loc<A: Access>(
    ds: &Dataset<A>,
    var: &str,
    loc: &LocSel,
) -> Result<Vec<Range<usize>>> {
    let coords = ds.var_coords(var)?;
    let shape = ds.var_shape(var)?;
    if loc.0.len() > coords.len() {
        return Err(CoreError::TooManyIndices {
            var: var.to_owned(),
            ndims: coords.len(),
            given: loc.0.len(),
        });
    }
    coords
        .iter()
        .enumerate()
        .map(|(d, c)| match loc.0.get(d) {
            None
            | Some(LocIndex::Range {
                start: None,
                stop: None,
                ..
            }) => Ok(0..shape[d]),
            Some(idx) => Lookup::new(ds, c)?.resolve(idx, var, d),
        })
        .collect()
}

/// Label bounds of a coordinate for truncate: `start..=stop`, as a position range (may be
/// empty).
pub(crate) fn label_bounds<A: Access>(
    ds: &Dataset<A>,
    coord: &str,
    start: Option<&Label>,
    stop: Option<&Label>,
) -> Result<(usize, usize)> {
    let lk = Lookup::new(ds, coord)?;
    let a = start.map_or(Ok(0), |l| lk.lower(l))?;
    let b = stop.map_or(Ok(lk.vals.len()), |l| lk.upper(l, true))?;
    Ok((a, b))
}
