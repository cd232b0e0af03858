//! Property tests of the dataset read/write paths against an in-memory ndarray oracle.
//!
//! Each case makes a dataset with 1–3 coordinates (int64 or float64, some with prepended
//! values so their origins are negative, some with an inferred step) and one data variable of
//! a random dtype (float32, float64, int16, uint8, packed float32/float64, datetime64[s], str)
//! and random chunk shape, then runs a random sequence of:
//!
//! * positional writes of random selections (ints, ranges, negative and clamped bounds, omitted
//!   trailing items), through `write_dyn` or the typed `write`;
//! * positional reads (one or two nested selections) through `read_dyn`, `read::<T>` or
//!   `get_into` a buffer full of garbage;
//! * label selections (`loc`: single labels, inclusive and exclusive ranges with bounds on or
//!   between coordinate values) read through `DataVar::loc` or written through `write_loc`;
//! * appends and prepends to a coordinate (with gaps; gap-filled when the coordinate has a
//!   step), which grow the data variable with blank cells;
//! * reopening (close, read-only `open` checked in full, `open_rw` again).
//!
//! Never-written cells must read as the blank (NaN, 0, NaT, None). Plain dtypes compare exactly
//! (floats bit for bit, NaN = NaN); packed floats are written only with values on their
//! precision grid, computed exactly the way the decoder computes them, so they compare exactly
//! too.

// CoreError is large (it names the file, variable and chunk); the helpers pass it through.
#![allow(clippy::result_large_err)]

use std::ops::Range;
use std::path::Path;

use cfdb_codec::with_array_data;
use cfdb_core::{
    Access, ArrayData, Compression, CoordSpec, DataTypeMeta, DataVar, DataVarSpec, Dataset,
    Datetime64, Element, Index, Label, LocIndex, LocSel, OpenMode, OpenOptions, ReadWrite, Sel,
    Step, open, open_rw,
};
use ndarray::{ArrayD, IxDyn, Slice};
use proptest::prelude::*;

const VAR: &str = "v";

/// splitmix64: the values of a write come from a seed, so shrinking keeps them stable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    F32,
    F64,
    I16,
    U8,
    PackedF32,
    PackedF64,
    Dt,
    Str,
}

/// Packing of the packed kinds: 2 decimals, uint16 codes, offset -11.0, code 0 = missing.
const PACK_OFFSET: f64 = -11.0;

fn packed_meta(name: &str) -> DataTypeMeta {
    let mut m = DataTypeMeta::new(name);
    m.precision = Some(2);
    m.dtype_encoded = Some("uint16".to_owned());
    m.offset = serde_json::Number::from_f64(PACK_OFFSET);
    m.fillvalue = Some(0.into());
    m
}

impl Kind {
    fn meta(self) -> DataTypeMeta {
        match self {
            Kind::F32 => DataTypeMeta::new("float32"),
            Kind::F64 => DataTypeMeta::new("float64"),
            Kind::I16 => DataTypeMeta::new("int16"),
            Kind::U8 => DataTypeMeta::new("uint8"),
            Kind::PackedF32 => packed_meta("float32"),
            Kind::PackedF64 => packed_meta("float64"),
            Kind::Dt => DataTypeMeta::new("datetime64[s]"),
            Kind::Str => DataTypeMeta::new("str"),
        }
    }

    /// Random values of `shape`; for packed kinds, values on the grid (as decoded).
    fn random(self, shape: &[usize], seed: u64) -> ArrayData {
        let mut r = Rng(seed);
        let n: usize = shape.iter().product();
        fn arr<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
            ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
        }
        match self {
            Kind::F32 => ArrayData::F32(arr(
                shape,
                (0..n)
                    .map(|_| match r.below(10) {
                        0 => f32::NAN,
                        1 => -0.0,
                        2 => f32::from_bits(r.next() as u32 & 0x7f7f_ffff),
                        _ => (r.below(20_000) as f32 - 10_000.0) / 8.0,
                    })
                    .collect(),
            )),
            Kind::F64 => ArrayData::F64(arr(
                shape,
                (0..n)
                    .map(|_| match r.below(10) {
                        0 => f64::NAN,
                        1 => f64::INFINITY,
                        2..=5 => -f64::from_bits(r.next() & 0x7fef_ffff_ffff_ffff),
                        _ => f64::from_bits(r.next() & 0x7fef_ffff_ffff_ffff),
                    })
                    .collect(),
            )),
            Kind::I16 => ArrayData::I16(arr(shape, (0..n).map(|_| r.next() as i16).collect())),
            Kind::U8 => ArrayData::U8(arr(shape, (0..n).map(|_| r.next() as u8).collect())),
            Kind::PackedF32 => ArrayData::F32(arr(
                shape,
                (0..n)
                    .map(|_| {
                        if r.below(8) == 0 {
                            f32::NAN
                        } else {
                            let k = 1 + r.below(65_535) as u16;
                            f32::from(k) / 100.0f32 + PACK_OFFSET as f32
                        }
                    })
                    .collect(),
            )),
            Kind::PackedF64 => ArrayData::F64(arr(
                shape,
                (0..n)
                    .map(|_| {
                        if r.below(8) == 0 {
                            f64::NAN
                        } else {
                            let k = 1 + r.below(65_535) as u16;
                            f64::from(k) / 100.0 + PACK_OFFSET
                        }
                    })
                    .collect(),
            )),
            Kind::Dt => ArrayData::DateTime(arr(
                shape,
                (0..n)
                    .map(|_| {
                        if r.below(6) == 0 {
                            Datetime64::NAT
                        } else {
                            Datetime64(r.below(8_000_000_000) as i64 - 4_000_000_000)
                        }
                    })
                    .collect(),
            )),
            Kind::Str => ArrayData::Str(arr(
                shape,
                (0..n)
                    .map(|_| {
                        const WORDS: [&str; 6] = ["", "a", "héllo", "日本", "x y z", "\u{1F600}"];
                        match r.below(5) {
                            0 => None,
                            _ => {
                                let w = WORDS[r.below(WORDS.len() as u64) as usize];
                                Some(format!("{w}{}", r.below(1000)))
                            }
                        }
                    })
                    .collect(),
            )),
        }
    }
}

/// One selection item before resolution against the (changing) dimension length.
#[derive(Clone, Debug)]
enum IdxSpec {
    At { pos: u8, neg: bool },
    Range { a: u8, b: u8, fa: u8, fb: u8 },
}

/// Resolves independently of cfdb-core: the `Index` to pass and the range it must select.
fn resolve_idx(spec: &IdxSpec, n: usize) -> (Index, Range<usize>) {
    let ni = n as i64;
    match *spec {
        IdxSpec::At { pos, neg } => {
            let i = usize::from(pos) % n;
            let idx = if neg { i as i64 - ni } else { i as i64 };
            (Index::At(idx), i..i + 1)
        }
        IdxSpec::Range { a, b, fa, fb } => {
            let s = usize::from(a) % n;
            let e = s + 1 + usize::from(b) % (n - s);
            let start = match fa {
                1 => Some(s as i64 - ni),
                2 if s == 0 => None,
                3 if s == 0 => Some(-(ni + 5)),
                _ => Some(s as i64),
            };
            let stop = match fb {
                1 if e < n => Some(e as i64 - ni),
                2 if e == n => None,
                3 if e == n => Some(ni + 7),
                _ => Some(e as i64),
            };
            (Index::Range(start, stop), s..e)
        }
    }
}

/// The `Sel` for `specs` (at most `shape.len()` items, the rest omitted) and its region.
fn resolve_sel(specs: &[IdxSpec], shape: &[usize]) -> (Sel, Vec<Range<usize>>) {
    let mut items = Vec::new();
    let mut region = Vec::new();
    for (d, &n) in shape.iter().enumerate() {
        match specs.get(d) {
            Some(s) => {
                let (i, r) = resolve_idx(s, n);
                items.push(i);
                region.push(r);
            }
            None => region.push(0..n),
        }
    }
    (Sel::new(items), region)
}

/// The label item for `spec` on a coordinate and the index range it must select.
fn resolve_loc_item(spec: &LocSpec, c: &CoordModel) -> (LocIndex, Range<usize>) {
    let n = c.units.len();
    let s = usize::from(spec.a) % n;
    let e = s + usize::from(spec.b) % (n - s); // inclusive
    // Values are 3 * unit (int64) or 0.25 * unit (float64), at least one unit apart: a label
    // 1 (int) or 0.1 (float) off a value lies strictly between it and its neighbour.
    let label = |i: usize, off: i64| -> Label {
        let u = c.units[i];
        if c.float {
            Label::Float(u as f64 * 0.25 + off as f64 * 0.1)
        } else {
            Label::Int(u * 3 + off)
        }
    };
    let off = i64::from(spec.between);
    match spec.form {
        0 => (LocIndex::At(label(s, 0)), s..s + 1),
        1 => (
            LocIndex::Range {
                start: Some(label(s, -off)),
                stop: Some(label(e, off)),
                inclusive: true,
            },
            s..e + 1,
        ),
        _ => {
            let stop = if e + 1 < n && !spec.between {
                label(e + 1, 0)
            } else {
                label(e, 1)
            };
            (
                LocIndex::Range {
                    start: Some(label(s, -off)),
                    stop: Some(stop),
                    inclusive: false,
                },
                s..e + 1,
            )
        }
    }
}

#[derive(Clone, Debug)]
struct DimSpec {
    len: usize,
    prepend: usize,
    chunk: usize,
    coord_chunk: usize,
    float: bool,
    infer_step: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Write {
        sel: Vec<IdxSpec>,
        seed: u64,
        typed: bool,
    },
    Read {
        sel: Vec<IdxSpec>,
        inner: Option<Vec<IdxSpec>>,
        how: u8,
    },
    Reopen,
    Extend {
        dim: u8,
        n: u8,
        gap: u8,
        at_end: bool,
    },
    /// A label (`.loc`) read, or a write through `write_loc`.
    Loc {
        specs: Vec<LocSpec>,
        seed: u64,
        write: bool,
    },
}

/// One label-selection item, resolved against the coordinate's current values.
#[derive(Clone, Debug)]
struct LocSpec {
    a: u8,
    b: u8,
    /// 0: a single label; 1: `start..=stop`; 2: `start..stop`.
    form: u8,
    /// Labels between values (not on them) where the form allows.
    between: bool,
}

#[derive(Clone, Debug)]
struct Case {
    kind: Kind,
    dims: Vec<DimSpec>,
    compression: Compression,
    n_buckets: u32,
    ops: Vec<Op>,
}

fn idx_strategy() -> impl Strategy<Value = IdxSpec> {
    prop_oneof![
        (any::<u8>(), any::<bool>()).prop_map(|(pos, neg)| IdxSpec::At { pos, neg }),
        (any::<u8>(), any::<u8>(), 0u8..4, 0u8..4).prop_map(|(a, b, fa, fb)| IdxSpec::Range {
            a,
            b,
            fa,
            fb
        }),
    ]
}

fn sel_strategy() -> impl Strategy<Value = Vec<IdxSpec>> {
    prop::collection::vec(idx_strategy(), 0..=3)
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (sel_strategy(), any::<u64>(), any::<bool>())
            .prop_map(|(sel, seed, typed)| Op::Write { sel, seed, typed }),
        4 => (sel_strategy(), prop::option::of(sel_strategy()), 0u8..3)
            .prop_map(|(sel, inner, how)| Op::Read { sel, inner, how }),
        1 => Just(Op::Reopen),
        2 => (0u8..3, 1u8..=3, 0u8..=2, any::<bool>())
            .prop_map(|(dim, n, gap, at_end)| Op::Extend { dim, n, gap, at_end }),
        2 => (
            prop::collection::vec(
                (any::<u8>(), any::<u8>(), 0u8..3, any::<bool>())
                    .prop_map(|(a, b, form, between)| LocSpec { a, b, form, between }),
                0..=3,
            ),
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(|(specs, seed, write)| Op::Loc { specs, seed, write }),
    ]
}

fn dim_strategy() -> impl Strategy<Value = DimSpec> {
    (
        1usize..=6,
        prop_oneof![2 => Just(0usize), 3 => 1usize..=3],
        1usize..=4,
        1usize..=4,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(len, prepend, chunk, coord_chunk, float, infer_step)| DimSpec {
                len,
                prepend,
                chunk,
                coord_chunk,
                float,
                infer_step,
            },
        )
}

fn case_strategy() -> impl Strategy<Value = Case> {
    let kind = prop_oneof![
        Just(Kind::F32),
        Just(Kind::F64),
        Just(Kind::I16),
        Just(Kind::U8),
        Just(Kind::PackedF32),
        Just(Kind::PackedF64),
        Just(Kind::Dt),
        Just(Kind::Str),
    ];
    let compression = prop_oneof![
        Just(Compression::ZstdShuffle),
        Just(Compression::Zstd),
        Just(Compression::Lz4),
        Just(Compression::Lz4Shuffle),
    ];
    (
        kind,
        prop::collection::vec(dim_strategy(), 1..=3),
        compression,
        prop_oneof![Just(7u32), Just(101u32)],
        prop::collection::vec(op_strategy(), 1..24),
    )
        .prop_map(|(kind, dims, compression, n_buckets, ops)| Case {
            kind,
            dims,
            compression,
            n_buckets,
            ops,
        })
}

// ---- ArrayData helpers -------------------------------------------------------------------

fn slice_fn(r: &[Range<usize>]) -> impl Fn(ndarray::AxisDescription) -> Slice + '_ {
    move |ax| Slice::from(r[ax.axis.index()].clone())
}

fn slice(a: &ArrayData, r: &[Range<usize>]) -> ArrayData {
    with_array_data!(a, x => Element::wrap(x.slice_each_axis(slice_fn(r)).to_owned()))
}

fn assign(dst: &mut ArrayData, r: &[Range<usize>], src: &ArrayData) {
    fn go<T: Element>(d: &mut ArrayD<T>, r: &[Range<usize>], src: &ArrayData) {
        let s = T::view(src).expect("same element kind");
        d.slice_each_axis_mut(slice_fn(r)).assign(s);
    }
    with_array_data!(dst, d => go(d, r, src))
}

/// Exact comparison: floats bit for bit, any NaN equal to any NaN.
fn same(got: &ArrayData, want: &ArrayData) -> Result<(), String> {
    if got.kind() != want.kind() || got.shape() != want.shape() {
        return Err(format!(
            "got {} {:?}, want {} {:?}",
            got.kind(),
            got.shape(),
            want.kind(),
            want.shape()
        ));
    }
    let ok = match (got, want) {
        (ArrayData::F32(a), ArrayData::F32(b)) => a
            .iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || x.is_nan() && y.is_nan()),
        (ArrayData::F64(a), ArrayData::F64(b)) => a
            .iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || x.is_nan() && y.is_nan()),
        _ => got == want,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("values differ:\n got  {got:?}\n want {want:?}"))
    }
}

fn read_typed<A: Access>(v: &DataVar<'_, A>, like: &ArrayData) -> cfdb_core::Result<ArrayData> {
    fn go<T: Element, A: Access>(
        _: &ArrayD<T>,
        v: &DataVar<'_, A>,
    ) -> cfdb_core::Result<ArrayData> {
        Ok(T::wrap(v.read::<T>()?))
    }
    with_array_data!(like, a => go(a, v))
}

/// `get_into` a buffer pre-filled with `garbage` (which must all be overwritten).
fn read_into<A: Access>(v: &DataVar<'_, A>, garbage: ArrayData) -> cfdb_core::Result<ArrayData> {
    fn go<T: Element, A: Access>(
        mut buf: ArrayD<T>,
        v: &DataVar<'_, A>,
    ) -> cfdb_core::Result<ArrayData> {
        v.get_into(&mut buf.view_mut())?;
        Ok(T::wrap(buf))
    }
    with_array_data!(garbage, a => go(a, v))
}

fn write_typed(ds: &mut Dataset<ReadWrite>, sel: Sel, data: &ArrayData) -> cfdb_core::Result<()> {
    with_array_data!(data, a => ds.write(VAR, sel, a.view()))
}

// ---- the oracle ----------------------------------------------------------------------------

struct CoordModel {
    name: String,
    /// Values in units: int64 coordinates store `3 * unit`, float64 `0.25 * unit`.
    units: Vec<i64>,
    float: bool,
    origin: i64,
    has_step: bool,
}

impl CoordModel {
    fn values(&self) -> ArrayData {
        let n = self.units.len();
        if self.float {
            ArrayData::F64(
                ArrayD::from_shape_vec(
                    IxDyn(&[n]),
                    self.units.iter().map(|&u| u as f64 * 0.25).collect(),
                )
                .unwrap(),
            )
        } else {
            ArrayData::I64(
                ArrayD::from_shape_vec(IxDyn(&[n]), self.units.iter().map(|&u| u * 3).collect())
                    .unwrap(),
            )
        }
    }

    fn values_of(&self, units: &[i64]) -> ArrayData {
        let n = units.len();
        if self.float {
            ArrayData::F64(
                ArrayD::from_shape_vec(
                    IxDyn(&[n]),
                    units.iter().map(|&u| u as f64 * 0.25).collect(),
                )
                .unwrap(),
            )
        } else {
            ArrayData::I64(
                ArrayD::from_shape_vec(IxDyn(&[n]), units.iter().map(|&u| u * 3).collect())
                    .unwrap(),
            )
        }
    }
}

struct Model {
    data: ArrayData,
    coords: Vec<CoordModel>,
}

impl Model {
    fn shape(&self) -> Vec<usize> {
        self.coords.iter().map(|c| c.units.len()).collect()
    }

    /// Grows dimension `d` by `added` blank cells at the end or the start.
    fn grow(&mut self, d: usize, added: usize, at_end: bool) {
        let old_shape = self.data.shape().to_vec();
        let mut shape = old_shape.clone();
        shape[d] += added;
        let mut next = ArrayData::blank(self.data.kind(), &shape);
        let region: Vec<Range<usize>> = old_shape
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                if i == d && !at_end {
                    added..added + n
                } else {
                    0..n
                }
            })
            .collect();
        assign(&mut next, &region, &self.data);
        self.data = next;
    }
}

fn check_all<A: Access>(ds: &Dataset<A>, m: &Model, what: &str) -> Result<(), String> {
    let v = ds.data_var(VAR).map_err(|e| e.to_string())?;
    if v.shape() != m.shape() {
        return Err(format!("{what}: shape {:?} != {:?}", v.shape(), m.shape()));
    }
    let got = v.read_dyn().map_err(|e| format!("{what}: read: {e}"))?;
    same(&got, &m.data).map_err(|e| format!("{what}: full read: {e}"))?;
    for c in &m.coords {
        let coord = ds.coord(&c.name).map_err(|e| e.to_string())?;
        let vals = coord.values().map_err(|e| e.to_string())?;
        same(&vals, &c.values()).map_err(|e| format!("{what}: coordinate {}: {e}", c.name))?;
        let origin = coord.origin().map_err(|e| e.to_string())?;
        if origin != c.origin {
            return Err(format!(
                "{what}: coordinate {} origin {origin} != {}",
                c.name, c.origin
            ));
        }
    }
    Ok(())
}

fn e2s(what: &str) -> impl Fn(cfdb_core::CoreError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn run_case(case: &Case, path: &Path) -> Result<(), String> {
    let opts = OpenOptions::new()
        .compression(case.compression)
        .n_buckets(case.n_buckets);
    let mut ds = opts.open_rw(path, OpenMode::New).map_err(e2s("create"))?;
    let mut coords = Vec::new();
    for (d, dim) in case.dims.iter().enumerate() {
        let name = format!("c{d}");
        let mut c = CoordModel {
            name: name.clone(),
            units: (0..dim.len as i64).collect(),
            float: dim.float,
            origin: 0,
            has_step: dim.infer_step && dim.len >= 2,
        };
        let dtype = DataTypeMeta::new(if dim.float { "float64" } else { "int64" });
        let mut spec = CoordSpec::new(dtype)
            .data(c.values())
            .chunk_len(dim.coord_chunk);
        if dim.infer_step {
            spec = spec.step(Step::Infer);
        }
        ds.create_coord(&name, spec).map_err(e2s("create_coord"))?;
        if dim.prepend > 0 {
            let units: Vec<i64> = (-(dim.prepend as i64)..0).collect();
            let added = ds
                .prepend(&name, c.values_of(&units))
                .map_err(e2s("setup prepend"))?;
            if added != dim.prepend {
                return Err(format!("setup prepend added {added}, not {}", dim.prepend));
            }
            c.units.splice(0..0, units);
            c.origin = -(dim.prepend as i64);
        }
        coords.push(c);
    }
    let names: Vec<String> = coords.iter().map(|c| c.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let cs: Vec<usize> = case.dims.iter().map(|d| d.chunk).collect();
    ds.create_data_var(
        VAR,
        &refs,
        DataVarSpec::new(case.kind.meta()).chunk_shape(&cs),
    )
    .map_err(e2s("create_data_var"))?;
    let shape: Vec<usize> = coords.iter().map(|c| c.units.len()).collect();
    let blank = ArrayData::blank(
        cfdb_codec::DataType::try_from(case.kind.meta())
            .unwrap()
            .element_kind(),
        &shape,
    );
    let mut m = Model {
        data: blank,
        coords,
    };
    check_all(&ds, &m, "after creation")?;

    for (step, op) in case.ops.iter().enumerate() {
        let what = format!("op {step} {op:?}");
        match op {
            Op::Write { sel, seed, typed } => {
                let (s, region) = resolve_sel(sel, &m.shape());
                let shape: Vec<usize> = region.iter().map(|r| r.len()).collect();
                let data = case.kind.random(&shape, *seed);
                if *typed {
                    write_typed(&mut ds, s, &data)
                } else {
                    ds.write_dyn(VAR, s, &data)
                }
                .map_err(e2s(&what))?;
                assign(&mut m.data, &region, &data);
            }
            Op::Read { sel, inner, how } => {
                let (s, region) = resolve_sel(sel, &m.shape());
                let v = ds.data_var(VAR).map_err(e2s(&what))?;
                let mut w = v.select(s).map_err(e2s(&what))?;
                let mut want = slice(&m.data, &region);
                if let Some(inner) = inner {
                    let (s2, r2) = resolve_sel(inner, want.shape());
                    w = w.select(s2).map_err(e2s(&what))?;
                    want = slice(&want, &r2);
                }
                if w.shape() != want.shape() {
                    return Err(format!("{what}: window shape {:?}", w.shape()));
                }
                let got = match how {
                    0 => w.read_dyn(),
                    1 => read_typed(&w, &want),
                    _ => read_into(&w, case.kind.random(want.shape(), 99)),
                }
                .map_err(e2s(&what))?;
                same(&got, &want).map_err(|e| format!("{what}: {e}"))?;
            }
            Op::Loc { specs, seed, write } => {
                let mut items = Vec::new();
                let mut region = Vec::new();
                for (d, c) in m.coords.iter().enumerate() {
                    match specs.get(d) {
                        Some(sp) => {
                            let (i, r) = resolve_loc_item(sp, c);
                            items.push(i);
                            region.push(r);
                        }
                        None => region.push(0..c.units.len()),
                    }
                }
                let l = LocSel::new(items);
                if *write {
                    let shape: Vec<usize> = region.iter().map(|r| r.len()).collect();
                    let data = case.kind.random(&shape, *seed);
                    with_array_data!(&data, a => ds.write_loc(VAR, &l, a.view()))
                        .map_err(e2s(&what))?;
                    assign(&mut m.data, &region, &data);
                } else {
                    let v = ds.data_var(VAR).map_err(e2s(&what))?;
                    let w = v.loc(&l).map_err(e2s(&what))?;
                    if w.window() != region.as_slice() {
                        return Err(format!("{what}: window {:?} != {region:?}", w.window()));
                    }
                    let got = w.read_dyn().map_err(e2s(&what))?;
                    same(&got, &slice(&m.data, &region)).map_err(|e| format!("{what}: {e}"))?;
                }
            }
            Op::Reopen => {
                ds.close().map_err(e2s("close"))?;
                {
                    let ro = open(path).map_err(e2s("read-only open"))?;
                    check_all(&ro, &m, &format!("{what}, read-only"))?;
                }
                ds = open_rw(path).map_err(e2s("open_rw"))?;
                check_all(&ds, &m, &what)?;
            }
            Op::Extend {
                dim,
                n,
                gap,
                at_end,
            } => {
                let d = usize::from(*dim) % m.coords.len();
                let (n, gap) = (i64::from(*n), i64::from(*gap));
                let c = &m.coords[d];
                let given: Vec<i64> = if *at_end {
                    let last = *c.units.last().unwrap();
                    (last + 1 + gap..last + 1 + gap + n).collect()
                } else {
                    let first = c.units[0];
                    (first - gap - n..first - gap).collect()
                };
                // With a step the gap is filled; without, the values go in as given.
                let units: Vec<i64> = if c.has_step {
                    if *at_end {
                        (c.units.last().unwrap() + 1..=*given.last().unwrap()).collect()
                    } else {
                        (given[0]..c.units[0]).collect()
                    }
                } else {
                    given.clone()
                };
                let arg = c.values_of(&given);
                let name = c.name.clone();
                let added = if *at_end {
                    ds.append(&name, arg)
                } else {
                    ds.prepend(&name, arg)
                }
                .map_err(e2s(&what))?;
                if added != units.len() {
                    return Err(format!("{what}: added {added}, expected {}", units.len()));
                }
                let c = &mut m.coords[d];
                if *at_end {
                    c.units.extend(&units);
                } else {
                    c.units.splice(0..0, units.iter().copied());
                    c.origin -= units.len() as i64;
                }
                m.grow(d, units.len(), *at_end);
                check_all(&ds, &m, &what)?;
            }
        }
    }
    check_all(&ds, &m, "at the end")?;
    ds.close().map_err(e2s("final close"))?;
    let ro = open(path).map_err(e2s("final open"))?;
    check_all(&ro, &m, "after the final reopen")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_writes_and_reads_match_the_oracle(case in case_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.cfdb");
        if let Err(e) = run_case(&case, &path) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// A fixed case covering what the random ones may miss: a 3-D variable over coordinates with
/// negative origins, writes straddling chunk borders, a reopen, and growth at both ends.
#[test]
fn fixed_case_negative_origins_and_growth() {
    let dims = vec![
        DimSpec {
            len: 5,
            prepend: 3,
            chunk: 2,
            coord_chunk: 3,
            float: false,
            infer_step: true,
        },
        DimSpec {
            len: 4,
            prepend: 1,
            chunk: 3,
            coord_chunk: 2,
            float: true,
            infer_step: false,
        },
        DimSpec {
            len: 3,
            prepend: 0,
            chunk: 2,
            coord_chunk: 1,
            float: false,
            infer_step: false,
        },
    ];
    let all = |a: u8, b: u8| IdxSpec::Range { a, b, fa: 1, fb: 1 };
    let ops = vec![
        Op::Write {
            sel: vec![all(1, 4), IdxSpec::At { pos: 2, neg: true }],
            seed: 1,
            typed: false,
        },
        Op::Reopen,
        Op::Extend {
            dim: 0,
            n: 2,
            gap: 2,
            at_end: false,
        },
        Op::Extend {
            dim: 1,
            n: 1,
            gap: 1,
            at_end: true,
        },
        Op::Write {
            sel: vec![],
            seed: 2,
            typed: true,
        },
        Op::Read {
            sel: vec![all(2, 3), all(0, 255)],
            inner: Some(vec![IdxSpec::At { pos: 1, neg: true }]),
            how: 2,
        },
        Op::Reopen,
    ];
    for kind in [Kind::F64, Kind::PackedF32, Kind::Str, Kind::Dt] {
        let dir = tempfile::tempdir().unwrap();
        let case = Case {
            kind,
            dims: dims.clone(),
            compression: Compression::ZstdShuffle,
            n_buckets: 13,
            ops: ops.clone(),
        };
        run_case(&case, &dir.path().join("f.cfdb")).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    }
}
