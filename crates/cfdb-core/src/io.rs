//! The chunk read and write paths: key lookup, parallel decode, read-modify-write.
//!
//! Fetching and decoding is one non-generic path (keys → stored bytes → [`ArrayData`] chunks,
//! decoded on the rayon pool); only the final copy of each chunk's overlap into the output is
//! generic over the element type.

use std::borrow::Cow;
use std::ops::Range;
use std::path::PathBuf;

use cfdb_codec::{ArrayData, ChunkCodec, Element, with_array_data};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Slice};
use rayon::prelude::*;

use crate::error::{CoreError, Result};
use crate::grid::{ChunkPart, chunk_key, chunk_parts};

/// The key/value handle under a dataset.
pub(crate) enum Store {
    Read(cfdb_kv::Reader),
    Write(cfdb_kv::Writer),
}

impl Store {
    pub(crate) fn get(&self, key: &str) -> Result<Option<Cow<'_, [u8]>>> {
        Ok(match self {
            Store::Read(r) => r.get(key)?.map(Cow::Borrowed),
            Store::Write(w) => w.get(key)?.map(Cow::Owned),
        })
    }

    pub(crate) fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Cow<'_, [u8]>>>> {
        Ok(match self {
            Store::Read(r) => r
                .get_many(keys)?
                .into_iter()
                .map(|v| v.map(Cow::Borrowed))
                .collect(),
            Store::Write(w) => w
                .get_many(keys)?
                .into_iter()
                .map(|v| v.map(Cow::Owned))
                .collect(),
        })
    }

    pub(crate) fn writer(&mut self) -> Option<&mut cfdb_kv::Writer> {
        match self {
            Store::Write(w) => Some(w),
            Store::Read(_) => None,
        }
    }
}

/// What the I/O paths need to know about one variable.
pub(crate) struct VarIo {
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) codec: ChunkCodec,
    pub(crate) origins: Vec<i64>,
}

impl VarIo {
    fn codec_err(&self, key: Option<&str>, source: cfdb_codec::CodecError) -> CoreError {
        CoreError::Codec {
            path: self.path.clone(),
            var: self.name.clone(),
            key: key.map(str::to_owned),
            source,
        }
    }

    fn chunk_shape(&self) -> &[usize] {
        self.codec.chunk_shape()
    }
}

/// Decoded chunks per batch: bounds the memory of a read to about this many chunks beyond
/// the output.
const BATCH_CHUNKS: usize = 256;

#[cfg(feature = "instrument")]
pub mod instrument {
    //! Test-only: which threads decoded chunks since the last [`reset`].
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::thread::ThreadId;

    static THREADS: Mutex<Option<HashSet<ThreadId>>> = Mutex::new(None);

    /// Forgets the recorded threads.
    pub fn reset() {
        if let Ok(mut g) = THREADS.lock() {
            *g = Some(HashSet::new());
        }
    }

    /// How many distinct threads decoded chunks since [`reset`].
    pub fn decode_threads() -> usize {
        THREADS
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(HashSet::len))
            .unwrap_or(0)
    }

    pub(crate) fn record() {
        if let Ok(mut g) = THREADS.lock() {
            g.get_or_insert_with(HashSet::new)
                .insert(std::thread::current().id());
        }
    }
}

fn slice_of(r: &[Range<usize>]) -> impl Fn(ndarray::AxisDescription) -> Slice + '_ {
    move |ax| {
        let x = &r[ax.axis.index()];
        Slice::from(x.clone())
    }
}

/// Copies `src[src_r]` into `dst[dst_r]`.
fn assign<T: Clone>(
    dst: &mut ArrayViewMutD<'_, T>,
    dst_r: &[Range<usize>],
    src: &ArrayViewD<'_, T>,
    src_r: &[Range<usize>],
) {
    dst.slice_each_axis_mut(slice_of(dst_r))
        .assign(&src.slice_each_axis(slice_of(src_r)));
}

/// Splits `view` into one disjoint mutable view per chunk part, in the C order of
/// [`chunk_parts`]: along each axis at the parts' region boundaries.
fn split_views<'v, T>(
    view: ArrayViewMutD<'v, T>,
    cuts: &[Vec<usize>],
    axis: usize,
    out: &mut Vec<ArrayViewMutD<'v, T>>,
) {
    if axis == cuts.len() {
        out.push(view);
        return;
    }
    let mut rest = view;
    for &len in &cuts[axis] {
        let (band, tail) = rest.split_at(ndarray::Axis(axis), len);
        split_views(band, cuts, axis + 1, out);
        rest = tail;
    }
}

/// Reads `region` (index space) of a variable into `out` (shape = region lengths), which the
/// caller has filled with the blank.
///
/// The output is split into one disjoint view per chunk; chunks are decompressed and decoded
/// in parallel, each straight into a per-thread scratch chunk and copied into its view, so a
/// read needs the output plus one chunk per thread.
pub(crate) fn read_into<T: Element>(
    store: &Store,
    var: &VarIo,
    region: &[Range<usize>],
    out: &mut ArrayViewMutD<'_, T>,
) -> Result<()> {
    let parts = chunk_parts(region, &var.origins, var.chunk_shape());
    let cuts = crate::grid::band_lengths(region, &var.origins, var.chunk_shape());
    let mut views = Vec::with_capacity(parts.len());
    split_views(out.view_mut(), &cuts, 0, &mut views);
    if views.len() != parts.len() {
        return Err(CoreError::Invalid(format!(
            "internal: {} output views for {} chunks of {:?}",
            views.len(),
            parts.len(),
            var.name
        )));
    }
    let mut views = views.into_iter();
    for batch in parts.chunks(BATCH_CHUNKS) {
        let keys: Vec<String> = batch
            .iter()
            .map(|p| chunk_key(&var.name, &p.starts))
            .collect();
        let values = store.get_many(&keys)?;
        let work: Vec<(usize, ArrayViewMutD<'_, T>, &[u8])> = views
            .by_ref()
            .take(batch.len())
            .zip(values.iter())
            .enumerate()
            .filter_map(|(i, (v, b))| b.as_deref().map(|b| (i, v, b)))
            .collect();
        work.into_par_iter().with_max_len(1).try_for_each_init(
            || (Vec::new(), var.codec.blank()),
            |(scratch, chunk), (i, mut view, bytes)| -> Result<()> {
                #[cfg(feature = "instrument")]
                instrument::record();
                var.codec
                    .decode_into(bytes, scratch, chunk)
                    .map_err(|e| var.codec_err(Some(&keys[i]), e))?;
                let src = T::view(chunk).ok_or_else(|| CoreError::DtypeMismatch {
                    var: var.name.clone(),
                    expected: chunk.kind().to_string(),
                    actual: T::KIND.to_string(),
                })?;
                view.assign(&src.slice_each_axis(slice_of(&batch[i].in_chunk)));
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// Reads `region` of a variable into a new array of decoded values.
pub(crate) fn read_region(
    store: &Store,
    var: &VarIo,
    region: &[Range<usize>],
) -> Result<ArrayData> {
    let shape: Vec<usize> = region.iter().map(|r| r.end - r.start).collect();
    let mut out = ArrayData::blank(var.codec.dtype().element_kind(), &shape);
    with_array_data!(&mut out, a => read_into(store, var, region, &mut a.view_mut()))?;
    Ok(out)
}

/// Encodes the new stored bytes of one chunk: the whole chunk from `data` when the write
/// covers it, else a read-modify-write in stored (encoded) space so untouched cells keep their
/// exact codes. With `fresh`, partial chunks start from the padding instead of what is stored
/// (how cfdb rewrites coordinate chunks).
fn encode_part<T: Element>(
    store: &Store,
    var: &VarIo,
    part: &ChunkPart,
    data: &ArrayViewD<'_, T>,
    fresh: bool,
) -> Result<(String, Vec<u8>)> {
    let key = chunk_key(&var.name, &part.starts);
    let cs = var.chunk_shape();
    let err = |e| var.codec_err(Some(&key), e);
    let bytes = if part.is_full(cs) {
        let chunk = data.slice_each_axis(slice_of(&part.in_region)).to_owned();
        var.codec.encode(&T::wrap(chunk)).map_err(err)?
    } else {
        let mut stored = match (fresh, store.get(&key)?) {
            (false, Some(old)) => {
                let payload = var.codec.decompress(&old).map_err(err)?;
                var.codec.decode_stored_payload(&payload).map_err(err)?
            }
            _ => var.codec.blank_stored(),
        };
        // Encode only the written cells (a codec for the sub-block's shape), so cells outside
        // the write are never encoded: a blank that is not encodable (a packed integer whose
        // offset is above 0) cannot fail the write, as in Python.
        let sub: Vec<usize> = part.in_chunk.iter().map(|r| r.end - r.start).collect();
        let sub_codec = ChunkCodec::new(
            var.codec.dtype().clone(),
            var.codec.compression(),
            var.codec.level(),
            &sub,
        )
        .map_err(err)?;
        let block = data.slice_each_axis(slice_of(&part.in_region)).to_owned();
        let new_payload = sub_codec.encode_payload(&T::wrap(block)).map_err(err)?;
        let new_stored = sub_codec.decode_stored_payload(&new_payload).map_err(err)?;
        let full: Vec<Range<usize>> = sub.iter().map(|&n| 0..n).collect();
        with_array_data!(&mut stored, dst => {
            let src = view_like(dst, &new_stored).ok_or_else(|| err(cfdb_codec::CodecError::ArrayMismatch {
                expected: new_stored.kind().to_string(),
                actual: "stored chunk".to_owned(),
            }))?;
            assign(&mut dst.view_mut(), &part.in_chunk, &src.view(), &full);
        });
        let payload = var.codec.encode_stored_payload(&stored).map_err(err)?;
        var.codec.compress_payload(&payload).map_err(err)?
    };
    Ok((key, bytes))
}

fn view_like<'a, T: Element>(_: &ArrayD<T>, data: &'a ArrayData) -> Option<&'a ArrayD<T>> {
    T::view(data)
}

/// Writes `data` (shape = region lengths) into `region` of a variable, chunk by chunk, the
/// chunks encoded in parallel.
pub(crate) fn write_region<T: Element>(
    store: &mut Store,
    var: &VarIo,
    region: &[Range<usize>],
    data: &ArrayViewD<'_, T>,
    fresh: bool,
) -> Result<()> {
    let parts = chunk_parts(region, &var.origins, var.chunk_shape());
    for batch in parts.chunks(BATCH_CHUNKS) {
        let encoded: Vec<(String, Vec<u8>)> = {
            let shared: &Store = store;
            batch
                .par_iter()
                .with_max_len(1)
                .map(|p| encode_part(shared, var, p, data, fresh))
                .collect::<Result<_>>()?
        };
        let w = store
            .writer()
            .ok_or_else(|| CoreError::Invalid("the dataset is read-only".to_owned()))?;
        w.set_many(encoded.iter().map(|(k, v)| (k, v)))?;
    }
    Ok(())
}

/// The keys of every chunk position over `region` (present or not).
pub(crate) fn region_keys(
    name: &str,
    region: &[Range<usize>],
    origins: &[i64],
    chunk_shape: &[usize],
) -> Vec<String> {
    chunk_parts(region, origins, chunk_shape)
        .iter()
        .map(|p| chunk_key(name, &p.starts))
        .collect()
}
