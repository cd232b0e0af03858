#!/usr/bin/env python3
"""The kv benchmark workload on Python booklet (the reference side of `cargo xtask bench kv`).

Usage: bench_kv.py DIR      (writes DIR/bench.blt; DIR must exist)

Prints one JSON line: {"set_sync_s": .., "get_s": .., "iter_s": ..} (seconds, wall clock).

The workload, identical in cfdb-kv's `bench_kv` example:

* N = 100_000 keys; key i (0 <= i < N) is the str f"{i:08d}" (8 ASCII digits, key
  serializer 'str'). Values are raw bytes (value serializer None).
* Value i is 1024 bytes: BASE XOR LANES(i), where
    - BASE = 128 consecutive outputs of splitmix64 seeded with 0x5EED, each written as 8
      little-endian bytes (BASE[0..8] = LE bytes of the first output);
    - LANES(i) = the 8 little-endian bytes of i as u64, repeated 128 times.
  So value i's 8-byte lane j is LE(splitmix64_output_j XOR i).
* splitmix64 (all arithmetic mod 2**64):
      state += 0x9E3779B97F4A7C15; z = state
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
      z = (z ^ (z >> 27)) * 0x94D049BB133111EB
      return z ^ (z >> 31)
* Random get order: the list [0, 1, ..., N-1] shuffled by Fisher-Yates with splitmix64 seeded
  with 42: for j from N-1 down to 1: k = next() % (j + 1); swap(order[j], order[k]).

Timed phases (values and the order are built before any timing starts):

1. set_sync_s: booklet.open(path, 'n', key_serializer='str', value_serializer=None,
   n_buckets=12007); db[key_i] = value_i for i = 0..N-1 in order; db.close() (which syncs; Python
   booklet does not fsync, cfdb-kv does).
2. get_s: booklet.open(path, 'r'); db[key] for the N keys in the shuffled order; close.
3. iter_s: booklet.open(path, 'r'); iterate all of db.items(); close.

Each phase checks its result after the clock stops (value bytes, counts) and exits non-zero on a
mismatch.
"""
import json
import sys
import time

import booklet

N = 100_000
VALUE_LEN = 1024
LANES = VALUE_LEN // 8
MASK64 = (1 << 64) - 1


def splitmix64(seed: int):
    state = seed & MASK64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def key(i: int) -> str:
    return f"{i:08d}"


def make_values():
    gen = splitmix64(0x5EED)
    base = b"".join(next(gen).to_bytes(8, "little") for _ in range(LANES))
    base_int = int.from_bytes(base, "little")
    # i * REP puts i in every 64-bit lane (no carries: i < 2**64).
    rep = sum(1 << (64 * j) for j in range(LANES))
    return [(base_int ^ (i * rep)).to_bytes(VALUE_LEN, "little") for i in range(N)]


def shuffled_order():
    gen = splitmix64(42)
    order = list(range(N))
    for j in range(N - 1, 0, -1):
        k = next(gen) % (j + 1)
        order[j], order[k] = order[k], order[j]
    return order


def main(argv) -> int:
    if len(argv) != 2:
        print("usage: bench_kv.py DIR", file=sys.stderr)
        return 2
    path = f"{argv[1]}/bench.blt"
    keys = [key(i) for i in range(N)]
    values = make_values()
    order = shuffled_order()

    t0 = time.perf_counter()
    db = booklet.open(path, "n", key_serializer="str", value_serializer=None, n_buckets=12007)
    for k, v in zip(keys, values):
        db[k] = v
    db.close()
    set_sync_s = time.perf_counter() - t0

    got = [None] * N
    t0 = time.perf_counter()
    db = booklet.open(path, "r")
    for i in order:
        got[i] = db[keys[i]]
    db.close()
    get_s = time.perf_counter() - t0
    if got != values:
        print("bench_kv.py: get phase returned wrong values", file=sys.stderr)
        return 1

    count = 0
    total = 0
    t0 = time.perf_counter()
    db = booklet.open(path, "r")
    for _k, v in db.items():
        count += 1
        total += len(v)
    db.close()
    iter_s = time.perf_counter() - t0
    if count != N or total != N * VALUE_LEN:
        print(f"bench_kv.py: iteration saw {count} items / {total} bytes", file=sys.stderr)
        return 1

    print(json.dumps({"set_sync_s": set_sync_s, "get_s": get_s, "iter_s": iter_s}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
