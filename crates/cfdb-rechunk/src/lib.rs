//! Chunk-shape index math of cfdb, compatible with rechunkit 0.6.0 (`algorithms.md`).
//!
//! For now this crate provides [`guess_chunk_shape`], the default chunk shape Python cfdb
//! chooses when none is given (`algorithms.md` §1, `cfdb-format.md` §9.8).
#![forbid(unsafe_code)]

mod guess;

pub use guess::{COMPOSITE_NUMBERS, DEFAULT_TARGET_CHUNK_SIZE, guess_chunk_shape};

/// Invalid input to a function of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RechunkError {
    /// A dimension of the shape is 0 (rechunkit: "A chunk shape cannot have a zero-length dim").
    #[error("all values in the shape must be > 0, but dimension {dim} is 0")]
    ZeroDim {
        /// The index of the zero-length dimension.
        dim: usize,
    },
    /// The element size is 0 bytes.
    #[error("itemsize must be > 0")]
    ZeroItemsize,
}
