//! The kv benchmark workload on cfdb-kv (run by `cargo xtask bench kv`, side by side with
//! `xtask/python/bench_kv.py`, which documents the exact workload).
//!
//! Usage: `bench_kv DIR` — writes `DIR/bench.blt` and prints one JSON line
//! `{"set_sync_s": .., "get_s": .., "iter_s": ..}`.

use std::time::Instant;

use cfdb_kv::{Mode, OpenOptions, Reader};

const N: u64 = 100_000;
const VALUE_LEN: usize = 1024;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: bench_kv DIR")?;
    let path = std::path::Path::new(&dir).join("bench.blt");

    let mut g = SplitMix(0x5EED);
    let base: Vec<u64> = (0..VALUE_LEN / 8).map(|_| g.next()).collect();
    let keys: Vec<String> = (0..N).map(|i| format!("{i:08}")).collect();
    let values: Vec<Vec<u8>> = (0..N)
        .map(|i| base.iter().flat_map(|&b| (b ^ i).to_le_bytes()).collect())
        .collect();
    let mut order: Vec<usize> = (0..N as usize).collect();
    let mut g = SplitMix(42);
    for j in (1..order.len()).rev() {
        let k = (g.next() % (j as u64 + 1)) as usize;
        order.swap(j, k);
    }

    // 1. Sequential set of every key, then close (sync + fdatasync).
    let t = Instant::now();
    let mut w = OpenOptions::new().n_buckets(12007).open(&path, Mode::New)?;
    for (k, v) in keys.iter().zip(&values) {
        w.set(k, v)?;
    }
    w.close()?;
    let set_sync_s = t.elapsed().as_secs_f64();

    // 2. Random gets through a fresh read-only handle.
    let t = Instant::now();
    let r = Reader::open(&path)?;
    let mut found = 0usize;
    let mut checksum = 0u64;
    for &i in &order {
        if let Some(v) = r.get(&keys[i])? {
            found += 1;
            checksum = checksum.wrapping_add(u64::from(v[0]));
        }
    }
    drop(r);
    let get_s = t.elapsed().as_secs_f64();
    if found as u64 != N {
        return Err(format!("get found {found} of {N} keys").into());
    }

    // 3. Full iteration of the items.
    let t = Instant::now();
    let r = Reader::open(&path)?;
    let mut n = 0u64;
    let mut bytes = 0usize;
    for item in r.items() {
        let item = item?;
        n += 1;
        bytes += item.value.len();
    }
    drop(r);
    let iter_s = t.elapsed().as_secs_f64();
    if n != N || bytes != N as usize * VALUE_LEN {
        return Err(format!("iteration saw {n} items / {bytes} bytes").into());
    }
    // Check a value after the clock stopped.
    let r = Reader::open(&path)?;
    if r.get(&keys[12345])? != Some(values[12345].as_slice()) {
        return Err("value mismatch".into());
    }
    // 2b. The same random gets through the batch API.
    let t = Instant::now();
    let r = Reader::open(&path)?;
    let batch: Vec<&str> = order.iter().map(|&i| keys[i].as_str()).collect();
    let got = r.get_many(&batch)?;
    let found_many = got.iter().filter(|v| v.is_some()).count();
    drop(got);
    drop(r);
    let get_many_s = t.elapsed().as_secs_f64();
    if found_many as u64 != N {
        return Err(format!("get_many found {found_many} of {N} keys").into());
    }
    std::hint::black_box(checksum);
    println!(
        "{{\"set_sync_s\": {set_sync_s:.6}, \"get_s\": {get_s:.6}, \"get_many_s\": {get_many_s:.6}, \"iter_s\": {iter_s:.6}}}"
    );
    Ok(())
}
