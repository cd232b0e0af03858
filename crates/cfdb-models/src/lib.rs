//! Serde types for the system metadata that cfdb stores in the booklet metadata slot.
//!
//! This crate does no I/O and knows nothing about arrays or compression.
#![forbid(unsafe_code)]

mod dtype;

pub use dtype::{DataTypeMeta, DtypeForm};
