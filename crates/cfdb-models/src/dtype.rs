//! The DataType object (`cfdb-format.md` §3.3).

use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    #[serde(skip)]
    pub form: DtypeForm,
}
