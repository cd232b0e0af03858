//! cfdb datasets: CF-conventions coordinates and data variables in one booklet file,
//! read and written exactly as Python cfdb 0.11.0 does (`cfdb-format.md`).
//!
//! * [`open`], [`open_rw`], [`create`] and [`OpenOptions`] give a [`Dataset`], read-only
//!   ([`ReadOnly`]) or writable ([`ReadWrite`]) by its type.
//! * Coordinates ([`Dataset::create_coord`], [`CoordSpec`], the cfdb-vars templates
//!   [`CoordTemplate`]) hold their values in memory; [`Dataset::append`],
//!   [`Dataset::prepend`] and [`Dataset::truncate`] change them.
//! * Data variables ([`Dataset::create_data_var`], [`DataVarSpec`], [`DataVarTemplate`]) are
//!   read and written by selection: positional ([`Sel`], [`sel!`]) or by label ([`LocSel`],
//!   [`loc!`]); chunks are encoded and decoded in parallel.
//!
//! ```
//! use cfdb_core::{create, open, sel, CoordTemplate, DataVarTemplate};
//! use ndarray::{arr1, Array3};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("grid.cfdb");
//! let mut ds = create(&path)?;
//! ds.create_coord_template(CoordTemplate::Lat, Some(arr1(&[-45.0, -44.5, -44.0]).into_dyn().into()))?;
//! ds.create_coord_template(CoordTemplate::Lon, Some(arr1(&[170.0, 170.5]).into_dyn().into()))?;
//! ds.create_data_var_template(DataVarTemplate::AirTemp, &["latitude", "longitude"], None)?;
//! ds.write("air_temperature", sel![.., ..], Array3::<f32>::from_elem((3, 2, 1), 280.0).into_dyn().into_shape_with_order(vec![3, 2]).unwrap().view())?;
//! ds.close()?;
//!
//! let ds = open(&path)?;
//! let t = ds.data_var("air_temperature")?.select(sel![1, ..])?.read::<f32>()?;
//! assert_eq!(t.shape(), &[1, 2]);
//! assert_eq!(t[[0, 1]], 280.0);
//! # Ok::<(), cfdb_core::CoreError>(())
//! ```
#![forbid(unsafe_code)]
// Errors carry the file, variable and chunk they are about; they are built on cold paths only.
#![allow(clippy::result_large_err)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod coord;
mod dataset;
mod error;
mod grid;
mod io;
mod loc;
mod ops;
mod period;
mod repr;
mod select;
pub mod templates;
pub mod time;
mod var;

pub use coord::Step;
pub use dataset::{
    Access, ArrayDataArg, CoordSpec, Crs, DEFAULT_N_BUCKETS, DataVarSpec, Dataset, OpenMode,
    OpenOptions, ReadOnly, ReadWrite, create, open, open_rw, valid_name,
};
pub use error::{CoreError, Result};
#[cfg(feature = "instrument")]
pub use io::instrument;
pub use loc::{Label, LocIndex, LocSel};
pub use period::Period;
pub use select::{Index, Sel};
pub use templates::{CoordTemplate, DataVarTemplate};
pub use var::{ChunkIter, Coord, DataVar, DatasetChunk, DatasetView, GroupBy, RechunkIter};

pub use cfdb_codec::{ArrayData, DataType, Datetime64, Element, WktGeometry};
pub use cfdb_models::{Axis, Compression, DataTypeMeta, DatasetType};
