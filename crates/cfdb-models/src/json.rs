//! Compact JSON output byte-identical to orjson, and strict typed access to parsed JSON values.

use serde_json::{Map, Number, Value};

use crate::ModelsError;

/// Serialises a JSON value exactly as `orjson.dumps` (no options) would: no whitespace, keys in
/// the map's order, raw UTF-8, the escapes `\" \\ \b \t \n \f \r`, other control characters as
/// `\u00xx`, integers in decimal, and floats in shortest round-trip form with orjson's spelling
/// (`1.0`, `0.00001`, `1e-7`, `1e+16`).
///
/// Python cfdb stores its system metadata through booklet, which encodes it with orjson; this is
/// the function that reproduces those bytes.
///
/// ```
/// let v = serde_json::json!({"a": [1, -2.5, 1e16, 1e-7, null], "é": "x\ny"});
/// assert_eq!(
///     cfdb_models::to_orjson_bytes(&v),
///     "{\"a\":[1,-2.5,1e+16,1e-7,null],\"é\":\"x\\ny\"}".as_bytes()
/// );
/// ```
pub fn to_orjson_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(out, v);
            }
            out.push(b'}');
        }
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    match n.as_f64() {
        Some(f) if n.is_f64() => out.extend_from_slice(format_f64(f).as_bytes()),
        _ => out.extend_from_slice(n.to_string().as_bytes()),
    }
}

/// Formats a finite float the way orjson does: the shortest representation that round-trips,
/// as `serde_json` prints it, with an explicit `+` on a positive exponent (current `serde_json`
/// already writes one; older releases, which used ryu, did not).
/// Non-finite values (which a [`Number`] cannot hold) are written as `null`, like orjson.
pub(crate) fn format_f64(f: f64) -> String {
    let Some(n) = Number::from_f64(f) else {
        return "null".to_owned();
    };
    let s = n.to_string();
    match s.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with(['-', '+']) => format!("{mantissa}e+{exp}"),
        _ => s,
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

// ---------------------------------------------------------------------------------------------
// Strict typed access (msgspec strict semantics: an integer field needs a JSON integer).

/// The JSON type name used in error messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn child(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

fn wrong(path: &str, expected: &'static str, v: &Value) -> ModelsError {
    ModelsError::WrongType {
        path: path.to_owned(),
        expected,
        found: type_name(v),
    }
}

pub(crate) fn object(v: Value, path: &str) -> Result<Map<String, Value>, ModelsError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(wrong(path, "object", &other)),
    }
}

/// Removes `key` from `map` keeping the order of the remaining entries.
pub(crate) fn take(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    map.shift_remove(key)
}

pub(crate) fn required(
    map: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Value, ModelsError> {
    take(map, key).ok_or_else(|| ModelsError::MissingField {
        path: child(path, key),
    })
}

pub(crate) fn string(v: Value, path: &str) -> Result<String, ModelsError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(wrong(path, "str", &other)),
    }
}

pub(crate) fn opt_string(v: Option<Value>, path: &str) -> Result<Option<String>, ModelsError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string(v, path).map(Some),
    }
}

pub(crate) fn boolean(v: Value, path: &str) -> Result<bool, ModelsError> {
    match v {
        Value::Bool(b) => Ok(b),
        other => Err(wrong(path, "bool", &other)),
    }
}

/// A JSON integer (not a float, even an integral one) that fits an `i64`.
pub(crate) fn int_i64(v: Value, path: &str) -> Result<i64, ModelsError> {
    match &v {
        Value::Number(n) if !n.is_f64() => n.as_i64().ok_or_else(|| ModelsError::OutOfRange {
            path: path.to_owned(),
            value: n.to_string(),
            expected: "i64",
        }),
        _ => Err(wrong(path, "int", &v)),
    }
}

pub(crate) fn opt_int_i64(v: Option<Value>, path: &str) -> Result<Option<i64>, ModelsError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int_i64(v, path).map(Some),
    }
}

/// A JSON integer that fits a `u64` (negative values are out of range).
pub(crate) fn int_u64(v: Value, path: &str) -> Result<u64, ModelsError> {
    match &v {
        Value::Number(n) if !n.is_f64() => n.as_u64().ok_or_else(|| ModelsError::OutOfRange {
            path: path.to_owned(),
            value: n.to_string(),
            expected: "u64",
        }),
        _ => Err(wrong(path, "int", &v)),
    }
}

/// Any JSON number (integer or float, typing kept) or null.
pub(crate) fn opt_number(v: Option<Value>, path: &str) -> Result<Option<Number>, ModelsError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(n)),
        Some(other) => Err(wrong(path, "int | float", &other)),
    }
}

/// An optional JSON integer, kept as a [`Number`].
pub(crate) fn opt_int_number(v: Option<Value>, path: &str) -> Result<Option<Number>, ModelsError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if !n.is_f64() => Ok(Some(n)),
        Some(other) => Err(wrong(path, "int", &other)),
    }
}

pub(crate) fn array(v: Value, path: &str) -> Result<Vec<Value>, ModelsError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(wrong(path, "array", &other)),
    }
}

pub(crate) fn u64_array(v: Value, path: &str) -> Result<Vec<u64>, ModelsError> {
    array(v, path)?
        .into_iter()
        .enumerate()
        .map(|(i, x)| int_u64(x, &format!("{path}[{i}]")))
        .collect()
}

pub(crate) fn string_array(v: Value, path: &str) -> Result<Vec<String>, ModelsError> {
    array(v, path)?
        .into_iter()
        .enumerate()
        .map(|(i, x)| string(x, &format!("{path}[{i}]")))
        .collect()
}

/// Appends `extra` to `out`, skipping keys that `out` already has (known fields always win).
pub(crate) fn append_extra(out: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (k, v) in extra {
        if !out.contains_key(k) {
            out.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_use_orjson_spelling() {
        // Expected strings printed by orjson 3.13.0 in the interop venv.
        let cases: &[(f64, &str)] = &[
            (-90.000001, "-90.000001"),
            (0.5, "0.5"),
            (1e-5, "0.00001"),
            (1.5e-5, "0.000015"),
            (1e-6, "1e-6"),
            (1e-7, "1e-7"),
            (2.5e-8, "2.5e-8"),
            (123456789.0, "123456789.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1e22, "1e+22"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (30.0, "30.0"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
        ];
        for &(f, s) in cases {
            assert_eq!(format_f64(f), s, "{f:e}");
        }
        assert_eq!(format_f64(f64::NAN), "null");
    }

    #[test]
    fn strings_escape_like_orjson() {
        let s: String =
            (0u8..0x20).map(char::from).collect::<String>() + "\x7f\u{80}\u{2028}é\"\\/";
        let got = to_orjson_bytes(&Value::String(s));
        let want = concat!(
            "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r",
            "\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018",
            "\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\x7f\u{80}\u{2028}é\\\"\\\\/\""
        );
        assert_eq!(String::from_utf8_lossy(&got), want);
    }

    #[test]
    fn compact_containers() {
        let v = json!({"a": [], "b": {}, "c": [true, false, null, -3, 18446744073709551615u64]});
        assert_eq!(
            to_orjson_bytes(&v),
            br#"{"a":[],"b":{},"c":[true,false,null,-3,18446744073709551615]}"#
        );
    }

    #[test]
    fn strict_integers() {
        assert!(int_i64(json!(1.0), "$").is_err());
        assert_eq!(int_i64(json!(-4), "$").ok(), Some(-4));
        assert!(matches!(
            int_u64(json!(-1), "$.x"),
            Err(ModelsError::OutOfRange { .. })
        ));
        assert!(matches!(
            int_i64(json!("1"), "$.x"),
            Err(ModelsError::WrongType { found: "str", .. })
        ));
    }
}
