//! The closed set of data types cfdb stores (`cfdb-format.md` §4) and their metadata mapping.

use std::fmt;

use cfdb_models::{DataTypeMeta, DtypeForm};
use serde_json::Number;

use crate::error::{CodecError, Result};

/// One of numpy's eight fixed-width integer types (decoded integers and packed codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntType {
    /// `int8`
    I8,
    /// `int16`
    I16,
    /// `int32`
    I32,
    /// `int64`
    I64,
    /// `uint8`
    U8,
    /// `uint16`
    U16,
    /// `uint32`
    U32,
    /// `uint64`
    U64,
}

impl IntType {
    /// All eight integer types, signed first.
    pub const ALL: [IntType; 8] = [
        IntType::I8,
        IntType::I16,
        IntType::I32,
        IntType::I64,
        IntType::U8,
        IntType::U16,
        IntType::U32,
        IntType::U64,
    ];

    /// The numpy name (`"int16"`, `"uint64"`, ...).
    ///
    /// ```
    /// use cfdb_codec::IntType;
    /// assert_eq!(IntType::U16.name(), "uint16");
    /// assert_eq!(IntType::from_name("int8"), Some(IntType::I8));
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            IntType::I8 => "int8",
            IntType::I16 => "int16",
            IntType::I32 => "int32",
            IntType::I64 => "int64",
            IntType::U8 => "uint8",
            IntType::U16 => "uint16",
            IntType::U32 => "uint32",
            IntType::U64 => "uint64",
        }
    }

    /// Parses a numpy integer name; `None` for anything else.
    pub fn from_name(name: &str) -> Option<IntType> {
        IntType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Size in bytes.
    pub const fn size(self) -> usize {
        match self {
            IntType::I8 | IntType::U8 => 1,
            IntType::I16 | IntType::U16 => 2,
            IntType::I32 | IntType::U32 => 4,
            IntType::I64 | IntType::U64 => 8,
        }
    }

    /// Whether the type is signed.
    pub const fn signed(self) -> bool {
        matches!(
            self,
            IntType::I8 | IntType::I16 | IntType::I32 | IntType::I64
        )
    }

    /// The smallest value, exactly.
    pub const fn min(self) -> i128 {
        match self {
            IntType::I8 => i8::MIN as i128,
            IntType::I16 => i16::MIN as i128,
            IntType::I32 => i32::MIN as i128,
            IntType::I64 => i64::MIN as i128,
            _ => 0,
        }
    }

    /// The largest value, exactly.
    pub const fn max(self) -> i128 {
        match self {
            IntType::I8 => i8::MAX as i128,
            IntType::I16 => i16::MAX as i128,
            IntType::I32 => i32::MAX as i128,
            IntType::I64 => i64::MAX as i128,
            IntType::U8 => u8::MAX as i128,
            IntType::U16 => u16::MAX as i128,
            IntType::U32 => u32::MAX as i128,
            IntType::U64 => u64::MAX as i128,
        }
    }

    /// Whether `v` is representable.
    pub const fn contains(self, v: i128) -> bool {
        v >= self.min() && v <= self.max()
    }

    /// The unsigned type of `size` bytes (1, 2, 4 or 8).
    pub const fn unsigned_of_size(size: u8) -> Option<IntType> {
        match size {
            1 => Some(IntType::U8),
            2 => Some(IntType::U16),
            4 => Some(IntType::U32),
            8 => Some(IntType::U64),
            _ => None,
        }
    }
}

/// Width of a float variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FloatWidth {
    /// `float32`: all packing arithmetic is done in f32.
    F32,
    /// `float64`
    F64,
}

impl FloatWidth {
    /// The numpy name.
    pub const fn name(self) -> &'static str {
        match self {
            FloatWidth::F32 => "float32",
            FloatWidth::F64 => "float64",
        }
    }
    /// Size in bytes.
    pub const fn size(self) -> usize {
        match self {
            FloatWidth::F32 => 4,
            FloatWidth::F64 => 8,
        }
    }
}

/// numpy datetime64 units (`datetime64[unit]`); ticks are signed 64-bit counts since 1970.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatetimeUnit {
    /// `Y`: calendar years.
    Years,
    /// `M`: calendar months.
    Months,
    /// `W`: weeks.
    Weeks,
    /// `D`: days.
    Days,
    /// `h`: hours.
    Hours,
    /// `m`: minutes.
    Minutes,
    /// `s`: seconds.
    Seconds,
    /// `ms`
    Milliseconds,
    /// `us`
    Microseconds,
    /// `ns`
    Nanoseconds,
    /// `ps`
    Picoseconds,
    /// `fs`
    Femtoseconds,
    /// `as`
    Attoseconds,
}

impl DatetimeUnit {
    /// Every unit, coarsest first.
    pub const ALL: [DatetimeUnit; 13] = [
        DatetimeUnit::Years,
        DatetimeUnit::Months,
        DatetimeUnit::Weeks,
        DatetimeUnit::Days,
        DatetimeUnit::Hours,
        DatetimeUnit::Minutes,
        DatetimeUnit::Seconds,
        DatetimeUnit::Milliseconds,
        DatetimeUnit::Microseconds,
        DatetimeUnit::Nanoseconds,
        DatetimeUnit::Picoseconds,
        DatetimeUnit::Femtoseconds,
        DatetimeUnit::Attoseconds,
    ];

    /// numpy's unit code (`"D"`, `"h"`, `"ns"`, ...).
    ///
    /// ```
    /// use cfdb_codec::DatetimeUnit;
    /// assert_eq!(DatetimeUnit::Minutes.code(), "m");
    /// assert_eq!(DatetimeUnit::from_code("M"), Some(DatetimeUnit::Months));
    /// ```
    pub const fn code(self) -> &'static str {
        match self {
            DatetimeUnit::Years => "Y",
            DatetimeUnit::Months => "M",
            DatetimeUnit::Weeks => "W",
            DatetimeUnit::Days => "D",
            DatetimeUnit::Hours => "h",
            DatetimeUnit::Minutes => "m",
            DatetimeUnit::Seconds => "s",
            DatetimeUnit::Milliseconds => "ms",
            DatetimeUnit::Microseconds => "us",
            DatetimeUnit::Nanoseconds => "ns",
            DatetimeUnit::Picoseconds => "ps",
            DatetimeUnit::Femtoseconds => "fs",
            DatetimeUnit::Attoseconds => "as",
        }
    }

    /// Parses a unit code (case-sensitive: `M` is months, `m` minutes).
    pub fn from_code(code: &str) -> Option<DatetimeUnit> {
        if code == "μs" {
            return Some(DatetimeUnit::Microseconds);
        }
        DatetimeUnit::ALL.into_iter().find(|u| u.code() == code)
    }
}

/// The three geometry classes cfdb stores as WKT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GeometryKind {
    /// `Point`
    Point,
    /// `LineString` (also accepted as `line`)
    LineString,
    /// `Polygon`
    Polygon,
}

impl GeometryKind {
    /// The name cfdb writes.
    pub const fn name(self) -> &'static str {
        match self {
            GeometryKind::Point => "Point",
            GeometryKind::LineString => "LineString",
            GeometryKind::Polygon => "Polygon",
        }
    }
}

/// Lossy scale/offset packing of a float variable into integer codes (`cfdb-format.md` §4.4).
///
/// Only effective together with [`DataType::Float`]'s `precision`.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatPacking {
    /// The stored integer type.
    pub encoded: IntType,
    /// The offset exactly as written in the metadata (integer or float JSON number).
    pub offset: Number,
    /// The code meaning "missing".
    pub fillvalue: i128,
}

/// Integer packing `code = x − offset` (`cfdb-format.md` §4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntPacking {
    /// The stored integer type.
    pub encoded: IntType,
    /// The offset (representable in the decoded type).
    pub offset: i128,
    /// The code that decodes to 0; `None` for legacy variables (no mask).
    pub fillvalue: Option<i128>,
}

/// Datetime packing `code = ticks − offset`, code 0 = NaT (`cfdb-format.md` §4.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatetimePacking {
    /// The stored integer type.
    pub encoded: IntType,
    /// The offset in ticks of the variable's unit.
    pub offset: i64,
}

/// The closed set of data types cfdb 0.11 stores, classified per `cfdb-format.md` §4.1.
///
/// ```
/// use cfdb_codec::{DataType, FloatWidth, IntType};
/// use cfdb_models::DataTypeMeta;
///
/// let meta = DataTypeMeta::from_json_bytes(
///     br#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-11.0}"#,
/// ).unwrap();
/// let dt = DataType::try_from(&meta).unwrap();
/// assert!(dt.is_packed());
/// assert_eq!(dt.stored_size(), Some(2));
/// assert_eq!(dt.to_meta(), meta);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum DataType {
    /// IEEE floats, optionally rounded to `precision` decimals, optionally packed.
    Float {
        /// f32 or f64.
        width: FloatWidth,
        /// Decimal digits (may be negative).
        precision: Option<i64>,
        /// Integer packing; only applied when `precision` is also set.
        packing: Option<FloatPacking>,
    },
    /// Signed/unsigned integers, optionally packed.
    Int {
        /// The decoded type.
        ty: IntType,
        /// Integer packing.
        packing: Option<IntPacking>,
    },
    /// One byte per cell.
    Bool,
    /// numpy datetime64 ticks of `unit`, NaT = `i64::MIN`, optionally packed.
    DateTime {
        /// The tick unit.
        unit: DatetimeUnit,
        /// Integer packing.
        packing: Option<DatetimePacking>,
    },
    /// UTF-8 strings or missing, stored as MessagePack.
    Str,
    /// Geometries as WKT text in MessagePack.
    Geometry {
        /// Which geometry class the variable declares (not enforced on read).
        kind: GeometryKind,
        /// WKT rounding digits used when writing.
        precision: i64,
    },
}

/// The element kind of a decoded value (what [`crate::ArrayData`] variant holds it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElementKind {
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// An integer type.
    Int(IntType),
    /// `bool`
    Bool,
    /// [`crate::Datetime64`]
    DateTime,
    /// `Option<String>`
    Str,
    /// [`crate::WktGeometry`]
    Geometry,
}

impl fmt::Display for ElementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElementKind::F32 => f.write_str("float32"),
            ElementKind::F64 => f.write_str("float64"),
            ElementKind::Int(t) => f.write_str(t.name()),
            ElementKind::Bool => f.write_str("bool"),
            ElementKind::DateTime => f.write_str("datetime64"),
            ElementKind::Str => f.write_str("str"),
            ElementKind::Geometry => f.write_str("geometry"),
        }
    }
}

fn invalid(name: &str, reason: impl Into<String>) -> CodecError {
    CodecError::InvalidDtype {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

fn number_to_i128(name: &str, field: &str, n: &Number) -> Result<i128> {
    if let Some(v) = n.as_i64() {
        Ok(i128::from(v))
    } else if let Some(v) = n.as_u64() {
        Ok(i128::from(v))
    } else {
        Err(invalid(
            name,
            format!("{field} must be a JSON integer, got {n}"),
        ))
    }
}

/// Converts an exact integer back to a JSON number.
pub(crate) fn i128_to_number(v: i128) -> Number {
    if let Ok(i) = i64::try_from(v) {
        Number::from(i)
    } else if let Ok(u) = u64::try_from(v) {
        Number::from(u)
    } else {
        // Not reachable for values that came from metadata; keep it total anyway.
        Number::from_f64(v as f64).unwrap_or_else(|| Number::from(0))
    }
}

fn encoded_int(name: &str, enc: &str) -> Result<IntType> {
    IntType::from_name(enc).ok_or_else(|| {
        invalid(
            name,
            format!("dtype_encoded {enc:?} is not an integer type"),
        )
    })
}

impl TryFrom<&DataTypeMeta> for DataType {
    type Error = CodecError;

    /// Classifies a stored DataType object exactly like cfdb 0.11 (`cfdb-format.md` §4.1).
    fn try_from(meta: &DataTypeMeta) -> Result<DataType> {
        let name = meta.name.as_str();
        let lower = name.to_lowercase();
        let geometry = match lower.as_str() {
            "point" => Some(GeometryKind::Point),
            "line" | "linestring" => Some(GeometryKind::LineString),
            "polygon" => Some(GeometryKind::Polygon),
            _ => None,
        };
        if let Some(kind) = geometry {
            let precision = meta
                .precision
                .ok_or_else(|| invalid(name, "geometry dtypes need a precision"))?;
            return Ok(DataType::Geometry { kind, precision });
        }
        if lower.contains("str") {
            return Ok(DataType::Str);
        }
        if name == "bool" {
            return Ok(DataType::Bool);
        }
        if let Some(ty) = IntType::from_name(name) {
            let packing = match (&meta.dtype_encoded, &meta.offset) {
                (Some(enc), Some(off)) => {
                    let encoded = encoded_int(name, enc)?;
                    let offset = number_to_i128(name, "offset", off)?;
                    if !ty.contains(offset) {
                        return Err(invalid(
                            name,
                            format!("offset {offset} is not representable in {}", ty.name()),
                        ));
                    }
                    let fillvalue = meta
                        .fillvalue
                        .as_ref()
                        .map(|f| number_to_i128(name, "fillvalue", f))
                        .transpose()?;
                    Some(IntPacking {
                        encoded,
                        offset,
                        fillvalue,
                    })
                }
                _ => None,
            };
            return Ok(DataType::Int { ty, packing });
        }
        if let Some(rest) = name.strip_prefix("datetime64[") {
            let unit = rest
                .strip_suffix(']')
                .and_then(DatetimeUnit::from_code)
                .ok_or_else(|| CodecError::UnknownDtype {
                    name: name.to_owned(),
                })?;
            let packing = match (&meta.dtype_encoded, &meta.offset) {
                (Some(enc), Some(off)) => {
                    let encoded = encoded_int(name, enc)?;
                    let offset = i64::try_from(number_to_i128(name, "offset", off)?)
                        .map_err(|_| invalid(name, "offset does not fit 64 bits"))?;
                    Some(DatetimePacking { encoded, offset })
                }
                _ => None,
            };
            return Ok(DataType::DateTime { unit, packing });
        }
        let width = match name {
            "float32" => FloatWidth::F32,
            "float64" => FloatWidth::F64,
            _ => {
                return Err(CodecError::UnknownDtype {
                    name: name.to_owned(),
                });
            }
        };
        if let Some(fill) = &meta.fillvalue {
            // Python's metadata validation rejects a non-integer fillvalue on open.
            number_to_i128(name, "fillvalue", fill)?;
        }
        let packing = match (
            &meta.dtype_encoded,
            &meta.offset,
            &meta.fillvalue,
            meta.precision,
        ) {
            (Some(enc), Some(off), Some(fill), Some(_)) => {
                if off.as_f64().is_none_or(|v| !v.is_finite()) {
                    return Err(invalid(name, "offset must be a finite number"));
                }
                Some(FloatPacking {
                    encoded: encoded_int(name, enc)?,
                    offset: off.clone(),
                    fillvalue: number_to_i128(name, "fillvalue", fill)?,
                })
            }
            _ => None,
        };
        Ok(DataType::Float {
            width,
            precision: meta.precision,
            packing,
        })
    }
}

impl TryFrom<DataTypeMeta> for DataType {
    type Error = CodecError;
    fn try_from(meta: DataTypeMeta) -> Result<DataType> {
        DataType::try_from(&meta)
    }
}

impl DataType {
    /// Parses a DataType from its stored JSON text (either form).
    ///
    /// ```
    /// use cfdb_codec::DataType;
    /// let dt = DataType::from_json(r#"{"name":"datetime64[D]"}"#).unwrap();
    /// assert_eq!(dt.name(), "datetime64[D]");
    /// assert!(DataType::from_json(r#"{"name":"complex64"}"#).is_err());
    /// ```
    pub fn from_json(text: &str) -> Result<DataType> {
        let meta = DataTypeMeta::from_json_bytes(text.as_bytes()).map_err(|e| {
            CodecError::InvalidDtype {
                name: String::new(),
                reason: e.to_string(),
            }
        })?;
        DataType::try_from(&meta)
    }

    /// The compact metadata object Python writes for a new variable of this type
    /// (`cfdb-format.md` §3.3): only the non-null fields.
    pub fn to_meta(&self) -> DataTypeMeta {
        let mut meta = DataTypeMeta::new(self.name());
        meta.form = DtypeForm::Compact;
        match self {
            DataType::Float {
                precision, packing, ..
            } => {
                meta.precision = *precision;
                if let Some(p) = packing {
                    meta.dtype_encoded = Some(p.encoded.name().to_owned());
                    meta.offset = Some(p.offset.clone());
                    meta.fillvalue = Some(i128_to_number(p.fillvalue));
                }
            }
            DataType::Int {
                packing: Some(p), ..
            } => {
                meta.dtype_encoded = Some(p.encoded.name().to_owned());
                meta.offset = Some(i128_to_number(p.offset));
                meta.fillvalue = p.fillvalue.map(i128_to_number);
            }
            DataType::DateTime {
                packing: Some(p), ..
            } => {
                meta.dtype_encoded = Some(p.encoded.name().to_owned());
                meta.offset = Some(Number::from(p.offset));
            }
            DataType::Geometry { precision, .. } => {
                meta.precision = Some(*precision);
                meta.dtype_encoded = Some("StringDType128".to_owned());
            }
            _ => {}
        }
        meta
    }

    /// The `name` field cfdb writes (`float32`, `datetime64[h]`, `str`, `Point`, ...).
    pub fn name(&self) -> String {
        match self {
            DataType::Float { width, .. } => width.name().to_owned(),
            DataType::Int { ty, .. } => ty.name().to_owned(),
            DataType::Bool => "bool".to_owned(),
            DataType::DateTime { unit, .. } => format!("datetime64[{}]", unit.code()),
            DataType::Str => "str".to_owned(),
            DataType::Geometry { kind, .. } => kind.name().to_owned(),
        }
    }

    /// The element kind of decoded values.
    pub fn element_kind(&self) -> ElementKind {
        match self {
            DataType::Float {
                width: FloatWidth::F32,
                ..
            } => ElementKind::F32,
            DataType::Float {
                width: FloatWidth::F64,
                ..
            } => ElementKind::F64,
            DataType::Int { ty, .. } => ElementKind::Int(*ty),
            DataType::Bool => ElementKind::Bool,
            DataType::DateTime { .. } => ElementKind::DateTime,
            DataType::Str => ElementKind::Str,
            DataType::Geometry { .. } => ElementKind::Geometry,
        }
    }

    /// Whether values are stored as integer codes of another type.
    pub fn is_packed(&self) -> bool {
        self.packed_code_type().is_some()
    }

    /// The integer type of the stored codes for packed types (`None` when not packed).
    pub fn packed_code_type(&self) -> Option<IntType> {
        match self {
            DataType::Float {
                precision: Some(_),
                packing: Some(p),
                ..
            } => Some(p.encoded),
            DataType::Int {
                packing: Some(p), ..
            } => Some(p.encoded),
            DataType::DateTime {
                packing: Some(p), ..
            } => Some(p.encoded),
            _ => None,
        }
    }

    /// Size in bytes of one stored element (`None` for str and geometry).
    pub fn stored_size(&self) -> Option<usize> {
        if let Some(code) = self.packed_code_type() {
            return Some(code.size());
        }
        match self {
            DataType::Float { width, .. } => Some(width.size()),
            DataType::Int { ty, .. } => Some(ty.size()),
            DataType::Bool => Some(1),
            DataType::DateTime { .. } => Some(8),
            DataType::Str | DataType::Geometry { .. } => None,
        }
    }

    /// Byte-shuffle item size under a `*_shuffle` compression: the stored size when it is
    /// 2, 4 or 8, else `None` (`cfdb-format.md` §5.4).
    pub fn shuffle_size(&self) -> Option<usize> {
        self.stored_size().filter(|s| matches!(s, 2 | 4 | 8))
    }

    /// A float type packed with the parameters cfdb computes from `precision`, `min` and
    /// `max` (`compute_int_and_offset`, fill 0).
    ///
    /// ```
    /// use cfdb_codec::{DataType, FloatWidth};
    /// let dt = DataType::float_auto_packed(FloatWidth::F64, 2, -50.0, 100.0).unwrap();
    /// let meta = String::from_utf8(dt.to_meta().to_json_bytes()).unwrap();
    /// assert_eq!(meta, r#"{"name":"float64","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-51.0}"#);
    /// ```
    pub fn float_auto_packed(
        width: FloatWidth,
        precision: i64,
        min: f64,
        max: f64,
    ) -> Result<DataType> {
        let p = i32::try_from(precision)
            .map_err(|_| invalid(width.name(), "precision out of range"))?;
        let (size, offset) = crate::pack::compute_int_and_offset_f64(min, max, p)?;
        let encoded = IntType::unsigned_of_size(size)
            .ok_or_else(|| invalid(width.name(), "no integer width"))?;
        let offset =
            Number::from_f64(offset).ok_or_else(|| invalid(width.name(), "offset not finite"))?;
        Ok(DataType::Float {
            width,
            precision: Some(precision),
            packing: Some(FloatPacking {
                encoded,
                offset,
                fillvalue: 0,
            }),
        })
    }

    /// Like [`DataType::float_auto_packed`] for integer `min`/`max` (Python ints): the offset
    /// `min − 1` is then an integer, written as a JSON integer as Python does.
    ///
    /// ```
    /// use cfdb_codec::{DataType, FloatWidth};
    /// // what cfdb 0.11 writes for dtype('float32', precision=2, min_value=-60, max_value=500)
    /// let dt = DataType::float_auto_packed_int(FloatWidth::F32, 2, -60, 500).unwrap();
    /// assert_eq!(
    ///     dt.to_meta().to_json_bytes(),
    ///     br#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-61}"#
    /// );
    /// ```
    pub fn float_auto_packed_int(
        width: FloatWidth,
        precision: i64,
        min: i64,
        max: i64,
    ) -> Result<DataType> {
        let size = match u32::try_from(precision) {
            Ok(p) => {
                crate::pack::compute_int_and_offset_int(i128::from(min), i128::from(max), p)?.0
            }
            Err(_) => {
                let p = i32::try_from(precision)
                    .map_err(|_| invalid(width.name(), "precision out of range"))?;
                crate::pack::compute_int_and_offset_f64(min as f64, max as f64, p)?.0
            }
        };
        let encoded = IntType::unsigned_of_size(size)
            .ok_or_else(|| invalid(width.name(), "no integer width"))?;
        Ok(DataType::Float {
            width,
            precision: Some(precision),
            packing: Some(FloatPacking {
                encoded,
                offset: i128_to_number(i128::from(min) - 1),
                fillvalue: 0,
            }),
        })
    }

    /// An integer type packed with the parameters cfdb computes from `min` and `max`
    /// (`offset = min − 1`, fill 0).
    pub fn int_auto_packed(ty: IntType, min: i128, max: i128) -> Result<DataType> {
        let (size, offset) = crate::pack::compute_int_and_offset_int(min, max, 0)?;
        let encoded = IntType::unsigned_of_size(size)
            .ok_or_else(|| invalid(ty.name(), "no integer width"))?;
        if !ty.contains(offset) {
            return Err(invalid(
                ty.name(),
                format!("offset {offset} is not representable"),
            ));
        }
        Ok(DataType::Int {
            ty,
            packing: Some(IntPacking {
                encoded,
                offset,
                fillvalue: Some(0),
            }),
        })
    }

    /// A datetime type packed with the parameters cfdb computes from `min`/`max` ticks
    /// (offset `min − 1`, width chosen with the factor-10 quirk, no fill value).
    pub fn datetime_auto_packed(
        unit: DatetimeUnit,
        min_ticks: i64,
        max_ticks: i64,
    ) -> Result<DataType> {
        let (size, offset) = crate::pack::compute_int_and_offset_int(
            i128::from(min_ticks),
            i128::from(max_ticks),
            1,
        )?;
        let encoded = IntType::unsigned_of_size(size)
            .ok_or_else(|| invalid("datetime64", "no integer width"))?;
        let offset = i64::try_from(offset)
            .map_err(|_| invalid("datetime64", "offset does not fit 64 bits"))?;
        Ok(DataType::DateTime {
            unit,
            packing: Some(DatetimePacking { encoded, offset }),
        })
    }
}
