//! Serde types for the system metadata that cfdb stores in the booklet metadata slot
//! (`cfdb-format.md` §3).
//!
//! * [`SysMeta`] — the top-level object, with its [`Variable`]s ([`Coordinate`] /
//!   [`DataVariable`]) and their [`DataTypeMeta`];
//! * [`DatasetType`], [`Compression`], [`Axis`] — the string enumerations;
//! * [`SysMeta::from_json_bytes`] / [`SysMeta::to_json_bytes`] — strict parsing and the exact
//!   bytes Python cfdb (through booklet's orjson) writes, see [`to_orjson_bytes`].
//!
//! Unknown fields are kept at every level and written back; number typing (`-11.0` vs `-6`,
//! `30.0` vs `10`) and the compact/full form of each DataType are preserved.
//!
//! This crate does no I/O and knows nothing about arrays or compression.
#![forbid(unsafe_code)]

mod dtype;
mod enums;
mod error;
mod fast;
mod json;
mod sysmeta;

pub use dtype::{DataTypeMeta, DtypeForm};
pub use enums::{Axis, Compression, DatasetType};
pub use error::ModelsError;
pub use json::to_orjson_bytes;
pub use sysmeta::{
    Coordinate, DataVariable, FORMAT_VERSION, MAX_VARIABLE_NAME_LEN, SysMeta, Variable,
};
