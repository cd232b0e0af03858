//! The deterministic workloads of the kv crash tests, shared by the writer child process
//! (`src/bin/kv_crash_child.rs`) and the checking parent (`tests/kv_crash.rs`), plus the model
//! that says which values a key may hold after a crash.

use std::collections::{BTreeMap, BTreeSet};

/// One step of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `set(key, value)`.
    Set(Vec<u8>, Vec<u8>),
    /// `delete(key)`.
    Delete(Vec<u8>),
    /// `set_metadata(value)`.
    Meta(Vec<u8>),
    /// Force the write buffer to disk without syncing (`items()` does that).
    Flush,
    /// `prune()` (which syncs first).
    Prune,
    /// `sync()`.
    Sync,
}

/// Number of phases of the phased scenarios; each ends with a sync.
pub const PHASES: u32 = 4;

fn k(s: &str, i: u32) -> Vec<u8> {
    format!("{s}{i}").into_bytes()
}

fn v(s: &str, i: u32, len: usize) -> Vec<u8> {
    let mut out = format!("{s}-{i}-").into_bytes();
    out.extend((0..len).map(|j| (j as u32 * 7 + i) as u8));
    out
}

/// The operations of `phase` (1-based) of a phased scenario (`phases` or `relocated`).
pub fn phase_ops(scenario: &str, phase: u32) -> Vec<Op> {
    let mut ops = Vec::new();
    match (scenario, phase) {
        ("phases", 1) => {
            // 20 keys in 6 buckets: the index grows at this sync.
            ops.extend((0..20).map(|i| Op::Set(k("k", i), v("v1", i, 30))));
            ops.push(Op::Meta(b"{\"m\":1}".to_vec()));
        }
        ("phases", 2) => {
            ops.extend((0..10).map(|i| Op::Set(k("k", i), v("v2", i, 30))));
            ops.extend((10..15).map(|i| Op::Delete(k("k", i))));
            ops.extend((20..40).map(|i| Op::Set(k("k", i), v("v1", i, 30))));
            ops.push(Op::Set(k("k", 40), b"short-lived".to_vec()));
            ops.push(Op::Flush);
            ops.push(Op::Delete(k("k", 40)));
            ops.push(Op::Meta(b"{\"m\":2}".to_vec()));
        }
        ("phases", 3) => {
            ops.push(Op::Prune);
            ops.push(Op::Set(k("k", 50), b"after-prune".to_vec()));
        }
        ("phases", 4) => {
            // 6 MB of values: the 4 MiB write buffer flushes in the middle of the epoch.
            ops.extend((60..80).map(|i| Op::Set(k("k", i), v("big", i, 300_000))));
            ops.push(Op::Delete(k("k", 0)));
            ops.push(Op::Set(k("k", 1), v("v4", 1, 10)));
        }
        ("relocated", 1) => ops.extend((0..5).map(|i| Op::Set(k("r", i), v("v1", i, 20)))),
        ("relocated", 2) => ops.push(Op::Prune),
        ("relocated", 3) => {
            // Growth from the relocated (pruned) index: a skip block covers the old index.
            ops.extend((5..21).map(|i| Op::Set(k("r", i), v("v1", i, 20))));
            ops.push(Op::Set(k("r", 0), v("v3", 0, 20)));
        }
        ("relocated", 4) => ops.push(Op::Delete(k("r", 1))),
        _ => {}
    }
    ops
}

/// A small deterministic PRNG (xorshift64*).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator (any seed; 0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The endless random workload of the SIGKILL test: sets (some of 600 kB, so the buffer
/// flushes mid-epoch), deletes, metadata, flushes, syncs and prunes over 150 keys.
pub fn random_ops(rng: &mut Rng) -> impl Iterator<Item = Op> + '_ {
    std::iter::from_fn(move || {
        let r = rng.below(1000);
        let key = k("key", rng.below(150) as u32);
        Some(match r {
            0..=599 => {
                let len = if rng.below(60) == 0 {
                    600_000
                } else {
                    rng.below(3000) as usize
                };
                let tag = rng.next_u64();
                let mut val = tag.to_le_bytes().to_vec();
                val.extend((0..len).map(|j| (tag as usize + j) as u8));
                Op::Set(key, val)
            }
            600..=799 => Op::Delete(key),
            800..=819 => Op::Meta(format!("{{\"r\":{}}}", rng.below(1000)).into_bytes()),
            820..=869 => Op::Flush,
            870..=994 => Op::Sync,
            _ => Op::Prune,
        })
    })
}

/// What a file may contain after a crash: for every key, the values it may read as
/// (`None` = absent), and the same for the metadata.
#[derive(Clone, Debug, Default)]
pub struct Acceptable {
    /// Allowed values per key; keys not listed must be absent.
    pub keys: BTreeMap<Vec<u8>, BTreeSet<Option<Vec<u8>>>>,
    /// Allowed metadata values.
    pub meta: BTreeSet<Option<Vec<u8>>>,
}

impl Acceptable {
    /// The state after `synced` (durable), with every effect of `window` (written after the
    /// last sync, possibly lost) also allowed.
    pub fn new(synced: &[Op], window: &[Op]) -> Acceptable {
        let mut state: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut meta = None;
        for op in synced {
            match op {
                Op::Set(k, v) => {
                    state.insert(k.clone(), v.clone());
                }
                Op::Delete(k) => {
                    state.remove(k);
                }
                Op::Meta(m) => meta = Some(m.clone()),
                Op::Flush | Op::Prune | Op::Sync => {}
            }
        }
        let mut a = Acceptable::default();
        for (k, v) in state {
            a.keys.entry(k).or_default().insert(Some(v));
        }
        a.meta.insert(meta);
        for op in window {
            match op {
                Op::Set(k, v) => {
                    let e = a.keys.entry(k.clone()).or_default();
                    if e.is_empty() {
                        e.insert(None);
                    }
                    e.insert(Some(v.clone()));
                }
                Op::Delete(k) => {
                    a.keys.entry(k.clone()).or_default().insert(None);
                }
                Op::Meta(m) => {
                    a.meta.insert(Some(m.clone()));
                }
                Op::Flush | Op::Prune | Op::Sync => {}
            }
        }
        a
    }

    /// Checks one observed state; returns a description of the first violation.
    pub fn check(
        &self,
        seen: &BTreeMap<Vec<u8>, Vec<u8>>,
        meta: &Option<Vec<u8>>,
    ) -> Result<(), String> {
        for (k, v) in seen {
            let ok = self
                .keys
                .get(k)
                .is_some_and(|s| s.contains(&Some(v.clone())));
            if !ok {
                return Err(format!(
                    "key {:?} holds a value that was never allowed ({} bytes)",
                    String::from_utf8_lossy(k),
                    v.len()
                ));
            }
        }
        for (k, allowed) in &self.keys {
            if !seen.contains_key(k) && !allowed.contains(&None) {
                return Err(format!(
                    "synced key {:?} was lost",
                    String::from_utf8_lossy(k)
                ));
            }
        }
        if !self.meta.contains(meta) {
            return Err("metadata holds a value that was never allowed".into());
        }
        Ok(())
    }
}
