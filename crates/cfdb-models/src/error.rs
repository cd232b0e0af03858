//! Typed errors of this crate.

/// Why system metadata could not be parsed or validated.
///
/// Paths use the msgspec style of Python cfdb: `$` is the top-level object, then `.field` per
/// object level and `[i]` per array element, e.g. `$.variables.temp.dtype.precision`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelsError {
    /// The bytes are not a JSON document.
    #[error("system metadata is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// A value has the wrong JSON type (e.g. a float where an integer is required).
    #[error("expected {expected} at `{path}`, found {found}")]
    WrongType {
        /// Where the value is.
        path: String,
        /// The JSON type that is required there.
        expected: &'static str,
        /// The JSON type that was found.
        found: &'static str,
    },

    /// A required field is absent.
    #[error("object missing required field `{path}`")]
    MissingField {
        /// The path of the missing field.
        path: String,
    },

    /// A string is not one of the values of an enumeration.
    #[error("invalid value {value:?} at `{path}`: expected one of {}", expected.join(", "))]
    UnknownVariant {
        /// Where the value is.
        path: String,
        /// The string found.
        value: String,
        /// The accepted strings.
        expected: &'static [&'static str],
    },

    /// The file's compression is not known to this reader (Python cfdb: "written by a newer cfdb").
    #[error(
        "this file uses compression {value:?}, which this reader does not know: it was written by \
         a newer cfdb"
    )]
    UnknownCompression {
        /// The stored compression name.
        value: String,
    },

    /// An integer does not fit the range of its field (e.g. a negative chunk length).
    #[error("integer {value} at `{path}` is out of range for {expected}")]
    OutOfRange {
        /// Where the value is.
        path: String,
        /// The number as written.
        value: String,
        /// The integer type required there.
        expected: &'static str,
    },

    /// The file's `format_version` is above the one this crate supports.
    #[error(
        "this file has format_version {found}; this reader supports up to {supported}. It was \
         written by a newer cfdb"
    )]
    NewerFormatVersion {
        /// The stored format version.
        found: i64,
        /// The highest version this crate reads ([`crate::FORMAT_VERSION`]).
        supported: i64,
    },

    /// The metadata is well-typed but inconsistent (see [`crate::SysMeta::validate`]).
    #[error("invalid metadata at `{path}`: {reason}")]
    Invalid {
        /// Where the problem is.
        path: String,
        /// What is wrong.
        reason: String,
    },
}
