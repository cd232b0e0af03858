//! Human-readable summaries, laid out like Python cfdb's `repr` (features H13).

use std::fmt;

use cfdb_codec::{ArrayData, DataType};
use serde_json::Value;

use crate::dataset::{Access, Dataset};
use crate::var::DataVar;

fn line(f: &mut fmt::Formatter<'_>, key: &str, value: &str) -> fmt::Result {
    if key.len() >= 19 {
        writeln!(f, "{key} {value}")
    } else {
        writeln!(f, "{key:<19} {value}")
    }
}

fn cell(a: &ArrayData, i: usize, dt: &DataType) -> String {
    match a {
        ArrayData::F32(x) => x.iter().nth(i).map(|v| format!("{v:.2}")),
        ArrayData::F64(x) => x.iter().nth(i).map(|v| format!("{v:.2}")),
        ArrayData::DateTime(x) => x.iter().nth(i).map(|t| match dt {
            DataType::DateTime { unit, .. } => crate::time::format_ticks(t.0, *unit),
            _ => t.0.to_string(),
        }),
        ArrayData::Str(x) => x
            .iter()
            .nth(i)
            .map(|s| s.clone().unwrap_or_else(|| "None".into())),
        ArrayData::Geometry(x) => x
            .iter()
            .nth(i)
            .map(|g| g.as_str().unwrap_or("None").to_owned()),
        ArrayData::Bool(x) => x
            .iter()
            .nth(i)
            .map(|b| if *b { "True" } else { "False" }.into()),
        other => {
            cfdb_codec::with_array_data!(other, x => x.iter().nth(i).map(|v| format!("{v:?}")))
        }
    }
    .unwrap_or_default()
}

fn first_last<A: Access>(ds: &Dataset<A>, name: &str) -> String {
    let (Ok(values), Ok(dt)) = (ds.coord_values(name), ds.dtype(name)) else {
        return String::new();
    };
    let n = values.len();
    if n == 0 {
        return String::new();
    }
    format!(
        "{} ... {}",
        cell(&values, 0, &dt),
        cell(&values, n - 1, &dt)
    )
}

fn attr_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or(0.0)),
        other => other.to_string(),
    }
}

fn class_name(t: cfdb_models::DatasetType) -> &'static str {
    match t {
        cfdb_models::DatasetType::Grid => "Grid",
        cfdb_models::DatasetType::TsOrtho => "TimeSeriesOrtho",
        cfdb_models::DatasetType::TsForecast => "TimeSeriesForecast",
        cfdb_models::DatasetType::GridForecast => "GridForecast",
    }
}

impl<A: Access> fmt::Display for Dataset<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = class_name(self.dataset_type());
        if !self.is_open() {
            return writeln!(f, "<cfdb.{class} is closed>");
        }
        writeln!(f, "<cfdb.{class}>")?;
        let name = self
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        line(f, "file name:", &name)?;
        let size = std::fs::metadata(self.path())
            .map(|m| format!("{:.1} MB", m.len() as f64 * 1e-6))
            .unwrap_or_else(|_| "NA".into());
        line(f, "file size:", &size)?;
        line(
            f,
            "writable:",
            if self.writable() { "True" } else { "False" },
        )?;
        writeln!(f, "Coordinates:")?;
        for c in self.coord_names() {
            let len = self
                .var_shape(c)
                .ok()
                .and_then(|s| s.first().copied())
                .unwrap_or(0);
            let dt = self.dtype(c).map(|d| d.name()).unwrap_or_default();
            line(
                f,
                &format!("    {c}"),
                &format!("({len}) {dt} {}", first_last(self, c)),
            )?;
        }
        writeln!(f, "Data Variables:")?;
        for d in self.data_var_names() {
            let dims = self.var_coords(d).unwrap_or_default().join(", ");
            let dt = self.dtype(d).map(|d| d.name()).unwrap_or_default();
            line(f, &format!("    {d}"), &format!("({dims}) {dt}"))?;
        }
        writeln!(f, "Attributes:")?;
        for (k, v) in self.attrs().unwrap_or_default() {
            line(f, &format!("    {k}"), &attr_text(&v))?;
        }
        Ok(())
    }
}

impl<A: Access> fmt::Display for DataVar<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ds = self.dataset();
        let kind = if self.is_coord() {
            "Coordinate"
        } else {
            "DataVariable"
        };
        writeln!(f, "<cfdb.{kind}>")?;
        line(f, "name:", self.name())?;
        line(
            f,
            "dtype:",
            &self.dtype().map(|d| d.name()).unwrap_or_default(),
        )?;
        if self.is_coord() {
            line(f, "shape:", &format!("{:?}", self.shape()))?;
            line(
                f,
                "chunk shape:",
                &format!("{:?}", self.chunk_shape().unwrap_or_default()),
            )?;
            line(f, "values:", &first_last(ds, self.name()))?;
        } else {
            line(
                f,
                "dims order:",
                &format!("({})", self.coord_names().join(", ")),
            )?;
            line(f, "shape:", &format!("{:?}", self.shape()))?;
            line(
                f,
                "chunk shape:",
                &format!("{:?}", self.chunk_shape().unwrap_or_default()),
            )?;
            writeln!(f, "Coordinates:")?;
            for c in self.coord_names() {
                let len = ds
                    .var_shape(c)
                    .ok()
                    .and_then(|s| s.first().copied())
                    .unwrap_or(0);
                let dt = ds.dtype(c).map(|d| d.name()).unwrap_or_default();
                line(
                    f,
                    &format!("    {c}"),
                    &format!("({len}) {dt} {}", first_last(ds, c)),
                )?;
            }
        }
        writeln!(f, "Attributes:")?;
        for (k, v) in self.attrs().unwrap_or_default() {
            line(f, &format!("    {k}"), &attr_text(&v))?;
        }
        Ok(())
    }
}
