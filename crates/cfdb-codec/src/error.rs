//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong while classifying a data type, encoding or decoding a chunk.
///
/// Every variant is a recoverable, typed error: no input (metadata, compressed bytes, payload
/// or values) makes this crate panic.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The DataType `name` is not one cfdb stores.
    #[error("unknown or unsupported dtype name {name:?}")]
    UnknownDtype {
        /// The offending name.
        name: String,
    },
    /// The DataType object is recognised but one of its fields is unusable.
    #[error("invalid DataType {name:?}: {reason}")]
    InvalidDtype {
        /// The DataType name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The compression name is not one of `zstd`, `lz4`, `zstd_shuffle`, `lz4_shuffle`.
    #[error("unknown compression {name:?}")]
    UnknownCompression {
        /// The offending name.
        name: String,
    },
    /// The chunk shape is empty, has a zero dimension, or its cell count overflows.
    #[error("invalid chunk shape {shape:?}: {reason}")]
    InvalidChunkShape {
        /// The shape given.
        shape: Vec<usize>,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A decompressed payload does not have the length the chunk shape and dtype require.
    #[error("payload has {actual} bytes, expected {expected}")]
    PayloadSize {
        /// Required length.
        expected: usize,
        /// Length found.
        actual: usize,
    },
    /// The compressed bytes could not be decompressed.
    #[error("{codec} decompression failed: {reason}")]
    Decompress {
        /// `zstd` or `lz4`.
        codec: &'static str,
        /// The codec's message.
        reason: String,
    },
    /// Compressing a payload failed.
    #[error("{codec} compression failed: {reason}")]
    Compress {
        /// `zstd` or `lz4`.
        codec: &'static str,
        /// The codec's message.
        reason: String,
    },
    /// A string or geometry payload is not the MessagePack structure cfdb writes.
    #[error("invalid MessagePack chunk: {reason}")]
    InvalidMsgpack {
        /// What is wrong with it.
        reason: String,
    },
    /// A geometry cell holds text that is not valid WKT.
    #[error("invalid WKT {text:?}: {reason}")]
    InvalidWkt {
        /// The offending text (possibly truncated).
        text: String,
        /// The parser's message.
        reason: String,
    },
    /// A value cannot be represented by the variable's stored type (e.g. a packed integer
    /// outside the encoded width, which Python also rejects).
    #[error("value cannot be encoded: {reason}")]
    Unencodable {
        /// What could not be encoded.
        reason: String,
    },
    /// An array handed to the encoder has the wrong element type or shape.
    #[error("array mismatch: expected {expected}, got {actual}")]
    ArrayMismatch {
        /// What the codec needs.
        expected: String,
        /// What it was given.
        actual: String,
    },
}

/// Shorthand for `Result<T, CodecError>`.
pub type Result<T, E = CodecError> = std::result::Result<T, E>;
