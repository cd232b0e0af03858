//! Byte shuffle (`cfdb-format.md` §5.4): the transpose of the `n × w` byte matrix.

use crate::error::{CodecError, Result};

fn check(len: usize, width: usize) -> Result<()> {
    if width == 0 || !len.is_multiple_of(width) {
        return Err(CodecError::PayloadSize {
            expected: len.next_multiple_of(width.max(1)),
            actual: len,
        });
    }
    Ok(())
}

/// Splits `data` (a run of `width`-byte values) into byte planes: every value's byte 0, then
/// every value's byte 1, and so on.
///
/// ```
/// use cfdb_codec::{shuffle, unshuffle};
/// let data = [1u8, 2, 3, 4, 5, 6];
/// let s = shuffle(&data, 2).unwrap();
/// assert_eq!(s, [1, 3, 5, 2, 4, 6]);
/// assert_eq!(unshuffle(&s, 2).unwrap(), data);
/// assert!(shuffle(&data, 4).is_err());
/// ```
pub fn shuffle(data: &[u8], width: usize) -> Result<Vec<u8>> {
    check(data.len(), width)?;
    let n = data.len() / width;
    let mut out = vec![0u8; data.len()];
    if n == 0 {
        return Ok(out);
    }
    for (k, plane) in out.chunks_exact_mut(n).enumerate() {
        for (dst, value) in plane.iter_mut().zip(data.chunks_exact(width)) {
            if let Some(b) = value.get(k) {
                *dst = *b;
            }
        }
    }
    Ok(out)
}

/// Inverse of [`shuffle`].
pub fn unshuffle(data: &[u8], width: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    unshuffle_into(data, width, &mut out)?;
    Ok(out)
}

/// Inverse of [`shuffle`] into a reused buffer (cleared first).
pub fn unshuffle_into(data: &[u8], width: usize, out: &mut Vec<u8>) -> Result<()> {
    check(data.len(), width)?;
    out.clear();
    out.resize(data.len(), 0);
    let n = data.len() / width;
    if n == 0 {
        return Ok(());
    }
    for (k, plane) in data.chunks_exact(n).enumerate() {
        for (value, b) in out.chunks_exact_mut(width).zip(plane) {
            if let Some(dst) = value.get_mut(k) {
                *dst = *b;
            }
        }
    }
    Ok(())
}
