//! The salvage scan used to read and to repair unclean files: walk every data region, validate
//! each block, stop at a torn tail, and keep the newest live block of every key.

use std::collections::HashMap;

use crate::error::Result;
use crate::format::{HIDDEN_KEYS, Hash};
use crate::source::{Layout, Scan, Source, hash_matches, read_key};

/// What the salvage scan found.
#[derive(Debug, Default)]
pub(crate) struct Salvage {
    /// The newest live block of every key, in physical order: (position, hash, is a user key).
    pub(crate) winners: Vec<(u64, Hash, bool)>,
    /// Live blocks superseded by a newer live block of the same key.
    pub(crate) losers: Vec<u64>,
    /// Where a torn tail starts (the file should end here), if any.
    pub(crate) torn_at: Option<u64>,
    /// Whether the damaged block at `torn_at` runs past the end of the file, which is what an
    /// interrupted append leaves (as opposed to a damaged block that fits).
    pub(crate) torn_overruns: bool,
}

impl Salvage {
    /// Number of live user keys.
    pub(crate) fn n_user_keys(&self) -> u64 {
        self.winners.iter().filter(|w| w.2).count() as u64
    }

    /// Map from hash to the winning block.
    pub(crate) fn winner_map(&self) -> HashMap<Hash, u64> {
        self.winners.iter().map(|&(p, h, _)| (h, p)).collect()
    }
}

/// Runs the salvage scan. A damaged block in the last region is a torn tail; one in an earlier
/// region cannot be a crash artefact (writers only append at EOF) and is reported as corruption.
pub(crate) fn salvage<S: Source + ?Sized>(layout: &Layout<'_>, src: &S) -> Result<Salvage> {
    let mut scan = Scan::new(
        Layout {
            header: layout.header,
            regions: layout.regions,
            path: layout.path,
        },
        src,
    );
    let mut live: Vec<(u64, Hash, bool)> = Vec::new();
    let mut latest: HashMap<Hash, usize> = HashMap::new();
    let mut torn_at = None;
    let mut torn_overruns = false;
    while let Some(item) = scan.next() {
        let bad = match item {
            Err(e) => Some((scan.position(), e)),
            Ok(b) if b.head.next == 0 => None,
            Ok(b) => {
                let key = read_key(layout, src, &b)?;
                if hash_matches(&b.head.hash, &key) {
                    let user = !HIDDEN_KEYS.contains(&key.as_slice());
                    latest.insert(b.head.hash, live.len());
                    live.push((b.pos, b.head.hash, user));
                    None
                } else {
                    Some((
                        b.pos,
                        layout.corrupted(b.pos, "live block whose hash does not match its key"),
                    ))
                }
            }
        };
        if let Some((at, e)) = bad {
            if scan.in_last_region() {
                torn_overruns = overruns(layout, src, at);
                torn_at = Some(at);
                break;
            }
            return Err(e);
        }
    }
    let mut out = Salvage {
        torn_at,
        torn_overruns,
        ..Salvage::default()
    };
    for (i, w) in live.into_iter().enumerate() {
        if latest.get(&w.1) == Some(&i) {
            out.winners.push(w);
        } else {
            out.losers.push(w.0);
        }
    }
    Ok(out)
}

/// Whether the block starting at `at` is cut off by the end of the file.
fn overruns<S: Source + ?Sized>(layout: &Layout<'_>, src: &S, at: u64) -> bool {
    let len = src.len();
    let hl = layout.header.head_len();
    if at + hl > len {
        return true;
    }
    let mut buf = [0u8; 32];
    let Some(b) = buf.get_mut(..hl as usize) else {
        return false;
    };
    if src.read_exact_at(at, b).is_err() {
        return true;
    }
    crate::format::BlockHead::parse(layout.header, b)
        .is_some_and(|h| at + h.block_len(layout.header) > len)
}
