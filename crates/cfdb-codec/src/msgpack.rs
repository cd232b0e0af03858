//! MessagePack chunk payloads for str and geometry variables (`cfdb-format.md` §4.8, §4.9).

use crate::error::{CodecError, Result};

const MAX_DEPTH: usize = 64;

fn bad(reason: impl Into<String>) -> CodecError {
    CodecError::InvalidMsgpack {
        reason: reason.into(),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| bad("length overflow"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| bad("unexpected end of data"))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        self.take(1)?
            .first()
            .copied()
            .ok_or_else(|| bad("unexpected end of data"))
    }
    fn be(&mut self, n: usize) -> Result<usize> {
        let mut v: usize = 0;
        for b in self.take(n)? {
            v = (v << 8) | usize::from(*b);
        }
        Ok(v)
    }
}

enum Item<'a> {
    Array(usize),
    Leaf(Option<&'a str>),
}

fn item<'a>(r: &mut Reader<'a>) -> Result<Item<'a>> {
    let m = r.u8()?;
    let str_len = match m {
        0xc0 => return Ok(Item::Leaf(None)),
        0x90..=0x9f => return Ok(Item::Array(usize::from(m & 0x0f))),
        0xdc => return Ok(Item::Array(r.be(2)?)),
        0xdd => return Ok(Item::Array(r.be(4)?)),
        0xa0..=0xbf => usize::from(m & 0x1f),
        0xd9 => r.be(1)?,
        0xda => r.be(2)?,
        0xdb => r.be(4)?,
        other => {
            return Err(bad(format!(
                "unexpected marker 0x{other:02x} (only arrays, str and nil)"
            )));
        }
    };
    let bytes = r.take(str_len)?;
    let s = std::str::from_utf8(bytes).map_err(|e| bad(format!("invalid UTF-8: {e}")))?;
    Ok(Item::Leaf(Some(s)))
}

/// Parses a (possibly nested) rectangular array of str/nil leaves into C-order leaves, checking
/// that their count is `n` (numpy's `asarray(...).reshape(chunk_shape)` accepts any regular
/// nesting with the right cell count).
pub(crate) fn decode_leaves(data: &[u8], n: usize) -> Result<Vec<Option<&str>>> {
    let mut r = Reader { buf: data, pos: 0 };
    let mut leaves = Vec::with_capacity(n.min(data.len()));
    // shape discovered along the first path; every array at depth d must have length shape[d].
    let mut shape: Vec<usize> = Vec::new();
    let mut leaf_depth: Option<usize> = None;
    // stack of remaining counts
    let mut stack: Vec<usize> = Vec::new();
    let first = item(&mut r)?;
    match first {
        Item::Leaf(v) => {
            leaves.push(v);
            leaf_depth = Some(0);
        }
        Item::Array(len) => {
            shape.push(len);
            stack.push(len);
        }
    }
    while let Some(top) = stack.last_mut() {
        if *top == 0 {
            stack.pop();
            continue;
        }
        *top -= 1;
        let depth = stack.len();
        match item(&mut r)? {
            Item::Leaf(v) => {
                match leaf_depth {
                    None if depth == shape.len() => leaf_depth = Some(depth),
                    Some(d) if d == depth => {}
                    _ => return Err(bad("ragged nesting")),
                }
                if leaves.len() >= n {
                    return Err(bad(format!("more than {n} cells")));
                }
                leaves.push(v);
            }
            Item::Array(len) => {
                if leaf_depth.is_some_and(|d| depth >= d) {
                    return Err(bad("ragged nesting"));
                }
                if depth == shape.len() {
                    if depth >= MAX_DEPTH {
                        return Err(bad("nesting too deep"));
                    }
                    shape.push(len);
                } else if shape.get(depth) != Some(&len) {
                    return Err(bad("ragged nesting"));
                }
                stack.push(len);
            }
        }
    }
    if r.pos != data.len() {
        return Err(bad("trailing bytes after the array"));
    }
    let cells = shape.iter().try_fold(1usize, |a, b| a.checked_mul(*b));
    let cells = if leaf_depth == Some(0) {
        Some(1)
    } else {
        cells
    };
    if leaves.len() != n || cells != Some(n) {
        return Err(bad(format!("{} cells, expected {n}", leaves.len())));
    }
    Ok(leaves)
}

/// Writes `leaves` (C order) as arrays nested to `shape`, with msgspec's minimal headers.
pub(crate) fn encode_leaves<'a, I>(shape: &[usize], leaves: I) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = Option<&'a str>>,
{
    let mut out = Vec::new();
    let mut it = leaves.into_iter();
    write_level(&mut out, shape, &mut it)?;
    if it.next().is_some() {
        return Err(CodecError::ArrayMismatch {
            expected: format!("{} cells", shape.iter().product::<usize>()),
            actual: "more cells".to_owned(),
        });
    }
    Ok(out)
}

fn werr(e: impl std::fmt::Display) -> CodecError {
    CodecError::Unencodable {
        reason: format!("msgpack: {e}"),
    }
}

fn write_level<'a>(
    out: &mut Vec<u8>,
    shape: &[usize],
    it: &mut impl Iterator<Item = Option<&'a str>>,
) -> Result<()> {
    let Some((&len, rest)) = shape.split_first() else {
        return match it.next() {
            Some(Some(s)) => rmp::encode::write_str(out, s).map_err(werr),
            Some(None) => rmp::encode::write_nil(out).map_err(werr),
            None => Err(CodecError::ArrayMismatch {
                expected: "more cells".to_owned(),
                actual: "fewer cells".to_owned(),
            }),
        };
    };
    let len32 = u32::try_from(len).map_err(werr)?;
    rmp::encode::write_array_len(out, len32).map_err(werr)?;
    for _ in 0..len {
        write_level(out, rest, it)?;
    }
    Ok(())
}
