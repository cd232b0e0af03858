//! The one-pass metadata parser: every dataset open parses the system metadata, so this path
//! reads the JSON bytes straight into [`SysMeta`] with serde visitors, with no intermediate
//! [`Value`] tree, no per-field path strings and no map lookups.
//!
//! It only ever *accepts*: anything it is not sure about (a type it does not expect, a missing
//! field, a duplicate key, a variable whose `type` is not its first key, a newer
//! `format_version`, ...) makes it give up, and [`SysMeta::from_json_bytes`] falls back to the
//! strict [`Value`]-based parser, which gives the same result or the precise, path-naming error.
//! What it accepts it parses exactly as that parser does; `tests` and the property tests in
//! `tests/fast_parse.rs` hold the two to the same output.

use std::fmt;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::dtype::{DTYPE_FIELDS, DtypeForm};
use crate::{
    Axis, Compression, Coordinate, DataTypeMeta, DataVariable, DatasetType, FORMAT_VERSION,
    SysMeta, Variable,
};

/// Parses `bytes` in one pass, or `None` when the strict parser has to decide.
pub(crate) fn parse(bytes: &[u8]) -> Option<SysMeta> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let meta = FastMeta::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(meta.0)
}

/// The give-up signal. Its text is never shown: the strict parser runs instead.
fn bail<E: de::Error>() -> E {
    E::custom("not on the fast path")
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(v.to_owned().into()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON integer (never a float) that fits an `i64`.
struct StrictI64(i64);

impl<'de> Deserialize<'de> for StrictI64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StrictI64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StrictI64, E> {
                Ok(StrictI64(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StrictI64, E> {
                i64::try_from(v).map(StrictI64).map_err(|_| bail())
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON integer (never a float) that fits a `u64`.
struct StrictU64(u64);

impl<'de> Deserialize<'de> for StrictU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StrictU64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StrictU64, E> {
                Ok(StrictU64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StrictU64, E> {
                u64::try_from(v).map(StrictU64).map_err(|_| bail())
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of strict `u64`s.
struct U64s(Vec<u64>);

impl<'de> Deserialize<'de> for U64s {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = U64s;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of integers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<U64s, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(StrictU64(x)) = seq.next_element()? {
                    out.push(x);
                }
                Ok(U64s(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A JSON integer kept as a [`Number`] (a float is refused).
struct IntNumber(Number);

impl<'de> Deserialize<'de> for IntNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = Number::deserialize(d)?;
        if n.is_f64() {
            return Err(bail());
        }
        Ok(IntNumber(n))
    }
}

/// Stores `value` in `slot`, giving up on a second occurrence of the key (the strict parser
/// keeps the last value at the first key's position; it decides such files).
fn set<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(bail());
    }
    *slot = Some(value);
    Ok(())
}

/// Like [`set`] for a field that may be null: `Some(None)` records a null that was seen.
fn set_opt<T, E: de::Error>(slot: &mut Option<Option<T>>, value: Option<T>) -> Result<(), E> {
    set(slot, value)
}

/// Keeps an unknown field, in order; a duplicate key gives up.
fn keep<'de, A: MapAccess<'de>>(
    extra: &mut Map<String, Value>,
    key: std::borrow::Cow<'de, str>,
    map: &mut A,
) -> Result<(), A::Error> {
    let value: Value = map.next_value()?;
    if extra.contains_key(key.as_ref()) {
        return Err(bail());
    }
    extra.insert(key.into_owned(), value);
    Ok(())
}

struct FastMeta(SysMeta);

impl<'de> Deserialize<'de> for FastMeta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MetaVisitor)
    }
}

struct MetaVisitor;

impl<'de> Visitor<'de> for MetaVisitor {
    type Value = FastMeta;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the system metadata object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FastMeta, A::Error> {
        let mut dataset_type = None;
        let mut compression = None;
        let mut compression_level = None;
        let mut variables = None;
        let mut crs: Option<Option<String>> = None;
        let mut remote = None;
        let mut format_version = None;
        let mut extra = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "dataset_type" => {
                    let s = map.next_value::<Key>()?.0;
                    let t = DatasetType::parse_at(&s, "$").map_err(|_| bail())?;
                    set(&mut dataset_type, t)?;
                }
                "compression" => {
                    let s = map.next_value::<Key>()?.0;
                    let c = Compression::parse_at(&s, "$").map_err(|_| bail())?;
                    set(&mut compression, c)?;
                }
                "compression_level" => {
                    set(&mut compression_level, map.next_value::<StrictI64>()?.0)?;
                }
                "variables" => set(&mut variables, map.next_value_seed(VariablesSeed)?)?,
                "crs" => set_opt(&mut crs, map.next_value::<Option<String>>()?)?,
                "remote" => set(&mut remote, map.next_value::<bool>()?)?,
                "format_version" => {
                    let v = map.next_value::<StrictI64>()?.0;
                    if v > FORMAT_VERSION {
                        return Err(bail());
                    }
                    set(&mut format_version, v)?;
                }
                _ => keep(&mut extra, key, &mut map)?,
            }
        }
        Ok(FastMeta(SysMeta {
            dataset_type: dataset_type.ok_or_else(bail)?,
            compression: compression.ok_or_else(bail)?,
            compression_level: compression_level.ok_or_else(bail)?,
            variables: variables.unwrap_or_default(),
            crs: crs.flatten(),
            remote: remote.unwrap_or(false),
            format_version: format_version.unwrap_or(0),
            extra,
        }))
    }
}

struct VariablesSeed;

impl<'de> DeserializeSeed<'de> for VariablesSeed {
    type Value = IndexMap<String, Variable>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for VariablesSeed {
    type Value = IndexMap<String, Variable>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the variables object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = IndexMap::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Key(name)) = map.next_key()? {
            let var = map.next_value_seed(VariableSeed)?;
            if out.insert(name.into_owned(), var).is_some() {
                return Err(bail());
            }
        }
        Ok(out)
    }
}

struct VariableSeed;

impl<'de> DeserializeSeed<'de> for VariableSeed {
    type Value = Variable;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Variable, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for VariableSeed {
    type Value = Variable;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a variable object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Variable, A::Error> {
        // cfdb writes `type` first; anything else is left to the strict parser.
        match map.next_key::<Key>()? {
            Some(Key(k)) if k == "type" => {}
            _ => return Err(bail()),
        }
        let tag = map.next_value::<Key>()?.0;
        match tag.as_ref() {
            "coord" => coord(map).map(Variable::Coord),
            "data_var" => data_var(map).map(Variable::DataVar),
            _ => Err(bail()),
        }
    }
}

fn coord<'de, A: MapAccess<'de>>(mut map: A) -> Result<Coordinate, A::Error> {
    let mut shape = None;
    let mut chunk_shape = None;
    let mut dtype = None;
    let mut origin: Option<Option<i64>> = None;
    let mut step: Option<Option<Number>> = None;
    let mut auto_increment = None;
    let mut axis: Option<Option<Axis>> = None;
    let mut units: Option<Option<String>> = None;
    let mut extra = Map::new();
    while let Some(Key(key)) = map.next_key()? {
        match key.as_ref() {
            "type" => return Err(bail()),
            "shape" => set(&mut shape, map.next_value::<U64s>()?.0)?,
            "chunk_shape" => set(&mut chunk_shape, map.next_value::<U64s>()?.0)?,
            "dtype" => set(&mut dtype, map.next_value_seed(DtypeSeed)?)?,
            "origin" => {
                let v = map.next_value::<Option<StrictI64>>()?;
                set_opt(&mut origin, v.map(|v| v.0))?;
            }
            "step" => set_opt(&mut step, map.next_value::<Option<Number>>()?)?,
            "auto_increment" => set(&mut auto_increment, map.next_value::<bool>()?)?,
            "axis" => {
                let a = match map.next_value::<Option<Key>>()? {
                    None => None,
                    Some(Key(s)) => Some(Axis::parse_at(&s, "$").map_err(|_| bail())?),
                };
                set_opt(&mut axis, a)?;
            }
            "units" => set_opt(&mut units, map.next_value::<Option<String>>()?)?,
            _ => keep(&mut extra, key, &mut map)?,
        }
    }
    Ok(Coordinate {
        shape: shape.ok_or_else(bail)?,
        chunk_shape: chunk_shape.ok_or_else(bail)?,
        dtype: dtype.ok_or_else(bail)?,
        origin: origin.flatten(),
        step: step.flatten(),
        auto_increment: auto_increment.unwrap_or(false),
        axis: axis.flatten(),
        units: units.flatten(),
        extra,
    })
}

fn data_var<'de, A: MapAccess<'de>>(mut map: A) -> Result<DataVariable, A::Error> {
    let mut chunk_shape = None;
    let mut coords: Option<Vec<String>> = None;
    let mut dtype = None;
    let mut units: Option<Option<String>> = None;
    let mut extra = Map::new();
    while let Some(Key(key)) = map.next_key()? {
        match key.as_ref() {
            "type" => return Err(bail()),
            "chunk_shape" => set(&mut chunk_shape, map.next_value::<U64s>()?.0)?,
            "coords" => set(&mut coords, map.next_value::<Vec<String>>()?)?,
            "dtype" => set(&mut dtype, map.next_value_seed(DtypeSeed)?)?,
            "units" => set_opt(&mut units, map.next_value::<Option<String>>()?)?,
            _ => keep(&mut extra, key, &mut map)?,
        }
    }
    Ok(DataVariable {
        chunk_shape: chunk_shape.ok_or_else(bail)?,
        coords: coords.ok_or_else(bail)?,
        dtype: dtype.ok_or_else(bail)?,
        units: units.flatten(),
        extra,
    })
}

struct DtypeSeed;

impl<'de> DeserializeSeed<'de> for DtypeSeed {
    type Value = DataTypeMeta;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<DataTypeMeta, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DtypeSeed {
    type Value = DataTypeMeta;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a DataType object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DataTypeMeta, A::Error> {
        let mut name = None;
        let mut precision: Option<Option<i64>> = None;
        let mut dtype_encoded: Option<Option<String>> = None;
        let mut offset: Option<Option<Number>> = None;
        let mut fillvalue: Option<Option<Number>> = None;
        let mut extra = Map::new();
        // Position and nullness of each known key, in DTYPE_FIELDS order, for the form.
        let mut pos = [None::<(usize, bool)>; 5];
        let mut index = 0usize;
        while let Some(Key(key)) = map.next_key()? {
            let field = DTYPE_FIELDS.iter().position(|f| *f == key.as_ref());
            let null = match key.as_ref() {
                "name" => {
                    set(&mut name, map.next_value::<String>()?)?;
                    false
                }
                "precision" => {
                    let v = map.next_value::<Option<StrictI64>>()?.map(|v| v.0);
                    let null = v.is_none();
                    set_opt(&mut precision, v)?;
                    null
                }
                "dtype_encoded" => {
                    let v = map.next_value::<Option<String>>()?;
                    let null = v.is_none();
                    set_opt(&mut dtype_encoded, v)?;
                    null
                }
                "offset" => {
                    let v = map.next_value::<Option<Number>>()?;
                    let null = v.is_none();
                    set_opt(&mut offset, v)?;
                    null
                }
                "fillvalue" => {
                    let v = map.next_value::<Option<IntNumber>>()?.map(|v| v.0);
                    let null = v.is_none();
                    set_opt(&mut fillvalue, v)?;
                    null
                }
                _ => {
                    keep(&mut extra, key, &mut map)?;
                    false
                }
            };
            if let Some(f) = field
                && let Some(slot) = pos.get_mut(f)
            {
                *slot = Some((index, null));
            }
            index += 1;
        }
        let form = match pos {
            [Some(_), Some(p), Some(d), Some(o), Some(f)] if p.1 || d.1 || o.1 || f.1 => {
                DtypeForm::Full
            }
            [Some(_), Some(_), Some(_), Some(o), Some(f)] if o.0 < f.0 => DtypeForm::Full,
            _ => DtypeForm::Compact,
        };
        Ok(DataTypeMeta {
            name: name.ok_or_else(bail)?,
            precision: precision.flatten(),
            dtype_encoded: dtype_encoded.flatten(),
            offset: offset.flatten(),
            fillvalue: fillvalue.flatten(),
            form,
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOLDEN: &str = include_str!("../testdata/golden_sysmeta.jsonl");

    /// The contract: whatever the one-pass parser accepts, the strict parser accepts with the
    /// same result.
    fn check(bytes: &[u8]) -> bool {
        let fast = parse(bytes);
        if let Some(fast) = &fast {
            let strict = SysMeta::from_json_bytes_strict(bytes);
            assert_eq!(
                strict.as_ref().ok(),
                Some(fast),
                "{}: strict gave {strict:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        fast.is_some()
    }

    #[test]
    fn golden_metadata_takes_the_fast_path() {
        for line in GOLDEN.lines() {
            assert!(check(line.as_bytes()), "gave up on {line}");
            let meta = parse(line.as_bytes()).unwrap();
            assert_eq!(meta.to_json_bytes(), line.as_bytes());
        }
    }

    #[test]
    fn gives_up_where_the_strict_parser_must_decide() {
        let base = r#"{"dataset_type":"grid","compression":"zstd","compression_level":1,"variables":{"x":{"type":"coord","shape":[3],"chunk_shape":[2],"dtype":{"name":"int32"},"origin":0}}}"#;
        assert!(check(base.as_bytes()));
        let cases = [
            // a float where an integer goes
            base.replace(r#""compression_level":1"#, r#""compression_level":1.0"#),
            // a newer format
            base.replace('}', r#","format_version":2}"#),
            // `type` not first
            base.replace(
                r#"{"type":"coord","shape":[3]"#,
                r#"{"shape":[3],"type":"coord""#,
            ),
            // a duplicate key
            base.replace(
                r#""compression":"zstd""#,
                r#""compression":"zstd","compression":"lz4""#,
            ),
            // a negative length, an unknown enum string, a missing field
            base.replace("[3]", "[-3]"),
            base.replace("grid", "mesh"),
            base.replace(r#""compression_level":1,"#, ""),
            // trailing garbage
            format!("{base} x"),
        ];
        for case in &cases {
            assert!(!check(case.as_bytes()), "accepted {case}");
        }
    }

    fn replacement() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            Just(Value::Bool(true)),
            Just(serde_json::json!(0)),
            Just(serde_json::json!(-1)),
            Just(serde_json::json!(1.5)),
            Just(serde_json::json!(30.0)),
            Just(serde_json::json!(u64::MAX)),
            Just(serde_json::json!("x")),
            Just(serde_json::json!("coord")),
            Just(serde_json::json!("float32")),
            Just(serde_json::json!([])),
            Just(serde_json::json!([1, 2])),
            Just(serde_json::json!({})),
            Just(serde_json::json!({"name": "int8"})),
        ]
    }

    /// Applies one structural edit at the `pick`-th object of the tree (pre-order).
    fn edit(v: &mut Value, pick: &mut usize, op: u8, key_pick: usize, repl: &Value) -> bool {
        if let Value::Object(m) = v {
            if *pick == 0 {
                let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
                let n = entries.len();
                match op % 5 {
                    0 if n > 0 => {
                        entries.remove(key_pick % n);
                    }
                    1 if n > 0 => entries[key_pick % n].1 = repl.clone(),
                    2 => entries.push((format!("extra{key_pick}"), repl.clone())),
                    3 if n > 1 => entries.swap(key_pick % n, (key_pick / n) % n),
                    _ => entries.insert(0, (format!("zz\\\"\u{e9}{key_pick}"), repl.clone())),
                }
                *m = entries.into_iter().collect();
                return true;
            }
            *pick -= 1;
            for (_, child) in m.iter_mut() {
                if edit(child, pick, op, key_pick, repl) {
                    return true;
                }
            }
        }
        false
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn edited_metadata_parses_like_the_strict_parser(
            line in 0..GOLDEN.lines().count(),
            edits in proptest::collection::vec((0usize..40, 0u8..5, 0usize..64, replacement()), 1..4),
        ) {
            let text = GOLDEN.lines().nth(line).unwrap();
            let mut v: Value = serde_json::from_str(text).unwrap();
            for (mut pick, op, key_pick, repl) in edits {
                edit(&mut v, &mut pick, op, key_pick, &repl);
            }
            check(serde_json::to_string(&v).unwrap().as_bytes());
        }

        #[test]
        fn byte_mutated_metadata_parses_like_the_strict_parser(
            line in 0..GOLDEN.lines().count(),
            at in any::<prop::sample::Index>(),
            token in prop::sample::select(vec!["", "0", "-", ".5", "null", "\"", ",", "}", "]", "{\"a\":1}", "\"type\":\"coord\",", "e5", "\\u0041"]),
            cut in 0usize..3,
        ) {
            let text = GOLDEN.lines().nth(line).unwrap();
            let i = at.index(text.len());
            let end = (i + cut).min(text.len());
            if text.is_char_boundary(i) && text.is_char_boundary(end) {
                let mutated = format!("{}{}{}", &text[..i], token, &text[end..]);
                check(mutated.as_bytes());
            }
        }
    }
}
