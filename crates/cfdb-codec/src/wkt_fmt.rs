//! WKT parsing (validation on decode, conversion to `geo-types`) and a GEOS-style writer.

use std::fmt::Write as _;
use std::str::FromStr;

use geo_types::{Coord, Geometry, LineString, Polygon};

use crate::error::{CodecError, Result};

fn wkt_err(text: &str, reason: impl std::fmt::Display) -> CodecError {
    let mut t: String = text.chars().take(200).collect();
    if t.len() < text.len() {
        t.push('…');
    }
    CodecError::InvalidWkt {
        text: t,
        reason: reason.to_string(),
    }
}

/// Checks that `text` is valid WKT (any dimension, `EMPTY` allowed).
pub(crate) fn validate_wkt(text: &str) -> Result<()> {
    wkt::Wkt::<f64>::from_str(text)
        .map(|_| ())
        .map_err(|e| wkt_err(text, e))
}

/// Parses WKT into a `geo-types` geometry (Z/M ordinates are dropped; `POINT EMPTY` has no
/// `geo-types` equivalent and is an error).
pub(crate) fn parse_wkt(text: &str) -> Result<Geometry<f64>> {
    let w = wkt::Wkt::<f64>::from_str(text).map_err(|e| wkt_err(text, e))?;
    Geometry::<f64>::try_from(w).map_err(|e| wkt_err(text, e))
}

/// Formats one ordinate like GEOS 3.14's trimmed WKT writer with `rounding_precision = p`.
pub(crate) fn format_number(x: f64, precision: i64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let p = if (0..=16).contains(&precision) {
        precision as usize
    } else {
        16
    };
    let ax = x.abs();
    if !(1e-4..1e17).contains(&ax) {
        // Scientific: the exponent of the shortest representation, the mantissa rounded
        // afterwards (so 9.999999e-5 becomes "10e-5", as GEOS writes it).
        let shortest = format!("{x:e}");
        let (mant, exp) = shortest.split_once('e').unwrap_or((shortest.as_str(), "0"));
        let m: f64 = mant.parse().unwrap_or(x);
        let e: i64 = exp.parse().unwrap_or(0);
        let ms = trim(format!("{m:.p$}"));
        if e >= 0 {
            format!("{ms}e+{e}")
        } else {
            format!("{ms}e{e}")
        }
    } else {
        trim(format!("{x:.p$}"))
    }
}

fn trim(mut s: String) -> String {
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

fn coord(out: &mut String, c: &Coord<f64>, p: i64) {
    let _ = write!(out, "{} {}", format_number(c.x, p), format_number(c.y, p));
}

fn coords(out: &mut String, ls: &LineString<f64>, p: i64) {
    out.push('(');
    for (i, c) in ls.0.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        coord(out, c, p);
    }
    out.push(')');
}

fn polygon_body(out: &mut String, poly: &Polygon<f64>, p: i64) {
    if poly.exterior().0.is_empty() {
        out.push_str("EMPTY");
        return;
    }
    out.push('(');
    coords(out, poly.exterior(), p);
    for hole in poly.interiors() {
        out.push_str(", ");
        coords(out, hole, p);
    }
    out.push(')');
}

fn write_geom(out: &mut String, g: &Geometry<f64>, p: i64) {
    match g {
        Geometry::Point(pt) => {
            out.push_str("POINT (");
            coord(out, &pt.0, p);
            out.push(')');
        }
        Geometry::Line(l) => {
            out.push_str("LINESTRING (");
            coord(out, &l.start, p);
            out.push_str(", ");
            coord(out, &l.end, p);
            out.push(')');
        }
        Geometry::LineString(ls) => {
            out.push_str("LINESTRING ");
            if ls.0.is_empty() {
                out.push_str("EMPTY");
            } else {
                coords(out, ls, p);
            }
        }
        Geometry::Polygon(poly) => {
            out.push_str("POLYGON ");
            polygon_body(out, poly, p);
        }
        Geometry::Rect(r) => write_geom(out, &Geometry::Polygon(r.to_polygon()), p),
        Geometry::Triangle(t) => write_geom(out, &Geometry::Polygon(t.to_polygon()), p),
        Geometry::MultiPoint(mp) => {
            out.push_str("MULTIPOINT ");
            if mp.0.is_empty() {
                out.push_str("EMPTY");
                return;
            }
            out.push('(');
            for (i, pt) in mp.0.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('(');
                coord(out, &pt.0, p);
                out.push(')');
            }
            out.push(')');
        }
        Geometry::MultiLineString(ml) => {
            out.push_str("MULTILINESTRING ");
            if ml.0.is_empty() {
                out.push_str("EMPTY");
                return;
            }
            out.push('(');
            for (i, ls) in ml.0.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                coords(out, ls, p);
            }
            out.push(')');
        }
        Geometry::MultiPolygon(mp) => {
            out.push_str("MULTIPOLYGON ");
            if mp.0.is_empty() {
                out.push_str("EMPTY");
                return;
            }
            out.push('(');
            for (i, poly) in mp.0.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                polygon_body(out, poly, p);
            }
            out.push(')');
        }
        Geometry::GeometryCollection(gc) => {
            out.push_str("GEOMETRYCOLLECTION ");
            if gc.0.is_empty() {
                out.push_str("EMPTY");
                return;
            }
            out.push('(');
            for (i, g) in gc.0.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_geom(out, g, p);
            }
            out.push(')');
        }
    }
}

/// Formats a geometry as GEOS's trimmed WKT writer does with `rounding_precision`.
pub(crate) fn format_wkt(g: &Geometry<f64>, precision: i64) -> String {
    let mut out = String::new();
    write_geom(&mut out, g, precision);
    out
}
