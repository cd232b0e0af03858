//! cfdb: labelled N-dimensional arrays following the CF conventions (climate and weather
//! grids, satellite scenes, station time series) in one booklet file, read and written exactly
//! as Python cfdb 0.11.0 does.
//!
//! This crate only re-exports the layers below it:
//!
//! | module | crate | what |
//! |---|---|---|
//! | (root) | `cfdb-core` | [`Dataset`], [`open`], [`create`], selections, coordinates, data variables |
//! | [`codec`] | `cfdb-codec` | data types, packing, chunk payloads, compression |
//! | [`models`] | `cfdb-models` | the system metadata types |
//! | [`kv`] | `cfdb-kv` | the booklet key/value file |
//! | [`rechunk`] | `cfdb-rechunk` | chunk-shape math |
//!
//! ```
//! use cfdb::{create, open, sel, CoordSpec, DataTypeMeta, DataVarSpec};
//! use ndarray::arr1;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("hello.cfdb");
//! let mut ds = create(&path)?;
//! ds.create_coord("x", CoordSpec::new(DataTypeMeta::new("int32")).data(arr1(&[1, 2, 3]).into_dyn()))?;
//! ds.create_data_var("v", &["x"], DataVarSpec::new(DataTypeMeta::new("float32")))?;
//! ds.write("v", sel![..], arr1(&[0.5f32, 1.5, 2.5]).into_dyn().view())?;
//! ds.close()?;
//! assert_eq!(open(&path)?.data_var("v")?.read::<f32>()?[[1]], 1.5);
//! # Ok::<(), cfdb::CoreError>(())
//! ```
#![forbid(unsafe_code)]

pub use cfdb_core::*;

/// Data types, packing, chunk payloads and compression (`cfdb-codec`).
pub use cfdb_codec as codec;
/// The booklet key/value file (`cfdb-kv`).
pub use cfdb_kv as kv;
/// System metadata types (`cfdb-models`).
pub use cfdb_models as models;
/// Chunk-shape math (`cfdb-rechunk`).
pub use cfdb_rechunk as rechunk;
