//! Files written by cfdb-core, read by Python cfdb 0.11.0 (the pinned interop venv).
//!
//! * `rust_mirrors_of_the_golden_files_pass_the_python_check`: each `make_sNN` of
//!   `tests/data/cfdb/generate.py` ported to cfdb-core's public API; the ten files are then
//!   checked by generate.py's own `check_file` (`tests/python/cfdb_check.py`): stored metadata
//!   JSON (key order, number typing), bucket count, sorted key list, attributes, present chunk
//!   keys and the values Python decodes; beyond that, every stored value shared with the
//!   committed golden file must be byte-identical (attributes) or byte-identical once
//!   decompressed (chunks: LZ4 encoders may pick other matches for the same payload).
//! * `python_written_file_modified_from_rust`: a copy of golden s05 is changed through
//!   `open_rw` (append, prepend, partial writes, new coordinate and data variables, attributes);
//!   Python's reading (`tests/python/cfdb_dump.py`) must equal both the expected values and
//!   cfdb-core's own reading, variable by variable, plus the exact metadata and key list.
//! * `every_dtype_kind_in_every_compression_reads_the_same_in_python`: one file per compression
//!   (zstd, lz4, zstd_shuffle, lz4_shuffle) holding every element kind (floats plain, rounded
//!   and packed; every integer width plain and packed; bool; datetimes plain, packed and
//!   encoded; str; Point/LineString/Polygon; str, float, int, datetime and geometry
//!   coordinates); Python's reading equals cfdb-core's and the written values.
//! * `the_python_dump_of_the_golden_files_agrees_with_the_manifest_and_rust`: the dump script
//!   itself is checked on the golden files (Python's reading = MANIFEST = cfdb-core's reading).
//! * `partial_chunk_write_of_a_packed_int_with_a_positive_offset`: the minimal case of a
//!   cfdb-core bug these tests found (a partial-chunk write of an int-packed variable whose
//!   offset is above 0 is refused).

use std::error::Error;
use std::ops::Range;
use std::path::Path;

use cfdb_codec::{
    DatetimePacking, DatetimeUnit, Element, FloatPacking, FloatWidth, GeometryKind, IntPacking,
    IntType, with_array_data,
};
use cfdb_core::{
    ArrayData, Axis, Compression, CoordSpec, CoordTemplate, Crs, DataTypeMeta, DataVarSpec,
    DataVarTemplate, Dataset, DatasetType, Datetime64, Index, OpenMode, OpenOptions, ReadWrite,
    Sel, Step, WktGeometry, open, open_rw,
};
use cfdb_tests::{data_file, manifest, run_python_json, values::flatten};
use ndarray::{ArrayD, IxDyn, Slice};
use serde_json::{Map, Value, json};

type R<T = ()> = Result<T, Box<dyn Error>>;

// ---------------------------------------------------------------------------------------------
// MANIFEST values -> ArrayData (the conventions of MANIFEST "value_conventions")

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn manifest_f64(v: &Value) -> f64 {
    match v {
        Value::Null => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => other.as_f64().unwrap(),
    }
}

fn arr<T: Element>(shape: &[usize], v: Vec<T>) -> ArrayData {
    T::wrap(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
}

fn ints<T: TryFrom<i128>>(flat: &[Value]) -> Vec<T>
where
    T::Error: std::fmt::Debug,
{
    flat.iter()
        .map(|v| {
            let x = v
                .as_i64()
                .map(i128::from)
                .or(v.as_u64().map(i128::from))
                .unwrap();
            T::try_from(x).unwrap()
        })
        .collect()
}

/// The manifest's decoded values of a variable, as the ArrayData cfdb-core reads and writes.
fn manifest_array(var: &Value) -> ArrayData {
    let shape = usizes(&var["shape"]);
    let t = var["decoded_type"].as_str().unwrap();
    let mut flat = Vec::new();
    if t.starts_with("datetime64") {
        flatten(&var["ticks"], &mut flat);
        let v = flat
            .iter()
            .map(|x| x.as_i64().map_or(Datetime64::NAT, Datetime64))
            .collect();
        return arr(&shape, v);
    }
    flatten(&var["values"], &mut flat);
    match t {
        "float32" => arr(
            &shape,
            flat.iter().map(|v| manifest_f64(v) as f32).collect(),
        ),
        "float64" => arr(&shape, flat.iter().map(manifest_f64).collect()),
        "int8" => arr(&shape, ints::<i8>(&flat)),
        "int16" => arr(&shape, ints::<i16>(&flat)),
        "int32" => arr(&shape, ints::<i32>(&flat)),
        "int64" => arr(&shape, ints::<i64>(&flat)),
        "uint8" => arr(&shape, ints::<u8>(&flat)),
        "uint16" => arr(&shape, ints::<u16>(&flat)),
        "uint32" => arr(&shape, ints::<u32>(&flat)),
        "uint64" => arr(&shape, ints::<u64>(&flat)),
        "bool" => arr(&shape, flat.iter().map(|v| v.as_bool().unwrap()).collect()),
        "str" => arr(
            &shape,
            flat.iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<Option<String>>>(),
        ),
        g if g.starts_with("geometry-") => arr(
            &shape,
            flat.iter()
                .map(|v| WktGeometry(v.as_str().map(str::to_owned)))
                .collect(),
        ),
        other => panic!("unknown decoded_type {other}"),
    }
}

/// `data[region]` (a copy).
fn slice(data: &ArrayData, region: &[Range<usize>]) -> ArrayData {
    with_array_data!(data, a => Element::wrap(
        a.slice_each_axis(|ax| Slice::from(region[ax.axis.index()].clone())).to_owned()
    ))
}

/// `data[r]` of a 1-D array.
fn slice1(data: &ArrayData, r: Range<usize>) -> ArrayData {
    slice(data, std::slice::from_ref(&r))
}

/// `data[idx]` of a 1-D array (numpy fancy indexing).
fn take(data: &ArrayData, idx: &[usize]) -> ArrayData {
    with_array_data!(data, a => Element::wrap(a.select(ndarray::Axis(0), idx)))
}

fn sel_of(region: &[Range<usize>]) -> Sel {
    Sel::new(
        region
            .iter()
            .map(|r| Index::Range(Some(r.start as i64), Some(r.end as i64)))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// generate.py's helpers, ported

/// `write_present_chunks`: one write per chunk listed in `chunk_keys_present`, clipped to the
/// variable's shape (and to `extent`), so exactly the recorded chunks exist.
fn write_present_chunks(
    ds: &mut Dataset<ReadWrite>,
    name: &str,
    e: &Value,
    extent: Option<&[(usize, usize)]>,
) -> R {
    let var = &e["variables"][name];
    let values = manifest_array(var);
    let shape = usizes(&var["shape"]);
    let chunk = usizes(&var["chunk_shape"]);
    let origins: Vec<i64> = match var.get("origins").filter(|o| !o.is_null()) {
        Some(o) => o
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect(),
        None => vec![var["origin"].as_i64().unwrap_or(0); shape.len()],
    };
    for key in var["chunk_keys_present"].as_array().unwrap() {
        let key = key.as_str().unwrap();
        let starts: Vec<i64> = key
            .split_once('!')
            .unwrap()
            .1
            .split('.')
            .map(|s| s.parse().unwrap())
            .collect();
        let mut region = Vec::new();
        for (d, (((s, o), c), n)) in starts
            .iter()
            .zip(&origins)
            .zip(&chunk)
            .zip(&shape)
            .enumerate()
        {
            let mut lo = (s - o).max(0) as usize;
            let mut hi = (s - o + *c as i64).min(*n as i64) as usize;
            if let Some(ext) = extent {
                lo = lo.max(ext[d].0);
                hi = hi.min(ext[d].1);
            }
            region.push(lo..hi);
        }
        ds.write_dyn(name, sel_of(&region), &slice(&values, &region))?;
    }
    Ok(())
}

fn coord_values(e: &Value, name: &str) -> ArrayData {
    manifest_array(&e["variables"][name])
}

/// `attrs.update(...)` (a dict update: existing keys keep their place).
fn update(map: &mut Map<String, Value>, with: &Value) {
    for (k, v) in with.as_object().unwrap() {
        map.insert(k.clone(), v.clone());
    }
}

fn var_attrs<'a>(e: &'a Value, name: &str) -> &'a Value {
    &e["variables"][name]["attrs"]
}

fn open_new(path: &Path, e: &Value) -> R<Dataset<ReadWrite>> {
    let mut o = OpenOptions::new()
        .dataset_type(e["dataset_type"].as_str().unwrap().parse()?)
        .compression(e["compression"].as_str().unwrap().parse()?);
    let level = e["compression_level"].as_i64().unwrap();
    if level != 1 {
        o = o.compression_level(level);
    }
    let n_buckets = e["n_buckets_requested_at_creation"].as_u64().unwrap() as u32;
    if n_buckets != 144_013 {
        o = o.n_buckets(n_buckets);
    }
    Ok(o.open_rw(path, OpenMode::New)?)
}

fn dt(name: &str) -> DataTypeMeta {
    DataTypeMeta::new(name)
}

fn template_spec(t: CoordTemplate) -> CoordSpec {
    Dataset::<ReadWrite>::coord_template_spec(t)
}

/// `cfdb.dtypes.dtype("datetime64[m]", dtype_encoded="int32", offset=-36816481)`.
fn minutes_int32() -> DataTypeMeta {
    cfdb_codec::DataType::DateTime {
        unit: DatetimeUnit::Minutes,
        packing: Some(DatetimePacking {
            encoded: IntType::I32,
            offset: -36_816_481,
        }),
    }
    .to_meta()
}

// ---------------------------------------------------------------------------------------------
// The ten makers (generate.py `make_sNN`)

fn make_s01(path: &Path, e: &Value) -> R {
    let mut ds = open_new(path, e)?;
    ds.create_coord_template_with(
        CoordTemplate::Lat,
        template_spec(CoordTemplate::Lat)
            .data(coord_values(e, "latitude"))
            .chunk_len(2),
    )?;
    ds.create_coord_template_with(
        CoordTemplate::Lon,
        template_spec(CoordTemplate::Lon)
            .data(coord_values(e, "longitude"))
            .chunk_len(3),
    )?;
    ds.set_crs(Crs::Epsg(4326), "longitude", "latitude")?;
    ds.create_coord(
        "time",
        CoordSpec::new(dt("datetime64[D]"))
            .data(coord_values(e, "time"))
            .step(Step::Infer)
            .axis(Axis::T),
    )?;
    let coords = ["latitude", "longitude", "time"];
    ds.create_data_var(
        "temp",
        &coords,
        DataVarSpec::new(dt("float32")).chunk_shape(&[2, 3, 3]),
    )?;
    update(ds.var_attrs_mut("temp")?, var_attrs(e, "temp"));
    let precip = cfdb_codec::DataType::float_auto_packed(FloatWidth::F64, 2, 0.0, 500.0)?;
    ds.create_data_var(
        "precip",
        &coords,
        DataVarSpec::new(precip.to_meta()).chunk_shape(&[5, 7, 1]),
    )?;
    update(ds.var_attrs_mut("precip")?, var_attrs(e, "precip"));
    write_present_chunks(&mut ds, "temp", e, None)?;
    write_present_chunks(&mut ds, "precip", e, None)?;
    update(ds.attrs_mut()?, &e["dataset_attrs"]);
    ds.close()?;
    Ok(())
}

fn make_s02(path: &Path, e: &Value) -> R {
    let mut ds = open_new(path, e)?;
    ds.create_coord(
        "x",
        CoordSpec::new(dt("int32"))
            .data(coord_values(e, "x"))
            .chunk_len(4)
            .step(Step::Infer),
    )?;
    ds.create_coord(
        "y",
        CoordSpec::new(dt("uint16"))
            .data(coord_values(e, "y"))
            .chunk_len(2),
    )?;
    for name in ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "flag"] {
        let d = e["variables"][name]["dtype_metadata"]["name"]
            .as_str()
            .unwrap();
        ds.create_data_var(
            name,
            &["x", "y"],
            DataVarSpec::new(dt(d)).chunk_shape(&[4, 2]),
        )?;
        update(ds.var_attrs_mut(name)?, var_attrs(e, name));
        write_present_chunks(&mut ds, name, e, None)?;
    }
    update(ds.attrs_mut()?, &e["dataset_attrs"]);
    ds.close()?;
    Ok(())
}

fn make_s03(path: &Path, e: &Value) -> R {
    let mut ds = open_new(path, e)?;
    ds.create_coord(
        "time",
        CoordSpec::new(dt("datetime64[h]"))
            .data(coord_values(e, "time"))
            .chunk_len(4)
            .step(Step::Infer)
            .axis(Axis::T),
    )?;
    ds.create_coord(
        "band",
        CoordSpec::new(dt("int8"))
            .data(coord_values(e, "band"))
            .chunk_len(2),
    )?;
    ds.create_data_var(
        "d_day",
        &["time", "band"],
        DataVarSpec::new(dt("datetime64[D]")).chunk_shape(&[4, 2]),
    )?;
    // min_value=np.datetime64(262968, "h"), max_value=np.datetime64("2100-01-01T00", "h")
    let max = cfdb_core::time::parse_ticks("2100-01-01T00", DatetimeUnit::Hours).unwrap();
    let h_packed = cfdb_codec::DataType::datetime_auto_packed(DatetimeUnit::Hours, 262_968, max)?;
    ds.create_data_var(
        "h_packed",
        &["time", "band"],
        DataVarSpec::new(h_packed.to_meta()).chunk_shape(&[4, 2]),
    )?;
    ds.create_data_var(
        "ns",
        &["time"],
        DataVarSpec::new(dt("datetime64[ns]")).chunk_shape(&[3]),
    )?;
    ds.create_data_var(
        "m_enc",
        &["time"],
        DataVarSpec::new(minutes_int32()).chunk_shape(&[10]),
    )?;
    update(ds.var_attrs_mut("m_enc")?, var_attrs(e, "m_enc"));
    for name in ["d_day", "h_packed", "ns", "m_enc"] {
        write_present_chunks(&mut ds, name, e, None)?;
    }
    update(ds.attrs_mut()?, &e["dataset_attrs"]);
    ds.close()?;
    Ok(())
}

fn geometry(kind: GeometryKind, precision: i64) -> DataTypeMeta {
    cfdb_codec::DataType::Geometry { kind, precision }.to_meta()
}

fn make_s04(path: &Path, e: &Value) -> R {
    let mut ds = open_new(path, e)?;
    ds.create_coord_template_with(
        CoordTemplate::Point,
        template_spec(CoordTemplate::Point)
            .data(coord_values(e, "point"))
            .chunk_len(3),
    )?;
    ds.set_crs_xy(Crs::Epsg(4326), "point")?;
    ds.create_coord(
        "time",
        CoordSpec::new(minutes_int32())
            .data(coord_values(e, "time"))
            .chunk_len(4)
            .step(Step::Infer)
            .axis(Axis::T),
    )?;
    ds.create_data_var(
        "station_name",
        &["point"],
        DataVarSpec::new(dt("str")).chunk_shape(&[2]),
    )?;
    ds.create_data_var(
        "route",
        &["point"],
        DataVarSpec::new(geometry(GeometryKind::LineString, 3)).chunk_shape(&[2]),
    )?;
    ds.create_data_var(
        "catchment",
        &["point"],
        DataVarSpec::new(geometry(GeometryKind::Polygon, 4)).chunk_shape(&[5]),
    )?;
    let flow = cfdb_codec::DataType::float_auto_packed(FloatWidth::F32, 2, -1.0, 600.0)?;
    ds.create_data_var(
        "flow",
        &["point", "time"],
        DataVarSpec::new(flow.to_meta()).chunk_shape(&[2, 4]),
    )?;
    update(ds.var_attrs_mut("flow")?, var_attrs(e, "flow"));
    ds.create_data_var(
        "ok",
        &["point", "time"],
        DataVarSpec::new(dt("bool")).chunk_shape(&[5, 6]),
    )?;
    for name in ["station_name", "route", "catchment", "flow", "ok"] {
        write_present_chunks(&mut ds, name, e, None)?;
    }
    update(ds.attrs_mut()?, &e["dataset_attrs"]);
    ds.close()?;
    Ok(())
}

fn make_s05(path: &Path, e: &Value) -> R {
    let mut ds = open_new(path, e)?;
    let t = coord_values(e, "time"); // 2020-01-02 .. 2020-01-12, origin -3
    let nt = t.len();
    ds.create_coord(
        "time",
        CoordSpec::new(dt("datetime64[D]"))
            .data(slice1(&t, 3..8))
            .chunk_len(3)
            .step(Step::Infer),
    )?;
    update(ds.var_attrs_mut("time")?, var_attrs(e, "time"));
    let d = coord_values(e, "depth");
    let nd = d.len();
    ds.create_coord(
        "depth",
        CoordSpec::new(dt("float64"))
            .data(slice1(&d, 0..3))
            .chunk_len(2),
    )?;
    ds.create_data_var(
        "conc",
        &["time", "depth"],
        DataVarSpec::new(dt("float32")).chunk_shape(&[2, 2]),
    )?;
    update(ds.var_attrs_mut("conc")?, var_attrs(e, "conc"));
    ds.create_data_var(
        "qc",
        &["time", "depth"],
        DataVarSpec::new(dt("uint8")).chunk_shape(&[4, 3]),
    )?;
    ds.prepend("time", slice1(&t, 0..1))?; // gap-filled back to 2020-01-02: origin -3
    ds.append("time", slice1(&t, nt - 1..nt))?; // gap-filled forward to 2020-01-12
    ds.append("depth", slice1(&d, 3..nd))?;
    write_present_chunks(&mut ds, "conc", e, None)?;
    write_present_chunks(&mut ds, "qc", e, None)?;
    ds.close()?;
    Ok(())
}

fn make_s06(path: &Path, e: &Value) -> R {
    let mut ds = open_new(path, e)?;
    let x = coord_values(e, "x");
    ds.create_coord(
        "x",
        CoordSpec::new(dt("int16"))
            .data(take(&x, &[2, 0, 3, 1])) // unsorted input
            .chunk_len(3),
    )?;
    ds.create_coord(
        "y",
        CoordSpec::new(dt("float32"))
            .data(coord_values(e, "y"))
            .chunk_len(2)
            .step(Step::Infer),
    )?;
    ds.create_data_var(
        "label",
        &["x", "y"],
        DataVarSpec::new(dt("str")).chunk_shape(&[3, 2]),
    )?;
    update(ds.var_attrs_mut("label")?, var_attrs(e, "label"));
    ds.create_data_var(
        "code",
        &["x"],
        DataVarSpec::new(dt("str")).chunk_shape(&[4]),
    )?;
    write_present_chunks(&mut ds, "label", e, None)?;
    write_present_chunks(&mut ds, "code", e, None)?;
    update(ds.attrs_mut()?, &e["dataset_attrs"]);
    ds.close()?;
    Ok(())
}

fn make_s07(path: &Path, e: &Value) -> R {
    use cfdb_codec::DataType as D;
    let mut ds = open_new(path, e)?;
    ds.create_coord(
        "idx",
        CoordSpec::new(dt("uint32"))
            .data(coord_values(e, "idx"))
            .chunk_len(5)
            .step(Step::Infer),
    )?;
    let dtypes: Vec<(&str, D)> = vec![
        ("i16_packed", D::int_auto_packed(IntType::I16, -5, 300)?),
        (
            "i64_packed",
            D::int_auto_packed(IntType::I64, -1000, 5_000_000_000)?,
        ),
        ("u32_packed", D::int_auto_packed(IntType::U32, 5, 1000)?),
        (
            "i32_explicit",
            D::Int {
                ty: IntType::I32,
                packing: Some(IntPacking {
                    encoded: IntType::I16,
                    offset: 100,
                    fillvalue: Some(-32768),
                }),
            },
        ),
        (
            "f64_int16",
            D::Float {
                width: FloatWidth::F64,
                precision: Some(1),
                packing: Some(FloatPacking {
                    encoded: IntType::I16,
                    offset: 0.into(),
                    fillvalue: -32768,
                }),
            },
        ),
        (
            "f32_prec",
            D::Float {
                width: FloatWidth::F32,
                precision: Some(3),
                packing: None,
            },
        ),
        (
            "f32_packed",
            D::float_auto_packed(FloatWidth::F32, 2, -10.0, 60.0)?,
        ),
        (
            "f64_packed3",
            D::float_auto_packed_int(FloatWidth::F64, 3, -1000, 100_000)?,
        ),
        (
            "i32_legacy",
            D::Int {
                ty: IntType::I32,
                packing: Some(IntPacking {
                    encoded: IntType::I16,
                    offset: 5,
                    fillvalue: None,
                }),
            },
        ),
    ];
    // Cells never written (they read as 0 but hold the fill code).
    let extents: &[(&str, &[(usize, usize)])] =
        &[("i16_packed", &[(0, 6)]), ("i32_explicit", &[(0, 4)])];
    for (name, d) in dtypes {
        ds.create_data_var(
            name,
            &["idx"],
            DataVarSpec::new(d.to_meta()).chunk_shape(&[5]),
        )?;
        let ext = extents.iter().find(|(n, _)| *n == name).map(|(_, x)| *x);
        write_present_chunks(&mut ds, name, e, ext)?;
    }
    update(ds.attrs_mut()?, &e["dataset_attrs"]);
    ds.close()?;
    Ok(())
}

fn make_s08(path: &Path, e: &Value) -> R {
    let mut ds = open_new(path, e)?;
    ds.create_coord(
        "x",
        CoordSpec::new(dt("float64"))
            .data(coord_values(e, "x"))
            .chunk_len(4),
    )?;
    ds.create_coord(
        "aux",
        CoordSpec::new(dt("int32"))
            .data(arr(&[3], vec![1i32, 2, 3]))
            .chunk_len(2),
    )?;
    ds.create_data_var(
        "a",
        &["x"],
        DataVarSpec::new(dt("float64")).chunk_shape(&[4]),
    )?;
    ds.var_attrs_mut("a")?
        .insert("long_name".into(), "variable a".into());
    ds.create_data_var("b", &["x"], DataVarSpec::new(dt("int32")).chunk_shape(&[4]))?;
    ds.var_attrs_mut("b")?
        .insert("long_name".into(), "variable b".into());
    ds.create_data_var(
        "c",
        &["x", "aux"],
        DataVarSpec::new(dt("float32")).chunk_shape(&[4, 2]),
    )?;
    ds.var_attrs_mut("c")?
        .insert("long_name".into(), "variable c".into());
    ds.write_dyn("a", Sel::all(), &coord_values(e, "a"))?;
    ds.write_dyn("b", Sel::all(), &arr(&[6], (0..6).collect::<Vec<i32>>()))?;
    ds.write_dyn("c", Sel::all(), &arr(&[6, 3], vec![1f32; 18]))?;
    ds.close()?;

    let mut ds = open_rw(path)?;
    ds.delete("b")?;
    ds.delete("c")?;
    ds.delete("aux")?;
    ds.create_data_var("b", &["x"], DataVarSpec::new(dt("int16")).chunk_shape(&[2]))?;
    write_present_chunks(&mut ds, "b", e, None)?;
    ds.var_attrs_mut("a")?.clear();
    update(ds.attrs_mut()?, &e["dataset_attrs"]);
    ds.close()?;
    Ok(())
}

fn make_s09(path: &Path, e: &Value) -> R {
    let mut ds = open_new(path, e)?;
    ds.create_coord_template_with(
        CoordTemplate::Point,
        template_spec(CoordTemplate::Point)
            .data(coord_values(e, "point"))
            .chunk_len(2),
    )?;
    ds.create_coord_template_with(
        CoordTemplate::ForecastReferenceTime,
        template_spec(CoordTemplate::ForecastReferenceTime).chunk_len(2),
    )?;
    ds.append(
        "forecast_reference_time",
        coord_values(e, "forecast_reference_time"),
    )?;
    ds.create_coord_template_with(
        CoordTemplate::ForecastPeriod,
        template_spec(CoordTemplate::ForecastPeriod)
            .data(coord_values(e, "forecast_period"))
            .chunk_len(3),
    )?;
    update(
        ds.var_attrs_mut("forecast_period")?,
        var_attrs(e, "forecast_period"),
    );
    ds.create_data_var_template(
        DataVarTemplate::AirTemp,
        &["point", "forecast_reference_time", "forecast_period"],
        Some(&[1, 2, 3]),
    )?;
    write_present_chunks(&mut ds, "air_temperature", e, None)?;
    ds.close()?;
    Ok(())
}

fn make_s10(path: &Path, e: &Value) -> R {
    let mut ds = open_new(path, e)?;
    ds.create_coord(
        "x",
        CoordSpec::new(dt("float32"))
            .data(coord_values(e, "x"))
            .step(Step::Infer),
    )?;
    ds.create_coord(
        "t",
        CoordSpec::new(dt("datetime64[M]"))
            .data(coord_values(e, "t"))
            .step(Step::Infer),
    )?;
    ds.create_data_var("v", &["x", "t"], DataVarSpec::new(dt("float64")))?;
    ds.create_data_var("w", &["t"], DataVarSpec::new(dt("int16")))?;
    write_present_chunks(&mut ds, "v", e, None)?;
    write_present_chunks(&mut ds, "w", e, None)?;
    ds.close()?;
    Ok(())
}

type Maker = fn(&Path, &Value) -> R;

const MAKERS: [(&str, Maker); 10] = [
    ("s01_grid_3d_zstd.cfdb", make_s01),
    ("s02_grid_ints_lz4.cfdb", make_s02),
    ("s03_datetimes_zstd_shuffle.cfdb", make_s03),
    ("s04_ts_ortho_geometry_lz4_shuffle.cfdb", make_s04),
    ("s05_prepend_append_zstd.cfdb", make_s05),
    ("s06_strings_zstd.cfdb", make_s06),
    ("s07_packing_zstd_shuffle.cfdb", make_s07),
    ("s08_deleted_vars_lz4.cfdb", make_s08),
    ("s09_ts_forecast_lz4_shuffle.cfdb", make_s09),
    ("s10_default_chunks_zstd_level3.cfdb", make_s10),
];

#[test]
fn rust_mirrors_of_the_golden_files_pass_the_python_check() {
    let m = manifest("cfdb");
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    // As generate.py does: a file whose maker failed reports that failure only.
    let mut made = vec![dir.path().to_str().unwrap().to_owned()];
    for (file, make) in MAKERS {
        let entry = m["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["file"] == file)
            .unwrap_or_else(|| panic!("{file} is not in MANIFEST.json"));
        match make(&dir.path().join(file), entry) {
            Ok(()) => made.push(file.to_owned()),
            Err(err) => failures.push(format!("{file}: generation failed: {err}")),
        }
    }
    let args: Vec<&str> = made.iter().map(String::as_str).collect();
    let out = run_python_json("cfdb_check.py", &args);
    let out = out.as_object().unwrap();
    assert_eq!(out.len(), made.len() - 1, "{out:?}");
    for file in &made[1..] {
        for err in out[file.as_str()].as_array().unwrap() {
            failures.push(format!("{file}: {}", err.as_str().unwrap()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Comparing cfdb-core's reading with the Python dump (`cfdb_dump.py`)

/// Compares decoded values with one variable of the Python dump: floats bit for bit (NaN
/// matching NaN), datetimes by ticks, geometries as parsed geometries (Python prints WKT at
/// full precision, not the stored text).
fn compare_with_python(data: &ArrayData, py: &Value) -> Result<(), String> {
    let shape = usizes(&py["data_shape"]);
    if data.shape() != shape.as_slice() {
        return Err(format!("shape {:?} != Python's {shape:?}", data.shape()));
    }
    let field = ["bits", "ticks", "values"]
        .into_iter()
        .find(|f| py.get(*f).is_some())
        .ok_or("no values in the dump")?;
    let want = py[field].as_array().unwrap();
    if want.len() != data.len() {
        return Err(format!("{} values, Python has {}", data.len(), want.len()));
    }
    let bad = |i: usize, got: String| Err(format!("cell {i}: Rust {got}, Python {}", want[i]));
    macro_rules! ints {
        ($a:expr) => {{
            if field != "values" {
                return Err(format!("Python gave {field} for an integer variable"));
            }
            for (i, (g, w)) in $a.iter().zip(want).enumerate() {
                let w = w.as_i64().map(i128::from).or(w.as_u64().map(i128::from));
                if w != Some(i128::from(*g)) {
                    return bad(i, g.to_string());
                }
            }
        }};
    }
    macro_rules! floats {
        ($a:expr) => {{
            if field != "bits" {
                return Err(format!("Python gave {field} for a float variable"));
            }
            for (i, (g, w)) in $a.iter().zip(want).enumerate() {
                let ok = match w.as_u64() {
                    None => g.is_nan(),
                    Some(b) => !g.is_nan() && u64::from(g.to_bits()) == b,
                };
                if !ok {
                    return bad(i, format!("{g:?} (bits {:#x})", g.to_bits()));
                }
            }
        }};
    }
    match data {
        ArrayData::F32(a) => floats!(a),
        ArrayData::F64(a) => floats!(a),
        ArrayData::I8(a) => ints!(a),
        ArrayData::I16(a) => ints!(a),
        ArrayData::I32(a) => ints!(a),
        ArrayData::I64(a) => ints!(a),
        ArrayData::U8(a) => ints!(a),
        ArrayData::U16(a) => ints!(a),
        ArrayData::U32(a) => ints!(a),
        ArrayData::U64(a) => ints!(a),
        ArrayData::Bool(a) => {
            for (i, (g, w)) in a.iter().zip(want).enumerate() {
                if w.as_bool() != Some(*g) {
                    return bad(i, g.to_string());
                }
            }
        }
        ArrayData::DateTime(a) => {
            if field != "ticks" {
                return Err(format!("Python gave {field} for a datetime variable"));
            }
            for (i, (g, w)) in a.iter().zip(want).enumerate() {
                if w.as_i64() != g.ticks() {
                    return bad(i, format!("{:?}", g.ticks()));
                }
            }
        }
        ArrayData::Str(a) => {
            for (i, (g, w)) in a.iter().zip(want).enumerate() {
                if w.as_str() != g.as_deref() {
                    return bad(i, format!("{g:?}"));
                }
            }
        }
        ArrayData::Geometry(a) => {
            for (i, (g, w)) in a.iter().zip(want).enumerate() {
                let ok = match (g.as_str(), w.as_str()) {
                    (None, None) => true,
                    (Some(_), Some(ws)) => {
                        let pg = g.to_geo().map_err(|e| format!("cell {i}: {e}"))?;
                        let pw = WktGeometry(Some(ws.to_owned()))
                            .to_geo()
                            .map_err(|e| format!("cell {i}: Python's WKT: {e}"))?;
                        pg == pw
                    }
                    _ => false,
                };
                if !ok {
                    return bad(i, format!("{g:?}"));
                }
            }
        }
    }
    Ok(())
}

/// Whether two arrays hold the same values (floats bit for bit, NaN = NaN).
fn same_data(a: &ArrayData, b: &ArrayData) -> bool {
    match (a, b) {
        (ArrayData::F32(x), ArrayData::F32(y)) => {
            x.shape() == y.shape()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| (p.is_nan() && q.is_nan()) || p.to_bits() == q.to_bits())
        }
        (ArrayData::F64(x), ArrayData::F64(y)) => {
            x.shape() == y.shape()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| (p.is_nan() && q.is_nan()) || p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
}

/// JSON equality that also requires the same key order (serde_json's `Map` equality ignores
/// order) and the same number typing (`1` vs `1.0`): the texts are compared.
fn same_json(a: &Value, b: &Value) -> bool {
    serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
}

fn stored_metadata(path: &Path) -> Value {
    let r = cfdb_kv::Reader::open(path).unwrap();
    serde_json::from_slice(r.metadata().unwrap().unwrap()).unwrap()
}

/// Checks everything Python reports about each variable against cfdb-core's reading of the
/// same file; returns the differences.
fn compare_file_with_python(path: &Path, py: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let ds = open(path).unwrap();
    let names: Vec<&str> = ds.var_names();
    let py_names: Vec<&str> = py["var_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    if names != py_names {
        errs.push(format!("variables: Rust {names:?}, Python {py_names:?}"));
    }
    if ds.coord_names() != py["coord_names"].as_array().unwrap().as_slice() {
        errs.push("coordinate names differ".into());
    }
    if ds.dataset_type().as_str() != py["dataset_type"] {
        errs.push(format!("dataset type {}", py["dataset_type"]));
    }
    if ds.crs() != py["crs"].as_str() {
        errs.push(format!("crs: Rust {:?}, Python {}", ds.crs(), py["crs"]));
    }
    let attrs = Value::Object(ds.attrs().unwrap());
    if !same_json(&attrs, &py["attrs"]) {
        errs.push(format!(
            "dataset attrs: Rust {attrs}, Python {}",
            py["attrs"]
        ));
    }
    // The metadata Python reads is the metadata stored, key order and number typing included.
    let stored = stored_metadata(path);
    if !same_json(&stored, &py["metadata"]) {
        errs.push(format!(
            "metadata: Rust {stored}, Python {}",
            py["metadata"]
        ));
    }
    for name in names {
        let p = &py["variables"][name];
        if p.is_null() {
            errs.push(format!("{name}: Python does not see it"));
            continue;
        }
        let v = ds.var(name).unwrap();
        if v.shape() != usizes(&p["shape"]) {
            errs.push(format!("{name}: shape {:?} vs {}", v.shape(), p["shape"]));
        }
        if v.chunk_shape().unwrap() != usizes(&p["chunk_shape"]) {
            errs.push(format!("{name}: chunk shape vs {}", p["chunk_shape"]));
        }
        if v.coord_names() != p["coords"].as_array().unwrap().as_slice() {
            errs.push(format!("{name}: coords vs {}", p["coords"]));
        }
        let a = Value::Object(v.attrs().unwrap());
        if !same_json(&a, &p["attrs"]) {
            errs.push(format!("{name}: attrs Rust {a}, Python {}", p["attrs"]));
        }
        let dtype = v.dtype().unwrap();
        if dtype.name() != p["dtype"].as_str().unwrap() {
            errs.push(format!("{name}: dtype {} vs {}", dtype.name(), p["dtype"]));
        }
        if let cfdb_codec::DataType::DateTime { unit, .. } = dtype
            && p["unit"] != unit.code()
        {
            errs.push(format!(
                "{name}: datetime unit {} vs {}",
                unit.code(),
                p["unit"]
            ));
        }
        match v.read_dyn() {
            Ok(data) => {
                if let Err(e) = compare_with_python(&data, p) {
                    errs.push(format!("{name}: {e}"));
                }
            }
            Err(e) => errs.push(format!("{name}: Rust read failed: {e}")),
        }
    }
    errs
}

fn dump(paths: &[&Path]) -> Value {
    let args: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
    run_python_json("cfdb_dump.py", &args)
}

/// The dump script itself is right: on the ten golden files, Python's reading is what the
/// MANIFEST says (every variable), and equals cfdb-core's reading (values, attrs, metadata).
#[test]
fn the_python_dump_of_the_golden_files_agrees_with_the_manifest_and_rust() {
    let m = manifest("cfdb");
    let files: Vec<std::path::PathBuf> = MAKERS.iter().map(|(f, _)| data_file("cfdb", f)).collect();
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let py = dump(&paths);
    let mut errs = Vec::new();
    for (path, (file, _)) in files.iter().zip(MAKERS) {
        let p = &py[path.to_str().unwrap()];
        let entry = m["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["file"] == file)
            .unwrap();
        if !same_json(&p["metadata"], &entry["metadata"]) {
            errs.push(format!("{file}: metadata"));
        }
        for (name, var) in entry["variables"].as_object().unwrap() {
            if let Err(e) = compare_with_python(&manifest_array(var), &p["variables"][name]) {
                errs.push(format!("{file}: {name}: manifest vs Python: {e}"));
            }
        }
        for e in compare_file_with_python(path, p) {
            errs.push(format!("{file}: Rust vs Python: {e}"));
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// A Python-written file modified from Rust

fn f32s(shape: &[usize], v: &[f32]) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap()
}

/// Sets `dst[at.0 + i][at.1 + j] = src[i][j]` (2-D).
fn paste<T: Clone>(dst: &mut ArrayD<T>, at: (usize, usize), src: &ArrayD<T>) {
    for ((i, j), x) in src
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .indexed_iter()
    {
        dst[[at.0 + i, at.1 + j]] = x.clone();
    }
}

#[test]
fn python_written_file_modified_from_rust() {
    let m = manifest("cfdb");
    let entry = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == "s05_prepend_append_zstd.cfdb")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s05_modified.cfdb");
    std::fs::copy(data_file("cfdb", "s05_prepend_append_zstd.cfdb"), &path).unwrap();

    // The changes. s05: time datetime64[D] 2020-01-02..12 (origin -3, chunk 3, step 1),
    // depth [0.5, 1.5, 2.5, 5.0] (chunk 2, no step), conc f32 (2, 2), qc u8 (4, 3).
    let w1 = f32s(&[3, 2], &[100.25, 101.5, 102.75, 103.0, 104.5, -105.0]);
    let w2 = f32s(&[2, 2], &[1.0, 2.0, 3.0, f32::NAN]);
    let w3 = ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![11u8, 12, 13, 14, 255, 0]).unwrap();
    let mut t2 = ArrayD::from_shape_fn(IxDyn(&[4, 7]), |ix| (ix[0] * 10 + ix[1]) as f64 + 0.5);
    t2[[0, 0]] = f64::NAN;
    t2[[1, 1]] = f64::INFINITY;
    t2[[2, 2]] = f64::NEG_INFINITY;
    t2[[3, 3]] = -0.0;
    t2[[3, 6]] = 1e-310; // subnormal
    let flag = ArrayD::from_shape_fn(IxDyn(&[13, 3]), |ix| (ix[0] + ix[1]) % 3 == 0);
    let note: ArrayD<Option<String>> =
        ArrayD::from_shape_vec(IxDyn(&[2]), vec![Some("β-band ✓ \"q\"".to_owned()), None]).unwrap();
    {
        let mut ds = open_rw(&path).unwrap();
        // append one day after 2020-01-12: the gap (2020-01-13) is filled
        assert_eq!(
            ds.append("time", arr(&[1], vec![Datetime64(18275)]))
                .unwrap(),
            2
        );
        // prepend two depths (no step: taken as given)
        assert_eq!(
            ds.prepend("depth", arr(&[2], vec![-1.0f64, 0.0])).unwrap(),
            2
        );
        // partial writes: rows 5..8 x cols 3..5 cover parts of four existing conc chunks
        ds.write("conc", cfdb_core::sel![5..8, 3..5], w1.view())
            .unwrap();
        // new time rows x new depth columns: a new chunk, partly written
        ds.write("conc", cfdb_core::sel![11..13, 0..2], w2.view())
            .unwrap();
        ds.write("qc", cfdb_core::sel![10..13, 2..4], w3.view())
            .unwrap();
        // a new coordinate (unsorted input, inferred step) and data variables on coordinates
        ds.create_coord(
            "band",
            CoordSpec::new(dt("int16"))
                .data(arr(&[3], vec![3i16, 1, 2]))
                .chunk_len(2)
                .step(Step::Infer),
        )
        .unwrap();
        ds.create_data_var(
            "temp2",
            &["depth", "time"],
            DataVarSpec::new(dt("float64")).chunk_shape(&[4, 5]),
        )
        .unwrap();
        ds.var_attrs_mut("temp2")
            .unwrap()
            .insert("units".into(), "K".into());
        ds.write("temp2", cfdb_core::sel![1..5, 2..9], t2.view())
            .unwrap();
        ds.create_data_var(
            "flag",
            &["time", "band"],
            DataVarSpec::new(dt("bool")).chunk_shape(&[5, 2]),
        )
        .unwrap();
        ds.write("flag", Sel::all(), flag.view()).unwrap();
        ds.create_data_var(
            "note",
            &["band"],
            DataVarSpec::new(dt("str")).chunk_shape(&[2]),
        )
        .unwrap();
        ds.write("note", cfdb_core::sel![1..3], note.view())
            .unwrap();
        // attributes
        let a = ds.attrs_mut().unwrap();
        a.insert("title".into(), "modified from Rust".into());
        a.insert("count".into(), 2.into());
        a.insert("ratio".into(), 0.25.into());
        a.insert("whole".into(), 3.0.into());
        a.insert("tags".into(), json!(["x", "y"]));
        a.insert("nested".into(), json!({"a": {"b": [1, 2.5, null, true]}}));
        let c = ds.var_attrs_mut("conc").unwrap();
        c.insert("units".into(), "ug/L".into());
        c.insert("comment".into(), "partly rewritten from Rust".into());
        let t = ds.var_attrs_mut("time").unwrap();
        t.remove("standard_name");
        t.insert("long_name".into(), "time".into());
        ds.close().unwrap();
    }

    // What the file must hold now.
    let old_conc = manifest_array(&entry["variables"]["conc"]);
    let old_qc = manifest_array(&entry["variables"]["qc"]);
    let mut conc = ArrayD::from_elem(IxDyn(&[13, 6]), f32::NAN);
    paste(&mut conc, (0, 2), old_conc.typed::<f32>().unwrap());
    paste(&mut conc, (5, 3), &w1);
    paste(&mut conc, (11, 0), &w2);
    let mut qc = ArrayD::from_elem(IxDyn(&[13, 6]), 0u8);
    paste(&mut qc, (0, 2), old_qc.typed::<u8>().unwrap());
    paste(&mut qc, (10, 2), &w3);
    let mut temp2 = ArrayD::from_elem(IxDyn(&[6, 13]), f64::NAN);
    paste(&mut temp2, (1, 2), &t2);
    let mut note_all = ArrayD::from_elem(IxDyn(&[3]), None);
    note_all[1] = note[0].clone();
    let expected: Vec<(&str, ArrayData)> = vec![
        (
            "time",
            arr(&[13], (18263..=18275).map(Datetime64).collect()),
        ),
        ("depth", arr(&[6], vec![-1.0f64, 0.0, 0.5, 1.5, 2.5, 5.0])),
        ("conc", ArrayData::F32(conc)),
        ("qc", ArrayData::U8(qc)),
        ("band", arr(&[3], vec![1i16, 2, 3])),
        ("temp2", ArrayData::F64(temp2)),
        ("flag", ArrayData::Bool(flag)),
        ("note", ArrayData::Str(note_all)),
    ];

    // cfdb-core's reading.
    let mut errs = Vec::new();
    {
        let ds = open(&path).unwrap();
        let names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
        assert_eq!(ds.var_names(), names);
        for (name, want) in &expected {
            let got = ds.var(name).unwrap().read_dyn().unwrap();
            if !same_data(&got, want) {
                errs.push(format!("Rust reads {name} as {got:?}, expected {want:?}"));
            }
        }
    }

    // Python's reading: every variable as Rust reads it and as expected.
    let py = dump(&[&path]);
    let py = &py[path.to_str().unwrap()];
    errs.extend(compare_file_with_python(&path, py));
    for (name, want) in &expected {
        if let Err(e) = compare_with_python(want, &py["variables"][*name]) {
            errs.push(format!("Python reads {name} unlike expected: {e}"));
        }
    }

    // Python's view of the metadata, attributes and keys, exactly.
    let full = |name: &str| {
        json!({"name": name, "precision": null, "dtype_encoded": null, "offset": null,
               "fillvalue": null})
    };
    let want_meta = json!({
        "dataset_type": "grid", "compression": "zstd", "compression_level": 1,
        "variables": {
            "time": {"type": "coord", "shape": [13], "chunk_shape": [3],
                     "dtype": full("datetime64[D]"), "origin": -3, "step": 1,
                     "auto_increment": false, "axis": null, "units": null},
            "depth": {"type": "coord", "shape": [6], "chunk_shape": [2],
                      "dtype": full("float64"), "origin": -2, "step": null,
                      "auto_increment": false, "axis": null, "units": null},
            "conc": {"type": "data_var", "chunk_shape": [2, 2], "coords": ["time", "depth"],
                     "dtype": full("float32"), "units": null},
            "qc": {"type": "data_var", "chunk_shape": [4, 3], "coords": ["time", "depth"],
                   "dtype": full("uint8"), "units": null},
            "band": {"type": "coord", "shape": [3], "chunk_shape": [2],
                     "dtype": {"name": "int16"}, "origin": 0, "step": 1,
                     "auto_increment": false, "axis": null, "units": null},
            "temp2": {"type": "data_var", "chunk_shape": [4, 5], "coords": ["depth", "time"],
                      "dtype": {"name": "float64"}, "units": null},
            "flag": {"type": "data_var", "chunk_shape": [5, 2], "coords": ["time", "band"],
                     "dtype": {"name": "bool"}, "units": null},
            "note": {"type": "data_var", "chunk_shape": [2], "coords": ["band"],
                     "dtype": {"name": "str"}, "units": null}
        },
        "crs": null, "remote": false, "format_version": 1
    });
    if !same_json(&py["metadata"], &want_meta) {
        errs.push(format!(
            "metadata:\n  Python reads {}\n  expected     {want_meta}",
            py["metadata"]
        ));
    }
    let want_attrs = json!({"title": "modified from Rust", "count": 2, "ratio": 0.25,
        "whole": 3.0, "tags": ["x", "y"], "nested": {"a": {"b": [1, 2.5, null, true]}}});
    if !same_json(&py["attrs"], &want_attrs) {
        errs.push(format!("dataset attrs: Python reads {}", py["attrs"]));
    }
    let var_attrs = [
        ("time", json!({"long_name": "time"})),
        (
            "conc",
            json!({"units": "ug/L", "comment": "partly rewritten from Rust"}),
        ),
        ("temp2", json!({"units": "K"})),
        ("depth", json!({})),
        ("band", json!({})),
    ];
    for (name, want) in var_attrs {
        if !same_json(&py["variables"][name]["attrs"], &want) {
            errs.push(format!(
                "{name} attrs: Python reads {}",
                py["variables"][name]["attrs"]
            ));
        }
    }
    // Chunk keys: old ones kept; new ones exactly where the writes landed (positions are
    // absolute: time origin -3, depth origin -2, chunk starts are multiples of the chunk).
    let mut want_keys: Vec<String> = entry["all_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    for k in [
        "__.attrs",
        "_temp2.attrs",
        "time!9",
        "depth!-2",
        "conc!8.-2",
        "qc!8.0",
        "band!0",
        "band!2",
        "temp2!-4.-5",
        "temp2!-4.0",
        "temp2!-4.5",
        "temp2!0.-5",
        "temp2!0.0",
        "temp2!0.5",
        "flag!-5.0",
        "flag!-5.2",
        "flag!0.0",
        "flag!0.2",
        "flag!5.0",
        "flag!5.2",
        "note!0",
        "note!2",
    ] {
        want_keys.push(k.to_owned());
    }
    want_keys.sort();
    let keys: Vec<String> = py["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    if keys != want_keys {
        errs.push(format!(
            "keys: extra {:?}, missing {:?}",
            keys.iter()
                .filter(|k| !want_keys.contains(k))
                .collect::<Vec<_>>(),
            want_keys
                .iter()
                .filter(|k| !keys.contains(k))
                .collect::<Vec<_>>()
        ));
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Every dtype kind in every compression

struct Planned {
    name: &'static str,
    coords: &'static [&'static str],
    dtype: DataTypeMeta,
    chunk: &'static [usize],
    /// Written regions and their values.
    writes: Vec<(Vec<Range<usize>>, ArrayData)>,
    /// The full array expected back (blanks where nothing was written).
    expected: ArrayData,
    /// Largest allowed |read - expected| for lossy (rounded or packed) floats.
    tol: Option<f64>,
}

/// A (5, 7) variable on (point, time): rows 0..4 fully written, row 4 only in columns 0..4, so
/// chunk (4, 3) is partly written and chunk (4, 6) never.
fn plan_pt<T: Element>(
    name: &'static str,
    dtype: DataTypeMeta,
    f: impl Fn(usize, usize) -> T,
    tol: Option<f64>,
) -> Planned {
    let full = ArrayD::from_shape_fn(IxDyn(&[5, 7]), |ix| f(ix[0], ix[1]));
    let mut expected = full.clone();
    for j in 4..7 {
        expected[[4, j]] = T::blank();
    }
    let full = T::wrap(full);
    let regions = [vec![0..4, 0..7], vec![4..5, 0..4]];
    Planned {
        name,
        coords: &["point", "time"],
        dtype,
        chunk: &[2, 3],
        writes: regions
            .into_iter()
            .map(|r| {
                let d = slice(&full, &r);
                (r, d)
            })
            .collect(),
        expected: T::wrap(expected),
        tol,
    }
}

/// A variable written whole in one go.
fn plan_whole<T: Element>(
    name: &'static str,
    coords: &'static [&'static str],
    dtype: DataTypeMeta,
    chunk: &'static [usize],
    data: ArrayD<T>,
) -> Planned {
    let region: Vec<Range<usize>> = data.shape().iter().map(|&n| 0..n).collect();
    let data = T::wrap(data);
    Planned {
        name,
        coords,
        dtype,
        chunk,
        writes: vec![(region, data.clone())],
        expected: data,
        tol: None,
    }
}

fn pick<T: Copy>(v: &[T], i: usize, j: usize) -> T {
    v[(i * 7 + j * 3) % v.len()]
}

fn all_kinds_plan() -> Vec<Planned> {
    use cfdb_codec::DataType as D;
    let f32s = [
        0.0f32,
        -0.0,
        1.5,
        -273.15,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-45,
        std::f32::consts::PI,
    ];
    let f64s = [
        0.0f64,
        -0.0,
        1.5,
        -273.15,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        std::f64::consts::E,
        0.1 + 0.2,
    ];
    let d = |n: &str| DataTypeMeta::new(n);
    let ticks = |i: usize, j: usize| (i as i64 * 1000 - 2000) * (j as i64 + 1);
    vec![
        plan_pt("f32", d("float32"), |i, j| pick(&f32s, i, j), None),
        plan_pt("f64", d("float64"), |i, j| pick(&f64s, i, j), None),
        plan_pt(
            "f32_prec",
            D::Float {
                width: FloatWidth::F32,
                precision: Some(2),
                packing: None,
            }
            .to_meta(),
            |i, j| {
                if (i, j) == (1, 1) {
                    f32::NAN
                } else {
                    i as f32 * 1.234_567 - j as f32
                }
            },
            Some(0.0051),
        ),
        plan_pt(
            "f64_packed",
            D::float_auto_packed(FloatWidth::F64, 3, -100.0, 100.0)
                .unwrap()
                .to_meta(),
            |i, j| {
                if (i, j) == (2, 2) {
                    f64::NAN
                } else {
                    i as f64 * 12.3456 - j as f64 * 7.0
                }
            },
            Some(0.00051),
        ),
        plan_pt(
            "f32_packed_int",
            D::float_auto_packed_int(FloatWidth::F32, 1, -50, 50)
                .unwrap()
                .to_meta(),
            |i, j| (i as f32 - j as f32) * 3.33,
            Some(0.051),
        ),
        plan_pt(
            "i8",
            d("int8"),
            |i, j| pick(&[i8::MIN, -1, 0, 1, i8::MAX], i, j),
            None,
        ),
        plan_pt(
            "i16",
            d("int16"),
            |i, j| pick(&[i16::MIN, -300, 0, 7, i16::MAX], i, j),
            None,
        ),
        plan_pt(
            "i32",
            d("int32"),
            |i, j| pick(&[i32::MIN, -70000, 0, 9, i32::MAX], i, j),
            None,
        ),
        plan_pt(
            "i64",
            d("int64"),
            |i, j| pick(&[i64::MIN, -5_000_000_000, 0, 11, i64::MAX], i, j),
            None,
        ),
        plan_pt(
            "u8",
            d("uint8"),
            |i, j| pick(&[0u8, 1, 128, u8::MAX], i, j),
            None,
        ),
        plan_pt(
            "u16",
            d("uint16"),
            |i, j| pick(&[0u16, 1, 40000, u16::MAX], i, j),
            None,
        ),
        plan_pt(
            "u32",
            d("uint32"),
            |i, j| pick(&[0u32, 1, 3_000_000_000, u32::MAX], i, j),
            None,
        ),
        plan_pt(
            "u64",
            d("uint64"),
            |i, j| pick(&[0u64, 1, 1 << 63, u64::MAX], i, j),
            None,
        ),
        plan_pt(
            "i32_packed",
            D::int_auto_packed(IntType::I32, -100, 100_000)
                .unwrap()
                .to_meta(),
            |i, j| pick(&[-100i32, 0, 1, 99_999, 100_000, 42], i, j),
            None,
        ),
        plan_pt(
            "u16_explicit",
            D::Int {
                ty: IntType::U16,
                packing: Some(IntPacking {
                    encoded: IntType::I8,
                    offset: 100,
                    fillvalue: Some(-128),
                }),
            }
            .to_meta(),
            |i, j| (100 + i * 10 + j) as u16,
            None,
        ),
        plan_pt("flag", d("bool"), |i, j| (i * 3 + j) % 4 == 1, None),
        plan_pt(
            "dt_day",
            d("datetime64[D]"),
            |i, j| {
                if (i, j) == (0, 1) {
                    Datetime64::NAT
                } else {
                    Datetime64(ticks(i, j))
                }
            },
            None,
        ),
        plan_pt(
            "dt_s_packed",
            D::datetime_auto_packed(DatetimeUnit::Seconds, 1_700_000_000, 1_800_000_000)
                .unwrap()
                .to_meta(),
            |i, j| {
                if (i, j) == (3, 3) {
                    Datetime64::NAT
                } else {
                    Datetime64(1_700_000_000 + (i * 86_400 + j * 61) as i64)
                }
            },
            None,
        ),
        plan_pt(
            "dt_m_enc",
            minutes_int32(),
            |i, j| Datetime64(27_875_520 + (i * 60 + j) as i64),
            None,
        ),
        plan_pt(
            "dt_ns",
            d("datetime64[ns]"),
            |i, j| {
                pick(
                    &[
                        Datetime64(i64::MAX),
                        Datetime64(1),
                        Datetime64::NAT,
                        Datetime64(-2_208_988_800_000_000_000),
                        Datetime64(1_656_619_200_123_456_789),
                    ],
                    i,
                    j,
                )
            },
            None,
        ),
        plan_pt(
            "text",
            d("str"),
            |i, j| match (i + j) % 5 {
                0 => None,
                1 => Some(String::new()),
                2 => Some(format!("r{i}c{j}")),
                3 => Some("Ünïcødé ❄ \"q\" \\".to_owned()),
                _ => Some("x".repeat(40 + i)),
            },
            None,
        ),
        plan_whole(
            "pt",
            &["point"],
            geometry(GeometryKind::Point, 5),
            &[2],
            ArrayD::from_shape_vec(
                IxDyn(&[5]),
                vec![
                    WktGeometry(Some("POINT (1.5 -2.25)".into())),
                    WktGeometry(None),
                    WktGeometry(Some("POINT (172.63623 -43.53205)".into())),
                    WktGeometry(Some("POINT (0 0)".into())),
                    WktGeometry(Some("POINT (-179.99999 89.99999)".into())),
                ],
            )
            .unwrap(),
        ),
        plan_whole(
            "line",
            &["point"],
            geometry(GeometryKind::LineString, 3),
            &[2],
            ArrayD::from_shape_vec(
                IxDyn(&[5]),
                vec![
                    WktGeometry(Some("LINESTRING (0 0, 1.235 2.5)".into())),
                    WktGeometry(Some("LINESTRING (3 3, 4 4, 5 5.556)".into())),
                    WktGeometry(None),
                    WktGeometry(None),
                    WktGeometry(Some("LINESTRING (-1 -1, 1 1)".into())),
                ],
            )
            .unwrap(),
        ),
        plan_whole(
            "poly",
            &["point"],
            geometry(GeometryKind::Polygon, 4),
            &[2],
            ArrayD::from_shape_vec(
                IxDyn(&[5]),
                vec![
                    WktGeometry(None),
                    WktGeometry(Some(
                        "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 2 4, 4 4, 4 2, 2 2))".into(),
                    )),
                    WktGeometry(Some(
                        "POLYGON ((172.1 -43.1, 172.2 -43.1, 172.15 -43.05, 172.1 -43.1))".into(),
                    )),
                    WktGeometry(None),
                    WktGeometry(Some("POLYGON ((0 0, 1 0, 1 1, 0 0))".into())),
                ],
            )
            .unwrap(),
        ),
        plan_whole(
            "cube",
            &["point", "time", "level"],
            d("float32"),
            &[2, 2, 2],
            ArrayD::from_shape_fn(IxDyn(&[5, 7, 3]), |ix| {
                (ix[0] * 100 + ix[1] * 10 + ix[2]) as f32 / 8.0
            }),
        ),
        plan_whole(
            "by_site",
            &["member", "site"],
            d("uint16"),
            &[2, 2],
            ArrayD::from_shape_fn(IxDyn(&[3, 3]), |ix| (ix[0] * 3 + ix[1]) as u16 * 1000),
        ),
    ]
}

/// Writes the all-kinds file for one compression; returns the plan (expected values) and the
/// names of the variables whose writes failed (with the errors in `errs`).
fn write_all_kinds(
    path: &Path,
    compression: Compression,
    errs: &mut Vec<String>,
) -> (Vec<Planned>, Vec<&'static str>) {
    let mut ds = OpenOptions::new()
        .dataset_type(DatasetType::TsOrtho)
        .compression(compression)
        .n_buckets(1009)
        .open_rw(path, OpenMode::New)
        .unwrap();
    ds.create_coord_template_with(
        CoordTemplate::Point,
        template_spec(CoordTemplate::Point)
            .data(arr(
                &[5],
                vec![
                    WktGeometry(Some("POINT (172.63623 -43.53205)".into())),
                    WktGeometry(Some("POINT (174.7762 -41.2865)".into())),
                    WktGeometry(Some("POINT (0 0)".into())),
                    WktGeometry(Some("POINT (-1.5 2.25)".into())),
                    WktGeometry(Some("POINT (179.99999 -89.99999)".into())),
                ],
            ))
            .chunk_len(2),
    )
    .unwrap();
    ds.set_crs_xy(Crs::Epsg(4326), "point").unwrap();
    ds.create_coord(
        "time",
        CoordSpec::new(dt("datetime64[h]"))
            .data(arr(&[7], (473_062..473_069).map(Datetime64).collect()))
            .chunk_len(4)
            .step(Step::Infer)
            .axis(Axis::T),
    )
    .unwrap();
    ds.create_coord(
        "level",
        CoordSpec::new(dt("float32"))
            .data(arr(&[3], vec![10.25f32, 0.5, 1.5]))
            .chunk_len(2),
    )
    .unwrap();
    ds.create_coord(
        "member",
        CoordSpec::new(dt("int64"))
            .data(arr(&[3], vec![10i64, 20, 30]))
            .chunk_len(2)
            .step(Step::Infer),
    )
    .unwrap();
    ds.create_coord(
        "site",
        CoordSpec::new(dt("str"))
            .data(arr(
                &[3],
                vec![
                    Some("b".to_owned()),
                    Some("a".to_owned()),
                    Some("ä ❄".to_owned()),
                ],
            ))
            .chunk_len(2),
    )
    .unwrap();
    let plan = all_kinds_plan();
    let mut failed = Vec::new();
    for p in &plan {
        ds.create_data_var(
            p.name,
            p.coords,
            DataVarSpec::new(p.dtype.clone()).chunk_shape(p.chunk),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", p.name));
        ds.var_attrs_mut(p.name).unwrap().insert(
            "long_name".into(),
            format!("{} test variable", p.name).into(),
        );
        for (region, data) in &p.writes {
            if let Err(e) = ds.write_dyn(p.name, sel_of(region), data) {
                errs.push(format!(
                    "{}: write of {} failed: {e}",
                    compression.as_str(),
                    p.name
                ));
                failed.push(p.name);
            }
        }
    }
    ds.attrs_mut()
        .unwrap()
        .insert("compression_tested".into(), compression.as_str().into());
    ds.close().unwrap();
    (plan, failed)
}

/// Whether `got` equals `want` (floats within `tol` when given, NaN = NaN).
fn close_enough(got: &ArrayData, want: &ArrayData, tol: Option<f64>) -> bool {
    let Some(tol) = tol else {
        return same_data(got, want);
    };
    let pairs: Vec<(f64, f64)> = match (got, want) {
        (ArrayData::F32(g), ArrayData::F32(w)) => g
            .iter()
            .zip(w)
            .map(|(a, b)| (f64::from(*a), f64::from(*b)))
            .collect(),
        (ArrayData::F64(g), ArrayData::F64(w)) => {
            g.iter().copied().zip(w.iter().copied()).collect()
        }
        _ => return false,
    };
    got.shape() == want.shape()
        && pairs
            .iter()
            .all(|(a, b)| (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol)
}

#[test]
fn every_dtype_kind_in_every_compression_reads_the_same_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let compressions: Vec<Compression> = ["zstd", "lz4", "zstd_shuffle", "lz4_shuffle"]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    let mut errs = Vec::new();
    let mut files = Vec::new();
    for c in &compressions {
        let path = dir.path().join(format!("kinds_{}.cfdb", c.as_str()));
        let (plan, failed) = write_all_kinds(&path, *c, &mut errs);
        // cfdb-core reads back what was written (lossy floats within their rounding).
        let ds = open(&path).unwrap();
        assert_eq!(ds.compression(), *c);
        for p in plan.iter().filter(|p| !failed.contains(&p.name)) {
            let got = ds.data_var(p.name).unwrap().read_dyn().unwrap();
            if !close_enough(&got, &p.expected, p.tol) {
                errs.push(format!(
                    "{}: Rust reads {} as {got:?}, wrote {:?}",
                    c.as_str(),
                    p.name,
                    p.expected
                ));
            }
        }
        files.push((path, plan, failed));
    }
    let paths: Vec<&Path> = files.iter().map(|(p, _, _)| p.as_path()).collect();
    let py = dump(&paths);
    for (path, plan, failed) in &files {
        let key = path.to_str().unwrap();
        let p = &py[key];
        let tag = path.file_name().unwrap().to_string_lossy();
        // Python reads exactly what cfdb-core reads: every variable, attrs, metadata.
        for e in compare_file_with_python(path, p) {
            errs.push(format!("{tag}: {e}"));
        }
        if p["compression"] != path_compression(path) {
            errs.push(format!(
                "{tag}: Python sees compression {}",
                p["compression"]
            ));
        }
        // Lossless kinds: Python reads exactly the values written.
        for v in plan
            .iter()
            .filter(|v| v.tol.is_none() && !failed.contains(&v.name))
        {
            if let Err(e) = compare_with_python(&v.expected, &p["variables"][v.name]) {
                errs.push(format!(
                    "{tag}: Python reads {} unlike written: {e}",
                    v.name
                ));
            }
        }
        // The coordinates, as given (numeric ones sorted, strings in their order).
        let coords = [
            (
                "time",
                arr(&[7], (473_062..473_069).map(Datetime64).collect()),
            ),
            ("level", arr(&[3], vec![0.5f32, 1.5, 10.25])),
            ("member", arr(&[3], vec![10i64, 20, 30])),
            (
                "site",
                arr(
                    &[3],
                    vec![
                        Some("b".to_owned()),
                        Some("a".to_owned()),
                        Some("ä ❄".to_owned()),
                    ],
                ),
            ),
        ];
        for (name, want) in &coords {
            if let Err(e) = compare_with_python(want, &p["variables"][*name]) {
                errs.push(format!(
                    "{tag}: Python reads coordinate {name} unlike written: {e}"
                ));
            }
        }
        let want_attrs =
            json!({"featureType": "timeSeries", "compression_tested": path_compression(path)});
        if !same_json(&p["attrs"], &want_attrs) {
            errs.push(format!("{tag}: dataset attrs {}", p["attrs"]));
        }
    }
    assert!(
        errs.is_empty(),
        "{} problem(s):\n{}",
        errs.len(),
        errs.join("\n")
    );
}

fn path_compression(path: &Path) -> String {
    let stem = path.file_stem().unwrap().to_string_lossy();
    stem.strip_prefix("kinds_").unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Minimal reproduction of a cfdb-core bug found by the tests above

/// A write covering part of a chunk of an int-packed variable whose offset is above the blank
/// (0): Python cfdb writes it (golden s07 `u32_packed` is exactly this), and reads it back.
/// cfdb-core refused it ("uint32 value 0 packs to code 4294967292, outside uint16"): the
/// partial-chunk path encodes a whole chunk of blanks around the written cells.
#[test]
fn partial_chunk_write_of_a_packed_int_with_a_positive_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("packed.cfdb");
    let mut ds = cfdb_core::create(&path).unwrap();
    ds.create_coord(
        "x",
        CoordSpec::new(dt("uint32")).data(arr(&[3], vec![0u32, 1, 2])),
    )
    .unwrap();
    // cfdb.dtypes.dtype("uint32", min_value=5, max_value=1000): uint16 codes, offset 4, fill 0
    let d = cfdb_codec::DataType::int_auto_packed(IntType::U32, 5, 1000).unwrap();
    ds.create_data_var("v", &["x"], DataVarSpec::new(d.to_meta()).chunk_shape(&[5]))
        .unwrap();
    let data = ArrayD::from_shape_vec(IxDyn(&[3]), vec![5u32, 999, 1000]).unwrap();
    let written = ds.write("v", Sel::all(), data.view());
    ds.close().unwrap();
    written.expect("a partial-chunk write of a packed uint32 (offset 4)");
    let want = ArrayData::U32(data);
    let got = open(&path)
        .unwrap()
        .data_var("v")
        .unwrap()
        .read_dyn()
        .unwrap();
    assert_eq!(got, want);
    let py = dump(&[&path]);
    compare_with_python(&want, &py[path.to_str().unwrap()]["variables"]["v"]).unwrap();
}
