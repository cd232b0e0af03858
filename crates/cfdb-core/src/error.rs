//! The error type of cfdb-core.

use std::path::PathBuf;

/// Everything that can go wrong in a dataset operation.
///
/// Errors name what they are about: the file, the variable, the dimension, the index or the
/// label, so a message alone says where to look.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The key/value container failed (I/O, locking, corruption).
    #[error(transparent)]
    Kv(#[from] cfdb_kv::KvError),

    /// The system metadata of a file could not be parsed or is inconsistent.
    #[error("{path}: invalid cfdb metadata: {source}")]
    Metadata {
        /// The dataset file.
        path: PathBuf,
        /// What the models layer reported.
        #[source]
        source: cfdb_models::ModelsError,
    },

    /// The file has no cfdb metadata at all (it is a booklet file but not a cfdb dataset).
    #[error("{path}: not a cfdb dataset (the booklet metadata slot is empty)")]
    NotADataset {
        /// The file.
        path: PathBuf,
    },

    /// A chunk or a dtype failed to encode or decode.
    #[error("{path}: variable {var:?}{}: {source}", key.as_ref().map(|k| format!(", chunk {k:?}")).unwrap_or_default())]
    Codec {
        /// The dataset file.
        path: PathBuf,
        /// The variable.
        var: String,
        /// The chunk key, when the error is about one chunk.
        key: Option<String>,
        /// What the codec reported.
        #[source]
        source: cfdb_codec::CodecError,
    },

    /// A stored attribute value is not a JSON object.
    #[error("{path}: attributes of {owner} are not a JSON object: {reason}")]
    BadAttrs {
        /// The dataset file.
        path: PathBuf,
        /// `dataset` or `variable "name"`.
        owner: String,
        /// Why.
        reason: String,
    },

    /// No variable of that name (or not of the requested kind).
    #[error("no {kind} named {name:?} in the dataset")]
    NotFound {
        /// `variable`, `coordinate` or `data variable`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },

    /// A variable of that name already exists.
    #[error("a variable named {name:?} already exists")]
    AlreadyExists {
        /// The name.
        name: String,
    },

    /// A variable name that cfdb does not allow.
    #[error(
        "invalid variable name {name:?}: names must match ^[a-zA-Z][a-zA-Z0-9_]*$ and be at most 256 characters"
    )]
    InvalidName {
        /// The name.
        name: String,
    },

    /// A positional index outside the dimension.
    #[error(
        "variable {var:?}, dimension {dim} ({coord}): index {index} is out of range for length {len}"
    )]
    IndexOutOfRange {
        /// The variable.
        var: String,
        /// The dimension number.
        dim: usize,
        /// The coordinate of that dimension.
        coord: String,
        /// The index as given.
        index: i64,
        /// The dimension's length.
        len: usize,
    },

    /// A selection that selects nothing (cfdb has no empty selections).
    #[error(
        "variable {var:?}, dimension {dim} ({coord}): the selection {range} of a dimension of length {len} is empty"
    )]
    EmptySelection {
        /// The variable.
        var: String,
        /// The dimension number.
        dim: usize,
        /// The coordinate of that dimension.
        coord: String,
        /// The range as given.
        range: String,
        /// The dimension's length.
        len: usize,
    },

    /// More selection items than dimensions.
    #[error("variable {var:?} has {ndims} dimension(s) but the selection has {given} items")]
    TooManyIndices {
        /// The variable.
        var: String,
        /// Its number of dimensions.
        ndims: usize,
        /// Number of items given.
        given: usize,
    },

    /// Data of the wrong shape for a selection.
    #[error(
        "variable {var:?}: the selection has shape {expected:?} but the data has shape {actual:?}"
    )]
    ShapeMismatch {
        /// The variable.
        var: String,
        /// The selection's shape.
        expected: Vec<usize>,
        /// The data's shape.
        actual: Vec<usize>,
    },

    /// Data of the wrong element type.
    #[error("variable {var:?} holds {expected} values, not {actual}")]
    DtypeMismatch {
        /// The variable.
        var: String,
        /// The variable's element type.
        expected: String,
        /// The type given or asked for.
        actual: String,
    },

    /// A label (`.loc` selection) that the coordinate does not hold.
    #[error("coordinate {coord:?}: label {label} not found")]
    LabelNotFound {
        /// The coordinate.
        coord: String,
        /// The label, as text.
        label: String,
    },

    /// A label of a type the coordinate cannot compare with.
    #[error("coordinate {coord:?} ({dtype}): cannot use the label {label}")]
    BadLabel {
        /// The coordinate.
        coord: String,
        /// Its dtype name.
        dtype: String,
        /// The label, as text.
        label: String,
    },

    /// Coordinate values that break the coordinate's rules (order, uniqueness, step).
    #[error("coordinate {coord:?}: {reason}")]
    InvalidCoordData {
        /// The coordinate.
        coord: String,
        /// What is wrong.
        reason: String,
    },

    /// A coordinate that data variables still use cannot be deleted.
    #[error("coordinate {coord:?} is used by data variable(s) {users:?}; delete them first")]
    CoordInUse {
        /// The coordinate.
        coord: String,
        /// The data variables using it.
        users: Vec<String>,
    },

    /// Two coordinates cannot share an axis.
    #[error("axis {axis} already belongs to coordinate {owner:?}")]
    AxisTaken {
        /// The axis.
        axis: String,
        /// The coordinate that has it.
        owner: String,
    },

    /// An argument that is not valid here (with the reason).
    #[error("{0}")]
    Invalid(String),

    /// The file is newer than this implementation or otherwise unsupported.
    #[error("{path}: {reason}")]
    Unsupported {
        /// The dataset file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// The dataset was closed.
    #[error("the dataset {path} is closed")]
    Closed {
        /// The dataset file.
        path: PathBuf,
    },
}

/// `Result` with [`CoreError`].
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
