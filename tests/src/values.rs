//! Comparing decoded arrays with the value conventions of `tests/data/cfdb/MANIFEST.json`.

use cfdb_codec::ArrayData;
use serde_json::Value;

/// Flattens nested JSON lists in C order.
pub fn flatten(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        other => out.push(other.clone()),
    }
}

fn want_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Null => Some(f64::NAN),
        Value::String(s) if s == "inf" => Some(f64::INFINITY),
        Value::String(s) if s == "-inf" => Some(f64::NEG_INFINITY),
        other => other.as_f64(),
    }
}

fn same_float(got: f64, want: f64) -> bool {
    (got.is_nan() && want.is_nan()) || got.to_bits() == want.to_bits()
}

/// Checks `data` against a MANIFEST variable entry (`shape`, `values`, `ticks` for datetimes),
/// bit for bit for floats. Returns a description of the first difference.
pub fn compare_with_manifest(data: &ArrayData, var: &Value) -> Result<(), String> {
    let shape: Vec<usize> = var["shape"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|x| x as usize)
                .collect()
        })
        .unwrap_or_default();
    if data.shape() != shape.as_slice() {
        return Err(format!("shape {:?} != {:?}", data.shape(), shape));
    }
    let mut want = Vec::new();
    let source = if var.get("ticks").is_some_and(|t| !t.is_null()) {
        &var["ticks"]
    } else {
        &var["values"]
    };
    flatten(source, &mut want);
    if want.len() != data.len() {
        return Err(format!(
            "{} values in the manifest, {} read",
            want.len(),
            data.len()
        ));
    }
    let bad = |i: usize, got: String| Err(format!("cell {i}: got {got}, want {}", want[i]));
    macro_rules! ints {
        ($a:expr) => {
            for (i, (g, w)) in $a.iter().zip(&want).enumerate() {
                if w.as_i64().map(i128::from).or(w.as_u64().map(i128::from)) != Some(i128::from(*g))
                {
                    return bad(i, g.to_string());
                }
            }
        };
    }
    match data {
        ArrayData::F32(a) => {
            for (i, (g, w)) in a.iter().zip(&want).enumerate() {
                if !want_f64(w).is_some_and(|w| same_float(f64::from(*g), w)) {
                    return bad(i, g.to_string());
                }
            }
        }
        ArrayData::F64(a) => {
            for (i, (g, w)) in a.iter().zip(&want).enumerate() {
                if !want_f64(w).is_some_and(|w| same_float(*g, w)) {
                    return bad(i, g.to_string());
                }
            }
        }
        ArrayData::I8(a) => ints!(a),
        ArrayData::I16(a) => ints!(a),
        ArrayData::I32(a) => ints!(a),
        ArrayData::I64(a) => ints!(a),
        ArrayData::U8(a) => ints!(a),
        ArrayData::U16(a) => ints!(a),
        ArrayData::U32(a) => ints!(a),
        ArrayData::U64(a) => ints!(a),
        ArrayData::Bool(a) => {
            for (i, (g, w)) in a.iter().zip(&want).enumerate() {
                if w.as_bool() != Some(*g) {
                    return bad(i, g.to_string());
                }
            }
        }
        ArrayData::DateTime(a) => {
            for (i, (g, w)) in a.iter().zip(&want).enumerate() {
                let ok = match w {
                    Value::Null => g.is_nat(),
                    w => w.as_i64() == g.ticks(),
                };
                if !ok {
                    return bad(i, format!("{g:?}"));
                }
            }
        }
        ArrayData::Str(a) => {
            for (i, (g, w)) in a.iter().zip(&want).enumerate() {
                if w.as_str() != g.as_deref() {
                    return bad(i, format!("{g:?}"));
                }
            }
        }
        ArrayData::Geometry(a) => {
            for (i, (g, w)) in a.iter().zip(&want).enumerate() {
                if w.as_str() != g.as_str() {
                    return bad(i, format!("{g:?}"));
                }
            }
        }
    }
    Ok(())
}
