//! Chunk-grid arithmetic: which chunks a region touches, their keys, and the overlap of each
//! chunk with the region (`cfdb-format.md` §6).

use std::ops::Range;

/// Formats a chunk key: `name!s0.s1...` with plain decimal starts.
pub(crate) fn chunk_key(name: &str, starts: &[i64]) -> String {
    use std::fmt::Write;
    let mut k = String::with_capacity(name.len() + 1 + starts.len() * 4);
    k.push_str(name);
    k.push('!');
    for (i, s) in starts.iter().enumerate() {
        if i > 0 {
            k.push('.');
        }
        let _ = write!(k, "{s}");
    }
    k
}

/// Parses the starts of a chunk key of `name` (`None` when the key is not one of its chunks).
#[cfg(test)]
pub(crate) fn parse_chunk_key(name: &str, key: &str) -> Option<Vec<i64>> {
    let rest = key.strip_prefix(name)?.strip_prefix('!')?;
    rest.split('.').map(|s| s.parse().ok()).collect()
}

/// One chunk touched by a region.
#[derive(Clone, Debug)]
pub(crate) struct ChunkPart {
    /// The chunk's start per dimension, in storage positions.
    pub(crate) starts: Vec<i64>,
    /// The overlap, in the chunk's own cell coordinates.
    pub(crate) in_chunk: Vec<Range<usize>>,
    /// The overlap, relative to the region's start.
    pub(crate) in_region: Vec<Range<usize>>,
}

impl ChunkPart {
    /// Whether the overlap is the whole chunk.
    pub(crate) fn is_full(&self, chunk_shape: &[usize]) -> bool {
        self.in_chunk
            .iter()
            .zip(chunk_shape)
            .all(|(r, &c)| r.start == 0 && r.end == c)
    }
}

/// The chunk starts along one dimension covering storage positions `lo..hi`.
pub(crate) fn starts_1d(lo: i64, hi: i64, cs: usize) -> impl Iterator<Item = i64> {
    let cs = cs as i64;
    let first = lo.div_euclid(cs) * cs;
    (0..)
        .map(move |k| first + k * cs)
        .take_while(move |s| *s < hi)
}

/// A chunk start along one dimension with its overlap in chunk and region coordinates.
type DimPart = (i64, Range<usize>, Range<usize>);

/// Every chunk overlapping `region` (index space) of a variable with `origins` and
/// `chunk_shape`, in C order of the chunk grid.
pub(crate) fn chunk_parts(
    region: &[Range<usize>],
    origins: &[i64],
    chunk_shape: &[usize],
) -> Vec<ChunkPart> {
    let per_dim: Vec<Vec<DimPart>> = region
        .iter()
        .zip(origins)
        .zip(chunk_shape)
        .map(|((r, &o), &cs)| {
            let lo = r.start as i64 + o;
            let hi = r.end as i64 + o;
            starts_1d(lo, hi, cs)
                .map(|s| {
                    let a = lo.max(s);
                    let b = hi.min(s + cs as i64);
                    (
                        (s),
                        (a - s) as usize..(b - s) as usize,
                        (a - lo) as usize..(b - lo) as usize,
                    )
                })
                .collect()
        })
        .collect();
    let total: usize = per_dim.iter().map(Vec::len).product();
    let mut out = Vec::with_capacity(total);
    if total == 0 {
        return out;
    }
    let nd = per_dim.len();
    let mut idx = vec![0usize; nd];
    loop {
        let mut starts = Vec::with_capacity(nd);
        let mut in_chunk = Vec::with_capacity(nd);
        let mut in_region = Vec::with_capacity(nd);
        for (d, &i) in idx.iter().enumerate() {
            let (s, c, r) = &per_dim[d][i];
            starts.push(*s);
            in_chunk.push(c.clone());
            in_region.push(r.clone());
        }
        out.push(ChunkPart {
            starts,
            in_chunk,
            in_region,
        });
        // odometer, last dimension fastest
        let mut d = nd;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < per_dim[d].len() {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Per dimension, the lengths of the chunk overlaps of `region` in order (the bands that
/// [`chunk_parts`] combines).
pub(crate) fn band_lengths(
    region: &[Range<usize>],
    origins: &[i64],
    chunk_shape: &[usize],
) -> Vec<Vec<usize>> {
    region
        .iter()
        .zip(origins)
        .zip(chunk_shape)
        .map(|((r, &o), &cs)| {
            let lo = r.start as i64 + o;
            let hi = r.end as i64 + o;
            starts_1d(lo, hi, cs)
                .map(|s| (hi.min(s + cs as i64) - lo.max(s)) as usize)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(chunk_key("temp", &[0, -4, 6]), "temp!0.-4.6");
        assert_eq!(parse_chunk_key("temp", "temp!0.-4.6"), Some(vec![0, -4, 6]));
        assert_eq!(parse_chunk_key("temp", "temperature!0"), None);
        assert_eq!(parse_chunk_key("t", "t!x"), None);
    }

    #[test]
    fn floor_division_for_negative_positions() {
        // cs = 3: positions -3..-1 are in chunk -3, -4 in chunk -6
        let s: Vec<i64> = starts_1d(-4, 2, 3).collect();
        assert_eq!(s, vec![-6, -3, 0]);
    }

    #[test]
    fn parts_cover_region_exactly() {
        let parts = chunk_parts(&[1..6, 0..2], &[-2, 0], &[3, 2]);
        // storage rows -1..4 → chunks -3, 0, 3
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].starts, vec![-3, 0]);
        assert_eq!(parts[0].in_chunk, vec![2..3, 0..2]);
        assert_eq!(parts[0].in_region, vec![0..1, 0..2]);
        assert_eq!(parts[2].in_chunk, vec![0..1, 0..2]);
        assert_eq!(parts[2].in_region, vec![4..5, 0..2]);
        assert!(!parts[1].is_full(&[3, 2]) || parts[1].in_chunk == vec![0..3, 0..2]);
    }
}
