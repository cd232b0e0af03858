//! Chunk compression (`cfdb-format.md` §5.3, §5.5, §5.6).

use std::cell::RefCell;
use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use crate::error::{CodecError, Result};

/// The byte codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// One Zstandard frame carrying its content size.
    Zstd,
    /// One LZ4 frame (lz4_flex; single speed, the level is only recorded).
    Lz4,
}

/// A dataset's `compression` setting: a codec plus an optional byte shuffle.
///
/// ```
/// use cfdb_codec::{Codec, Compression};
/// let c: Compression = "lz4_shuffle".parse().unwrap();
/// assert_eq!(c, Compression { codec: Codec::Lz4, shuffle: true });
/// assert_eq!(c.to_string(), "lz4_shuffle");
/// assert!("gzip".parse::<Compression>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Compression {
    /// The codec.
    pub codec: Codec,
    /// Whether 2-, 4- and 8-byte values are byte-shuffled before the codec.
    pub shuffle: bool,
}

impl Compression {
    /// cfdb's default for new datasets (`zstd_shuffle`).
    pub const DEFAULT: Compression = Compression {
        codec: Codec::Zstd,
        shuffle: true,
    };

    /// The name stored in the metadata.
    pub const fn name(self) -> &'static str {
        match (self.codec, self.shuffle) {
            (Codec::Zstd, false) => "zstd",
            (Codec::Zstd, true) => "zstd_shuffle",
            (Codec::Lz4, false) => "lz4",
            (Codec::Lz4, true) => "lz4_shuffle",
        }
    }
}

impl Default for Compression {
    fn default() -> Self {
        Compression::DEFAULT
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = CodecError;
    fn from_str(s: &str) -> Result<Self> {
        let (codec, shuffle) = match s {
            "zstd" => (Codec::Zstd, false),
            "zstd_shuffle" => (Codec::Zstd, true),
            "lz4" => (Codec::Lz4, false),
            "lz4_shuffle" => (Codec::Lz4, true),
            _ => {
                return Err(CodecError::UnknownCompression { name: s.to_owned() });
            }
        };
        Ok(Compression { codec, shuffle })
    }
}

thread_local! {
    static DCTX: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

fn zerr(reason: impl fmt::Display) -> CodecError {
    CodecError::Decompress {
        codec: "zstd",
        reason: reason.to_string(),
    }
}

/// Decompresses the first zstd frame of `src` into `out` (cleared first; its allocation is
/// reused). The content size must not exceed `limit`.
pub(crate) fn zstd_decompress(src: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    out.clear();
    let frame_len = zstd::zstd_safe::find_frame_compressed_size(src)
        .map_err(|c| zerr(zstd::zstd_safe::get_error_name(c)))?;
    let frame = src
        .get(..frame_len)
        .ok_or_else(|| zerr("truncated frame"))?;
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) => {
            let size = usize::try_from(size)
                .ok()
                .filter(|s| *s <= limit)
                .ok_or_else(|| zerr(format!("content size {size} exceeds the limit {limit}")))?;
            out.reserve(size);
            DCTX.with(|cell| -> Result<()> {
                let mut slot = cell.try_borrow_mut().map_err(|_| zerr("context busy"))?;
                if slot.is_none() {
                    *slot = zstd::zstd_safe::DCtx::try_create();
                }
                let dctx = slot.as_mut().ok_or_else(|| zerr("cannot create context"))?;
                let written = dctx.decompress(out, frame).map_err(|c| {
                    // A failed call may leave the context mid-frame: drop it.
                    zerr(zstd::zstd_safe::get_error_name(c))
                });
                if written.is_err() {
                    *slot = None;
                }
                let written = written?;
                if written != size {
                    return Err(zerr(format!(
                        "frame declared {size} bytes, produced {written}"
                    )));
                }
                Ok(())
            })
        }
        Ok(None) => {
            // No content size: Python refuses such frames; be lenient and stream it.
            let dec = zstd::stream::read::Decoder::with_buffer(frame).map_err(zerr)?;
            let mut take = dec.single_frame().take(limit as u64 + 1);
            take.read_to_end(out).map_err(zerr)?;
            if out.len() > limit {
                return Err(zerr(format!("content exceeds the limit {limit}")));
            }
            Ok(())
        }
        Err(_) => Err(zerr("invalid frame header")),
    }
}

/// Decompresses an LZ4 frame into `out` (cleared first), at most `limit` bytes.
pub(crate) fn lz4_decompress(src: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    out.clear();
    let dec = lz4_flex::frame::FrameDecoder::new(src);
    let mut take = dec.take(limit as u64 + 1);
    take.read_to_end(out).map_err(|e| CodecError::Decompress {
        codec: "lz4",
        reason: e.to_string(),
    })?;
    if out.len() > limit {
        return Err(CodecError::Decompress {
            codec: "lz4",
            reason: format!("content exceeds the limit {limit}"),
        });
    }
    Ok(())
}

/// Compresses with zstd at `level` (one frame, content size in the header, no checksum).
pub(crate) fn zstd_compress(src: &[u8], level: i32) -> Result<Vec<u8>> {
    zstd::bulk::compress(src, level).map_err(|e| CodecError::Compress {
        codec: "zstd",
        reason: e.to_string(),
    })
}

thread_local! {
    /// This thread's zstd compression context and the level it is set to.
    static CCTX: RefCell<Option<(zstd::bulk::Compressor<'static>, i32)>> = const { RefCell::new(None) };
}

fn cerr(reason: impl fmt::Display) -> CodecError {
    CodecError::Compress {
        codec: "zstd",
        reason: reason.to_string(),
    }
}

/// [`zstd_compress`] into `out` (its contents replaced, its allocation reused) with this
/// thread's compression context, kept between calls: the same frame, without creating a
/// context per chunk.
pub(crate) fn zstd_compress_into(src: &[u8], level: i32, out: &mut Vec<u8>) -> Result<()> {
    CCTX.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            *out = zstd_compress(src, level)?;
            return Ok(());
        };
        if slot.as_ref().is_none_or(|(_, l)| *l != level) {
            *slot = None;
            *slot = Some((zstd::bulk::Compressor::new(level).map_err(cerr)?, level));
        }
        let Some((comp, _)) = slot.as_mut() else {
            return Err(cerr("no compression context"));
        };
        out.clear();
        out.reserve(zstd::zstd_safe::compress_bound(src.len()));
        let r = comp.compress_to_buffer(src, out);
        if r.is_err() {
            *slot = None;
        }
        r.map(|_| ()).map_err(cerr)
    })
}

/// Compresses into one LZ4 frame laid out like python-lz4's: independent 64 KiB blocks,
/// content size present, no checksums.
pub(crate) fn lz4_compress(src: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(src.len() / 2 + 64);
    lz4_compress_into(src, &mut out)?;
    Ok(out)
}

/// [`lz4_compress`] into `out` (its contents replaced, its allocation reused).
pub(crate) fn lz4_compress_into(src: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let err = |e: &dyn fmt::Display| CodecError::Compress {
        codec: "lz4",
        reason: e.to_string(),
    };
    let info = lz4_flex::frame::FrameInfo::new()
        .block_size(lz4_flex::frame::BlockSize::Max64KB)
        .block_mode(lz4_flex::frame::BlockMode::Independent)
        .content_size(Some(src.len() as u64));
    let mut buf = std::mem::take(out);
    buf.clear();
    let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, buf);
    enc.write_all(src).map_err(|e| err(&e))?;
    *out = enc.finish().map_err(|e| err(&e))?;
    Ok(())
}
