//! cfdb data types, value packing, chunk payloads and compression, bit-exact with Python
//! cfdb 0.11.0.
//!
//! * [`DataType`]: the closed set of types cfdb stores, classified from the stored
//!   [`cfdb_models::DataTypeMeta`] (`TryFrom`) and written back with [`DataType::to_meta`].
//! * [`Element`] / [`ArrayData`]: decoded values as `ndarray` arrays, typed statically or at
//!   run time ([`with_array_data!`]).
//! * [`ChunkCodec`]: a full chunk ⇄ the bytes stored under its key (packing, little-endian
//!   payload or MessagePack, byte shuffle, zstd / LZ4 frames).
//! * Helpers cfdb exports: [`compute_int_and_offset_f64`], [`compute_int_and_offset_int`],
//!   [`compute_scale_and_offset`], [`shuffle`] / [`unshuffle`].
//!
//! ```
//! use cfdb_codec::{ArrayData, ChunkCodec, DataType};
//! use ndarray::ArrayD;
//!
//! let dt = DataType::from_json(r#"{"name":"int16"}"#).unwrap();
//! let codec = ChunkCodec::new(dt, "zstd_shuffle".parse().unwrap(), 1, &[2, 2]).unwrap();
//! let chunk = ArrayData::I16(ArrayD::from_shape_vec(vec![2, 2], vec![1, -2, 3, i16::MAX]).unwrap());
//! let stored = codec.encode(&chunk).unwrap();
//! assert_eq!(codec.decode(&stored).unwrap(), chunk);
//! assert_eq!(codec.decompress(&stored).unwrap(), [1, 0, 0xfe, 0xff, 3, 0, 0xff, 0x7f]);
//! ```
#![forbid(unsafe_code)]

mod chunk;
mod compress;
mod dtype;
mod element;
mod encode;
mod error;
mod msgpack;
mod pack;
mod shuffle;
mod wkt_fmt;

pub use chunk::{ChunkCodec, DEFAULT_MAX_VARIABLE_PAYLOAD};
pub use compress::{Codec, Compression};
pub use dtype::{
    DataType, DatetimePacking, DatetimeUnit, ElementKind, FloatPacking, FloatWidth, GeometryKind,
    IntPacking, IntType,
};
pub use element::{ArrayData, ArrayDataView, ArrayDataViewMut, Datetime64, Element, WktGeometry};
pub use error::{CodecError, Result};
pub use pack::{compute_int_and_offset_f64, compute_int_and_offset_int, compute_scale_and_offset};
pub use shuffle::{shuffle, unshuffle, unshuffle_into};

/// Fuzzing entry point: the first bytes pick a dtype, compression and chunk shape, the rest is
/// fed to the full decode path. Never panics; returns nothing.
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) {
    let [a, b, c, d, rest @ ..] = data else {
        return;
    };
    const DTYPES: [&str; 22] = [
        r#"{"name":"float32"}"#,
        r#"{"name":"float64"}"#,
        r#"{"name":"float32","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-11.0}"#,
        r#"{"name":"float64","precision":1,"dtype_encoded":"int16","fillvalue":-32768,"offset":0}"#,
        r#"{"name":"float64","precision":6,"dtype_encoded":"uint32","fillvalue":0,"offset":-90.000001}"#,
        r#"{"name":"int8"}"#,
        r#"{"name":"int16"}"#,
        r#"{"name":"int32"}"#,
        r#"{"name":"int64"}"#,
        r#"{"name":"uint8"}"#,
        r#"{"name":"uint64"}"#,
        r#"{"name":"int16","dtype_encoded":"uint16","fillvalue":0,"offset":-6}"#,
        r#"{"name":"int32","dtype_encoded":"int16","offset":5}"#,
        r#"{"name":"int64","dtype_encoded":"uint8","fillvalue":0,"offset":-1001}"#,
        r#"{"name":"bool"}"#,
        r#"{"name":"datetime64[ns]"}"#,
        r#"{"name":"datetime64[h]","dtype_encoded":"uint32","offset":262967}"#,
        r#"{"name":"datetime64[m]","dtype_encoded":"int32","offset":-36816481}"#,
        r#"{"name":"str"}"#,
        r#"{"name":"Point","precision":5,"dtype_encoded":"StringDType128"}"#,
        r#"{"name":"LineString","precision":3,"dtype_encoded":"StringDType128"}"#,
        r#"{"name":"Polygon","precision":4,"dtype_encoded":"StringDType128"}"#,
    ];
    let Some(json) = DTYPES.get(usize::from(*a) % DTYPES.len()) else {
        return;
    };
    let Ok(dtype) = DataType::from_json(json) else {
        return;
    };
    let compression = Compression {
        codec: if b & 1 == 0 { Codec::Zstd } else { Codec::Lz4 },
        shuffle: b & 2 != 0,
    };
    let shape: Vec<usize> = match c % 3 {
        0 => vec![usize::from(*d % 64) + 1],
        1 => vec![usize::from(*d % 8) + 1, usize::from(*d / 8 % 8) + 1],
        _ => vec![
            usize::from(*d % 4) + 1,
            usize::from(*d / 4 % 4) + 1,
            usize::from(*d / 16 % 4) + 1,
        ],
    };
    let Ok(codec) = ChunkCodec::new(dtype, compression, 1, &shape) else {
        return;
    };
    let codec = codec.with_max_variable_payload(1 << 20);
    let raw = b & 4 != 0;
    if raw {
        // Also exercise the payload decoder directly (no codec framing).
        if let Ok(v) = codec.decode_payload(rest) {
            let _ = codec.encode_payload(&v);
        }
    } else if let Ok(v) = codec.decode(rest) {
        let _ = codec.encode(&v);
    }
}
