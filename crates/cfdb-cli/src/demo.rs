//! `cfdb demo`: builds a realistic dataset, appends a week, reads a region by labels, iterates
//! the storage chunks, iterates a rechunked view (daily maps), runs a weekly groupby, and prints
//! a summary with timings.

use std::path::Path;
use std::time::{Duration, Instant};

use cfdb::codec::DatetimeUnit;
use cfdb::templates::time_dtype_params;
use cfdb::{
    ArrayData, CoordTemplate, Crs, DataVarTemplate, Dataset, Datetime64, OpenOptions, ReadWrite,
    loc, sel,
};
use ndarray::{Array1, ArrayD, IxDyn};
use rayon::prelude::*;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult};
use crate::progress;

/// Full-size grid: 160 latitudes x 180 longitudes at 0.1°, 30 days hourly, then a week more.
const N_LAT: usize = 160;
const N_LON: usize = 180;
const DAYS: usize = 30;
const APPEND_DAYS: usize = 7;
/// First latitude and longitude, in tenths of a degree (south-west corner).
const LAT0_TENTHS: i64 = -480;
const LON0_TENTHS: i64 = 1650;
/// Storage chunk shape (time, latitude, longitude).
const CHUNK: [usize; 3] = [24, 40, 45];

/// A deterministic uniform number in [-1, 1) from a cell's indices (splitmix64).
/// The memory budget of the demo's rechunked steps (256 MiB).
const RECHUNK_MEM: usize = 256 << 20;

fn noise(t: usize, i: usize, j: usize) -> f32 {
    let mut z = (t as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((i as u64) << 20)
        .wrapping_add(j as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// Air temperature (K) and hourly precipitation (mm) for global hour `t`.
fn cell(t: usize, i: usize, j: usize, lat: f64, lon: f64) -> (f32, f32) {
    use std::f64::consts::TAU;
    let h = t as f64;
    let local_hour = h + lon / 15.0;
    let temp = 291.0 + 0.6 * (lat + 40.0) + 5.0 * (TAU * (local_hour - 9.0) / 24.0).sin()
        - 2.0 * (TAU * h / (24.0 * 6.0)).cos()
        + 0.6 * f64::from(noise(t, i, j));
    // A rain band drifting east, heavier in the west of the region.
    let band = (lon * 0.7 + lat * 0.4 - h * 0.15).sin() * 2.5 - 1.2;
    let rain = if band > 0.0 {
        band * (1.0 + 0.3 * f64::from(noise(t + 7_919, i, j))) * (1.0 + (175.0 - lon) / 20.0)
    } else {
        0.0
    };
    (temp as f32, rain.max(0.0) as f32)
}

/// One day (24 hours from global hour `t0`) of both variables, shape (24, lat, lon).
fn day_slab(t0: usize, lat: &[f64], lon: &[f64]) -> (ArrayD<f32>, ArrayD<f32>) {
    let per_hour = lat.len() * lon.len();
    let mut temp = vec![0f32; 24 * per_hour];
    let mut rain = vec![0f32; 24 * per_hour];
    temp.par_chunks_mut(per_hour)
        .zip(rain.par_chunks_mut(per_hour))
        .enumerate()
        .for_each(|(h, (ts, rs))| {
            for (i, &la) in lat.iter().enumerate() {
                for (j, &lo) in lon.iter().enumerate() {
                    let (a, b) = cell(t0 + h, i, j, la, lo);
                    ts[i * lon.len() + j] = a;
                    rs[i * lon.len() + j] = b;
                }
            }
        });
    let shape = IxDyn(&[24, lat.len(), lon.len()]);
    (
        ArrayD::from_shape_vec(shape.clone(), temp)
            .unwrap_or_else(|_| ArrayD::zeros(shape.clone())),
        ArrayD::from_shape_vec(shape.clone(), rain).unwrap_or_else(|_| ArrayD::zeros(shape)),
    )
}

/// Label bounds around the middle third of a coordinate, on half degrees when there is room.
fn middle_third(v: &[f64]) -> (f64, f64) {
    let (a, b) = (v[v.len() / 3], v[2 * v.len() / 3]);
    let (ra, rb) = ((a * 2.0).ceil() / 2.0, (b * 2.0).floor() / 2.0);
    if ra < rb { (ra, rb) } else { (a, b) }
}

fn secs(d: Duration) -> String {
    format!("{:6.2} s", d.as_secs_f64())
}

/// Writes days `days` (global day indices) of both variables, with a progress bar.
fn write_days(
    ds: &mut Dataset<ReadWrite>,
    path: &Path,
    days: std::ops::Range<usize>,
    lat: &[f64],
    lon: &[f64],
    label: &str,
) -> CliResult<()> {
    let pb = progress::bar(days.len() as u64, label, "days");
    for d in days {
        let (temp, rain) = day_slab(d * 24, lat, lon);
        let t = d * 24..(d + 1) * 24;
        ds.write("air_temperature", sel![t.clone(), .., ..], temp.view())
            .map_err(|e| CliError::core(path, e))?;
        ds.write("precipitation", sel![t, .., ..], rain.view())
            .map_err(|e| CliError::core(path, e))?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(())
}

/// Runs `cfdb demo`.
pub(crate) fn run(ctx: &Ctx, path: &Path, scale: f64) -> CliResult<i32> {
    if !scale.is_finite() || scale <= 0.0 || scale > 4.0 {
        return Err(CliError::usage_plain(format!(
            "--scale {scale}: must be in (0, 4]"
        )));
    }
    let core = |e| CliError::core(path, e);
    let total_start = Instant::now();
    let side = scale.sqrt();
    let n_lat = ((N_LAT as f64 * side).round() as usize).max(4);
    let n_lon = ((N_LON as f64 * side).round() as usize).max(4);
    let lat: Vec<f64> = (0..n_lat as i64)
        .map(|i| (LAT0_TENTHS + i) as f64 / 10.0)
        .collect();
    let lon: Vec<f64> = (0..n_lon as i64)
        .map(|i| (LON0_TENTHS + i) as f64 / 10.0)
        .collect();
    let t0 = cfdb::time::parse_ticks("2024-01-01T00", DatetimeUnit::Hours)
        .ok_or_else(|| CliError::usage_plain("bad start time"))?;
    let n_hours = DAYS * 24;
    let times: Vec<Datetime64> = (0..n_hours as i64).map(|h| Datetime64(t0 + h)).collect();
    let chunk = [CHUNK[0], CHUNK[1].min(n_lat), CHUNK[2].min(n_lon)];
    let raw_mb = |hours: usize| (hours * n_lat * n_lon * 4 * 2) as f64 * 1e-6;

    // 1. Create and write.
    let start = Instant::now();
    let mut ds = ctx.create(path, OpenOptions::new())?;
    ds.create_coord_template(
        CoordTemplate::Lat,
        Some(Array1::from(lat.clone()).into_dyn().into()),
    )
    .map_err(core)?;
    ds.create_coord_template(
        CoordTemplate::Lon,
        Some(Array1::from(lon.clone()).into_dyn().into()),
    )
    .map_err(core)?;
    let hourly = time_dtype_params("datetime64[h]")
        .ok_or_else(|| CliError::usage_plain("no datetime64[h] parameters"))?;
    let time_spec = Dataset::<ReadWrite>::coord_template_spec(CoordTemplate::Time)
        .dtype(hourly)
        .data(Array1::from(times).into_dyn());
    ds.create_coord_template_with(CoordTemplate::Time, time_spec)
        .map_err(core)?;
    let dims = ["time", "latitude", "longitude"];
    ds.create_data_var_template(DataVarTemplate::AirTemp, &dims, Some(&chunk))
        .map_err(core)?;
    ds.create_data_var_template(DataVarTemplate::Precip, &dims, Some(&chunk))
        .map_err(core)?;
    ds.set_crs(Crs::Epsg(4326), "longitude", "latitude")
        .map_err(core)?;
    {
        let a = ds.attrs_mut().map_err(core)?;
        for (k, v) in [
            (
                "title",
                "cfdb-rs demo: hourly air temperature and precipitation",
            ),
            ("institution", "cfdb-rs"),
            ("source", "synthetic fields from `cfdb demo`"),
            ("Conventions", "CF-1.11"),
        ] {
            a.insert(k.to_owned(), Value::from(v));
        }
        a.insert("resolution_degrees".to_owned(), Value::from(0.1));
    }
    write_days(&mut ds, path, 0..DAYS, &lat, &lon, "writing")?;
    ds.sync().map_err(core)?;
    let t_write = start.elapsed();

    // 2. Append a week.
    let start = Instant::now();
    let week: Vec<Datetime64> = (n_hours as i64..((DAYS + APPEND_DAYS) * 24) as i64)
        .map(|h| Datetime64(t0 + h))
        .collect();
    let added = ds
        .append("time", Array1::from(week).into_dyn())
        .map_err(core)?;
    write_days(
        &mut ds,
        path,
        DAYS..DAYS + APPEND_DAYS,
        &lat,
        &lon,
        "appending",
    )?;
    ds.close().map_err(core)?;
    let t_append = start.elapsed();
    let n_hours = n_hours + added;

    // 3. Read a region by labels (the appended week, the middle third of the grid).
    let start = Instant::now();
    let ds = ctx.open_ro(path)?;
    let week_start = cfdb::time::format_ticks(t0 + (DAYS * 24) as i64, DatetimeUnit::Hours);
    let week_end =
        cfdb::time::format_ticks(t0 + ((DAYS + APPEND_DAYS) * 24) as i64, DatetimeUnit::Hours);
    let (la, lb) = middle_third(&lat);
    let (oa, ob) = middle_third(&lon);
    let region = ds
        .data_var("air_temperature")
        .and_then(|v| {
            v.loc(&loc![
                week_start.as_str()..week_end.as_str(),
                la..=lb,
                oa..=ob
            ])
        })
        .map_err(core)?;
    let values = region.read::<f32>().map_err(core)?;
    let (sum, n) = values
        .iter()
        .filter(|v| !v.is_nan())
        .fold((0f64, 0usize), |(s, n), v| (s + f64::from(*v), n + 1));
    let region_mean = sum / n.max(1) as f64;
    let region_shape = values.shape().to_vec();
    let t_region = start.elapsed();

    // 4. Iterate the storage chunks of precipitation.
    let start = Instant::now();
    let precip = ds.data_var("precipitation").map_err(core)?;
    let n_chunks = precip.chunk_regions().map_err(core)?.len();
    let pb = progress::bar(n_chunks as u64, "chunks", "chunks");
    let (mut psum, mut pn, mut pmax, mut wet) = (0f64, 0usize, 0f32, 0usize);
    for item in precip.iter_chunks().map_err(core)? {
        let (_, data) = item.map_err(core)?;
        if let ArrayData::F32(a) = data {
            for &v in a.iter().filter(|v| !v.is_nan()) {
                psum += f64::from(v);
                pn += 1;
                pmax = pmax.max(v);
                wet += usize::from(v >= 0.1);
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let t_chunks = start.elapsed();

    // 5. A rechunked view: one full-grid map per day (time chunks of 24 hours), 256 MiB budget.
    let start = Instant::now();
    let air = ds.data_var("air_temperature").map_err(core)?;
    let (reads, _) = air
        .calc_n_reads_rechunker(&[24, n_lat, n_lon], RECHUNK_MEM)
        .map_err(core)?;
    let n_days = n_hours.div_ceil(24);
    let pb = progress::bar(n_days as u64, "daily maps", "maps");
    let mut warmest = (String::new(), f64::MIN);
    for item in air
        .iter_chunks_with(&[("time", 24)], RECHUNK_MEM)
        .map_err(core)?
    {
        let (region, data) = item.map_err(core)?;
        if let ArrayData::F32(a) = data {
            let (s, n) = a
                .iter()
                .filter(|v| !v.is_nan())
                .fold((0f64, 0usize), |(s, n), v| (s + f64::from(*v), n + 1));
            let mean = s / n.max(1) as f64;
            if mean > warmest.1 {
                let day =
                    cfdb::time::format_ticks(t0 + region[0].start as i64, DatetimeUnit::Hours);
                warmest = (day, mean);
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let t_rechunk = start.elapsed();

    // 6. Weekly groupby of precipitation totals (calendar weeks, numpy's Thursday anchor).
    let start = Instant::now();
    let week: cfdb::Period = "7D".parse().map_err(core)?;
    let mut weekly = Vec::new();
    for item in precip
        .groupby(&[("time", cfdb::GroupBy::Period(week))], RECHUNK_MEM)
        .map_err(core)?
    {
        let (region, data) = item.map_err(core)?;
        if let ArrayData::F32(a) = data {
            let total: f64 = a
                .iter()
                .filter(|v| !v.is_nan())
                .map(|v| f64::from(*v))
                .sum();
            let cells = (n_lat * n_lon) as f64;
            weekly.push((region[0].clone(), total / cells));
        }
    }
    let t_groupby = start.elapsed();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);

    println!("{ds}");
    println!("cfdb demo: {}", path.display());
    println!(
        "  grid                 {n_hours} hours x {n_lat} latitudes x {n_lon} longitudes at 0.1°, \
         2 float32 variables packed to uint16, chunks {chunk:?}"
    );
    println!(
        "  size                 {:.1} MB raw, {:.1} MB on disk ({} level {})",
        raw_mb(n_hours),
        size as f64 * 1e-6,
        ds.compression().as_str(),
        ds.compression_level()
    );
    println!(
        "  create + write       {}  ({DAYS} days, {:.0} MB/s raw)",
        secs(t_write),
        raw_mb(DAYS * 24) / t_write.as_secs_f64().max(1e-9)
    );
    println!(
        "  append a week        {}  ({added} hours appended and written)",
        secs(t_append)
    );
    println!(
        "  read by labels       {}  (air_temperature.loc[{week_start}..{week_end}, {la:.1}..={lb:.1}, {oa:.1}..={ob:.1}]: \
         shape {region_shape:?}, mean {region_mean:.2} K)",
        secs(t_region)
    );
    println!(
        "  iterate chunks       {}  (precipitation: {n_chunks} chunks, {:.0} MB/s decoded; \
         mean {:.3} mm/h, max {pmax:.2} mm/h, {:.1}% of hours wet)",
        secs(t_chunks),
        (pn * 4) as f64 * 1e-6 / t_chunks.as_secs_f64().max(1e-9),
        psum / pn.max(1) as f64,
        100.0 * wet as f64 / pn.max(1) as f64
    );
    println!(
        "  rechunked view       {}  (air_temperature as {n_days} daily maps of {n_lat}x{n_lon}, {reads} chunk reads \
         planned; warmest day {} at {:.2} K)",
        secs(t_rechunk),
        warmest.0,
        warmest.1
    );
    let weeks: Vec<String> = weekly
        .iter()
        .map(|(r, mm)| format!("{}h: {mm:.1} mm", r.len()))
        .collect();
    println!(
        "  weekly groupby       {}  (precipitation '7D': {} groups; mean total per cell {})",
        secs(t_groupby),
        weekly.len(),
        weeks.join(", ")
    );
    println!("  total                {}", secs(total_start.elapsed()));
    Ok(0)
}
