//! Coordinate value rules: sorting, uniqueness, steps and gap filling (features group E).

use cfdb_codec::{ArrayData, DataType, Datetime64, ElementKind, IntType, WktGeometry};
use ndarray::{ArrayD, IxDyn};
use serde_json::Number;

use crate::error::{CoreError, Result};

/// How a coordinate's step is chosen at creation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Step {
    /// No step: appends and prepends are not checked and never gap-filled (Python `False`).
    #[default]
    None,
    /// Inferred from the data when it is regular (Python `True`).
    Infer,
    /// This step (in the coordinate's units; datetime steps count ticks of its unit).
    Value(f64),
}

/// Coordinate values in a form the rules can work on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Vals {
    /// Float coordinates (f32 values widened exactly).
    F(Vec<f64>),
    /// Integer and datetime coordinates (ticks).
    I(Vec<i128>),
    /// Strings (order kept).
    S(Vec<Option<String>>),
    /// Geometries (order kept).
    G(Vec<WktGeometry>),
}

fn bad(coord: &str, reason: impl Into<String>) -> CoreError {
    CoreError::InvalidCoordData {
        coord: coord.to_owned(),
        reason: reason.into(),
    }
}

impl Vals {
    pub(crate) fn from_array(coord: &str, a: &ArrayData) -> Result<Vals> {
        macro_rules! ints {
            ($x:expr) => {
                Vals::I($x.iter().map(|v| i128::from(*v)).collect())
            };
        }
        Ok(match a {
            ArrayData::F32(x) => Vals::F(x.iter().map(|v| f64::from(*v)).collect()),
            ArrayData::F64(x) => Vals::F(x.iter().copied().collect()),
            ArrayData::I8(x) => ints!(x),
            ArrayData::I16(x) => ints!(x),
            ArrayData::I32(x) => ints!(x),
            ArrayData::I64(x) => ints!(x),
            ArrayData::U8(x) => ints!(x),
            ArrayData::U16(x) => ints!(x),
            ArrayData::U32(x) => ints!(x),
            ArrayData::U64(x) => ints!(x),
            ArrayData::DateTime(x) => {
                if x.iter().any(|t| t.is_nat()) {
                    return Err(bad(coord, "coordinate values cannot be NaT"));
                }
                Vals::I(x.iter().map(|t| i128::from(t.0)).collect())
            }
            ArrayData::Str(x) => Vals::S(x.iter().cloned().collect()),
            ArrayData::Geometry(x) => Vals::G(x.iter().cloned().collect()),
            ArrayData::Bool(_) => {
                return Err(bad(coord, "bool coordinates are not supported"));
            }
        })
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Vals::F(v) => v.len(),
            Vals::I(v) => v.len(),
            Vals::S(v) => v.len(),
            Vals::G(v) => v.len(),
        }
    }

    /// Back to an array of `kind` (values already checked to fit).
    pub(crate) fn to_array(&self, coord: &str, kind: ElementKind) -> Result<ArrayData> {
        let n = self.len();
        let shape = IxDyn(&[n]);
        macro_rules! from_i {
            ($v:expr, $t:ty, $variant:ident) => {{
                let out: std::result::Result<Vec<$t>, _> =
                    $v.iter().map(|x| <$t>::try_from(*x)).collect();
                let out =
                    out.map_err(|_| bad(coord, concat!("a value does not fit ", stringify!($t))))?;
                ArrayData::$variant(
                    ArrayD::from_shape_vec(shape, out)
                        .map_err(|e| CoreError::Invalid(e.to_string()))?,
                )
            }};
        }
        let arr = |r: std::result::Result<ArrayData, ndarray::ShapeError>| {
            r.map_err(|e| CoreError::Invalid(e.to_string()))
        };
        Ok(match (self, kind) {
            (Vals::F(v), ElementKind::F32) => arr(ArrayD::from_shape_vec(
                shape,
                v.iter().map(|x| *x as f32).collect(),
            )
            .map(ArrayData::F32))?,
            (Vals::F(v), ElementKind::F64) => {
                arr(ArrayD::from_shape_vec(shape, v.clone()).map(ArrayData::F64))?
            }
            (Vals::I(v), ElementKind::Int(t)) => match t {
                IntType::I8 => from_i!(v, i8, I8),
                IntType::I16 => from_i!(v, i16, I16),
                IntType::I32 => from_i!(v, i32, I32),
                IntType::I64 => from_i!(v, i64, I64),
                IntType::U8 => from_i!(v, u8, U8),
                IntType::U16 => from_i!(v, u16, U16),
                IntType::U32 => from_i!(v, u32, U32),
                IntType::U64 => from_i!(v, u64, U64),
            },
            (Vals::I(v), ElementKind::DateTime) => {
                let out: std::result::Result<Vec<Datetime64>, _> = v
                    .iter()
                    .map(|x| i64::try_from(*x).map(Datetime64))
                    .collect();
                let out = out.map_err(|_| bad(coord, "a datetime does not fit 64 bits"))?;
                arr(ArrayD::from_shape_vec(shape, out).map(ArrayData::DateTime))?
            }
            (Vals::S(v), ElementKind::Str) => {
                arr(ArrayD::from_shape_vec(shape, v.clone()).map(ArrayData::Str))?
            }
            (Vals::G(v), ElementKind::Geometry) => {
                arr(ArrayD::from_shape_vec(shape, v.clone()).map(ArrayData::Geometry))?
            }
            (_, k) => {
                return Err(bad(coord, format!("values do not match the {k} dtype")));
            }
        })
    }

    /// Sorts numeric values (strings and geometries keep their order) and checks uniqueness.
    pub(crate) fn sort_unique(&mut self, coord: &str) -> Result<()> {
        match self {
            Vals::F(v) => {
                if v.iter().any(|x| x.is_nan()) {
                    return Err(bad(coord, "coordinate values cannot be NaN"));
                }
                v.sort_by(f64::total_cmp);
                if let Some(w) = v.windows(2).find(|w| w[0] == w[1]) {
                    return Err(bad(
                        coord,
                        format!("values must be unique; {} repeats", w[0]),
                    ));
                }
            }
            Vals::I(v) => {
                v.sort_unstable();
                if let Some(w) = v.windows(2).find(|w| w[0] == w[1]) {
                    return Err(bad(
                        coord,
                        format!("values must be unique; {} repeats", w[0]),
                    ));
                }
            }
            Vals::S(v) => {
                let mut seen = std::collections::HashSet::new();
                for s in v.iter() {
                    let Some(s) = s else {
                        return Err(bad(coord, "string coordinate values cannot be missing"));
                    };
                    if !seen.insert(s.as_str()) {
                        return Err(bad(coord, format!("values must be unique; {s:?} repeats")));
                    }
                }
            }
            Vals::G(v) => {
                let mut seen = std::collections::HashSet::new();
                for g in v.iter() {
                    let Some(s) = g.as_str() else {
                        return Err(bad(coord, "geometry coordinate values cannot be missing"));
                    };
                    if !seen.insert(s) {
                        return Err(bad(coord, format!("values must be unique; {s} repeats")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Infers the regular spacing (Python's `step=True`), or `None`.
    pub(crate) fn infer_step(&self) -> Option<StepValue> {
        match self {
            Vals::F(v) if v.len() >= 2 => {
                let step = round5(v[1] - v[0]);
                let ok = v.windows(2).all(|w| is_close(w[1] - w[0], step));
                (ok && step > 0.0).then_some(StepValue::F(step))
            }
            Vals::I(v) if v.len() >= 2 => {
                let step = v[1] - v[0];
                let ok = v.windows(2).all(|w| w[1] - w[0] == step);
                (ok && step > 0).then_some(StepValue::I(step))
            }
            _ => None,
        }
    }

    /// Checks that the values are spaced by `step`.
    pub(crate) fn check_step(&self, coord: &str, step: StepValue) -> Result<()> {
        let ok = match (self, step) {
            (Vals::F(v), StepValue::F(s)) => v.windows(2).all(|w| is_close(w[1] - w[0], s)),
            (Vals::I(v), StepValue::I(s)) => v.windows(2).all(|w| w[1] - w[0] == s),
            (Vals::F(_) | Vals::I(_), _) => false,
            _ => {
                return Err(bad(
                    coord,
                    "only numeric and datetime coordinates can have a step",
                ));
            }
        };
        if ok {
            Ok(())
        } else {
            Err(bad(
                coord,
                format!("the values are not spaced by the step {step}"),
            ))
        }
    }

    /// The values to add for an append (`at_end`) or prepend of `new` (sorted, checked) to
    /// `old`, with the gap filled when a step is set.
    pub(crate) fn extend_values(
        coord: &str,
        old: &Vals,
        mut new: Vals,
        step: Option<StepValue>,
        at_end: bool,
    ) -> Result<Vals> {
        new.sort_unique(coord)?;
        if new.len() == 0 {
            return Err(bad(coord, "no values given"));
        }
        if let Some(s) = step {
            new.check_step(coord, s)?;
        }
        let side = if at_end { "append" } else { "prepend" };
        match (old, new) {
            (Vals::F(o), Vals::F(mut n)) => {
                if let (Some(&edge), Some(&first), Some(&last)) = (
                    if at_end { o.last() } else { o.first() },
                    n.first(),
                    n.last(),
                ) {
                    if at_end && first <= edge || !at_end && last >= edge {
                        return Err(bad(
                            coord,
                            format!(
                                "{side}ed values must all be {} the current {} value {edge}",
                                if at_end { "greater than" } else { "less than" },
                                if at_end { "last" } else { "first" }
                            ),
                        ));
                    }
                    if let Some(StepValue::F(s)) = step {
                        let gap = if at_end { first - edge } else { edge - last };
                        let k = (gap / s).round();
                        if k < 1.0 || !is_close(gap / s, k) {
                            return Err(bad(
                                coord,
                                format!(
                                    "the gap {gap} to the existing values is not a whole number of steps {s}"
                                ),
                            ));
                        }
                        let fill: Vec<f64> = (1..k as i64)
                            .map(|i| {
                                if at_end {
                                    edge + s * i as f64
                                } else {
                                    last + s * i as f64
                                }
                            })
                            .collect();
                        if at_end {
                            let mut all = fill;
                            all.extend(n);
                            n = all;
                        } else {
                            n.extend(fill);
                        }
                    }
                }
                Ok(Vals::F(n))
            }
            (Vals::I(o), Vals::I(mut n)) => {
                if let (Some(&edge), Some(&first), Some(&last)) = (
                    if at_end { o.last() } else { o.first() },
                    n.first(),
                    n.last(),
                ) {
                    if at_end && first <= edge || !at_end && last >= edge {
                        return Err(bad(
                            coord,
                            format!(
                                "{side}ed values must all be {} the current {} value",
                                if at_end { "greater than" } else { "less than" },
                                if at_end { "last" } else { "first" }
                            ),
                        ));
                    }
                    if let Some(StepValue::I(s)) = step {
                        let gap = if at_end { first - edge } else { edge - last };
                        if gap % s != 0 {
                            return Err(bad(
                                coord,
                                format!(
                                    "the gap {gap} to the existing values is not a whole number of steps {s}"
                                ),
                            ));
                        }
                        let k = gap / s;
                        let fill: Vec<i128> = (1..k)
                            .map(|i| if at_end { edge + s * i } else { last + s * i })
                            .collect();
                        if at_end {
                            let mut all = fill;
                            all.extend(n);
                            n = all;
                        } else {
                            n.extend(fill);
                        }
                    }
                }
                Ok(Vals::I(n))
            }
            (Vals::S(o), Vals::S(n)) => {
                if let Some(s) = n
                    .iter()
                    .flatten()
                    .find(|s| o.iter().flatten().any(|x| x == *s))
                {
                    return Err(bad(coord, format!("value {s:?} already exists")));
                }
                Ok(Vals::S(n))
            }
            (Vals::G(o), Vals::G(n)) => {
                if let Some(g) = n.iter().find(|g| o.contains(g)) {
                    return Err(bad(
                        coord,
                        format!("value {} already exists", g.as_str().unwrap_or("")),
                    ));
                }
                Ok(Vals::G(n))
            }
            _ => Err(bad(
                coord,
                "the new values have another type than the coordinate",
            )),
        }
    }

    /// Concatenates.
    pub(crate) fn concat(a: &Vals, b: &Vals) -> Vals {
        match (a, b) {
            (Vals::F(x), Vals::F(y)) => Vals::F(x.iter().chain(y).copied().collect()),
            (Vals::I(x), Vals::I(y)) => Vals::I(x.iter().chain(y).copied().collect()),
            (Vals::S(x), Vals::S(y)) => Vals::S(x.iter().chain(y).cloned().collect()),
            (Vals::G(x), Vals::G(y)) => Vals::G(x.iter().chain(y).cloned().collect()),
            _ => b.clone(),
        }
    }
}

/// A step value as stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum StepValue {
    F(f64),
    I(i128),
}

impl std::fmt::Display for StepValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepValue::F(v) => write!(f, "{v}"),
            StepValue::I(v) => write!(f, "{v}"),
        }
    }
}

impl StepValue {
    /// The JSON number stored in the metadata.
    pub(crate) fn to_number(self) -> Number {
        match self {
            StepValue::F(v) => Number::from_f64(v).unwrap_or_else(|| Number::from(0)),
            StepValue::I(v) => i64::try_from(v)
                .map(Number::from)
                .unwrap_or_else(|_| Number::from(0)),
        }
    }

    /// Reads the stored step for a coordinate of `dtype`.
    pub(crate) fn from_number(n: &Number, dtype: &DataType) -> Option<StepValue> {
        match dtype {
            DataType::Float { .. } => n.as_f64().map(StepValue::F),
            DataType::Int { .. } | DataType::DateTime { .. } => {
                n.as_i64().map(|v| StepValue::I(i128::from(v))).or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0)
                        .map(|f| StepValue::I(f as i128))
                })
            }
            _ => None,
        }
    }

    /// A user's step for a coordinate of `dtype` (floats rounded to 5 decimals).
    pub(crate) fn from_user(coord: &str, v: f64, dtype: &DataType) -> Result<StepValue> {
        if v.is_nan() || v <= 0.0 || !v.is_finite() {
            return Err(bad(coord, format!("the step must be > 0, got {v}")));
        }
        match dtype {
            DataType::Float { .. } => Ok(StepValue::F(round5(v))),
            DataType::Int { .. } | DataType::DateTime { .. } => {
                if v.fract() != 0.0 {
                    return Err(bad(
                        coord,
                        format!("integer and datetime coordinates need an integer step, got {v}"),
                    ));
                }
                Ok(StepValue::I(v as i128))
            }
            _ => Err(bad(
                coord,
                "only numeric and datetime coordinates can have a step",
            )),
        }
    }
}

/// Python's `round(x, 5)` (half to even on the decimal value, as near as f64 allows).
pub(crate) fn round5(x: f64) -> f64 {
    let y = (x * 1e5).round_ties_even() / 1e5;
    // Prefer the shortest decimal that reads back as the rounded value.
    format!("{y:.5}").parse().unwrap_or(y)
}

/// numpy `isclose(a, b)` with default tolerances.
pub(crate) fn is_close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-8 + 1e-5 * b.abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infer_steps() {
        assert_eq!(
            Vals::F(vec![0.0, 0.5, 1.0]).infer_step(),
            Some(StepValue::F(0.5))
        );
        assert_eq!(Vals::F(vec![0.0, 0.5, 1.2]).infer_step(), None);
        assert_eq!(
            Vals::I(vec![10, 20, 30]).infer_step(),
            Some(StepValue::I(10))
        );
        assert_eq!(Vals::I(vec![10]).infer_step(), None);
    }

    #[test]
    fn append_gap_fill() {
        let old = Vals::I(vec![1, 2, 3]);
        let got =
            Vals::extend_values("t", &old, Vals::I(vec![6]), Some(StepValue::I(1)), true).unwrap();
        assert_eq!(got, Vals::I(vec![4, 5, 6]));
        let got = Vals::extend_values("t", &old, Vals::I(vec![-1]), Some(StepValue::I(1)), false)
            .unwrap();
        assert_eq!(got, Vals::I(vec![-1, 0]));
        assert!(Vals::extend_values("t", &old, Vals::I(vec![3]), None, true).is_err());
        assert!(
            Vals::extend_values(
                "t",
                &Vals::I(vec![0, 2]),
                Vals::I(vec![5]),
                Some(StepValue::I(2)),
                true
            )
            .is_err()
        );
    }

    #[test]
    fn sort_and_unique() {
        let mut v = Vals::F(vec![3.0, 1.0, 2.0]);
        v.sort_unique("x").unwrap();
        assert_eq!(v, Vals::F(vec![1.0, 2.0, 3.0]));
        assert!(Vals::I(vec![1, 1]).sort_unique("x").is_err());
        assert!(
            Vals::S(vec![Some("a".into()), Some("a".into())])
                .sort_unique("x")
                .is_err()
        );
    }

    #[test]
    fn round_to_5() {
        assert_eq!(round5(0.1 + 0.2), 0.3);
        assert_eq!(round5(0.250000001), 0.25);
    }
}
