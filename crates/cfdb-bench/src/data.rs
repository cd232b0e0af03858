//! The tiers and data of bench-spec §1–2.
//!
//! The two float32 arrays come from numpy (`xtask/python/bench_suite.py dump`, which checks
//! them against the spec's SHA-256 sums) as raw little-endian C-order files; coordinates are
//! computed here exactly as numpy computes them. Loading is never timed.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::Result;

/// One tier of bench-spec §1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tier {
    pub(crate) name: &'static str,
    /// Array shape (lat, lon, time).
    pub(crate) shape: [usize; 3],
    /// Time steps appended by write_append.
    pub(crate) append: usize,
    /// Storage chunk shape.
    pub(crate) chunk: [usize; 3],
    /// Iterations of every op per process.
    pub(crate) iterations: usize,
}

pub(crate) const TIERS: [Tier; 3] = [
    Tier {
        name: "small",
        shape: [100, 100, 49],
        append: 7,
        chunk: [20, 20, 49],
        iterations: 5,
    },
    Tier {
        name: "medium",
        shape: [500, 500, 98],
        append: 14,
        chunk: [50, 50, 14],
        iterations: 3,
    },
    Tier {
        name: "large",
        shape: [1000, 1000, 364],
        append: 28,
        chunk: [100, 100, 28],
        iterations: 1,
    },
];

impl Tier {
    pub(crate) fn by_name(name: &str) -> Option<Tier> {
        TIERS.iter().copied().find(|t| t.name == name)
    }

    /// Chunks per axis.
    pub(crate) fn grid(&self) -> [usize; 3] {
        [0, 1, 2].map(|d| self.shape[d].div_ceil(self.chunk[d]))
    }

    /// Elements of one chunk.
    pub(crate) fn chunk_len(&self) -> usize {
        self.chunk.iter().product()
    }
}

/// 2020-01-01 in days since 1970-01-01.
pub(crate) const DAY0: i64 = 18262;

/// Everything the ops write.
pub(crate) struct Data {
    pub(crate) tier: Tier,
    /// `(lat, lon, time)` values, C order.
    pub(crate) var: Vec<f32>,
    /// `(lat, lon, append)` values, C order.
    pub(crate) extra: Vec<f32>,
    pub(crate) lat: Vec<f32>,
    pub(crate) lon: Vec<f32>,
}

/// `numpy.linspace(start, stop, n, dtype=float32)`: computed in float64 (`i * step + start`,
/// the last value set to `stop`), then rounded to float32.
pub(crate) fn linspace_f32(start: f64, stop: f64, n: usize) -> Vec<f32> {
    let step = (stop - start) / (n.max(2) - 1) as f64;
    (0..n)
        .map(|i| {
            if i + 1 == n && n > 1 {
                stop as f32
            } else {
                (i as f64 * step + start) as f32
            }
        })
        .collect()
}

fn read_f32(path: &Path, expect: usize) -> Result<Vec<f32>> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes = file.metadata()?.len();
    if bytes != expect as u64 * 4 {
        return Err(format!(
            "{}: {bytes} bytes, expected {} (run the dump again)",
            path.display(),
            expect * 4
        )
        .into());
    }
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut out = Vec::with_capacity(expect);
    let mut buf = vec![0u8; 1 << 20];
    while out.len() < expect {
        let want = ((expect - out.len()) * 4).min(buf.len());
        r.read_exact(&mut buf[..want])?;
        out.extend(
            buf[..want]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    Ok(out)
}

impl Data {
    /// Loads `{dir}/{tier}_var.f32` and `{dir}/{tier}_extra.f32`.
    pub(crate) fn load(tier: Tier, dir: &Path) -> Result<Data> {
        let [l, m, t] = tier.shape;
        let var = read_f32(&dir.join(format!("{}_var.f32", tier.name)), l * m * t)?;
        let extra = read_f32(
            &dir.join(format!("{}_extra.f32", tier.name)),
            l * m * tier.append,
        )?;
        if tier.name == "small" {
            // bench-spec §2 check values.
            let want = [7739.5605f32, 4388.784, 8585.9795, 1397.5248];
            let got = [var[0], var[1], var[2], var[t]];
            if got != want {
                return Err(format!("small var starts {got:?}, bench-spec says {want:?}").into());
            }
            if extra[..3] != [7348.505f32, 3815.8154, 5387.3906] {
                return Err(format!("small extra starts {:?}", &extra[..3]).into());
            }
        }
        Ok(Data {
            tier,
            var,
            extra,
            lat: linspace_f32(-90.0, 90.0, l),
            lon: linspace_f32(-180.0, 180.0, m),
        })
    }

    /// `var[i, j, k]`.
    pub(crate) fn at(&self, i: usize, j: usize, k: usize) -> f32 {
        let [_, m, t] = self.tier.shape;
        self.var[(i * m + j) * t + k]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_matches_numpy() {
        // numpy.linspace(-90, 90, 100, dtype='float32')[:3]
        let v = linspace_f32(-90.0, 90.0, 100);
        assert_eq!(&v[..3], &[-90.0, -88.181816, -86.36364]);
        assert_eq!(v[99], 90.0);
    }

    #[test]
    fn grids() {
        let t = Tier::by_name("large").unwrap();
        assert_eq!(t.grid(), [10, 10, 13]);
        assert_eq!(t.chunk_len() * 4, 1_120_000);
    }
}
