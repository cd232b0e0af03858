//! ISO-8601 text ⇄ numpy `datetime64` ticks (proleptic Gregorian, no time zone).
//!
//! ```
//! use cfdb_core::time::{format_ticks, parse_ticks};
//! use cfdb_codec::DatetimeUnit;
//! assert_eq!(parse_ticks("2020-01-01", DatetimeUnit::Days), Some(18262));
//! assert_eq!(parse_ticks("2020-01-01T06:30", DatetimeUnit::Minutes), Some(26297670));
//! assert_eq!(format_ticks(18262, DatetimeUnit::Days), "2020-01-01");
//! assert_eq!(format_ticks(438294, DatetimeUnit::Hours), "2020-01-01T06");
//! ```

use cfdb_codec::DatetimeUnit;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The civil date of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Ticks of `unit` per second, for units from seconds down (`None` above).
fn per_second(unit: DatetimeUnit) -> Option<i128> {
    Some(match unit {
        DatetimeUnit::Seconds => 1,
        DatetimeUnit::Milliseconds => 1_000,
        DatetimeUnit::Microseconds => 1_000_000,
        DatetimeUnit::Nanoseconds => 1_000_000_000,
        DatetimeUnit::Picoseconds => 1_000_000_000_000,
        DatetimeUnit::Femtoseconds => 1_000_000_000_000_000,
        DatetimeUnit::Attoseconds => 1_000_000_000_000_000_000,
        _ => return None,
    })
}

/// Parses ISO text (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, then `T` or space with `hh`, `hh:mm`,
/// `hh:mm:ss` and a fraction) into ticks of `unit`, truncating towards the past as numpy's
/// cast does. `NaT` parses to `i64::MIN`.
pub fn parse_ticks(text: &str, unit: DatetimeUnit) -> Option<i64> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("nat") {
        return Some(i64::MIN);
    }
    let (date, time) = match t.find(['T', ' ']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (neg, date) = match date.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, date),
    };
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let y = if neg { -y } else { y };
    let mo: u32 = parts.next().map_or(Some(1), |s| s.parse().ok())?;
    let d: u32 = parts.next().map_or(Some(1), |s| s.parse().ok())?;
    if parts.next().is_some() || !(1..=12).contains(&mo) || d == 0 || d > 31 {
        return None;
    }
    let (mut hh, mut mm, mut ss, mut frac_ns) = (0i64, 0i64, 0i64, 0i128);
    if let Some(time) = time {
        let time = time.strip_suffix('Z').unwrap_or(time);
        let mut tp = time.split(':');
        hh = tp.next()?.parse().ok()?;
        if let Some(m) = tp.next() {
            mm = m.parse().ok()?;
        }
        if let Some(s) = tp.next() {
            let (whole, frac) = match s.split_once('.') {
                Some((w, f)) => (w, f),
                None => (s, ""),
            };
            ss = whole.parse().ok()?;
            if !frac.is_empty() {
                if frac.len() > 18 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let padded = format!("{frac:0<18}");
                frac_ns = padded.parse::<i128>().ok()?; // attoseconds
            }
        }
        if tp.next().is_some() || hh > 24 || mm > 59 || ss > 60 {
            return None;
        }
    }
    let days = days_from_civil(y, mo, d);
    let secs = i128::from(days) * 86400 + i128::from(hh * 3600 + mm * 60 + ss);
    let v: i128 = match unit {
        DatetimeUnit::Years => i128::from(y - 1970),
        DatetimeUnit::Months => i128::from((y - 1970) * 12 + i64::from(mo) - 1),
        DatetimeUnit::Weeks => i128::from(days).div_euclid(7),
        DatetimeUnit::Days => i128::from(days),
        DatetimeUnit::Hours => secs.div_euclid(3600),
        DatetimeUnit::Minutes => secs.div_euclid(60),
        u => {
            let ps = per_second(u)?;
            secs * ps + frac_ns / (1_000_000_000_000_000_000 / ps)
        }
    };
    i64::try_from(v).ok()
}

/// Formats ticks of `unit` as numpy prints them (`2020-01-01` for days, `2020-01-01T06` for
/// hours, `2020-01-01T06:30` for minutes, seconds and fractions below); NaT as `NaT`.
pub fn format_ticks(ticks: i64, unit: DatetimeUnit) -> String {
    if ticks == i64::MIN {
        return "NaT".to_owned();
    }
    let t = i128::from(ticks);
    let (days, rem_secs, sub, digits) = match unit {
        DatetimeUnit::Years => return format!("{}", 1970 + ticks),
        DatetimeUnit::Months => {
            let y = 1970 + ticks.div_euclid(12);
            return format!("{y:04}-{:02}", ticks.rem_euclid(12) + 1);
        }
        DatetimeUnit::Weeks => (t * 7, 0, 0, 0),
        DatetimeUnit::Days => (t, 0, 0, 0),
        DatetimeUnit::Hours => (t.div_euclid(24), t.rem_euclid(24) * 3600, 0, 0),
        DatetimeUnit::Minutes => (t.div_euclid(1440), t.rem_euclid(1440) * 60, 0, 0),
        u => {
            let ps = per_second(u).unwrap_or(1);
            let secs = t.div_euclid(ps);
            let digits = match u {
                DatetimeUnit::Seconds => 0,
                DatetimeUnit::Milliseconds => 3,
                DatetimeUnit::Microseconds => 6,
                DatetimeUnit::Nanoseconds => 9,
                DatetimeUnit::Picoseconds => 12,
                DatetimeUnit::Femtoseconds => 15,
                _ => 18,
            };
            (
                secs.div_euclid(86400),
                secs.rem_euclid(86400),
                t.rem_euclid(ps),
                digits,
            )
        }
    };
    let (y, m, d) = civil_from_days(days as i64);
    let date = if y >= 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("-{:04}-{m:02}-{d:02}", -y)
    };
    let (hh, mm, ss) = (rem_secs / 3600, rem_secs / 60 % 60, rem_secs % 60);
    match unit {
        DatetimeUnit::Weeks | DatetimeUnit::Days => date,
        DatetimeUnit::Hours => format!("{date}T{hh:02}"),
        DatetimeUnit::Minutes => format!("{date}T{hh:02}:{mm:02}"),
        DatetimeUnit::Seconds => format!("{date}T{hh:02}:{mm:02}:{ss:02}"),
        _ => format!("{date}T{hh:02}:{mm:02}:{ss:02}.{sub:0digits$}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 18262, 59, 60, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
    }

    #[test]
    fn parse_units() {
        use DatetimeUnit::*;
        assert_eq!(parse_ticks("2021-03-01", Days), Some(18687));
        assert_eq!(parse_ticks("1970-02", Months), Some(1));
        assert_eq!(parse_ticks("1969-12-31T23", Hours), Some(-1));
        assert_eq!(parse_ticks("1969-12-31T12", Days), Some(-1));
        assert_eq!(
            parse_ticks("1970-01-01T00:00:01.5", Milliseconds),
            Some(1500)
        );
        assert_eq!(
            parse_ticks("1970-01-01T00:00:00.000000001", Nanoseconds),
            Some(1)
        );
        assert_eq!(parse_ticks("1970-01-08", Weeks), Some(1));
        assert_eq!(parse_ticks("nonsense", Days), None);
        assert_eq!(parse_ticks("2020-13-01", Days), None);
        assert_eq!(parse_ticks("NaT", Days), Some(i64::MIN));
    }

    #[test]
    fn format_units() {
        use DatetimeUnit::*;
        assert_eq!(format_ticks(-1, Hours), "1969-12-31T23");
        assert_eq!(format_ticks(1500, Milliseconds), "1970-01-01T00:00:01.500");
        assert_eq!(format_ticks(13, Months), "1971-02");
        assert_eq!(format_ticks(i64::MIN, Days), "NaT");
        for (t, u) in [(123_456_789, Seconds), (-5, Minutes), (99, Days)] {
            assert_eq!(parse_ticks(&format_ticks(t, u), u), Some(t));
        }
    }
}
