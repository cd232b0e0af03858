//! Positional selections (Python cfdb's `var[...]`, features group G).
//!
//! A [`Sel`] holds one [`Index`] per leading dimension; missing trailing items select the
//! whole dimension. Build one with the [`sel!`](crate::sel) macro or from a `Vec<Index>`:
//!
//! ```
//! use cfdb_core::{sel, Index, Sel};
//! let s: Sel = sel![2, 1..4, ..];
//! assert_eq!(s.items(), &[Index::At(2), Index::Range(Some(1), Some(4)), Index::Range(None, None)]);
//! // Normalised against a shape: an integer keeps its dimension (length 1, as in Python cfdb).
//! assert_eq!(s.resolve(&[5, 10, 3]).unwrap(), vec![2..3, 1..4, 0..3]);
//! ```

use std::fmt;
use std::ops::{Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

/// One item of a positional selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Index {
    /// One position; negative counts from the end. Keeps the dimension (length 1).
    At(i64),
    /// `start..stop`, each optional and possibly negative; clamped into the dimension like
    /// numpy slices. Must not be empty after clamping.
    Range(Option<i64>, Option<i64>),
}

impl Index {
    /// The whole dimension.
    pub const ALL: Index = Index::Range(None, None);
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Index::At(i) => write!(f, "{i}"),
            Index::Range(a, b) => {
                if let Some(a) = a {
                    write!(f, "{a}")?;
                }
                f.write_str("..")?;
                if let Some(b) = b {
                    write!(f, "{b}")?;
                }
                Ok(())
            }
        }
    }
}

/// Why an [`Index`] could not be applied to a dimension (turned into a
/// [`crate::CoreError`] with the variable's name by the caller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IndexProblem {
    OutOfRange(i64),
    Empty(String),
}

impl Index {
    /// Resolves against a dimension of length `len` into a non-empty range.
    pub(crate) fn resolve(self, len: usize) -> Result<Range<usize>, IndexProblem> {
        let n = len as i64;
        match self {
            Index::At(i) => {
                let j = if i < 0 { i + n } else { i };
                if j < 0 || j >= n {
                    return Err(IndexProblem::OutOfRange(i));
                }
                Ok(j as usize..j as usize + 1)
            }
            Index::Range(a, b) => {
                let clamp = |v: i64| -> i64 {
                    let v = if v < 0 { v + n } else { v };
                    v.clamp(0, n)
                };
                let start = a.map_or(0, clamp);
                let stop = b.map_or(n, clamp);
                if start >= stop {
                    return Err(IndexProblem::Empty(self.to_string()));
                }
                Ok(start as usize..stop as usize)
            }
        }
    }
}

macro_rules! int_index {
    ($($t:ty),*) => {$(
        impl From<$t> for Index {
            fn from(i: $t) -> Index {
                Index::At(i64::try_from(i).unwrap_or(i64::MAX))
            }
        }
        impl From<Range<$t>> for Index {
            fn from(r: Range<$t>) -> Index {
                Index::Range(Some(i64::try_from(r.start).unwrap_or(i64::MAX)), Some(i64::try_from(r.end).unwrap_or(i64::MAX)))
            }
        }
        impl From<RangeInclusive<$t>> for Index {
            fn from(r: RangeInclusive<$t>) -> Index {
                let end = i64::try_from(*r.end()).unwrap_or(i64::MAX);
                // `a..=-1` means "to the end", as the inclusive bound suggests.
                let stop = if end == -1 { None } else { Some(end.saturating_add(1)) };
                Index::Range(Some(i64::try_from(*r.start()).unwrap_or(i64::MAX)), stop)
            }
        }
        impl From<RangeFrom<$t>> for Index {
            fn from(r: RangeFrom<$t>) -> Index {
                Index::Range(Some(i64::try_from(r.start).unwrap_or(i64::MAX)), None)
            }
        }
        impl From<RangeTo<$t>> for Index {
            fn from(r: RangeTo<$t>) -> Index {
                Index::Range(None, Some(i64::try_from(r.end).unwrap_or(i64::MAX)))
            }
        }
        impl From<RangeToInclusive<$t>> for Index {
            fn from(r: RangeToInclusive<$t>) -> Index {
                let end = i64::try_from(r.end).unwrap_or(i64::MAX);
                let stop = if end == -1 { None } else { Some(end.saturating_add(1)) };
                Index::Range(None, stop)
            }
        }
    )*};
}
int_index!(i32, i64, isize, u32, u64, usize);

impl From<RangeFull> for Index {
    fn from(_: RangeFull) -> Index {
        Index::ALL
    }
}

/// A positional selection: one [`Index`] per leading dimension (the rest: everything).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sel(Vec<Index>);

impl Sel {
    /// Everything.
    pub fn all() -> Sel {
        Sel(Vec::new())
    }

    /// From items.
    pub fn new(items: Vec<Index>) -> Sel {
        Sel(items)
    }

    /// The items.
    pub fn items(&self) -> &[Index] {
        &self.0
    }

    /// Resolves against `shape` without naming a variable (see [`crate::DataVar::select`] for
    /// the variable-aware form).
    ///
    /// ```
    /// use cfdb_core::sel;
    /// assert_eq!(sel![-1].resolve(&[4]).unwrap(), vec![3..4]);
    /// assert!(sel![4].resolve(&[4]).is_err());
    /// assert!(sel![3..3].resolve(&[4]).is_err());
    /// assert_eq!(sel![-10..10].resolve(&[4]).unwrap(), vec![0..4]);
    /// ```
    pub fn resolve(&self, shape: &[usize]) -> crate::Result<Vec<Range<usize>>> {
        let names: Vec<String> = (0..shape.len()).map(|d| format!("dim{d}")).collect();
        resolve_sel(self, shape, "<array>", &names)
    }
}

impl From<Vec<Index>> for Sel {
    fn from(v: Vec<Index>) -> Sel {
        Sel(v)
    }
}

impl From<Index> for Sel {
    fn from(i: Index) -> Sel {
        Sel(vec![i])
    }
}

impl From<&[Range<usize>]> for Sel {
    fn from(r: &[Range<usize>]) -> Sel {
        Sel(r.iter().map(|r| Index::from(r.clone())).collect())
    }
}

impl fmt::Display for Sel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, x) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{x}")?;
        }
        f.write_str("]")
    }
}

/// Builds a [`Sel`] from integers and Rust ranges: `sel![0, 2..5, .., -3..]`.
#[macro_export]
macro_rules! sel {
    () => { $crate::Sel::all() };
    ($($x:expr),+ $(,)?) => { $crate::Sel::new(vec![$($crate::Index::from($x)),+]) };
}

/// Resolves a selection against a variable's shape, with errors naming the variable.
pub(crate) fn resolve_sel(
    sel: &Sel,
    shape: &[usize],
    var: &str,
    coords: &[String],
) -> crate::Result<Vec<Range<usize>>> {
    if sel.0.len() > shape.len() {
        return Err(crate::CoreError::TooManyIndices {
            var: var.to_owned(),
            ndims: shape.len(),
            given: sel.0.len(),
        });
    }
    shape
        .iter()
        .enumerate()
        .map(|(d, &len)| {
            let idx = sel.0.get(d).copied().unwrap_or(Index::ALL);
            idx.resolve(len).map_err(|p| {
                let coord = coords.get(d).cloned().unwrap_or_default();
                match p {
                    IndexProblem::OutOfRange(index) => crate::CoreError::IndexOutOfRange {
                        var: var.to_owned(),
                        dim: d,
                        coord,
                        index,
                        len,
                    },
                    IndexProblem::Empty(range) => crate::CoreError::EmptySelection {
                        var: var.to_owned(),
                        dim: d,
                        coord,
                        range,
                        len,
                    },
                }
            })
        })
        .collect()
}

/// Composes a selection relative to a window (`outer`, absolute ranges) into absolute ranges.
pub(crate) fn compose(outer: &[Range<usize>], inner: &[Range<usize>]) -> Vec<Range<usize>> {
    outer
        .iter()
        .zip(inner)
        .map(|(o, i)| o.start + i.start..o.start + i.end)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_like_clamping() {
        assert_eq!(Index::from(-3..).resolve(5), Ok(2..5));
        assert_eq!(Index::from(..-1).resolve(5), Ok(0..4));
        assert_eq!(Index::from(RangeInclusive::new(1, -1)).resolve(5), Ok(1..5));
        assert_eq!(Index::from(1..=2).resolve(5), Ok(1..3));
        assert_eq!(Index::from(-100..100).resolve(5), Ok(0..5));
        assert!(Index::Range(Some(4), Some(2)).resolve(5).is_err());
        assert!(Index::from(7..9).resolve(5).is_err());
        assert_eq!(Index::At(-5).resolve(5), Ok(0..1));
        assert_eq!(Index::At(-6).resolve(5), Err(IndexProblem::OutOfRange(-6)));
    }

    #[test]
    fn compose_is_relative() {
        assert_eq!(compose(&[10..20, 0..5], &[2..4, 1..2]), vec![12..14, 1..2]);
    }
}
