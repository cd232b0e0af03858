//! Groupby time periods (`algorithms.md` §5): parsing `'D'`, `'7D'`, `'M'`..., the fast-path
//! test (a period that is a whole number of steps from a unit boundary) and calendar groups.

use std::ops::Range;

use cfdb_codec::DatetimeUnit;

use crate::error::{CoreError, Result};
use crate::time::{civil_from_days, days_from_civil};

/// A time period: `count` × `unit` (`'7D'` is 7 days, `'M'` one calendar month).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// How many units (≥ 1).
    pub count: u32,
    /// The unit.
    pub unit: DatetimeUnit,
}

impl std::str::FromStr for Period {
    type Err = CoreError;

    /// Parses `^(\d+)?(Y|M|W|D|h|ms|us|ns|m|s)$` (`m` is minutes, `M` months).
    ///
    /// ```
    /// use cfdb_core::Period;
    /// use cfdb_codec::DatetimeUnit;
    /// let p: Period = "7D".parse().unwrap();
    /// assert_eq!((p.count, p.unit), (7, DatetimeUnit::Days));
    /// assert!("0D".parse::<Period>().is_err());
    /// assert!("fortnight".parse::<Period>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Period> {
        let bad = || {
            CoreError::Invalid(format!(
                "unknown period {s:?}: expected an optional count and one of Y, M, W, D, h, m, s, ms, us, ns"
            ))
        };
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (num, unit) = s.split_at(digits);
        let count = if num.is_empty() {
            1
        } else {
            num.parse::<u32>().map_err(|_| bad())?
        };
        if count == 0 {
            return Err(bad());
        }
        let unit = match unit {
            "Y" => DatetimeUnit::Years,
            "M" => DatetimeUnit::Months,
            "W" => DatetimeUnit::Weeks,
            "D" => DatetimeUnit::Days,
            "h" => DatetimeUnit::Hours,
            "m" => DatetimeUnit::Minutes,
            "s" => DatetimeUnit::Seconds,
            "ms" => DatetimeUnit::Milliseconds,
            "us" => DatetimeUnit::Microseconds,
            "ns" => DatetimeUnit::Nanoseconds,
            _ => return Err(bad()),
        };
        Ok(Period { count, unit })
    }
}

/// Nanoseconds per unit for the fixed-length units (`None` for months and years).
fn unit_ns(u: DatetimeUnit) -> Option<i128> {
    Some(match u {
        DatetimeUnit::Weeks => 7 * 86_400_000_000_000,
        DatetimeUnit::Days => 86_400_000_000_000,
        DatetimeUnit::Hours => 3_600_000_000_000,
        DatetimeUnit::Minutes => 60_000_000_000,
        DatetimeUnit::Seconds => 1_000_000_000,
        DatetimeUnit::Milliseconds => 1_000_000,
        DatetimeUnit::Microseconds => 1_000,
        DatetimeUnit::Nanoseconds => 1,
        _ => return None,
    })
}

/// Truncates ticks of `from` to whole `to` units, as numpy's `astype` does (floor towards the
/// past, calendar months and years, numpy weeks anchored on Thursday 1970-01-01). Returns the
/// value counted in `to` units.
pub(crate) fn truncate_to(ticks: i64, from: DatetimeUnit, to: DatetimeUnit) -> i64 {
    match (unit_ns(from), to) {
        (Some(f), DatetimeUnit::Months | DatetimeUnit::Years) => {
            let days = (i128::from(ticks) * f).div_euclid(86_400_000_000_000) as i64;
            let (y, m, _) = civil_from_days(days);
            if to == DatetimeUnit::Years {
                y - 1970
            } else {
                (y - 1970) * 12 + i64::from(m) - 1
            }
        }
        (Some(f), t) => match unit_ns(t) {
            Some(tn) => (i128::from(ticks) * f).div_euclid(tn) as i64,
            None => ticks,
        },
        (None, _) => {
            // from months or years
            let months = if from == DatetimeUnit::Years {
                ticks * 12
            } else {
                ticks
            };
            match to {
                DatetimeUnit::Years => months.div_euclid(12),
                DatetimeUnit::Months => months,
                t => {
                    let y = 1970 + months.div_euclid(12);
                    let m = months.rem_euclid(12) as u32 + 1;
                    let days = days_from_civil(y, m, 1);
                    let tn = unit_ns(t).unwrap_or(1);
                    (i128::from(days) * 86_400_000_000_000).div_euclid(tn) as i64
                }
            }
        }
    }
}

/// The fast-path chunk size (`period_to_chunk_size`): the period as a whole number ≥ 1 of
/// coordinate steps, when the first value sits on a unit boundary; else `None`.
pub(crate) fn fast_chunk(
    p: Period,
    step: Option<i64>,
    unit: DatetimeUnit,
    first: Option<i64>,
) -> Option<usize> {
    let step = step.filter(|s| *s > 0)?;
    let pn = unit_ns(p.unit)? * i128::from(p.count);
    let sn = unit_ns(unit)? * i128::from(step);
    if pn % sn != 0 || pn / sn < 1 {
        return None;
    }
    if let Some(f) = first {
        let t = truncate_to(f, unit, p.unit);
        let back = i128::from(t) * unit_ns(p.unit)?;
        if back != i128::from(f) * unit_ns(unit)? {
            return None;
        }
    }
    usize::try_from(pn / sn).ok()
}

/// Calendar groups of `values` (ticks of `unit`, sorted) as contiguous index ranges.
pub(crate) fn calendar_groups(values: &[i64], unit: DatetimeUnit, p: Period) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    if values.is_empty() {
        return out;
    }
    let t: Vec<i64> = values
        .iter()
        .map(|v| truncate_to(*v, unit, p.unit))
        .collect();
    let id = |x: i64| {
        if p.count == 1 {
            x
        } else {
            (x - t[0]).div_euclid(i64::from(p.count))
        }
    };
    let mut start = 0;
    for i in 1..t.len() {
        if id(t[i]) != id(t[i - 1]) {
            out.push(start..i);
            start = i;
        }
    }
    out.push(start..t.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use DatetimeUnit::*;

    fn hourly(start: &str, n: i64) -> Vec<i64> {
        let s = crate::time::parse_ticks(start, Hours).unwrap();
        (0..n).map(|i| s + i).collect()
    }

    fn lens(g: &[Range<usize>]) -> Vec<usize> {
        g.iter().map(|r| r.len()).collect()
    }

    #[test]
    fn spec_vectors() {
        let v = hourly("2020-01-01T06", 66);
        assert_eq!(
            calendar_groups(&v, Hours, "D".parse().unwrap()),
            vec![0..18, 18..42, 42..66]
        );
        assert_eq!(
            calendar_groups(&v, Hours, "2D".parse().unwrap()),
            vec![0..42, 42..66]
        );
        let v = hourly("2020-01-01T00", 1536);
        assert_eq!(
            lens(&calendar_groups(&v, Hours, "D".parse().unwrap())),
            vec![24; 64]
        );
        let w7 = calendar_groups(&v, Hours, "7D".parse().unwrap());
        assert_eq!(w7.len(), 10);
        assert_eq!(w7[9].len(), 24);
        assert_eq!(
            calendar_groups(&v, Hours, "M".parse().unwrap()),
            vec![0..744, 744..1440, 1440..1536]
        );
        assert_eq!(calendar_groups(&v, Hours, "Y".parse().unwrap()).len(), 1);
        assert_eq!(
            lens(&calendar_groups(&v, Hours, "6h".parse().unwrap())),
            vec![6; 256]
        );
        let w = calendar_groups(&v, Hours, "W".parse().unwrap());
        assert_eq!(w.len(), 10);
        assert_eq!(w[0].len(), 24);
        assert_eq!(w[1].len(), 168);
        assert_eq!(w[9].len(), 168);
    }

    #[test]
    fn fast_path_sizes() {
        let p = |s: &str| s.parse::<Period>().unwrap();
        assert_eq!(fast_chunk(p("D"), Some(1), Hours, Some(0)), Some(24));
        assert_eq!(fast_chunk(p("7D"), Some(1), Days, Some(0)), Some(7));
        assert_eq!(fast_chunk(p("M"), Some(1), Days, Some(0)), None);
        assert_eq!(fast_chunk(p("90m"), Some(1), Hours, Some(0)), None);
        // not on a unit boundary
        assert_eq!(fast_chunk(p("D"), Some(1), Hours, Some(6)), None);
        assert_eq!(fast_chunk(p("D"), None, Hours, Some(0)), None);
    }
}
