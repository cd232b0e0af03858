//! The `zarrs` backend: the zarr side of the upstream harness (bench-spec §3, §5) on the zarrs
//! crate: a zarr v3 group with one array per directory (`latitude`, `longitude` float32,
//! `time` int64 days, `temperature` float32 with the same chunking and codecs
//! `[bytes(little), zstd(level=1, checksum=false)]`, fill 0), one file per chunk.
//!
//! The store is [`NoSyncStore`]: zarrs_filesystem's `FilesystemStore` calls `sync_all` after
//! every set and has no option to turn that off; zarr-python's `LocalStore` does not fsync, and
//! bench-spec §4 has no fsync in any timed region, so writes go through plain `std::fs::write`
//! (reads, listing and erasing are the stock store's). zarrs runs its codecs on its default
//! concurrency (the rayon pool, one thread per core).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zarrs::array::codec::ZstdCodec;
use zarrs::array::{Array, ArrayBuilder, ArraySubset, data_type};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::GroupBuilder;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits,
    StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix, WritableStorageTraits,
};

use crate::data::{DAY0, Data};
use crate::{Backend, Check, Result, mean_f32};

/// A filesystem store whose `set` does not fsync (see the module docs).
pub(crate) struct NoSyncStore {
    inner: FilesystemStore,
}

impl NoSyncStore {
    fn new(dir: &Path) -> Result<Arc<Self>> {
        Ok(Arc::new(NoSyncStore {
            inner: FilesystemStore::new(dir)?,
        }))
    }
}

impl ReadableStorageTraits for NoSyncStore {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> std::result::Result<MaybeBytesIterator<'a>, StorageError> {
        self.inner.get_partial_many(key, byte_ranges)
    }

    fn size_key(&self, key: &StoreKey) -> std::result::Result<Option<u64>, StorageError> {
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}

impl WritableStorageTraits for NoSyncStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> std::result::Result<(), StorageError> {
        let path = self.inner.key_to_fspath(key);
        if let Some(parent) = path.parent()
            && !parent.exists()
        {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &value)?;
        Ok(())
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> std::result::Result<(), StorageError> {
        self.inner.set_partial_many(key, offset_values)
    }

    fn erase(&self, key: &StoreKey) -> std::result::Result<(), StorageError> {
        self.inner.erase(key)
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> std::result::Result<(), StorageError> {
        self.inner.erase_prefix(prefix)
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

impl ListableStorageTraits for NoSyncStore {
    fn list(&self) -> std::result::Result<StoreKeys, StorageError> {
        self.inner.list()
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> std::result::Result<StoreKeys, StorageError> {
        self.inner.list_prefix(prefix)
    }

    fn list_dir(
        &self,
        prefix: &StorePrefix,
    ) -> std::result::Result<StoreKeysPrefixes, StorageError> {
        self.inner.list_dir(prefix)
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> std::result::Result<u64, StorageError> {
        self.inner.size_prefix(prefix)
    }
}

pub(crate) struct Zarrs<'d> {
    d: &'d Data,
    dir: PathBuf,
    counter: usize,
}

impl<'d> Zarrs<'d> {
    pub(crate) fn new(d: &'d Data, dir: &Path) -> Self {
        Zarrs {
            d,
            dir: dir.to_owned(),
            counter: 0,
        }
    }
}

fn zstd1() -> Vec<Arc<dyn zarrs::array::BytesToBytesCodecTraits>> {
    vec![Arc::new(ZstdCodec::new(1, false))]
}

/// A 1-D subset.
fn span(r: std::ops::Range<u64>) -> ArraySubset {
    ArraySubset::new_with_ranges(std::slice::from_ref(&r))
}

fn open(path: &Path) -> Result<Array<NoSyncStore>> {
    Ok(Array::open(NoSyncStore::new(path)?, "/temperature")?)
}

fn du(path: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(path)? {
        let e = e?;
        let md = e.metadata()?;
        total += if md.is_dir() {
            du(&e.path())?
        } else {
            md.len()
        };
    }
    Ok(total)
}

/// Reads `[0..L, 0..M, k..k+7]` for every k; calls `f` on each block.
fn blocks(d: &Data, path: &Path, mut f: impl FnMut(&[f32])) -> Result<()> {
    let [l, m, t] = d.tier.shape.map(|x| x as u64);
    let a = open(path)?;
    for k in (0..t).step_by(7) {
        let v: Vec<f32> = a.retrieve_array_subset(&[0..l, 0..m, k..(k + 7).min(t)])?;
        f(&v);
    }
    Ok(())
}

impl Backend for Zarrs<'_> {
    fn write_full(&mut self) -> Result<PathBuf> {
        self.counter += 1;
        let path = self.dir.join(format!("bench_{}.zarr", self.counter));
        std::fs::create_dir_all(&path)?;
        let d = self.d;
        let [l, m, t] = d.tier.shape.map(|x| x as u64);
        let [c0, c1, c2] = d.tier.chunk.map(|x| x as u64);
        let store = NoSyncStore::new(&path)?;
        GroupBuilder::new()
            .build(store.clone(), "/")?
            .store_metadata()?;
        let coord = |name: &str, n: u64, c: u64, values: &[f32]| -> Result<()> {
            let a = ArrayBuilder::new(vec![n], vec![c], data_type::float32(), 0.0f32)
                .bytes_to_bytes_codecs(zstd1())
                .build(store.clone(), &format!("/{name}"))?;
            a.store_metadata()?;
            a.store_array_subset(&span(0..n), values)?;
            Ok(())
        };
        coord("latitude", l, c0, &d.lat)?;
        coord("longitude", m, c1, &d.lon)?;
        let time = ArrayBuilder::new(vec![t], vec![c2], data_type::int64(), 0i64)
            .bytes_to_bytes_codecs(zstd1())
            .build(store.clone(), "/time")?;
        time.store_metadata()?;
        let days: Vec<i64> = (0..t as i64).map(|i| DAY0 + i).collect();
        time.store_array_subset(&span(0..t), &days)?;
        let a = ArrayBuilder::new(
            vec![l, m, t],
            vec![c0, c1, c2],
            data_type::float32(),
            0.0f32,
        )
        .bytes_to_bytes_codecs(zstd1())
        .dimension_names(["latitude", "longitude", "time"].into())
        .build(store.clone(), "/temperature")?;
        a.store_metadata()?;
        let g = d.tier.grid().map(|x| x as u64);
        a.store_chunks(&[0..g[0], 0..g[1], 0..g[2]], &d.var[..])?;
        Ok(path)
    }

    fn write_append(&mut self, path: &Path) -> Result<()> {
        let d = self.d;
        let [l, m, _] = d.tier.shape.map(|x| x as u64);
        let n = d.tier.append as u64;
        let store = NoSyncStore::new(path)?;
        let mut time = Array::open(store.clone(), "/time")?;
        let old = time.shape()[0];
        time.set_shape(vec![old + n])?;
        time.store_metadata()?;
        let days: Vec<i64> = (old..old + n).map(|i| DAY0 + i as i64).collect();
        time.store_array_subset(&span(old..old + n), &days)?;
        let mut a = Array::open(store, "/temperature")?;
        a.set_shape(vec![l, m, old + n])?;
        a.store_metadata()?;
        a.store_array_subset(&[0..l, 0..m, old..old + n], &d.extra[..])?;
        Ok(())
    }

    fn read_full(&self, path: &Path) -> Result<Check> {
        let [l, m, t] = self.d.tier.shape;
        let a = open(path)?;
        let v: Vec<f32> = a.retrieve_array_subset(&a.subset_all())?;
        let at = |i: usize, j: usize, k: usize| v[(i * m + j) * t + k];
        let c = Check::Values(vec![
            at(0, 0, 0),
            at(l / 2, m / 3, t / 2),
            at(l - 1, m - 1, t - 1),
        ]);
        drop(v);
        Ok(c)
    }

    fn read_slice_aligned(&self, path: &Path) -> Result<Check> {
        let [c0, c1, c2] = self.d.tier.chunk.map(|x| x as u64);
        let a = open(path)?;
        let v: Vec<f32> = a.retrieve_array_subset(&[0..c0, 0..c1, 0..c2])?;
        let c = Check::Values(vec![v[0], v[v.len() - 1]]);
        drop(v);
        Ok(c)
    }

    fn read_slice_unaligned(&self, path: &Path) -> Result<Check> {
        let [c0, c1, c2] = self.d.tier.chunk.map(|x| x as u64);
        let t2 = c2.min(self.d.tier.shape[2] as u64);
        let a = open(path)?;
        let v: Vec<f32> = a.retrieve_array_subset(&[5..5 + c0, 10..10 + c1, 0..t2])?;
        let c = Check::Values(vec![v[0], v[v.len() - 1]]);
        drop(v);
        Ok(c)
    }

    fn iterate_chunks(&self, path: &Path) -> Result<Check> {
        let g = self.d.tier.grid().map(|x| x as u64);
        let a = open(path)?;
        let mut total = 0;
        for i in 0..g[0] {
            for j in 0..g[1] {
                for k in 0..g[2] {
                    let v: Vec<f32> = a.retrieve_chunk(&[i, j, k])?;
                    total += v.len();
                }
            }
        }
        Ok(Check::Count(total))
    }

    fn iterate_rechunked(&self, path: &Path) -> Result<Check> {
        let mut total = 0;
        blocks(self.d, path, |v| total += v.len())?;
        Ok(Check::Count(total))
    }

    fn groupby_7day(&self, path: &Path) -> Result<Check> {
        let mut groups = 0;
        blocks(self.d, path, |v| {
            std::hint::black_box(mean_f32(v));
            groups += 1;
        })?;
        Ok(Check::Count(groups))
    }

    fn file_size(&self, path: &Path) -> Result<Option<u64>> {
        Ok(Some(du(path)?))
    }

    fn cleanup(&self, path: &Path) -> Result<()> {
        if path.exists() {
            std::fs::remove_dir_all(path)?;
        }
        Ok(())
    }
}
