//! [`Dataset`]: opening, metadata, attributes, creation, writes, sync and close.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cfdb_codec::{
    ArrayData, ChunkCodec, Compression as CodecCompression, DataType, Element, ElementKind,
    with_array_data,
};
use cfdb_models::{
    Axis, Compression, Coordinate, DataTypeMeta, DataVariable, DatasetType, DtypeForm, SysMeta,
    Variable,
};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};
use serde_json::{Map, Value};

use crate::coord::{Step, StepValue, Vals};
use crate::error::{CoreError, Result};
use crate::io::{self, Store, VarIo};
use crate::select::{Sel, resolve_sel};

/// The bucket count cfdb creates files with.
pub const DEFAULT_N_BUCKETS: u32 = 144_013;

mod sealed {
    pub trait Sealed {}
}

/// Read-only or read/write, chosen by the type of a [`Dataset`].
pub trait Access: sealed::Sealed + Send + Sync + 'static {
    /// Whether this access can write.
    const WRITABLE: bool;
}

/// Marker of a read-only dataset (`flag='r'`): a shared lock, no write methods.
#[derive(Debug)]
pub struct ReadOnly;
/// Marker of a writable dataset (`flag` `'w'`, `'c'` or `'n'`): an exclusive lock.
#[derive(Debug)]
pub struct ReadWrite;
impl sealed::Sealed for ReadOnly {}
impl sealed::Sealed for ReadWrite {}
impl Access for ReadOnly {
    const WRITABLE: bool = false;
}
impl Access for ReadWrite {
    const WRITABLE: bool = true;
}

/// How a writable dataset opens its file (Python's flags `w`, `c`, `n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// `'w'`: the file must exist.
    Write,
    /// `'c'`: open, or create when missing.
    Create,
    /// `'n'`: always a new, empty dataset.
    New,
}

/// Options for opening or creating a dataset.
///
/// `dataset_type`, `compression` and `compression_level` apply only when a file is created;
/// an existing file keeps what it stores.
///
/// ```
/// use cfdb_core::{OpenMode, OpenOptions};
/// use cfdb_models::{Compression, DatasetType};
/// let dir = tempfile::tempdir().unwrap();
/// let ds = OpenOptions::new()
///     .dataset_type(DatasetType::TsOrtho)
///     .compression(Compression::Lz4)
///     .open_rw(dir.path().join("a.cfdb"), OpenMode::New)
///     .unwrap();
/// assert_eq!(ds.dataset_type(), DatasetType::TsOrtho);
/// assert_eq!(ds.attrs().unwrap()["featureType"], "timeSeries");
/// ds.close().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    dataset_type: DatasetType,
    compression: Compression,
    compression_level: Option<i64>,
    n_buckets: u32,
    lock_timeout: Option<Duration>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            dataset_type: DatasetType::Grid,
            compression: Compression::ZstdShuffle,
            compression_level: None,
            n_buckets: DEFAULT_N_BUCKETS,
            lock_timeout: None,
        }
    }
}

impl OpenOptions {
    /// Defaults: `grid`, `zstd_shuffle` level 1, 144013 buckets, wait for locks forever.
    pub fn new() -> Self {
        Self::default()
    }
    /// The dataset type of a new file.
    pub fn dataset_type(mut self, t: DatasetType) -> Self {
        self.dataset_type = t;
        self
    }
    /// The compression of a new file.
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }
    /// The compression level of a new file (default 1).
    pub fn compression_level(mut self, level: i64) -> Self {
        self.compression_level = Some(level);
        self
    }
    /// The booklet bucket count of a new file.
    pub fn n_buckets(mut self, n: u32) -> Self {
        self.n_buckets = n;
        self
    }
    /// Give up waiting for another process's lock after `t`.
    pub fn lock_timeout(mut self, t: Duration) -> Self {
        self.lock_timeout = Some(t);
        self
    }

    /// Opens an existing dataset read-only.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Dataset<ReadOnly>> {
        let path = path.as_ref();
        let mut ro = cfdb_kv::ReadOptions::new();
        if let Some(t) = self.lock_timeout {
            ro = ro.lock_timeout(t);
        }
        let reader = ro.open(path)?;
        // Positional reads: opening maps nothing (reads that need many chunks map the file).
        let mut bytes = Vec::new();
        if !reader.metadata_into(&mut bytes)? {
            return Err(CoreError::NotADataset {
                path: path.to_path_buf(),
            });
        }
        Dataset::from_parts(path, Store::Read(reader), &bytes, false)
    }

    /// Opens or creates a dataset for reading and writing.
    pub fn open_rw(&self, path: impl AsRef<Path>, mode: OpenMode) -> Result<Dataset<ReadWrite>> {
        let path = path.as_ref();
        let mut wo = cfdb_kv::OpenOptions::new().n_buckets(self.n_buckets);
        if let Some(t) = self.lock_timeout {
            wo = wo.lock_timeout(t);
        }
        let kv_mode = match mode {
            OpenMode::Write => cfdb_kv::Mode::Write,
            OpenMode::Create => cfdb_kv::Mode::Create,
            OpenMode::New => cfdb_kv::Mode::New,
        };
        // An existing file must already be a dataset (Python refuses an empty file and a
        // booklet without metadata with every flag but 'n').
        let existed = match std::fs::metadata(path) {
            Ok(m) if m.len() == 0 && mode != OpenMode::New => {
                return Err(CoreError::NotADataset {
                    path: path.to_path_buf(),
                });
            }
            Ok(_) => mode != OpenMode::New,
            Err(_) => false,
        };
        let mut writer = wo.open(path, kv_mode)?;
        match writer.metadata()? {
            Some(bytes) if existed => {
                Dataset::from_parts(path, Store::Write(writer), &bytes, false)
            }
            None if existed => Err(CoreError::NotADataset {
                path: path.to_path_buf(),
            }),
            _ => {
                let level = self.compression_level.unwrap_or(1);
                let meta = SysMeta::new(self.dataset_type, self.compression, level);
                let bytes = meta.to_json_bytes();
                writer.set_metadata(&bytes)?;
                let mut ds = Dataset::from_parts(path, Store::Write(writer), &bytes, true)?;
                if self.dataset_type == DatasetType::TsOrtho {
                    ds.attrs_mut()?
                        .insert("featureType".to_owned(), Value::from("timeSeries"));
                }
                Ok(ds)
            }
        }
    }
}

/// Opens an existing dataset read-only (Python `open_dataset(path)`).
///
/// ```no_run
/// let ds = cfdb_core::open("era5.cfdb")?;
/// for name in ds.var_names() {
///     println!("{name}");
/// }
/// # Ok::<(), cfdb_core::CoreError>(())
/// ```
pub fn open(path: impl AsRef<Path>) -> Result<Dataset<ReadOnly>> {
    OpenOptions::new().open(path)
}

/// Opens an existing dataset for reading and writing (Python flag `'w'`).
pub fn open_rw(path: impl AsRef<Path>) -> Result<Dataset<ReadWrite>> {
    OpenOptions::new().open_rw(path, OpenMode::Write)
}

/// Creates a new, empty `grid` dataset with the default compression (Python flag `'n'`).
pub fn create(path: impl AsRef<Path>) -> Result<Dataset<ReadWrite>> {
    OpenOptions::new().open_rw(path, OpenMode::New)
}

/// Cached attributes of one owner (the dataset or a variable).
#[derive(Clone, Debug)]
struct AttrEntry {
    map: Map<String, Value>,
    /// What the file holds (`None`: no key).
    stored: Option<Map<String, Value>>,
}

/// A cfdb dataset: coordinates and data variables in one booklet file.
///
/// `A` is [`ReadOnly`] or [`ReadWrite`]; write methods exist only on `Dataset<ReadWrite>`.
/// A dataset is `Send + Sync`: many threads can read at once. It closes on drop (errors are
/// printed); [`Dataset::close`] closes and returns them.
///
/// ```
/// use cfdb_core::{create, open, sel, CoordSpec, DataVarSpec};
/// use cfdb_models::DataTypeMeta;
/// use ndarray::{arr1, ArrayD, IxDyn};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("demo.cfdb");
/// let mut ds = create(&path)?;
/// ds.create_coord("x", CoordSpec::new(DataTypeMeta::new("int32")).data(arr1(&[10, 20, 30]).into_dyn()))?;
/// ds.create_data_var("v", &["x"], DataVarSpec::new(DataTypeMeta::new("float64")))?;
/// ds.write("v", sel![1..], ArrayD::from_shape_vec(IxDyn(&[2]), vec![1.5, 2.5]).unwrap().view())?;
/// ds.close()?;
///
/// let ds = open(&path)?;
/// let v = ds.data_var("v")?.read::<f64>()?;
/// assert!(v[0].is_nan());
/// assert_eq!(v[[2]], 2.5);
/// # Ok::<(), cfdb_core::CoreError>(())
/// ```
pub struct Dataset<A: Access = ReadOnly> {
    pub(crate) path: PathBuf,
    pub(crate) store: Option<Store>,
    pub(crate) meta: SysMeta,
    /// The metadata as last written (to write it again only when it changed).
    written_meta: SysMeta,
    attrs: RwLock<HashMap<String, AttrEntry>>,
    coord_cache: RwLock<HashMap<String, Arc<ArrayData>>>,
    _access: PhantomData<A>,
}

impl<A: Access> std::fmt::Debug for Dataset<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("path", &self.path)
            .field("writable", &A::WRITABLE)
            .field("variables", &self.meta.variables.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn attrs_key(owner: Option<&str>) -> String {
    match owner {
        None => "__.attrs".to_owned(),
        Some(v) => format!("_{v}.attrs"),
    }
}

/// A comparable form of the metadata: every DataType in the same form (Python compares the
/// decoded structures, not the bytes).
fn normalized(meta: &SysMeta) -> Vec<u8> {
    let mut m = meta.clone();
    for v in m.variables.values_mut() {
        v.dtype_mut().form = DtypeForm::Full;
    }
    m.to_json_bytes()
}

/// Whether `name` is a valid variable name (`^[a-zA-Z][a-zA-Z0-9_]*$`, at most 256 chars).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= cfdb_models::MAX_VARIABLE_NAME_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl<A: Access> Dataset<A> {
    fn from_parts(path: &Path, store: Store, meta_bytes: &[u8], created: bool) -> Result<Self> {
        let mut meta =
            SysMeta::from_json_bytes(meta_bytes).map_err(|source| CoreError::Metadata {
                path: path.to_path_buf(),
                source,
            })?;
        meta.validate().map_err(|source| CoreError::Metadata {
            path: path.to_path_buf(),
            source,
        })?;
        if !created {
            // Python rewrites the DataType of every variable it loaded in the full form.
            for v in meta.variables.values_mut() {
                v.dtype_mut().form = DtypeForm::Full;
            }
        }
        let ds = Dataset {
            path: path.to_path_buf(),
            store: Some(store),
            written_meta: meta.clone(),
            meta,
            attrs: RwLock::new(HashMap::new()),
            coord_cache: RwLock::new(HashMap::new()),
            _access: PhantomData,
        };
        // Every dtype must be one cfdb-rs knows, so failures surface at open, naming the variable.
        for name in ds.meta.variables.keys() {
            ds.dtype(name)?;
        }
        Ok(ds)
    }

    pub(crate) fn store(&self) -> Result<&Store> {
        self.store.as_ref().ok_or_else(|| CoreError::Closed {
            path: self.path.clone(),
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this dataset can be written (by its type).
    pub fn writable(&self) -> bool {
        A::WRITABLE
    }

    /// Whether the dataset is still open.
    pub fn is_open(&self) -> bool {
        self.store.is_some()
    }

    /// The dataset type stored in the file.
    pub fn dataset_type(&self) -> DatasetType {
        self.meta.dataset_type
    }

    /// The compression stored in the file.
    pub fn compression(&self) -> Compression {
        self.meta.compression
    }

    /// The compression level stored in the file.
    pub fn compression_level(&self) -> i64 {
        self.meta.compression_level
    }

    /// The stored CRS text (`"EPSG:4326"`, a PROJ string...), if any.
    pub fn crs(&self) -> Option<&str> {
        self.meta.crs.as_deref()
    }

    /// Whether the file is the local cache of a remote (S3) dataset: missing chunks may then
    /// be unfetched rather than blank (Python warns; see `docs/parity.md`, B12).
    pub fn is_remote_cache(&self) -> bool {
        self.meta.remote
    }

    /// The system metadata as it is in memory.
    pub fn sys_meta(&self) -> &SysMeta {
        &self.meta
    }

    /// Every variable name, in creation order.
    pub fn var_names(&self) -> Vec<&str> {
        self.meta.variables.keys().map(String::as_str).collect()
    }

    /// Coordinate names, in creation order.
    pub fn coord_names(&self) -> Vec<&str> {
        self.meta
            .variables
            .iter()
            .filter(|(_, v)| v.as_coord().is_some())
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// Data-variable names, in creation order.
    pub fn data_var_names(&self) -> Vec<&str> {
        self.meta
            .variables
            .iter()
            .filter(|(_, v)| v.as_data_var().is_some())
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// Whether a variable of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.meta.variables.contains_key(name)
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.meta.variables.len()
    }

    /// Whether there are no variables.
    pub fn is_empty(&self) -> bool {
        self.meta.variables.is_empty()
    }

    pub(crate) fn variable(&self, name: &str) -> Result<&Variable> {
        self.meta
            .variables
            .get(name)
            .ok_or_else(|| CoreError::NotFound {
                kind: "variable",
                name: name.to_owned(),
            })
    }

    pub(crate) fn coord_meta(&self, name: &str) -> Result<&Coordinate> {
        self.variable(name)?
            .as_coord()
            .ok_or_else(|| CoreError::NotFound {
                kind: "coordinate",
                name: name.to_owned(),
            })
    }

    /// The parsed data type of a variable.
    pub fn dtype(&self, name: &str) -> Result<DataType> {
        let v = self.variable(name)?;
        DataType::try_from(v.dtype()).map_err(|source| CoreError::Codec {
            path: self.path.clone(),
            var: name.to_owned(),
            key: None,
            source,
        })
    }

    /// A variable's coordinate names (a coordinate's is its own name).
    pub fn var_coords(&self, name: &str) -> Result<Vec<String>> {
        Ok(match self.variable(name)? {
            Variable::Coord(_) => vec![name.to_owned()],
            Variable::DataVar(d) => d.coords.clone(),
        })
    }

    /// A variable's current shape (derived from its coordinates for data variables).
    pub fn var_shape(&self, name: &str) -> Result<Vec<usize>> {
        let coords = self.var_coords(name)?;
        coords
            .iter()
            .map(|c| Ok(self.coord_meta(c)?.len() as usize))
            .collect()
    }

    fn var_origins(&self, name: &str) -> Result<Vec<i64>> {
        let coords = self.var_coords(name)?;
        coords
            .iter()
            .map(|c| Ok(self.coord_meta(c)?.origin.unwrap_or(0)))
            .collect()
    }

    /// A variable's chunk shape.
    pub fn chunk_shape(&self, name: &str) -> Result<Vec<usize>> {
        Ok(self
            .variable(name)?
            .chunk_shape()
            .iter()
            .map(|&c| c as usize)
            .collect())
    }

    pub(crate) fn codec_compression(&self) -> CodecCompression {
        self.meta
            .compression
            .as_str()
            .parse()
            .unwrap_or(CodecCompression::DEFAULT)
    }

    pub(crate) fn var_io(&self, name: &str) -> Result<VarIo> {
        let dtype = self.dtype(name)?;
        let cs = self.chunk_shape(name)?;
        let codec = ChunkCodec::new(
            dtype,
            self.codec_compression(),
            self.meta.compression_level as i32,
            &cs,
        )
        .map_err(|source| CoreError::Codec {
            path: self.path.clone(),
            var: name.to_owned(),
            key: None,
            source,
        })?;
        Ok(VarIo {
            path: self.path.clone(),
            name: name.to_owned(),
            codec,
            origins: self.var_origins(name)?,
        })
    }

    /// Reads a region (index space, absolute) of any variable.
    pub(crate) fn read_region(&self, name: &str, region: &[Range<usize>]) -> Result<ArrayData> {
        let var = self.var_io(name)?;
        if let Some(decoded) = self.read_whole_chunk(&var, region)? {
            return Ok(decoded);
        }
        io::read_region(self.store()?, &var, region)
    }

    /// When `region` is exactly one stored chunk: that chunk, decoded straight into a new
    /// array (no blank fill, no copy). `None` for other regions and unwritten chunks.
    fn read_whole_chunk(
        &self,
        var: &io::VarIo,
        region: &[Range<usize>],
    ) -> Result<Option<ArrayData>> {
        let Some(key) = var.whole_chunk_key(region) else {
            return Ok(None);
        };
        self.store()?.with_value(&key, |bytes| {
            let Some(bytes) = bytes else {
                return Ok(None);
            };
            #[cfg(feature = "instrument")]
            crate::io::instrument::record();
            var.codec
                .decode(bytes)
                .map(Some)
                .map_err(|source| CoreError::Codec {
                    path: self.path.clone(),
                    var: var.name.clone(),
                    key: Some(key.clone()),
                    source,
                })
        })
    }

    /// Reads a region into a caller's buffer of the right element type and shape.
    pub(crate) fn read_region_into<T: Element>(
        &self,
        name: &str,
        region: &[Range<usize>],
        out: &mut ArrayViewMutD<'_, T>,
    ) -> Result<()> {
        let var = self.var_io(name)?;
        let kind = var.codec.dtype().element_kind();
        if kind != T::KIND {
            return Err(CoreError::DtypeMismatch {
                var: name.to_owned(),
                expected: kind.to_string(),
                actual: T::KIND.to_string(),
            });
        }
        let want: Vec<usize> = region.iter().map(|r| r.end - r.start).collect();
        if out.shape() != want.as_slice() {
            return Err(CoreError::ShapeMismatch {
                var: name.to_owned(),
                expected: want,
                actual: out.shape().to_vec(),
            });
        }
        io::read_into(self.store()?, &var, region, out)
    }

    /// Reads `region` (index space) of a variable into a new array. When the region is exactly
    /// one storage chunk, the chunk is decoded straight into the returned array (no blank fill,
    /// no copy); otherwise this is [`read_region_into`](Self::read_region_into) on a zeroed
    /// array.
    pub(crate) fn read_region_owned<T: Element>(
        &self,
        name: &str,
        region: &[Range<usize>],
    ) -> Result<ArrayD<T>> {
        let var = self.var_io(name)?;
        if var.codec.dtype().element_kind() == T::KIND
            && let Some(decoded) = self.read_whole_chunk(&var, region)?
        {
            return T::unwrap(decoded).map_err(|d| CoreError::DtypeMismatch {
                var: name.to_owned(),
                expected: d.kind().to_string(),
                actual: T::KIND.to_string(),
            });
        }
        let shape: Vec<usize> = region.iter().map(|r| r.end - r.start).collect();
        let mut out = ArrayD::from_elem(IxDyn(&shape), T::zero());
        self.read_region_into(name, region, &mut out.view_mut())?;
        Ok(out)
    }

    /// All values of a coordinate (decoded, cached in memory after the first read).
    pub fn coord_values(&self, name: &str) -> Result<Arc<ArrayData>> {
        if let Some(v) = self
            .coord_cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(v.clone());
        }
        let len = self.coord_meta(name)?.len() as usize;
        let region = std::iter::once(0..len).collect::<Vec<_>>();
        let values = Arc::new(self.read_region(name, &region)?);
        self.coord_cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), values.clone());
        Ok(values)
    }

    fn load_attrs(&self, owner: Option<&str>) -> Result<()> {
        let key = attrs_key(owner);
        if self
            .attrs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&key)
        {
            return Ok(());
        }
        let stored = self.store()?.with_value(&key, |bytes| {
            Ok(match bytes {
                None => None,
                Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
                    Ok(Value::Object(m)) => Some(m),
                    Ok(other) => {
                        return Err(CoreError::BadAttrs {
                            path: self.path.clone(),
                            owner: owner
                                .map_or("dataset".to_owned(), |v| format!("variable {v:?}")),
                            reason: format!("found {other}"),
                        });
                    }
                    Err(e) => {
                        return Err(CoreError::BadAttrs {
                            path: self.path.clone(),
                            owner: owner
                                .map_or("dataset".to_owned(), |v| format!("variable {v:?}")),
                            reason: e.to_string(),
                        });
                    }
                },
            })
        })?;
        self.attrs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(AttrEntry {
                map: stored.clone().unwrap_or_default(),
                stored,
            });
        Ok(())
    }

    /// The dataset attributes (a copy).
    pub fn attrs(&self) -> Result<Map<String, Value>> {
        self.load_attrs(None)?;
        Ok(
            self.attrs.read().unwrap_or_else(|e| e.into_inner())[&attrs_key(None)]
                .map
                .clone(),
        )
    }

    /// A variable's attributes (a copy).
    pub fn var_attrs(&self, name: &str) -> Result<Map<String, Value>> {
        self.variable(name)?;
        self.load_attrs(Some(name))?;
        Ok(
            self.attrs.read().unwrap_or_else(|e| e.into_inner())[&attrs_key(Some(name))]
                .map
                .clone(),
        )
    }

    /// Writes the attributes that changed and the metadata if it changed (not durable until
    /// the kv sync).
    pub(crate) fn flush_meta(&mut self) -> Result<()> {
        let mut writes: Vec<(String, Vec<u8>)> = Vec::new();
        {
            let cache = self.attrs.get_mut().unwrap_or_else(|e| e.into_inner());
            for (key, entry) in cache.iter_mut() {
                let changed = match &entry.stored {
                    Some(s) => *s != entry.map,
                    None => !entry.map.is_empty(),
                };
                if changed {
                    writes.push((
                        key.clone(),
                        cfdb_models::to_orjson_bytes(&Value::Object(entry.map.clone())),
                    ));
                    entry.stored = Some(entry.map.clone());
                }
            }
        }
        let meta_changed = normalized(&self.meta) != normalized(&self.written_meta);
        let meta_bytes = meta_changed.then(|| self.meta.to_json_bytes());
        let Some(Store::Write(w)) = self.store.as_mut() else {
            return Ok(());
        };
        for (k, v) in &writes {
            w.set(k, v)?;
        }
        if let Some(b) = meta_bytes {
            w.set_metadata(&b)?;
        }
        if meta_changed {
            self.written_meta = self.meta.clone();
        }
        Ok(())
    }

    /// The `units` metadata string of a variable (not the CF `units` attribute).
    pub fn units(&self, name: &str) -> Result<Option<&str>> {
        Ok(self.variable(name)?.units())
    }
}

/// What a new coordinate is made of: dtype, optional values, chunk length, step and axis.
///
/// ```
/// use cfdb_core::{CoordSpec, Step};
/// use cfdb_models::{Axis, DataTypeMeta};
/// let spec = CoordSpec::new(DataTypeMeta::new("float64"))
///     .data(ndarray::arr1(&[0.0, 0.5, 1.0]).into_dyn())
///     .step(Step::Infer)
///     .axis(Axis::Y)
///     .chunk_len(100);
/// # let _ = spec;
/// ```
#[derive(Clone, Debug)]
pub struct CoordSpec {
    pub(crate) dtype: DataTypeMeta,
    pub(crate) data: Option<ArrayData>,
    pub(crate) chunk_len: Option<usize>,
    pub(crate) step: Step,
    pub(crate) axis: Option<Axis>,
    pub(crate) attrs: Map<String, Value>,
}

impl CoordSpec {
    /// A coordinate of `dtype`, empty, no step, no axis, guessed chunk length.
    pub fn new(dtype: DataTypeMeta) -> Self {
        CoordSpec {
            dtype,
            data: None,
            chunk_len: None,
            step: Step::None,
            axis: None,
            attrs: Map::new(),
        }
    }
    /// Initial values (any array convertible to [`ArrayData`], 1-D).
    pub fn data(mut self, data: impl Into<ArrayDataArg>) -> Self {
        self.data = Some(data.into().0);
        self
    }
    /// The chunk length (default: cfdb's guess for 1,000,000 values in 2 MiB).
    pub fn chunk_len(mut self, n: usize) -> Self {
        self.chunk_len = Some(n);
        self
    }
    /// The step rule.
    pub fn step(mut self, s: Step) -> Self {
        self.step = s;
        self
    }
    /// The axis.
    pub fn axis(mut self, a: Axis) -> Self {
        self.axis = Some(a);
        self
    }
    /// Replaces the dtype.
    pub fn dtype(mut self, d: DataTypeMeta) -> Self {
        self.dtype = d;
        self
    }
    /// Attributes to set on the new coordinate.
    pub fn attrs(mut self, attrs: Map<String, Value>) -> Self {
        self.attrs = attrs;
        self
    }
}

/// Any owned array convertible to [`ArrayData`] (`ArrayD<f64>`, `ArrayD<Datetime64>`...).
#[derive(Clone, Debug)]
pub struct ArrayDataArg(pub ArrayData);

impl From<ArrayData> for ArrayDataArg {
    fn from(a: ArrayData) -> Self {
        ArrayDataArg(a)
    }
}

impl<T: Element> From<ndarray::ArrayD<T>> for ArrayDataArg {
    fn from(a: ndarray::ArrayD<T>) -> Self {
        ArrayDataArg(T::wrap(a))
    }
}

/// What a new data variable is made of: dtype and chunk shape.
#[derive(Clone, Debug)]
pub struct DataVarSpec {
    pub(crate) dtype: DataTypeMeta,
    pub(crate) chunk_shape: Option<Vec<usize>>,
    pub(crate) attrs: Map<String, Value>,
}

impl DataVarSpec {
    /// A data variable of `dtype` with cfdb's guessed chunk shape.
    pub fn new(dtype: DataTypeMeta) -> Self {
        DataVarSpec {
            dtype,
            chunk_shape: None,
            attrs: Map::new(),
        }
    }
    /// An explicit chunk shape (one positive length per coordinate).
    pub fn chunk_shape(mut self, cs: &[usize]) -> Self {
        self.chunk_shape = Some(cs.to_vec());
        self
    }
    /// Replaces the dtype.
    pub fn dtype(mut self, d: DataTypeMeta) -> Self {
        self.dtype = d;
        self
    }
    /// Attributes to set on the new variable.
    pub fn attrs(mut self, attrs: Map<String, Value>) -> Self {
        self.attrs = attrs;
        self
    }
}

/// The CRS of a dataset, as cfdb stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Crs {
    /// An EPSG code, stored as `"EPSG:<code>"` (what pyproj's `to_string()` gives).
    Epsg(u32),
    /// CRS text stored verbatim (a PROJ string, an authority code...). Normalising other input
    /// through PROJ is cfdb-geo's job.
    Text(String),
}

impl Crs {
    pub(crate) fn stored(&self) -> String {
        match self {
            Crs::Epsg(c) => format!("EPSG:{c}"),
            Crs::Text(t) => t.clone(),
        }
    }
}

/// The element size used for chunk guesses: stored width, else decoded width, else 12 for
/// strings and 60 for geometries.
fn guess_itemsize(dt: &DataType) -> usize {
    match dt {
        DataType::Str => 12,
        DataType::Geometry { .. } => 60,
        d => d.stored_size().unwrap_or(8),
    }
}

fn codec_err(path: &Path, var: &str, source: cfdb_codec::CodecError) -> CoreError {
    CoreError::Codec {
        path: path.to_path_buf(),
        var: var.to_owned(),
        key: None,
        source,
    }
}

pub(crate) fn convert_kind(var: &str, data: ArrayData, kind: ElementKind) -> Result<ArrayData> {
    if data.kind() == kind {
        return Ok(data);
    }
    // Numeric coordinate input of another numeric type is converted losslessly when possible.
    match (Vals::from_array(var, &data)?, kind) {
        (Vals::I(v), ElementKind::F32 | ElementKind::F64) => {
            Vals::F(v.iter().map(|x| *x as f64).collect()).to_array(var, kind)
        }
        (vals @ Vals::I(_), ElementKind::Int(_))
        | (vals @ Vals::F(_), ElementKind::F32 | ElementKind::F64) => vals.to_array(var, kind),
        _ => Err(CoreError::DtypeMismatch {
            var: var.to_owned(),
            expected: kind.to_string(),
            actual: data.kind().to_string(),
        }),
    }
}

/// Rewrites geometry WKT the way cfdb stores it: GEOS text rounded to the dtype's precision
/// (any valid WKT is accepted as input).
pub(crate) fn format_geometries(var: &str, data: ArrayData, precision: i64) -> Result<ArrayData> {
    let ArrayData::Geometry(a) = data else {
        return Ok(data);
    };
    let mut out = Vec::with_capacity(a.len());
    for g in a.iter() {
        out.push(
            match g.to_geo().map_err(|source| CoreError::Codec {
                path: PathBuf::new(),
                var: var.to_owned(),
                key: None,
                source,
            })? {
                Some(geo) => cfdb_codec::WktGeometry::from_geo(&geo, precision),
                None => cfdb_codec::WktGeometry(None),
            },
        );
    }
    let shape = a.shape().to_vec();
    ndarray::ArrayD::from_shape_vec(shape, out)
        .map(ArrayData::Geometry)
        .map_err(|e| CoreError::Invalid(e.to_string()))
}

impl Dataset<ReadWrite> {
    pub(crate) fn writer_mut(&mut self) -> Result<&mut cfdb_kv::Writer> {
        let path = self.path.clone();
        self.store
            .as_mut()
            .and_then(Store::writer)
            .ok_or(CoreError::Closed { path })
    }

    fn store_mut(&mut self) -> Result<&mut Store> {
        let path = self.path.clone();
        self.store.as_mut().ok_or(CoreError::Closed { path })
    }

    /// The dataset attributes, to change in place (written at [`sync`](Self::sync)).
    pub fn attrs_mut(&mut self) -> Result<&mut Map<String, Value>> {
        self.load_attrs(None)?;
        let key = attrs_key(None);
        let cache = self.attrs.get_mut().unwrap_or_else(|e| e.into_inner());
        cache
            .get_mut(&key)
            .map(|e| &mut e.map)
            .ok_or_else(|| CoreError::Invalid("attributes not loaded".to_owned()))
    }

    /// A variable's attributes, to change in place (written at [`sync`](Self::sync)).
    pub fn var_attrs_mut(&mut self, name: &str) -> Result<&mut Map<String, Value>> {
        self.variable(name)?;
        self.load_attrs(Some(name))?;
        let key = attrs_key(Some(name));
        let cache = self.attrs.get_mut().unwrap_or_else(|e| e.into_inner());
        cache
            .get_mut(&key)
            .map(|e| &mut e.map)
            .ok_or_else(|| CoreError::Invalid("attributes not loaded".to_owned()))
    }

    /// Drops the cached attributes and values of a deleted variable (its attribute key is
    /// deleted by the caller, so the cache must not write it back).
    pub(crate) fn forget_var(&mut self, name: &str) {
        self.attrs
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&attrs_key(Some(name)));
        self.coord_cache
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// Sets the `units` metadata string of a variable.
    pub fn update_units(&mut self, name: &str, units: Option<&str>) -> Result<()> {
        let v = self
            .meta
            .variables
            .get_mut(name)
            .ok_or_else(|| CoreError::NotFound {
                kind: "variable",
                name: name.to_owned(),
            })?;
        let u = units.map(str::to_owned);
        match v {
            Variable::Coord(c) => c.units = u,
            Variable::DataVar(d) => d.units = u,
        }
        Ok(())
    }

    /// Sets or clears a coordinate's axis (unique within the dataset).
    pub fn update_axis(&mut self, name: &str, axis: Option<Axis>) -> Result<()> {
        self.coord_meta(name)?;
        if let Some(a) = axis {
            self.check_axis_free(a, Some(name))?;
        }
        if let Some(Variable::Coord(c)) = self.meta.variables.get_mut(name) {
            c.axis = axis;
        }
        Ok(())
    }

    fn check_axis_free(&self, axis: Axis, except: Option<&str>) -> Result<()> {
        for (n, v) in &self.meta.variables {
            if Some(n.as_str()) == except {
                continue;
            }
            if v.as_coord().is_some_and(|c| c.axis == Some(axis)) {
                return Err(CoreError::AxisTaken {
                    axis: axis.as_str().to_owned(),
                    owner: n.clone(),
                });
            }
        }
        Ok(())
    }

    fn check_new_name(&self, name: &str) -> Result<()> {
        if !valid_name(name) {
            return Err(CoreError::InvalidName {
                name: name.to_owned(),
            });
        }
        if self.contains(name) {
            return Err(CoreError::AlreadyExists {
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    /// Creates a coordinate (Python `ds.create.coord.generic`).
    ///
    /// Numeric and datetime values are sorted (on a copy) and must be unique; strings and
    /// geometries keep their order and must be unique. Everything is validated before the
    /// coordinate is registered, so a failed call leaves the dataset unchanged.
    pub fn create_coord(&mut self, name: &str, spec: CoordSpec) -> Result<()> {
        self.check_new_name(name)?;
        let dtype = DataType::try_from(&spec.dtype).map_err(|e| codec_err(&self.path, name, e))?;
        let is_geo = matches!(dtype, DataType::Geometry { .. });
        match self.meta.dataset_type {
            DatasetType::Grid | DatasetType::GridForecast if is_geo => {
                return Err(CoreError::Invalid(format!(
                    "coordinate {name:?}: {} datasets cannot have geometry coordinates",
                    self.meta.dataset_type.as_str()
                )));
            }
            DatasetType::TsOrtho | DatasetType::TsForecast => {
                let xy_name = ["lat", "latitude", "lon", "longitude", "x", "y"].contains(&name);
                if xy_name || matches!(spec.axis, Some(Axis::X | Axis::Y)) {
                    return Err(CoreError::Invalid(format!(
                        "coordinate {name:?}: {} datasets locate stations with a geometry coordinate; \
                         x/y/lat/lon coordinates are not allowed",
                        self.meta.dataset_type.as_str()
                    )));
                }
            }
            _ => {}
        }
        if let Some(a) = spec.axis {
            self.check_axis_free(a, None)?;
        }
        let chunk_len = match spec.chunk_len {
            Some(0) => {
                return Err(CoreError::Invalid(format!(
                    "coordinate {name:?}: the chunk length must be > 0"
                )));
            }
            Some(n) => n,
            None => cfdb_rechunk::guess_chunk_shape(&[1_000_000], guess_itemsize(&dtype), 1 << 21)
                .ok()
                .and_then(|v| v.first().copied())
                .unwrap_or(1),
        };
        let kind = dtype.element_kind();
        let prepared = match spec.data {
            None => None,
            Some(data) => {
                if data.shape().len() != 1 {
                    return Err(CoreError::InvalidCoordData {
                        coord: name.to_owned(),
                        reason: format!(
                            "coordinate data must be 1-D, got shape {:?}",
                            data.shape()
                        ),
                    });
                }
                let mut data = convert_kind(name, data, kind)?;
                if let DataType::Geometry { precision, .. } = dtype {
                    data = format_geometries(name, data, precision)?;
                }
                let mut vals = Vals::from_array(name, &data)?;
                vals.sort_unique(name)?;
                let step = match spec.step {
                    Step::None => None,
                    Step::Infer => vals.infer_step(),
                    Step::Value(v) => {
                        let s = StepValue::from_user(name, v, &dtype)?;
                        vals.check_step(name, s)?;
                        Some(s)
                    }
                };
                let arr = vals.to_array(name, kind)?;
                Some((arr, step))
            }
        };
        let step = match (&prepared, spec.step) {
            (Some((_, s)), _) => *s,
            (None, Step::Value(v)) => Some(StepValue::from_user(name, v, &dtype)?),
            _ => None,
        };
        let mut c = Coordinate::new(spec.dtype.clone(), chunk_len as u64);
        c.dtype.form = DtypeForm::Compact;
        c.axis = spec.axis;
        c.step = step.map(StepValue::to_number);
        self.meta
            .variables
            .insert(name.to_owned(), Variable::Coord(c));
        if !spec.attrs.is_empty() {
            self.var_attrs_mut(name)?.extend(spec.attrs);
        }
        if let Some((arr, _)) = prepared
            && let Err(e) = self.write_coord_values(name, &arr, 0)
        {
            self.meta.variables.shift_remove(name);
            self.forget_var(name);
            return Err(e);
        }
        Ok(())
    }

    /// Writes all of a coordinate's values (new length, origin) and refreshes its cache.
    pub(crate) fn write_coord_values(
        &mut self,
        name: &str,
        values: &ArrayData,
        origin: i64,
    ) -> Result<()> {
        let n = values.len();
        if let Some(Variable::Coord(c)) = self.meta.variables.get_mut(name) {
            c.shape = vec![n as u64];
            c.origin = Some(origin);
        }
        self.coord_cache
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        if n > 0 {
            let var = self.var_io(name)?;
            let store = self.store_mut()?;
            let region = std::iter::once(0..n).collect::<Vec<_>>();
            with_array_data!(values, a => io::write_region(store, &var, &region, &a.view(), true))?;
        }
        Ok(())
    }

    /// Creates a data variable over existing coordinates (Python `ds.create.data_var.generic`).
    pub fn create_data_var(
        &mut self,
        name: &str,
        coords: &[&str],
        spec: DataVarSpec,
    ) -> Result<()> {
        self.check_new_name(name)?;
        if coords.is_empty() {
            return Err(CoreError::Invalid(format!(
                "data variable {name:?}: at least one coordinate is needed"
            )));
        }
        let mut lens = Vec::with_capacity(coords.len());
        for c in coords {
            lens.push(self.coord_meta(c)?.len() as usize);
        }
        let dtype = DataType::try_from(&spec.dtype).map_err(|e| codec_err(&self.path, name, e))?;
        let chunk_shape = match spec.chunk_shape {
            Some(cs) => {
                if cs.len() != coords.len() || cs.contains(&0) {
                    return Err(CoreError::Invalid(format!(
                        "data variable {name:?}: the chunk shape {cs:?} needs {} positive lengths",
                        coords.len()
                    )));
                }
                cs
            }
            None => {
                if let Some(i) = lens.iter().position(|&l| l == 0) {
                    return Err(CoreError::Invalid(format!(
                        "data variable {name:?}: coordinate {:?} is empty, so no chunk shape can be \
                         guessed; give one",
                        coords[i]
                    )));
                }
                let itemsize = guess_itemsize(&dtype);
                let target = match dtype {
                    DataType::Str | DataType::Geometry { .. } => 1 << 21,
                    _ => (1 << 18) * itemsize,
                };
                cfdb_rechunk::guess_chunk_shape(&lens, itemsize, target)
                    .map_err(|e| CoreError::Invalid(format!("data variable {name:?}: {e}")))?
            }
        };
        let mut dv = DataVariable::new(
            coords.iter().map(|s| (*s).to_owned()).collect(),
            chunk_shape.iter().map(|&c| c as u64).collect(),
            spec.dtype.clone(),
        );
        dv.dtype.form = DtypeForm::Compact;
        self.meta
            .variables
            .insert(name.to_owned(), Variable::DataVar(dv));
        if !spec.attrs.is_empty() {
            self.var_attrs_mut(name)?.extend(spec.attrs);
        }
        Ok(())
    }

    /// Writes `data` (exactly the selection's shape, the variable's element type) into a
    /// positional selection of a data variable or coordinate cells.
    pub fn write<T: Element>(
        &mut self,
        name: &str,
        sel: impl Into<Sel>,
        data: ArrayViewD<'_, T>,
    ) -> Result<()> {
        let sel = sel.into();
        let shape = self.var_shape(name)?;
        let coords = self.var_coords(name)?;
        let region = resolve_sel(&sel, &shape, name, &coords)?;
        self.write_region(name, &region, data)
    }

    /// [`write`](Self::write) with run-time typed data.
    pub fn write_dyn(&mut self, name: &str, sel: impl Into<Sel>, data: &ArrayData) -> Result<()> {
        let sel = sel.into();
        with_array_data!(data, a => self.write(name, sel, a.view()))
    }

    pub(crate) fn write_region<T: Element>(
        &mut self,
        name: &str,
        region: &[Range<usize>],
        data: ArrayViewD<'_, T>,
    ) -> Result<()> {
        if self.variable(name)?.as_coord().is_some() {
            return Err(CoreError::Invalid(format!(
                "{name:?} is a coordinate: change it with append, prepend or truncate"
            )));
        }
        let want: Vec<usize> = region.iter().map(|r| r.end - r.start).collect();
        if data.shape() != want.as_slice() {
            return Err(CoreError::ShapeMismatch {
                var: name.to_owned(),
                expected: want,
                actual: data.shape().to_vec(),
            });
        }
        let var = self.var_io(name)?;
        let kind = var.codec.dtype().element_kind();
        if kind != T::KIND {
            return Err(CoreError::DtypeMismatch {
                var: name.to_owned(),
                expected: kind.to_string(),
                actual: T::KIND.to_string(),
            });
        }
        if let DataType::Geometry { precision, .. } = var.codec.dtype() {
            let formatted = format_geometries(name, T::wrap(data.to_owned()), *precision)?;
            let store = self.store_mut()?;
            return with_array_data!(&formatted, a => io::write_region(store, &var, region, &a.view(), false));
        }
        let store = self.store_mut()?;
        io::write_region(store, &var, region, &data, false)
    }
}

impl<A: Access> Drop for Dataset<A> {
    fn drop(&mut self) {
        if !A::WRITABLE || self.store.is_none() {
            return;
        }
        if let Err(e) = close_store(self) {
            eprintln!("cfdb: closing {} on drop failed: {e}", self.path.display());
        }
    }
}

/// Flushes and closes the writer of a dataset (for `close` and drop).
pub(crate) fn close_store<A: Access>(ds: &mut Dataset<A>) -> Result<()> {
    let flushed = ds.flush_meta();
    let closed = match ds.store.take() {
        Some(Store::Write(w)) => w.close().map_err(CoreError::from),
        _ => Ok(()),
    };
    flushed.and(closed)
}
