//! Read-side logic shared by readers and writers: positional reads, chain walks and the linear
//! scan, all bounds-checked so that a damaged file gives `Corrupted`, never a panic or a loop.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{KvError, Result};
use crate::format::{BlockHead, HASH_LEN, Hash, Header, PTR_LEN, read_u48};

/// Something that can be read at absolute offsets.
pub(crate) trait Source {
    /// Current length in bytes.
    fn len(&self) -> u64;
    /// Fills `buf` from `pos`; fails if the range is past the end.
    fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(pos).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        let src = self.get(start..end).ok_or_else(eof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A file plus its known length.
pub(crate) struct FileSource<'a> {
    pub(crate) file: &'a File,
    pub(crate) len: u64,
}

impl Source for FileSource<'_> {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if pos.saturating_add(buf.len() as u64) > self.len {
            return Err(eof());
        }
        self.file.read_exact_at(buf, pos)
    }
}

fn eof() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "read past the end of the file",
    )
}

/// Everything needed to interpret block positions of one file.
pub(crate) struct Layout<'a> {
    pub(crate) header: &'a Header,
    pub(crate) regions: &'a [(u64, u64)],
    pub(crate) path: &'a Path,
}

impl Layout<'_> {
    pub(crate) fn corrupted(&self, offset: u64, reason: impl Into<String>) -> KvError {
        KvError::Corrupted {
            path: self.path.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// The region holding a block that starts at `pos`.
    fn region_of(&self, pos: u64) -> Option<(u64, u64)> {
        self.regions
            .iter()
            .copied()
            .find(|&(s, e)| pos >= s && pos < e)
    }

    /// Reads and bounds-checks the head of the block at `pos`, which must lie in a data region
    /// and end inside it.
    pub(crate) fn head_at<S: Source + ?Sized>(&self, src: &S, pos: u64) -> Result<BlockHead> {
        let (_, end) = self
            .region_of(pos)
            .ok_or_else(|| self.corrupted(pos, "pointer outside every data region"))?;
        let mut buf = [0u8; 32];
        let hl = self.header.head_len() as usize;
        let buf = &mut buf[..hl];
        src.read_exact_at(pos, buf)
            .map_err(|_| self.corrupted(pos, "block head runs past the end of the file"))?;
        let head = BlockHead::parse(self.header, buf)
            .ok_or_else(|| self.corrupted(pos, "unreadable block head"))?;
        if pos + head.block_len(self.header) > end {
            return Err(self.corrupted(pos, "block overruns its data region"));
        }
        Ok(head)
    }

    /// Upper bound on the number of blocks in the file (bounds chain walks).
    pub(crate) fn max_blocks(&self, file_len: u64) -> u64 {
        file_len / self.header.head_len().max(1) + 2
    }

    /// Reads the bucket slot `b` of the on-disk index.
    pub(crate) fn slot<S: Source + ?Sized>(&self, src: &S, b: usize) -> Result<u64> {
        let at = self.header.index_offset() + PTR_LEN * b as u64;
        let mut p = [0u8; 6];
        // A slot past EOF reads as empty, like the reference (short reads are zeros).
        if src.read_exact_at(at, &mut p).is_err() {
            return Ok(1);
        }
        Ok(read_u48(&p))
    }

    /// Walks the chain starting at `start` to the block with `hash`.
    pub(crate) fn walk<S: Source + ?Sized>(
        &self,
        src: &S,
        start: u64,
        hash: &Hash,
    ) -> Result<Option<(u64, BlockHead)>> {
        let mut cur = start;
        let mut steps = 0u64;
        let bound = self.max_blocks(src.len());
        while cur > 1 {
            steps += 1;
            if steps > bound {
                return Err(self.corrupted(cur, "bucket chain cycles"));
            }
            let head = self.head_at(src, cur)?;
            if head.next == 0 {
                return Ok(None);
            }
            if &head.hash == hash {
                return Ok(Some((cur, head)));
            }
            cur = head.next;
        }
        Ok(None)
    }
}

/// A block found by the linear scan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scanned {
    pub(crate) pos: u64,
    pub(crate) head: BlockHead,
}

/// The linear scan over the data regions in physical order (dead blocks included).
pub(crate) struct Scan<'a, S: ?Sized> {
    pub(crate) layout: Layout<'a>,
    pub(crate) src: &'a S,
    region: usize,
    pos: u64,
    failed: bool,
}

impl<'a, S: Source + ?Sized> Scan<'a, S> {
    pub(crate) fn new(layout: Layout<'a>, src: &'a S) -> Self {
        let pos = layout.regions.first().map_or(0, |r| r.0);
        Scan {
            layout,
            src,
            region: 0,
            pos,
            failed: false,
        }
    }

    /// Position the scan has reached (the start of the next block).
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// Whether the scan is in the last region.
    pub(crate) fn in_last_region(&self) -> bool {
        self.region + 1 >= self.layout.regions.len()
    }
}

impl<S: Source + ?Sized> Iterator for Scan<'_, S> {
    type Item = Result<Scanned>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let &(_, end) = self.layout.regions.get(self.region)?;
            if self.pos >= end {
                self.region += 1;
                self.pos = self.layout.regions.get(self.region)?.0;
                continue;
            }
            let pos = self.pos;
            return Some(match self.layout.head_at(self.src, pos) {
                Ok(head) => {
                    self.pos = pos + head.block_len(self.layout.header);
                    Ok(Scanned { pos, head })
                }
                Err(e) => {
                    self.failed = true;
                    Err(e)
                }
            });
        }
    }
}

/// Reads the key bytes of a scanned block.
pub(crate) fn read_key<S: Source + ?Sized>(
    layout: &Layout<'_>,
    src: &S,
    b: &Scanned,
) -> Result<Vec<u8>> {
    let mut key = vec![0u8; b.head.key_len as usize];
    src.read_exact_at(b.pos + layout.header.head_len(), &mut key)
        .map_err(|_| layout.corrupted(b.pos, "key runs past the end of the file"))?;
    Ok(key)
}

/// Whether a hash belongs to the key bytes (used by recovery to reject garbage blocks).
pub(crate) fn hash_matches(hash: &Hash, key: &[u8]) -> bool {
    crate::format::key_hash(key)[..HASH_LEN] == hash[..]
}
