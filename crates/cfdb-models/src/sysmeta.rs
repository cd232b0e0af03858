//! The system metadata object (`SysMeta`) and its variables (`cfdb-format.md` §3.1–3.2).

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use crate::json::{self, child};
use crate::{Axis, Compression, DataTypeMeta, DatasetType, ModelsError};

/// The highest `format_version` this crate reads, and the one it writes (cfdb ≥ 0.10 writes 1).
pub const FORMAT_VERSION: i64 = 1;

/// The longest variable name cfdb accepts.
pub const MAX_VARIABLE_NAME_LEN: usize = 256;

/// A coordinate (`"type": "coord"`): a 1-D variable that other variables are laid out on.
#[derive(Clone, Debug, PartialEq)]
pub struct Coordinate {
    /// Current length, `[n]` (may be `[0]`).
    pub shape: Vec<u64>,
    /// Chunk length, `[c]` with `c > 0`.
    pub chunk_shape: Vec<u64>,
    /// The stored data type.
    pub dtype: DataTypeMeta,
    /// Storage position of index 0 (negative after a prepend). Python's default is null, with
    /// which the coordinate cannot be used; cfdb always writes an integer.
    pub origin: Option<i64>,
    /// Regular spacing enforced on append/prepend; a JSON number kept as written (`30.0` stays a
    /// float, `10` an integer).
    pub step: Option<Number>,
    /// Stored but unused by cfdb 0.11.0 (always false).
    pub auto_increment: bool,
    /// The axis this coordinate represents.
    pub axis: Option<Axis>,
    /// Free-text units (not the CF `units` attribute).
    pub units: Option<String>,
    /// Fields this crate does not know, written back after the known ones.
    pub extra: Map<String, Value>,
}

/// A data variable (`"type": "data_var"`): an N-D variable over coordinates.
///
/// It stores no shape or origin: those come from its coordinates (see
/// [`SysMeta::variable_shape`] and [`SysMeta::variable_origins`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DataVariable {
    /// Chunk shape, one length (> 0) per coordinate.
    pub chunk_shape: Vec<u64>,
    /// The names of the coordinates that are this variable's dimensions, in order.
    pub coords: Vec<String>,
    /// The stored data type.
    pub dtype: DataTypeMeta,
    /// Free-text units (not the CF `units` attribute).
    pub units: Option<String>,
    /// Fields this crate does not know, written back after the known ones.
    pub extra: Map<String, Value>,
}

/// One entry of [`SysMeta::variables`], tagged in JSON by its `type` field.
#[derive(Clone, Debug, PartialEq)]
pub enum Variable {
    /// `"type": "coord"`.
    Coord(Coordinate),
    /// `"type": "data_var"`.
    DataVar(DataVariable),
}

/// The system metadata that cfdb keeps in the booklet metadata slot.
///
/// Parsing is strict in the way Python cfdb's msgspec decoding is (integers must be JSON
/// integers, enum strings must match exactly, required fields must be present), keeps the number
/// typing of `offset` and `step`, remembers each DataType's serialised form, and keeps unknown
/// fields at every level. Serialising writes the fields in Python's order followed by any
/// unknown fields, as orjson-compact bytes.
///
/// ```
/// use cfdb_models::{Compression, Coordinate, DataTypeMeta, DataVariable, DatasetType, SysMeta, Variable};
///
/// let stored = br#"{"dataset_type":"grid","compression":"zstd_shuffle","compression_level":1,"variables":{"x":{"type":"coord","shape":[3],"chunk_shape":[2],"dtype":{"name":"int32"},"origin":0,"step":10,"auto_increment":false,"axis":"x","units":null},"v":{"type":"data_var","chunk_shape":[2],"coords":["x"],"dtype":{"name":"float32","precision":1,"dtype_encoded":"uint16","fillvalue":0,"offset":-1.0},"units":null}},"crs":null,"remote":false,"format_version":1}"#;
/// let meta = SysMeta::from_json_bytes(stored)?;
/// assert_eq!(meta.dataset_type, DatasetType::Grid);
/// assert_eq!(meta.compression, Compression::ZstdShuffle);
/// assert_eq!(meta.variable_shape("v"), Some(vec![3]));
/// assert_eq!(meta.to_json_bytes(), stored.to_vec());
///
/// // Building one from scratch.
/// let mut meta = SysMeta::new(DatasetType::Grid, Compression::Zstd, 1);
/// let mut x = Coordinate::new(DataTypeMeta::new("int32"), 2);
/// x.shape = vec![3];
/// meta.variables.insert("x".into(), Variable::Coord(x));
/// meta.variables.insert(
///     "v".into(),
///     Variable::DataVar(DataVariable::new(vec!["x".into()], vec![2], DataTypeMeta::new("float32"))),
/// );
/// meta.validate()?;
/// let bytes = meta.to_json_bytes();
/// assert!(bytes.starts_with(br#"{"dataset_type":"grid","compression":"zstd","compression_level":1,"variables":{"x":{"type":"coord","shape":[3]"#));
/// assert_eq!(SysMeta::from_json_bytes(&bytes)?, meta);
///
/// // Files from a newer cfdb are refused.
/// let newer = br#"{"dataset_type":"grid","compression":"zstd","compression_level":1,"format_version":2}"#;
/// assert!(SysMeta::from_json_bytes(newer).unwrap_err().to_string().contains("newer cfdb"));
/// # Ok::<(), cfdb_models::ModelsError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SysMeta {
    /// The dataset type.
    pub dataset_type: DatasetType,
    /// The chunk compression.
    pub compression: Compression,
    /// The codec level used when writing.
    pub compression_level: i64,
    /// All coordinates and data variables, in creation order.
    pub variables: IndexMap<String, Variable>,
    /// Coordinate reference system text.
    pub crs: Option<String>,
    /// True for the local cache of an S3-backed dataset.
    pub remote: bool,
    /// The format version (0 when the field is absent; at most [`FORMAT_VERSION`]).
    pub format_version: i64,
    /// Fields this crate does not know, written back after the known ones.
    pub extra: Map<String, Value>,
}

impl Coordinate {
    /// A new, empty coordinate as cfdb creates it: shape `[0]`, origin 0, no step, no axis.
    pub fn new(dtype: DataTypeMeta, chunk_len: u64) -> Self {
        Coordinate {
            shape: vec![0],
            chunk_shape: vec![chunk_len],
            dtype,
            origin: Some(0),
            step: None,
            auto_increment: false,
            axis: None,
            units: None,
            extra: Map::new(),
        }
    }

    /// The length (`shape[0]`, 0 if the shape is empty).
    pub fn len(&self) -> u64 {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Whether the coordinate has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn parse(mut m: Map<String, Value>, path: &str) -> Result<Self, ModelsError> {
        let shape = json::u64_array(
            json::required(&mut m, "shape", path)?,
            &child(path, "shape"),
        )?;
        let chunk_shape = json::u64_array(
            json::required(&mut m, "chunk_shape", path)?,
            &child(path, "chunk_shape"),
        )?;
        let dtype = DataTypeMeta::parse(
            json::required(&mut m, "dtype", path)?,
            &child(path, "dtype"),
        )?;
        let origin = json::opt_int_i64(json::take(&mut m, "origin"), &child(path, "origin"))?;
        let step = json::opt_number(json::take(&mut m, "step"), &child(path, "step"))?;
        let auto_increment = match json::take(&mut m, "auto_increment") {
            None => false,
            Some(v) => json::boolean(v, &child(path, "auto_increment"))?,
        };
        let axis_path = child(path, "axis");
        let axis = json::opt_string(json::take(&mut m, "axis"), &axis_path)?
            .map(|s| Axis::parse_at(&s, &axis_path))
            .transpose()?;
        let units = json::opt_string(json::take(&mut m, "units"), &child(path, "units"))?;
        Ok(Coordinate {
            shape,
            chunk_shape,
            dtype,
            origin,
            step,
            auto_increment,
            axis,
            units,
            extra: m,
        })
    }

    fn to_json_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::String("coord".into()));
        m.insert("shape".into(), u64s(&self.shape));
        m.insert("chunk_shape".into(), u64s(&self.chunk_shape));
        m.insert("dtype".into(), self.dtype.to_json_value());
        m.insert(
            "origin".into(),
            self.origin.map_or(Value::Null, |o| Value::Number(o.into())),
        );
        m.insert(
            "step".into(),
            self.step.clone().map_or(Value::Null, Value::Number),
        );
        m.insert("auto_increment".into(), Value::Bool(self.auto_increment));
        m.insert(
            "axis".into(),
            self.axis
                .map_or(Value::Null, |a| Value::String(a.as_str().into())),
        );
        m.insert("units".into(), opt_str(&self.units));
        json::append_extra(&mut m, &self.extra);
        Value::Object(m)
    }
}

impl DataVariable {
    /// A new data variable over `coords` with the given chunk shape.
    pub fn new(coords: Vec<String>, chunk_shape: Vec<u64>, dtype: DataTypeMeta) -> Self {
        DataVariable {
            chunk_shape,
            coords,
            dtype,
            units: None,
            extra: Map::new(),
        }
    }

    fn parse(mut m: Map<String, Value>, path: &str) -> Result<Self, ModelsError> {
        let chunk_shape = json::u64_array(
            json::required(&mut m, "chunk_shape", path)?,
            &child(path, "chunk_shape"),
        )?;
        let coords = json::string_array(
            json::required(&mut m, "coords", path)?,
            &child(path, "coords"),
        )?;
        let dtype = DataTypeMeta::parse(
            json::required(&mut m, "dtype", path)?,
            &child(path, "dtype"),
        )?;
        let units = json::opt_string(json::take(&mut m, "units"), &child(path, "units"))?;
        Ok(DataVariable {
            chunk_shape,
            coords,
            dtype,
            units,
            extra: m,
        })
    }

    fn to_json_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::String("data_var".into()));
        m.insert("chunk_shape".into(), u64s(&self.chunk_shape));
        m.insert(
            "coords".into(),
            Value::Array(self.coords.iter().cloned().map(Value::String).collect()),
        );
        m.insert("dtype".into(), self.dtype.to_json_value());
        m.insert("units".into(), opt_str(&self.units));
        json::append_extra(&mut m, &self.extra);
        Value::Object(m)
    }
}

impl Variable {
    /// The `type` tag: `"coord"` or `"data_var"`.
    pub const fn type_tag(&self) -> &'static str {
        match self {
            Variable::Coord(_) => "coord",
            Variable::DataVar(_) => "data_var",
        }
    }

    /// The coordinate, if this is one.
    pub fn as_coord(&self) -> Option<&Coordinate> {
        match self {
            Variable::Coord(c) => Some(c),
            Variable::DataVar(_) => None,
        }
    }

    /// The data variable, if this is one.
    pub fn as_data_var(&self) -> Option<&DataVariable> {
        match self {
            Variable::DataVar(d) => Some(d),
            Variable::Coord(_) => None,
        }
    }

    /// The data type.
    pub fn dtype(&self) -> &DataTypeMeta {
        match self {
            Variable::Coord(c) => &c.dtype,
            Variable::DataVar(d) => &d.dtype,
        }
    }

    /// The data type, mutably.
    pub fn dtype_mut(&mut self) -> &mut DataTypeMeta {
        match self {
            Variable::Coord(c) => &mut c.dtype,
            Variable::DataVar(d) => &mut d.dtype,
        }
    }

    /// The chunk shape.
    pub fn chunk_shape(&self) -> &[u64] {
        match self {
            Variable::Coord(c) => &c.chunk_shape,
            Variable::DataVar(d) => &d.chunk_shape,
        }
    }

    /// The free-text units.
    pub fn units(&self) -> Option<&str> {
        match self {
            Variable::Coord(c) => c.units.as_deref(),
            Variable::DataVar(d) => d.units.as_deref(),
        }
    }

    /// Parses one variable object (see [`SysMeta::from_json_value`] for the rules).
    pub fn from_json_value(value: Value) -> Result<Self, ModelsError> {
        Self::parse(value, "$")
    }

    fn parse(value: Value, path: &str) -> Result<Self, ModelsError> {
        let mut m = json::object(value, path)?;
        let tag_path = child(path, "type");
        let tag = json::string(json::required(&mut m, "type", path)?, &tag_path)?;
        match tag.as_str() {
            "coord" => Coordinate::parse(m, path).map(Variable::Coord),
            "data_var" => DataVariable::parse(m, path).map(Variable::DataVar),
            _ => Err(ModelsError::UnknownVariant {
                path: tag_path,
                value: tag,
                expected: &["coord", "data_var"],
            }),
        }
    }

    /// The JSON object: `type` first, then the fields in Python's order, then unknown fields.
    pub fn to_json_value(&self) -> Value {
        match self {
            Variable::Coord(c) => c.to_json_value(),
            Variable::DataVar(d) => d.to_json_value(),
        }
    }
}

impl SysMeta {
    /// Metadata of a new, empty dataset as cfdb writes it on creation (`format_version` 1).
    pub fn new(
        dataset_type: DatasetType,
        compression: Compression,
        compression_level: i64,
    ) -> Self {
        SysMeta {
            dataset_type,
            compression,
            compression_level,
            variables: IndexMap::new(),
            crs: None,
            remote: false,
            format_version: FORMAT_VERSION,
            extra: Map::new(),
        }
    }

    /// Parses the metadata slot's JSON bytes (see [`from_json_value`](Self::from_json_value)).
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, ModelsError> {
        // The one-pass parser takes what it is sure of; the strict parser decides the rest and
        // names the offending path in its errors.
        if let Some(meta) = crate::fast::parse(bytes) {
            return Ok(meta);
        }
        Self::from_json_bytes_strict(bytes)
    }

    /// The [`Value`]-based parser alone (what decides whenever the one-pass parser gives up).
    pub(crate) fn from_json_bytes_strict(bytes: &[u8]) -> Result<Self, ModelsError> {
        let value: Value = serde_json::from_slice(bytes)?;
        Self::from_json_value(value)
    }

    /// Parses the system metadata object.
    ///
    /// `format_version` is checked first: above [`FORMAT_VERSION`] the result is
    /// [`ModelsError::NewerFormatVersion`] (absent means 0). An unknown `compression` gives
    /// [`ModelsError::UnknownCompression`]. Otherwise the rules of Python's msgspec model apply:
    /// `dataset_type`, `compression`, `compression_level` and every variable's `type`, `shape` /
    /// `chunk_shape` / `coords` and `dtype` are required, the others default (`variables` {},
    /// `crs` null, `remote` false, `origin`/`step`/`axis`/`units` null, `auto_increment` false);
    /// nulls are accepted only where Python accepts them. Consistency between variables is not
    /// checked here (see [`validate`](Self::validate)).
    pub fn from_json_value(value: Value) -> Result<Self, ModelsError> {
        let path = "$";
        let mut m = json::object(value, path)?;
        let format_version = match json::take(&mut m, "format_version") {
            None => 0,
            Some(v) => json::int_i64(v, &child(path, "format_version"))?,
        };
        if format_version > FORMAT_VERSION {
            return Err(ModelsError::NewerFormatVersion {
                found: format_version,
                supported: FORMAT_VERSION,
            });
        }
        let dt_path = child(path, "dataset_type");
        let dataset_type = DatasetType::parse_at(
            &json::string(json::required(&mut m, "dataset_type", path)?, &dt_path)?,
            &dt_path,
        )?;
        let c_path = child(path, "compression");
        let compression_text = json::string(json::required(&mut m, "compression", path)?, &c_path)?;
        let compression = Compression::parse_at(&compression_text, &c_path).map_err(|_| {
            ModelsError::UnknownCompression {
                value: compression_text,
            }
        })?;
        let compression_level = json::int_i64(
            json::required(&mut m, "compression_level", path)?,
            &child(path, "compression_level"),
        )?;
        let vars_path = child(path, "variables");
        let mut variables = IndexMap::new();
        if let Some(v) = json::take(&mut m, "variables") {
            for (name, var) in json::object(v, &vars_path)? {
                let var = Variable::parse(var, &child(&vars_path, &name))?;
                variables.insert(name, var);
            }
        }
        let crs = json::opt_string(json::take(&mut m, "crs"), &child(path, "crs"))?;
        let remote = match json::take(&mut m, "remote") {
            None => false,
            Some(v) => json::boolean(v, &child(path, "remote"))?,
        };
        Ok(SysMeta {
            dataset_type,
            compression,
            compression_level,
            variables,
            crs,
            remote,
            format_version,
            extra: m,
        })
    }

    /// The JSON object in Python's field order, followed by unknown fields.
    pub fn to_json_value(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "dataset_type".into(),
            Value::String(self.dataset_type.as_str().into()),
        );
        m.insert(
            "compression".into(),
            Value::String(self.compression.as_str().into()),
        );
        m.insert(
            "compression_level".into(),
            Value::Number(self.compression_level.into()),
        );
        let vars: Map<String, Value> = self
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json_value()))
            .collect();
        m.insert("variables".into(), Value::Object(vars));
        m.insert("crs".into(), opt_str(&self.crs));
        m.insert("remote".into(), Value::Bool(self.remote));
        m.insert(
            "format_version".into(),
            Value::Number(self.format_version.into()),
        );
        json::append_extra(&mut m, &self.extra);
        Value::Object(m)
    }

    /// The bytes Python cfdb would store for this metadata (orjson-compact JSON, UTF-8).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        json::to_orjson_bytes(&self.to_json_value())
    }

    /// The coordinate called `name`, if there is one.
    pub fn coord(&self, name: &str) -> Option<&Coordinate> {
        self.variables.get(name).and_then(Variable::as_coord)
    }

    /// The data variable called `name`, if there is one.
    pub fn data_var(&self, name: &str) -> Option<&DataVariable> {
        self.variables.get(name).and_then(Variable::as_data_var)
    }

    /// The shape of a variable: a coordinate's `shape`, or for a data variable the lengths of
    /// its coordinates. `None` if the variable or one of its coordinates does not exist.
    pub fn variable_shape(&self, name: &str) -> Option<Vec<u64>> {
        match self.variables.get(name)? {
            Variable::Coord(c) => Some(c.shape.clone()),
            Variable::DataVar(d) => d
                .coords
                .iter()
                .map(|c| self.coord(c).map(Coordinate::len))
                .collect(),
        }
    }

    /// The per-dimension origins of a variable (a data variable uses its coordinates' origins).
    /// `None` if the variable or a coordinate does not exist or a coordinate has no origin.
    pub fn variable_origins(&self, name: &str) -> Option<Vec<i64>> {
        match self.variables.get(name)? {
            Variable::Coord(c) => Some(vec![c.origin?]),
            Variable::DataVar(d) => d
                .coords
                .iter()
                .map(|c| self.coord(c).and_then(|c| c.origin))
                .collect(),
        }
    }

    /// Checks the consistency that Python cfdb's API maintains but its decoder does not check:
    /// variable names match `^[a-zA-Z][a-zA-Z0-9_]*$` and have at most
    /// [`MAX_VARIABLE_NAME_LEN`] characters; every coordinate has a 1-element `shape` and
    /// `chunk_shape` and an `origin`; every data variable names existing coordinates and has one
    /// chunk length per coordinate; all chunk lengths are > 0.
    pub fn validate(&self) -> Result<(), ModelsError> {
        for (name, var) in &self.variables {
            let path = child("$.variables", name);
            let invalid = |reason: String| ModelsError::Invalid {
                path: path.clone(),
                reason,
            };
            if !is_valid_name(name) {
                return Err(invalid(format!(
                    "variable names must match ^[a-zA-Z][a-zA-Z0-9_]*$ and have at most \
                     {MAX_VARIABLE_NAME_LEN} characters"
                )));
            }
            if var.chunk_shape().contains(&0) {
                return Err(invalid("chunk lengths must be > 0".into()));
            }
            match var {
                Variable::Coord(c) => {
                    if c.shape.len() != 1 || c.chunk_shape.len() != 1 {
                        return Err(invalid(
                            "a coordinate needs a 1-element shape and chunk_shape".into(),
                        ));
                    }
                    if c.origin.is_none() {
                        return Err(invalid("a coordinate needs an integer origin".into()));
                    }
                }
                Variable::DataVar(d) => {
                    if d.chunk_shape.len() != d.coords.len() {
                        return Err(invalid(format!(
                            "chunk_shape has {} lengths for {} coordinates",
                            d.chunk_shape.len(),
                            d.coords.len()
                        )));
                    }
                    if let Some(c) = d.coords.iter().find(|c| self.coord(c).is_none()) {
                        return Err(invalid(format!("{c:?} is not a coordinate")));
                    }
                }
            }
        }
        Ok(())
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_VARIABLE_NAME_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn u64s(v: &[u64]) -> Value {
    Value::Array(v.iter().map(|&x| Value::Number(x.into())).collect())
}

fn opt_str(s: &Option<String>) -> Value {
    s.clone().map_or(Value::Null, Value::String)
}

macro_rules! serde_via_value {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.to_json_value().serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = Value::deserialize(deserializer)?;
                Self::from_json_value(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_via_value!(SysMeta);
serde_via_value!(Variable);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DtypeForm;
    use serde_json::json;

    /// The worked example of `cfdb-format.md` §3.4 (exact bytes written by cfdb 0.11.0).
    const SPEC_EXAMPLE: &str = r#"{"dataset_type":"grid","compression":"zstd_shuffle","compression_level":1,"variables":{"x":{"type":"coord","shape":[3],"chunk_shape":[2],"dtype":{"name":"int32"},"origin":0,"step":10,"auto_increment":false,"axis":"x","units":null},"v":{"type":"data_var","chunk_shape":[2],"coords":["x"],"dtype":{"name":"float32","precision":1,"dtype_encoded":"uint16","fillvalue":0,"offset":-1.0},"units":null},"name":{"type":"data_var","chunk_shape":[2],"coords":["x"],"dtype":{"name":"str"},"units":null}},"crs":null,"remote":false,"format_version":1}"#;

    fn minimal() -> Value {
        json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1})
    }

    #[test]
    fn spec_example_round_trips_bytes() {
        let m = SysMeta::from_json_bytes(SPEC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(m.variables.len(), 3);
        let keys: Vec<&str> = m.variables.keys().map(String::as_str).collect();
        assert_eq!(keys, ["x", "v", "name"]);
        let x = m.coord("x").unwrap();
        assert_eq!(x.step, Some(Number::from(10)));
        assert_eq!(x.axis, Some(Axis::X));
        assert_eq!(m.data_var("v").unwrap().dtype.form, DtypeForm::Compact);
        assert_eq!(m.variable_shape("name"), Some(vec![3]));
        assert_eq!(m.variable_origins("v"), Some(vec![0]));
        m.validate().unwrap();
        assert_eq!(String::from_utf8(m.to_json_bytes()).unwrap(), SPEC_EXAMPLE);
        // serde impls go through the same model.
        let via_serde: SysMeta = serde_json::from_str(SPEC_EXAMPLE).unwrap();
        assert_eq!(via_serde, m);
        assert_eq!(serde_json::to_value(&m).unwrap(), m.to_json_value());
    }

    #[test]
    fn defaults_when_optional_fields_are_absent() {
        let m = SysMeta::from_json_value(minimal()).unwrap();
        assert_eq!(m.format_version, 0);
        assert!(m.variables.is_empty() && m.crs.is_none() && !m.remote);
        // Python writes every field, so the defaults appear on output.
        assert_eq!(
            m.to_json_bytes(),
            br#"{"dataset_type":"grid","compression":"lz4","compression_level":1,"variables":{},"crs":null,"remote":false,"format_version":0}"#
        );
        let v = Variable::from_json_value(
            json!({"type": "coord", "shape": [1], "chunk_shape": [1], "dtype": {"name": "int8"}}),
        )
        .unwrap();
        let c = v.as_coord().unwrap();
        assert_eq!(
            (c.origin, c.step.clone(), c.auto_increment, c.axis),
            (None, None, false, None)
        );
    }

    #[test]
    fn float_step_and_int_step_keep_their_type() {
        let mut j = minimal();
        j["variables"] = json!({
            "a": {"type": "coord", "shape": [10], "chunk_shape": [498960], "dtype": {"name": "float32"}, "origin": 0, "step": 1.0, "auto_increment": false, "axis": null, "units": null},
            "b": {"type": "coord", "shape": [6], "chunk_shape": [4], "dtype": {"name": "int32"}, "origin": -3, "step": 10, "auto_increment": false, "axis": "t", "units": "s"}
        });
        let m = SysMeta::from_json_value(j.clone()).unwrap();
        assert!(m.coord("a").unwrap().step.as_ref().unwrap().is_f64());
        assert!(!m.coord("b").unwrap().step.as_ref().unwrap().is_f64());
        let out = String::from_utf8(m.to_json_bytes()).unwrap();
        assert!(
            out.contains(r#""step":1.0,"#) && out.contains(r#""step":10,"#),
            "{out}"
        );
        assert_eq!(
            m.to_json_value(),
            j.as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("crs".into(), Value::Null);
                    o.insert("remote".into(), Value::Bool(false));
                    o.insert("format_version".into(), json!(0));
                    Value::Object(o)
                })
                .unwrap()
        );
    }

    #[test]
    fn format_version() {
        let mut j = minimal();
        j["format_version"] = json!(1);
        assert_eq!(
            SysMeta::from_json_value(j.clone()).unwrap().format_version,
            1
        );
        j["format_version"] = json!(2);
        let err = SysMeta::from_json_value(j.clone()).unwrap_err();
        assert!(matches!(
            err,
            ModelsError::NewerFormatVersion {
                found: 2,
                supported: 1
            }
        ));
        assert!(err.to_string().contains("written by a newer cfdb"), "{err}");
        // The version is checked before anything else: a newer file with unknown structure
        // still reports the version.
        let err =
            SysMeta::from_json_value(json!({"format_version": 7, "dataset_type": 1})).unwrap_err();
        assert!(matches!(
            err,
            ModelsError::NewerFormatVersion { found: 7, .. }
        ));
        j["format_version"] = json!(1.0);
        assert!(matches!(
            SysMeta::from_json_value(j).unwrap_err(),
            ModelsError::WrongType { .. }
        ));
    }

    #[test]
    fn unknown_compression_says_newer() {
        let mut j = minimal();
        j["compression"] = json!("brotli");
        let err = SysMeta::from_json_value(j).unwrap_err();
        assert!(matches!(err, ModelsError::UnknownCompression { ref value } if value == "brotli"));
        assert!(err.to_string().contains("newer cfdb"));
    }

    #[test]
    fn strict_type_errors_carry_paths() {
        let cases = [
            (
                json!({"compression": "lz4", "compression_level": 1}),
                "$.dataset_type",
            ),
            (
                json!({"dataset_type": "Grid", "compression": "lz4", "compression_level": 1}),
                "$.dataset_type",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1.0}),
                "$.compression_level",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1, "remote": null}),
                "$.remote",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1, "variables": []}),
                "$.variables",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1, "crs": 4326}),
                "$.crs",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1,
                    "variables": {"x": {"shape": [1], "chunk_shape": [1], "dtype": {"name": "int8"}}}}),
                "$.variables.x.type",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1,
                    "variables": {"x": {"type": "coordinate"}}}),
                "$.variables.x.type",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1,
                    "variables": {"x": {"type": "coord", "shape": [1.0], "chunk_shape": [1], "dtype": {"name": "int8"}}}}),
                "$.variables.x.shape[0]",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1,
                    "variables": {"x": {"type": "coord", "shape": [1], "chunk_shape": [-1], "dtype": {"name": "int8"}}}}),
                "$.variables.x.chunk_shape[0]",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1,
                    "variables": {"x": {"type": "coord", "shape": [1], "chunk_shape": [1], "dtype": {"name": "int8"}, "axis": "X"}}}),
                "$.variables.x.axis",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1,
                    "variables": {"x": {"type": "coord", "shape": [1], "chunk_shape": [1], "dtype": {"name": "int8"}, "origin": 0.0}}}),
                "$.variables.x.origin",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1,
                    "variables": {"x": {"type": "coord", "shape": [1], "chunk_shape": [1], "dtype": {"name": "int8"}, "auto_increment": 0}}}),
                "$.variables.x.auto_increment",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1,
                    "variables": {"v": {"type": "data_var", "chunk_shape": [1], "coords": [1], "dtype": {"name": "int8"}}}}),
                "$.variables.v.coords[0]",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1,
                    "variables": {"v": {"type": "data_var", "chunk_shape": [1], "coords": ["x"]}}}),
                "$.variables.v.dtype",
            ),
            (
                json!({"dataset_type": "grid", "compression": "lz4", "compression_level": 1,
                    "variables": {"v": {"type": "data_var", "chunk_shape": [1], "coords": ["x"], "dtype": {"name": "float32", "precision": 1.5}}}}),
                "$.variables.v.dtype.precision",
            ),
        ];
        for (j, want) in cases {
            let err = SysMeta::from_json_value(j.clone()).unwrap_err();
            let path = match &err {
                ModelsError::WrongType { path, .. }
                | ModelsError::MissingField { path }
                | ModelsError::UnknownVariant { path, .. }
                | ModelsError::OutOfRange { path, .. } => path.clone(),
                other => panic!("{j}: unexpected {other:?}"),
            };
            assert_eq!(path, want, "{j}: {err}");
        }
        assert!(matches!(
            SysMeta::from_json_bytes(b"{\"a\":"),
            Err(ModelsError::Json(_))
        ));
        assert!(SysMeta::from_json_bytes(b"[]").is_err());
    }

    #[test]
    fn unknown_fields_survive_at_every_level() {
        let text = r#"{"dataset_type":"ts_ortho","compression":"lz4_shuffle","compression_level":-3,"variables":{"p":{"type":"coord","shape":[0],"chunk_shape":[3],"dtype":{"name":"Point","precision":5,"dtype_encoded":"StringDType128","wkb":true},"origin":0,"step":null,"auto_increment":false,"axis":"xy","units":null,"new_coord_field":[1,{"a":null}]},"v":{"type":"data_var","chunk_shape":[2],"coords":["p"],"dtype":{"name":"float32","precision":null,"dtype_encoded":null,"offset":null,"fillvalue":null,"q":1.5},"units":"mm","attrs":{"k":"é"}}},"crs":"EPSG:4326","remote":true,"format_version":1,"future":{"x":1e+16}}"#;
        let m = SysMeta::from_json_bytes(text.as_bytes()).unwrap();
        assert_eq!(m.extra.len(), 1);
        assert_eq!(m.coord("p").unwrap().extra.len(), 1);
        assert_eq!(m.data_var("v").unwrap().extra.len(), 1);
        assert_eq!(m.data_var("v").unwrap().dtype.form, DtypeForm::Full);
        assert_eq!(String::from_utf8(m.to_json_bytes()).unwrap(), text);
        // A stray `type` in extras (or any known key) never duplicates a key on output.
        let mut m2 = m.clone();
        if let Some(Variable::Coord(c)) = m2.variables.get_mut("p") {
            c.extra.insert("type".into(), json!("data_var"));
            c.extra.insert("shape".into(), json!([9]));
        }
        m2.extra.insert("variables".into(), json!(null));
        assert_eq!(m2.to_json_bytes(), m.to_json_bytes());
    }

    #[test]
    fn validate_catches_inconsistencies() {
        let base = SysMeta::from_json_bytes(SPEC_EXAMPLE.as_bytes()).unwrap();
        let mut m = base.clone();
        if let Some(Variable::DataVar(d)) = m.variables.get_mut("v") {
            d.coords = vec!["nope".into()];
        }
        assert!(matches!(m.validate(), Err(ModelsError::Invalid { .. })));
        assert_eq!(m.variable_shape("v"), None);
        let mut m = base.clone();
        if let Some(Variable::DataVar(d)) = m.variables.get_mut("v") {
            d.chunk_shape = vec![2, 2];
        }
        assert!(m.validate().is_err());
        let mut m = base.clone();
        if let Some(Variable::Coord(c)) = m.variables.get_mut("x") {
            c.chunk_shape = vec![0];
        }
        assert!(m.validate().is_err());
        let mut m = base.clone();
        if let Some(Variable::Coord(c)) = m.variables.get_mut("x") {
            c.origin = None;
        }
        assert!(m.validate().is_err());
        assert_eq!(m.variable_origins("v"), None);
        let mut m = base.clone();
        m.variables.insert(
            "_bad".into(),
            Variable::Coord(Coordinate::new(DataTypeMeta::new("int8"), 1)),
        );
        assert!(m.validate().is_err());
        let mut m = base;
        m.variables.insert(
            "a".repeat(257),
            Variable::Coord(Coordinate::new(DataTypeMeta::new("int8"), 1)),
        );
        assert!(m.validate().is_err());
        assert!(is_valid_name(&"a".repeat(256)) && is_valid_name("T_2m") && !is_valid_name("2m"));
    }

    #[test]
    fn variable_accessors() {
        let m = SysMeta::from_json_bytes(SPEC_EXAMPLE.as_bytes()).unwrap();
        let mut x = m.variables["x"].clone();
        assert_eq!(x.type_tag(), "coord");
        assert_eq!(x.chunk_shape(), &[2]);
        assert_eq!(x.units(), None);
        x.dtype_mut().form = DtypeForm::Full;
        assert_eq!(x.dtype().form, DtypeForm::Full);
        assert!(x.as_data_var().is_none());
        let v = &m.variables["v"];
        assert_eq!(v.type_tag(), "data_var");
        assert!(v.as_coord().is_none());
        let c = Coordinate::new(DataTypeMeta::new("int8"), 4);
        assert_eq!(c.len(), 0);
        assert!(c.is_empty());
    }
}
