//! The `cfdb-rs` backend: the ops through the `cfdb` facade crate, as the upstream Python
//! backend does them (bench-spec §5), with the default codec (zstd_shuffle level 1) and the
//! default rayon pool (one thread per core).

use std::path::{Path, PathBuf};

use cfdb::{
    CoordTemplate, DataTypeMeta, DataVarSpec, Dataset, Datetime64, GroupBy, OpenMode, OpenOptions,
    ReadWrite, sel,
};
use ndarray::{Array1, ArrayD, ArrayView3};
use rayon::prelude::*;

use crate::data::{DAY0, Data};
use crate::{Backend, Check, Result, mean_f32};

const VAR: &str = "temperature";

pub(crate) struct CfdbRs<'d> {
    d: &'d Data,
    dir: PathBuf,
    counter: usize,
}

impl<'d> CfdbRs<'d> {
    pub(crate) fn new(d: &'d Data, dir: &Path) -> Self {
        CfdbRs {
            d,
            dir: dir.to_owned(),
            counter: 0,
        }
    }
}

fn days(from: usize, n: usize) -> ArrayD<Datetime64> {
    Array1::from_iter((from..from + n).map(|i| Datetime64(DAY0 + i as i64))).into_dyn()
}

fn f64s(v: &[f32]) -> ArrayD<f64> {
    Array1::from_iter(v.iter().map(|&x| f64::from(x))).into_dyn()
}

fn spot(a: &ArrayD<f32>, at: &[[usize; 3]]) -> Check {
    Check::Values(at.iter().map(|i| a[&i[..]]).collect())
}

impl Backend for CfdbRs<'_> {
    fn write_full(&mut self) -> Result<PathBuf> {
        self.counter += 1;
        let path = self.dir.join(format!("bench_{}.cfdb", self.counter));
        let d = self.d;
        let [l, m, t] = d.tier.shape;
        let [c0, c1, _] = d.tier.chunk;
        let mut ds = OpenOptions::new().open_rw(&path, OpenMode::New)?;
        // ds.create.coord.lat(data=lat, chunk_shape=(c0,)): the template's float64, from the
        // float32 values.
        let spec = |t: CoordTemplate| Dataset::<ReadWrite>::coord_template_spec(t);
        ds.create_coord_template_with(
            CoordTemplate::Lat,
            spec(CoordTemplate::Lat).data(f64s(&d.lat)).chunk_len(c0),
        )?;
        ds.create_coord_template_with(
            CoordTemplate::Lon,
            spec(CoordTemplate::Lon).data(f64s(&d.lon)).chunk_len(c1),
        )?;
        // ds.create.coord.time(data=time, dtype=datetime64[D]): stored as plain datetime64[D].
        ds.create_coord_template_with(
            CoordTemplate::Time,
            spec(CoordTemplate::Time)
                .dtype(DataTypeMeta::new("datetime64[D]"))
                .data(days(0, t)),
        )?;
        ds.create_data_var(
            VAR,
            &["latitude", "longitude", "time"],
            DataVarSpec::new(DataTypeMeta::new("float32")).chunk_shape(&d.tier.chunk),
        )?;
        let v = ArrayView3::from_shape((l, m, t), &d.var[..])?.into_dyn();
        ds.write(VAR, sel![.., .., ..], v)?;
        ds.close()?;
        Ok(path)
    }

    fn write_append(&mut self, path: &Path) -> Result<()> {
        let d = self.d;
        let [l, m, _] = d.tier.shape;
        let a = d.tier.append;
        let mut ds = OpenOptions::new().open_rw(path, OpenMode::Write)?;
        let old = ds.var_shape("time")?[0];
        ds.append("time", days(old, a))?;
        let v = ArrayView3::from_shape((l, m, a), &d.extra[..])?.into_dyn();
        ds.write(VAR, sel![.., .., old..old + a], v)?;
        ds.close()?;
        Ok(())
    }

    fn read_full(&self, path: &Path) -> Result<Check> {
        let [l, m, t] = self.d.tier.shape;
        let ds = cfdb::open(path)?;
        let a = ds.data_var(VAR)?.read::<f32>()?;
        let c = spot(
            &a,
            &[[0, 0, 0], [l / 2, m / 3, t / 2], [l - 1, m - 1, t - 1]],
        );
        drop(a);
        drop(ds);
        Ok(c)
    }

    fn read_slice_aligned(&self, path: &Path) -> Result<Check> {
        let [c0, c1, c2] = self.d.tier.chunk;
        let ds = cfdb::open(path)?;
        let a = ds
            .data_var(VAR)?
            .select(sel![0..c0, 0..c1, 0..c2])?
            .read::<f32>()?;
        let c = spot(&a, &[[0, 0, 0], [c0 - 1, c1 - 1, c2 - 1]]);
        drop(a);
        drop(ds);
        Ok(c)
    }

    fn read_slice_unaligned(&self, path: &Path) -> Result<Check> {
        let [c0, c1, c2] = self.d.tier.chunk;
        let t2 = c2.min(self.d.tier.shape[2]);
        let ds = cfdb::open(path)?;
        let a = ds
            .data_var(VAR)?
            .select(sel![5..5 + c0, 10..10 + c1, 0..t2])?
            .read::<f32>()?;
        let c = spot(&a, &[[0, 0, 0], [c0 - 1, c1 - 1, t2 - 1]]);
        drop(a);
        drop(ds);
        Ok(c)
    }

    fn iterate_chunks(&self, path: &Path) -> Result<Check> {
        let ds = cfdb::open(path)?;
        let mut total = 0;
        for item in ds.data_var(VAR)?.iter_chunks()? {
            let (_, data) = item?;
            total += data.len();
        }
        drop(ds);
        Ok(Check::Count(total))
    }

    fn iterate_rechunked(&self, path: &Path) -> Result<Check> {
        let [l, m, _] = self.d.tier.shape;
        let ds = cfdb::open(path)?;
        let mut total = 0;
        let blocks = [("latitude", l), ("longitude", m), ("time", 7)];
        // Each block is handed back once counted, so later blocks reuse its memory (the
        // spec allows yielding views into a reused buffer, as rechunkit does).
        let var = ds.data_var(VAR)?;
        let mut iter = var.iter_chunks_with(&blocks, 1 << 31)?;
        while let Some(item) = iter.next() {
            let (_, data) = item?;
            total += data.len();
            iter.recycle(data);
        }
        drop(iter);
        drop(ds);
        Ok(Check::Count(total))
    }

    fn groupby_7day(&self, path: &Path) -> Result<Check> {
        let ds = cfdb::open(path)?;
        let mut groups = 0;
        let period = "7D".parse().map_err(|e| format!("period 7D: {e:?}"))?;
        let var = ds.data_var(VAR)?;
        let mut iter = var.groupby(&[("time", GroupBy::Period(period))], 1 << 31)?;
        while let Some(item) = iter.next() {
            let (_, data) = item?;
            let a = data.typed::<f32>()?;
            // The block mean on the pool, split in halves as the floor probe does.
            let m = match a.as_slice() {
                Some(v) => {
                    let half = v.len().div_ceil(2).max(1);
                    let sum: f64 = v
                        .par_chunks(half)
                        .map(|c| f64::from(mean_f32(c)) * c.len() as f64)
                        .sum();
                    (sum / v.len().max(1) as f64) as f32
                }
                None => a.sum() / a.len() as f32,
            };
            std::hint::black_box(m);
            groups += 1;
            iter.recycle(data);
        }
        drop(iter);
        drop(ds);
        Ok(Check::Count(groups))
    }

    fn file_size(&self, path: &Path) -> Result<Option<u64>> {
        Ok(Some(std::fs::metadata(path)?.len()))
    }

    fn cleanup(&self, path: &Path) -> Result<()> {
        if path.exists() {
            std::fs::remove_file(path)?;
        }
        Ok(())
    }
}
