//! The DataType object (`cfdb-format.md` §3.3).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use crate::ModelsError;
use crate::json;

/// Which of the two serialised forms a [`DataTypeMeta`] is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DtypeForm {
    /// Only the non-null fields, in the order `name, precision, dtype_encoded, fillvalue, offset`.
    #[default]
    Compact,
    /// All five fields, nulls included, in the order `name, precision, dtype_encoded, offset, fillvalue`.
    Full,
}

/// The DataType object as stored in the metadata, with number typing preserved.
///
/// Parsing accepts both forms Python cfdb writes and records which one it saw in
/// [`form`](Self::form); serialising writes the recorded form again, so a parsed object is
/// written back with the same keys in the same order:
///
/// ```
/// use cfdb_models::{DataTypeMeta, DtypeForm};
///
/// let compact = br#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-11.0}"#;
/// let d = DataTypeMeta::from_json_bytes(compact)?;
/// assert_eq!(d.form, DtypeForm::Compact);
/// assert_eq!(d.offset.as_ref().map(|n| n.is_f64()), Some(true));
/// assert_eq!(d.to_json_bytes(), compact);
///
/// let full = br#"{"name":"float64","precision":null,"dtype_encoded":null,"offset":null,"fillvalue":null}"#;
/// let d = DataTypeMeta::from_json_bytes(full)?;
/// assert_eq!(d.form, DtypeForm::Full);
/// assert_eq!(d.to_json_bytes(), full);
/// # Ok::<(), cfdb_models::ModelsError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DataTypeMeta {
    /// numpy dtype name (`float32`, `datetime64[h]`, ...), `str`, or a geometry name.
    pub name: String,
    /// Decimal digits (floats) or WKT rounding digits (geometry).
    pub precision: Option<i64>,
    /// numpy name of the stored integer type of packed values.
    pub dtype_encoded: Option<String>,
    /// Packing offset; a JSON number kept as written (`-11.0` stays a float, `-6` an integer).
    pub offset: Option<serde_json::Number>,
    /// Packed code that means "missing"; a JSON integer.
    pub fillvalue: Option<serde_json::Number>,
    /// The form this object is serialised in.
    pub form: DtypeForm,
    /// Fields this crate does not know, in their original order; written back after the known
    /// fields. (Python cfdb ignores unknown fields; keys equal to a known field are never
    /// written from here.)
    pub extra: Map<String, Value>,
}

pub(crate) const DTYPE_FIELDS: [&str; 5] =
    ["name", "precision", "dtype_encoded", "offset", "fillvalue"];

impl DataTypeMeta {
    /// A compact-form DataType with only a `name` (e.g. `"float32"`, `"str"`).
    pub fn new(name: impl Into<String>) -> Self {
        DataTypeMeta {
            name: name.into(),
            precision: None,
            dtype_encoded: None,
            offset: None,
            fillvalue: None,
            form: DtypeForm::Compact,
            extra: Map::new(),
        }
    }

    /// Parses a DataType object from JSON bytes (see [`from_json_value`](Self::from_json_value)).
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, ModelsError> {
        let value: Value = serde_json::from_slice(bytes)?;
        Self::from_json_value(value)
    }

    /// Parses a DataType object from a JSON value.
    ///
    /// Types are checked strictly: `name` a string, `precision` and `fillvalue` JSON integers
    /// or null, `dtype_encoded` a string or null, `offset` any number or null. The form is
    /// [`DtypeForm::Full`] when all five fields are present and either one of them is null or
    /// `offset` comes before `fillvalue`; otherwise [`DtypeForm::Compact`].
    pub fn from_json_value(value: Value) -> Result<Self, ModelsError> {
        Self::parse(value, "$")
    }

    pub(crate) fn parse(value: Value, path: &str) -> Result<Self, ModelsError> {
        let mut map = json::object(value, path)?;
        let form = detect_form(&map);
        let name = json::string(
            json::required(&mut map, "name", path)?,
            &json::child(path, "name"),
        )?;
        let precision = json::opt_int_i64(
            json::take(&mut map, "precision"),
            &json::child(path, "precision"),
        )?;
        let dtype_encoded = json::opt_string(
            json::take(&mut map, "dtype_encoded"),
            &json::child(path, "dtype_encoded"),
        )?;
        let offset =
            json::opt_number(json::take(&mut map, "offset"), &json::child(path, "offset"))?;
        let fillvalue = json::opt_int_number(
            json::take(&mut map, "fillvalue"),
            &json::child(path, "fillvalue"),
        )?;
        Ok(DataTypeMeta {
            name,
            precision,
            dtype_encoded,
            offset,
            fillvalue,
            form,
            extra: map,
        })
    }

    /// The JSON object in the recorded [`form`](Self::form), followed by the unknown fields.
    pub fn to_json_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.clone()));
        let precision = self.precision.map(|p| Value::Number(p.into()));
        let dtype_encoded = self.dtype_encoded.clone().map(Value::String);
        let offset = self.offset.clone().map(Value::Number);
        let fillvalue = self.fillvalue.clone().map(Value::Number);
        match self.form {
            DtypeForm::Compact => {
                let fields = [
                    ("precision", precision),
                    ("dtype_encoded", dtype_encoded),
                    ("fillvalue", fillvalue),
                    ("offset", offset),
                ];
                for (k, v) in fields {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
            }
            DtypeForm::Full => {
                let fields = [
                    ("precision", precision),
                    ("dtype_encoded", dtype_encoded),
                    ("offset", offset),
                    ("fillvalue", fillvalue),
                ];
                for (k, v) in fields {
                    m.insert(k.into(), v.unwrap_or(Value::Null));
                }
            }
        }
        json::append_extra(&mut m, &self.extra);
        Value::Object(m)
    }

    /// Compact JSON bytes exactly as orjson would write [`to_json_value`](Self::to_json_value).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        json::to_orjson_bytes(&self.to_json_value())
    }

    /// The offset as an `i64` when it is a JSON integer that fits (integer and datetime packing).
    pub fn offset_i64(&self) -> Option<i64> {
        self.offset.as_ref().and_then(Number::as_i64)
    }

    /// The offset as an `f64` (integers converted), for float packing.
    pub fn offset_f64(&self) -> Option<f64> {
        self.offset.as_ref().and_then(Number::as_f64)
    }

    /// The fill value as an `i64` when it fits.
    pub fn fillvalue_i64(&self) -> Option<i64> {
        self.fillvalue.as_ref().and_then(Number::as_i64)
    }
}

/// Full form: all five known keys present and (any null, or `offset` before `fillvalue`).
fn detect_form(map: &Map<String, Value>) -> DtypeForm {
    let mut pos = [None::<(usize, bool)>; 5];
    for (i, (k, v)) in map.iter().enumerate() {
        if let Some(f) = DTYPE_FIELDS.iter().position(|f| f == k)
            && let Some(slot) = pos.get_mut(f)
        {
            *slot = Some((i, v.is_null()));
        }
    }
    match pos {
        [Some(_), Some(p), Some(d), Some(o), Some(f)] => {
            if p.1 || d.1 || o.1 || f.1 || o.0 < f.0 {
                DtypeForm::Full
            } else {
                DtypeForm::Compact
            }
        }
        _ => DtypeForm::Compact,
    }
}

impl Serialize for DataTypeMeta {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DataTypeMeta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_json_value(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(text: &str) -> DataTypeMeta {
        let d = DataTypeMeta::from_json_bytes(text.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(d.to_json_bytes()).unwrap(), text);
        d
    }

    #[test]
    fn compact_forms_from_golden_files() {
        let d = roundtrip(r#"{"name":"float32"}"#);
        assert_eq!(d, DataTypeMeta::new("float32"));
        let d = roundtrip(
            r#"{"name":"float64","precision":6,"dtype_encoded":"uint32","fillvalue":0,"offset":-90.000001}"#,
        );
        assert_eq!(d.form, DtypeForm::Compact);
        assert_eq!(d.offset_f64(), Some(-90.000001));
        let d = roundtrip(r#"{"name":"datetime64[h]","dtype_encoded":"uint32","offset":262967}"#);
        assert_eq!(d.offset_i64(), Some(262967));
        let d = roundtrip(r#"{"name":"int16","dtype_encoded":"uint16","fillvalue":0,"offset":-6}"#);
        assert!(!d.offset.unwrap().is_f64());
        let d = roundtrip(
            r#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-11.0}"#,
        );
        assert!(d.offset.unwrap().is_f64());
        roundtrip(r#"{"name":"Point","precision":5,"dtype_encoded":"StringDType128"}"#);
        let d = roundtrip(
            r#"{"name":"int32","dtype_encoded":"int16","fillvalue":-32768,"offset":100}"#,
        );
        assert_eq!(d.fillvalue_i64(), Some(-32768));
    }

    #[test]
    fn floats_are_parsed_correctly_rounded() {
        // serde_json's default float parser reads this one 1 ulp too high; Python's is exact.
        let d = DataTypeMeta::from_json_bytes(
            br#"{"name":"float64","offset":0.000010000000000000003}"#,
        )
        .unwrap();
        assert_eq!(d.offset_f64(), Some(0.000010000000000000003));
        assert_eq!(
            d.to_json_bytes(),
            br#"{"name":"float64","offset":0.000010000000000000003}"#
        );
    }

    #[test]
    fn full_forms() {
        let d = roundtrip(
            r#"{"name":"float64","precision":null,"dtype_encoded":null,"offset":null,"fillvalue":null}"#,
        );
        assert_eq!(d.form, DtypeForm::Full);
        let d = roundtrip(
            r#"{"name":"float32","precision":2,"dtype_encoded":"uint16","offset":-1.0,"fillvalue":0}"#,
        );
        assert_eq!(d.form, DtypeForm::Full);
        let d = roundtrip(
            r#"{"name":"int32","precision":null,"dtype_encoded":"int16","offset":5,"fillvalue":null}"#,
        );
        assert_eq!(d.form, DtypeForm::Full);
    }

    #[test]
    fn switching_form_changes_output() {
        let mut d = DataTypeMeta::new("int16");
        d.form = DtypeForm::Full;
        assert_eq!(
            d.to_json_bytes(),
            br#"{"name":"int16","precision":null,"dtype_encoded":null,"offset":null,"fillvalue":null}"#
        );
    }

    #[test]
    fn unknown_fields_are_kept_in_order() {
        let d = roundtrip(r#"{"name":"int8","zeta":[1,2.5],"alpha":{"x":null}}"#);
        assert_eq!(d.extra.len(), 2);
        let d = roundtrip(
            r#"{"name":"int8","precision":null,"dtype_encoded":null,"offset":null,"fillvalue":null,"new":1}"#,
        );
        assert_eq!(d.form, DtypeForm::Full);
        // An unknown field in the middle moves behind the known ones; the value is unchanged.
        let text = r#"{"name":"int8","new":true,"precision":3}"#;
        let d = DataTypeMeta::from_json_bytes(text.as_bytes()).unwrap();
        assert_eq!(
            d.to_json_bytes(),
            br#"{"name":"int8","precision":3,"new":true}"#
        );
        let again: Value = serde_json::from_slice(&d.to_json_bytes()).unwrap();
        assert_eq!(again, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn strict_types() {
        let bad = [
            (json!({"precision": 2}), "$.name"),
            (json!({"name": 3}), "$.name"),
            (json!({"name": "f", "precision": 2.0}), "$.precision"),
            (json!({"name": "f", "fillvalue": 0.0}), "$.fillvalue"),
            (json!({"name": "f", "offset": "1"}), "$.offset"),
            (json!({"name": "f", "dtype_encoded": 16}), "$.dtype_encoded"),
        ];
        for (v, p) in bad {
            let err = DataTypeMeta::from_json_value(v.clone()).unwrap_err();
            let path = match &err {
                ModelsError::WrongType { path, .. } | ModelsError::MissingField { path } => path,
                other => panic!("{v}: unexpected {other:?}"),
            };
            assert_eq!(path, p, "{v}");
        }
        assert!(DataTypeMeta::from_json_value(json!([1])).is_err());
    }

    #[test]
    fn serde_impls_agree() {
        let text = r#"{"name":"float32","precision":1,"dtype_encoded":"uint16","fillvalue":0,"offset":-1.0}"#;
        let d: DataTypeMeta = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), text);
        assert!(serde_json::from_str::<DataTypeMeta>(r#"{"name":1}"#).is_err());
    }
}
