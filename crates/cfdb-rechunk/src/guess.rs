//! `rechunkit.guess_chunk_shape` (`algorithms.md` §1).

use crate::RechunkError;

/// The highly composite numbers up to 2 162 160 (OEIS A002182 prefix) that guessed chunk lengths
/// are snapped to: the least common multiple of two of them stays small, which keeps a later
/// rechunk between two guessed layouts cheap.
pub const COMPOSITE_NUMBERS: [usize; 41] = [
    1, 2, 4, 6, 12, 24, 36, 48, 60, 120, 180, 240, 360, 720, 840, 1260, 1680, 2520, 5040, 7560,
    10080, 15120, 20160, 25200, 27720, 45360, 50400, 55440, 83160, 110880, 166320, 221760, 277200,
    332640, 498960, 554400, 665280, 720720, 1081080, 1441440, 2162160,
];

/// rechunkit's default `target_chunk_size`: 2 MiB.
pub const DEFAULT_TARGET_CHUNK_SIZE: usize = 1 << 21;

/// Guesses a chunk shape for an array of `shape` with elements of `itemsize` bytes whose
/// uncompressed chunks should hold about `target_chunk_size` bytes — exactly as
/// `rechunkit.guess_chunk_shape` 0.6.0 does.
///
/// Starting from the full shape, while the chunk holds more than `1.5 × target_chunk_size`
/// bytes and more than one element, dimensions are shrunk strictly round-robin (first dimension
/// first, including dimensions already at 1): a length `v` becomes the largest entry of
/// [`COMPOSITE_NUMBERS`] that is `≤ v / 2 − 1`, or 1 if there is none. The result may therefore
/// exceed the target by up to 1.5×; every returned length is ≥ 1 and ≤ the input length.
///
/// The threshold `1.5 × target_chunk_size` is computed in `f64` and compared exactly with the
/// integer chunk size, as Python does; chunk sizes are computed without overflow.
///
/// An empty shape gives an empty chunk shape.
///
/// # Errors
///
/// [`RechunkError::ZeroDim`] if a dimension is 0 (rechunkit raises `ValueError`), and
/// [`RechunkError::ZeroItemsize`] if `itemsize` is 0 (rechunkit would return the shape
/// unchanged; an element of 0 bytes is always a caller bug here).
///
/// # Example
///
/// ```
/// use cfdb_rechunk::{DEFAULT_TARGET_CHUNK_SIZE, guess_chunk_shape};
///
/// // cfdb's coordinate default for an 8-byte type: guess((1_000_000,), 8, 2 MiB).
/// assert_eq!(guess_chunk_shape(&[1_000_000], 8, DEFAULT_TARGET_CHUNK_SIZE)?, [221_760]);
/// assert_eq!(guess_chunk_shape(&[1000, 1000, 364], 4, 1 << 20)?, [48, 120, 60]);
/// assert!(guess_chunk_shape(&[10, 0], 4, 100).is_err());
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
pub fn guess_chunk_shape(
    shape: &[usize],
    itemsize: usize,
    target_chunk_size: usize,
) -> Result<Vec<usize>, RechunkError> {
    if let Some(dim) = shape.iter().position(|&v| v == 0) {
        return Err(RechunkError::ZeroDim { dim });
    }
    if itemsize == 0 {
        return Err(RechunkError::ZeroItemsize);
    }
    let mut chunks = shape.to_vec();
    let ndims = chunks.len();
    if ndims == 0 {
        return Ok(chunks);
    }

    // Python: `prod(chunks) * itemsize <= target_chunk_size * 1.5`, an exact comparison of an
    // integer with the f64 `float(target) * 1.5`. That float is finite, non-negative and below
    // 2^66, so for an integer n: n <= limit  <=>  n <= floor(limit), and floor(limit) fits u128.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let limit = ((target_chunk_size as f64) * 1.5).floor() as u128;
    let item = itemsize as u128;

    let mut idx = 0usize;
    loop {
        // None = larger than u128 (Python's unbounded int), i.e. certainly above the limit.
        let n = chunks
            .iter()
            .try_fold(1u128, |acc, &v| acc.checked_mul(v as u128));
        let fits = n
            .and_then(|n| n.checked_mul(item))
            .is_some_and(|b| b <= limit);
        if fits || n == Some(1) {
            break;
        }
        let k = idx % ndims;
        if let Some(v) = chunks.get_mut(k) {
            *v = largest_composite_at_most((*v / 2).checked_sub(1));
        }
        idx += 1;
    }
    Ok(chunks)
}

/// The largest table entry `≤ bound` (Python: `bisect` then the entry before), or 1 if none
/// (also when `bound` is negative, i.e. `None` here).
fn largest_composite_at_most(bound: Option<usize>) -> usize {
    let Some(bound) = bound else { return 1 };
    let pos = COMPOSITE_NUMBERS.partition_point(|&c| c <= bound);
    pos.checked_sub(1)
        .and_then(|p| COMPOSITE_NUMBERS.get(p))
        .copied()
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KIB: usize = 1 << 10;
    const MIB: usize = 1 << 20;

    #[test]
    fn reference_vectors_from_the_spec() {
        // algorithms.md §1 (produced with rechunkit 0.6.0).
        let cases: &[(&[usize], usize, usize, &[usize])] = &[
            (&[1_000_000], 8, 2 * MIB, &[221_760]),
            (&[1_000_000], 4, 2 * MIB, &[498_960]),
            (&[1000, 1000, 364], 4, MIB, &[48, 120, 60]),
            (&[500, 500, 98], 4, MIB, &[60, 60, 48]),
            (&[100, 100, 49], 4, MIB, &[48, 100, 49]),
            (&[744, 1, 324, 277], 2, 512 * KIB, &[120, 1, 48, 48]),
            (&[2000, 200_000], 8, 2 * MIB, &[48, 2520]),
            (&[3600, 1800, 24], 1, 256 * KIB, &[240, 360, 2]),
            (&[100, 100, 100], 4, 100, &[1, 4, 4]),
            (&[10, 10, 10], 4, 100_000, &[10, 10, 10]),
            (&[17], 4, 8, &[2]),
            (&[20], 4, 16, &[6]),
        ];
        for &(shape, itemsize, target, want) in cases {
            assert_eq!(
                guess_chunk_shape(shape, itemsize, target).unwrap(),
                want,
                "{shape:?} {itemsize} {target}"
            );
        }
    }

    #[test]
    fn cfdb_golden_defaults() {
        // s10_default_chunks_zstd_level3.cfdb: float32 coordinate -> [498960], datetime64[M]
        // (8 bytes) -> [221760]; data variables small enough to keep their full shape.
        assert_eq!(
            guess_chunk_shape(&[1_000_000], 4, DEFAULT_TARGET_CHUNK_SIZE).unwrap(),
            [498_960]
        );
        assert_eq!(
            guess_chunk_shape(&[1_000_000], 8, DEFAULT_TARGET_CHUNK_SIZE).unwrap(),
            [221_760]
        );
        assert_eq!(
            guess_chunk_shape(&[10, 6], 8, (1 << 18) * 8).unwrap(),
            [10, 6]
        );
        assert_eq!(guess_chunk_shape(&[6], 2, (1 << 18) * 2).unwrap(), [6]);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(guess_chunk_shape(&[], 4, 100).unwrap(), Vec::<usize>::new());
        assert_eq!(
            guess_chunk_shape(&[3, 0], 4, 100),
            Err(RechunkError::ZeroDim { dim: 1 })
        );
        assert_eq!(
            guess_chunk_shape(&[3], 0, 100),
            Err(RechunkError::ZeroItemsize)
        );
        // Target 0: shrink until a single element.
        assert_eq!(guess_chunk_shape(&[7, 9, 1], 8, 0).unwrap(), [1, 1, 1]);
        // Dims 1..=3 go straight to 1 (v // 2 - 1 <= 0).
        assert_eq!(guess_chunk_shape(&[3, 2], 1, 1).unwrap(), [1, 1]);
        // Huge shapes whose element count overflows u128 still terminate.
        let huge = [usize::MAX; 5];
        let got = guess_chunk_shape(&huge, usize::MAX, usize::MAX).unwrap();
        assert!(got.iter().all(|&v| COMPOSITE_NUMBERS.contains(&v)));
        assert!(
            RechunkError::ZeroDim { dim: 2 }
                .to_string()
                .contains("dimension 2")
        );
    }

    #[test]
    fn largest_composite() {
        assert_eq!(largest_composite_at_most(None), 1);
        assert_eq!(largest_composite_at_most(Some(0)), 1);
        assert_eq!(largest_composite_at_most(Some(1)), 1);
        assert_eq!(largest_composite_at_most(Some(5)), 4);
        assert_eq!(largest_composite_at_most(Some(6)), 6);
        assert_eq!(largest_composite_at_most(Some(usize::MAX)), 2_162_160);
    }

    fn bytes(chunk: &[usize], itemsize: usize) -> u128 {
        chunk.iter().map(|&v| v as u128).product::<u128>() * itemsize as u128
    }

    proptest! {
        #[test]
        fn output_is_within_shape_and_band(
            shape in proptest::collection::vec(1usize..5_000_000, 0..6),
            itemsize in 1usize..=16,
            target in 0usize..(1 << 28),
        ) {
            let chunk = guess_chunk_shape(&shape, itemsize, target).unwrap();
            prop_assert_eq!(chunk.len(), shape.len());
            for (&c, &s) in chunk.iter().zip(&shape) {
                prop_assert!(c >= 1 && c <= s);
                // Every length is either untouched or a table entry.
                prop_assert!(c == s || COMPOSITE_NUMBERS.contains(&c));
            }
            // Stops at most 1.5x above the target, unless it could not shrink further.
            let size = bytes(&chunk, itemsize);
            prop_assert!(size * 2 <= target as u128 * 3 || chunk.iter().all(|&c| c == 1));
            // Unchanged exactly when the whole array already fits.
            if bytes(&shape, itemsize) * 2 <= target as u128 * 3 {
                prop_assert_eq!(&chunk, &shape);
            }
        }

        #[test]
        fn monotone_in_target(
            shape in proptest::collection::vec(1usize..100_000, 1..4),
            itemsize in 1usize..=8,
            target in 1usize..(1 << 24),
        ) {
            // A larger target never gives a smaller chunk in any dimension: the shrink
            // sequence is the same, it only stops earlier.
            let small = guess_chunk_shape(&shape, itemsize, target).unwrap();
            let large = guess_chunk_shape(&shape, itemsize, target * 2).unwrap();
            for (s, l) in small.iter().zip(&large) {
                prop_assert!(s <= l);
            }
        }
    }
}
