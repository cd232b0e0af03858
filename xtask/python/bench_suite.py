#!/usr/bin/env python3
"""cfdb's own benchmark suite on Python cfdb 0.11.0 (the reference side of
`cargo xtask bench suite`), equivalent to the upstream harness
(`benchmarks/run_benchmarks.py --tier T --backends cfdb`, bench-spec §4–5).

Usage:
  bench_suite.py run  --tier small|medium|large --work DIR [--iterations N] [--no-heap]
  bench_suite.py dump --tier small|medium|large --out DIR

`run` is one process = one tier, backend Python cfdb:

1. the data of bench-spec §2 (numpy `default_rng(42)`), untimed;
2. a `mkdtemp(prefix='cfdb_bench_')` under DIR;
3. the ops in the spec's order, each `n_iterations` times: write_full (new file each time,
   all deleted after), write_append (untimed write_full, timed append, delete), one untimed
   write_full for the reads, read_full, read_slice_aligned, read_slice_unaligned,
   iterate_chunks, iterate_rechunked, groupby_7day, then file_size and delete.

Each timed region is one call of the op, wrapped by `time.perf_counter` (wall) and
`time.process_time` (CPU, all threads); the op's return value is dropped inside it, as
upstream. Peak heap is tracemalloc's peak, measured in one extra, untimed iteration after the
timed ones of each op (tracemalloc slows the Python-heavy small ops a lot, so it is kept out of
the timed iterations); `--no-heap` skips that pass.

Output: one JSON line per op,
  {"backend": "python-cfdb", "tier": T, "op": OP, "wall_s": [...], "cpu_s": [...],
   "peak_heap_bytes": [...]}
and for file_size {"backend": ..., "op": "file_size", "bytes": N}. Progress goes to stderr.

`dump` writes the raw little-endian C-order float32 arrays DIR/{tier}_var.f32 and
DIR/{tier}_extra.f32 (the data the Rust backends read, bench-spec §8) and checks their
SHA-256 against the spec; it exits non-zero on a mismatch.
"""
import argparse
import gc
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

# name: (lat, lon, time, append, chunk shape, n_iterations)
TIERS = {
    'small': (100, 100, 49, 7, (20, 20, 49), 5),
    'medium': (500, 500, 98, 14, (50, 50, 14), 3),
    'large': (1000, 1000, 364, 28, (100, 100, 28), 1),
}

SHA256 = {
    'small': ('42ebc884b9b1b5818cdb7762ddc51c6ee9598d0b560cf5d09b549dbe3a4fb58e',
              '51269e8f0462e553f9c448e880e7250645391d678f32453c16dc6d8488ca518f'),
    'medium': ('4b9038313903741f2ec4da01c2b790bad067445e09600be820ed2c4011823f79',
               '5fa742b6519add7e3b2c21da11b08427fad0c26e0f767c6d9e8ff26eef5a8d07'),
    'large': ('f4554cbc5be2762eebf8c35bcd7fcb323ff74d851e53cb5ce63c873398caa9c0',
              'e7cdabbc76c9129877d6b38117f6671b64d7b85ba27f990bc6358fd5b3bffc76'),
}

OPS = ['write_full', 'write_append', 'read_full', 'read_slice_aligned',
       'read_slice_unaligned', 'iterate_chunks', 'iterate_rechunked', 'groupby_7day']


def generate_data(tier):
    """bench-spec §2, as upstream `benchmarks/utils.py::generate_data`."""
    lat_size, lon_size, time_size, append, chunk_shape, _ = TIERS[tier]
    rng = np.random.default_rng(42)
    lat_data = np.linspace(-90, 90, lat_size, dtype='float32')
    lon_data = np.linspace(-180, 180, lon_size, dtype='float32')
    time_data = np.arange(np.datetime64('2020-01-01'),
                          np.datetime64('2020-01-01') + time_size, dtype='datetime64[D]')
    var_data = rng.uniform(0, 10000, size=(lat_size, lon_size, time_size)).astype('float32')
    extra_time_data = np.arange(time_data[-1] + np.timedelta64(1, 'D'),
                                time_data[-1] + np.timedelta64(1 + append, 'D'),
                                dtype='datetime64[D]')
    extra_var_data = rng.uniform(0, 10000, size=(lat_size, lon_size, append)).astype('float32')
    c = chunk_shape
    return {
        'lat_data': lat_data, 'lon_data': lon_data, 'time_data': time_data,
        'var_data': var_data, 'extra_time_data': extra_time_data,
        'extra_var_data': extra_var_data, 'chunk_shape': chunk_shape,
        'aligned_sel': (slice(0, c[0]), slice(0, c[1]), slice(0, c[2])),
        'unaligned_sel': (slice(5, 5 + c[0]), slice(10, 10 + c[1]),
                          slice(0, min(c[2], time_size))),
        'rechunked_shape': {'latitude': lat_size, 'longitude': lon_size, 'time': 7},
    }


class CfdbBackend:
    """The upstream `benchmarks/backends/cfdb_backend.py`, op for op."""

    def __init__(self, base_dir, data):
        from cfdb import open_dataset, dtypes
        self.open_dataset = open_dataset
        self.dtypes = dtypes
        self.base_dir = base_dir
        self.data = data
        self._counter = 0

    def _next_path(self):
        self._counter += 1
        return self.base_dir / f'bench_{self._counter}.cfdb'

    def write_full(self):
        path = self._next_path()
        data = self.data
        with self.open_dataset(path, flag='n') as ds:
            ds.create.coord.lat(data=data['lat_data'], chunk_shape=(data['chunk_shape'][0],))
            ds.create.coord.lon(data=data['lon_data'], chunk_shape=(data['chunk_shape'][1],))
            ds.create.coord.time(data=data['time_data'], dtype=data['time_data'].dtype)
            dv = ds.create.data_var.generic('temperature', ('latitude', 'longitude', 'time'),
                                            self.dtypes.dtype('float32'),
                                            chunk_shape=data['chunk_shape'])
            dv[:] = data['var_data']
        return path

    def write_append(self, file_path):
        data = self.data
        with self.open_dataset(file_path, flag='w') as ds:
            time_coord = ds['time']
            old_len = len(time_coord.data)
            time_coord.append(data['extra_time_data'])
            dv = ds['temperature']
            new_len = old_len + len(data['extra_time_data'])
            dv[slice(None), slice(None), slice(old_len, new_len)] = data['extra_var_data']

    def read_full(self, file_path):
        with self.open_dataset(file_path) as ds:
            return ds['temperature'].data

    def read_slice_aligned(self, file_path):
        with self.open_dataset(file_path) as ds:
            return ds['temperature'][self.data['aligned_sel']].data

    def read_slice_unaligned(self, file_path):
        with self.open_dataset(file_path) as ds:
            return ds['temperature'][self.data['unaligned_sel']].data

    def iterate_chunks(self, file_path):
        total = 0
        with self.open_dataset(file_path) as ds:
            for _, chunk_data in ds['temperature'].iter_chunks():
                total += chunk_data.size
        return total

    def iterate_rechunked(self, file_path):
        total = 0
        with self.open_dataset(file_path) as ds:
            for _, chunk_data in ds['temperature'].iter_chunks(self.data['rechunked_shape'],
                                                               max_mem=2**31):
                total += chunk_data.size
        return total

    def groupby_7day(self, file_path):
        count = 0
        with self.open_dataset(file_path) as ds:
            for _, chunk_data in ds['temperature'].groupby({'time': '7D'}, max_mem=2**31):
                chunk_data.mean()
                count += 1
        return count

    @staticmethod
    def cleanup(file_path):
        if file_path.exists():
            file_path.unlink()


def timed(func, counts=None):
    """One sample: (wall, cpu); the return value is dropped inside the timed region (an integer
    result, a count, is kept in `counts`)."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = func()
    if counts is not None and isinstance(res, int):
        counts.append(res)
    del res
    c1 = time.process_time()
    t1 = time.perf_counter()
    return t1 - t0, c1 - c0


def traced(func):
    """tracemalloc's peak over one call (untimed)."""
    gc.collect()
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def emit(tier, op, **fields):
    print(json.dumps({'backend': 'python-cfdb', 'tier': tier, 'op': op, **fields}), flush=True)


def run(tier, work, iterations, heap):
    n = iterations or TIERS[tier][5]
    lat_size, lon_size, time_size = TIERS[tier][:3]
    log = lambda msg: print(f'[python-cfdb {tier}] {msg}', file=sys.stderr, flush=True)
    log('generating data')
    data = generate_data(tier)
    work.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix='cfdb_bench_', dir=work))
    try:
        b = CfdbBackend(base, data)

        def record(op, samples, peak):
            emit(tier, op, wall_s=[s[0] for s in samples], cpu_s=[s[1] for s in samples],
                 peak_heap_bytes=[peak] * len(samples) if peak is not None else [])

        # write_full: a new file per iteration, all deleted after.
        log('write_full')
        paths = []
        samples = [timed(lambda: paths.append(b.write_full())) for _ in range(n)]
        peak = traced(lambda: paths.append(b.write_full())) if heap else None
        for p in paths:
            b.cleanup(p)
        record('write_full', samples, peak)

        # write_append: untimed write_full, timed append, delete.
        log('write_append')
        samples = []
        for _ in range(n):
            p = b.write_full()
            samples.append(timed(lambda: b.write_append(p)))
            b.cleanup(p)
        peak = None
        if heap:
            p = b.write_full()
            peak = traced(lambda: b.write_append(p))
            b.cleanup(p)
        record('write_append', samples, peak)

        fp = b.write_full()
        expect = {
            'iterate_chunks': lat_size * lon_size * time_size,
            'iterate_rechunked': lat_size * lon_size * time_size,
            'groupby_7day': -(-time_size // 7),
        }
        for op in OPS[2:]:
            log(op)
            func = getattr(b, op)
            counts = []
            samples = [timed(lambda: func(fp), counts) for _ in range(n)]
            peak = traced(lambda: func(fp)) if heap else None
            if op in expect and counts != [expect[op]] * n:
                raise SystemExit(f'{op}: counted {counts}, expected {expect[op]}')
            record(op, samples, peak)
        emit(tier, 'file_size', bytes=fp.stat().st_size)
        b.cleanup(fp)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def dump(tier, out):
    lat_size, lon_size, time_size, append = TIERS[tier][:4]
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    var = rng.uniform(0, 10000, size=(lat_size, lon_size, time_size)).astype('<f4')
    extra = rng.uniform(0, 10000, size=(lat_size, lon_size, append)).astype('<f4')
    for name, arr, want in (('var', var, SHA256[tier][0]), ('extra', extra, SHA256[tier][1])):
        got = hashlib.sha256(arr.tobytes()).hexdigest()
        if got != want:
            raise SystemExit(f'{tier} {name}: SHA-256 {got}, bench-spec says {want}')
        tmp = out / f'{tier}_{name}.f32.tmp'
        arr.tofile(tmp)
        os.replace(tmp, out / f'{tier}_{name}.f32')
    print(json.dumps({'tier': tier, 'var_sha256': SHA256[tier][0],
                      'extra_sha256': SHA256[tier][1]}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('mode', choices=['run', 'dump'])
    ap.add_argument('--tier', choices=list(TIERS), required=True)
    ap.add_argument('--work', type=Path)
    ap.add_argument('--out', type=Path)
    ap.add_argument('--iterations', type=int, default=None)
    ap.add_argument('--no-heap', action='store_true')
    a = ap.parse_args()
    if a.mode == 'dump':
        if a.out is None:
            ap.error('dump needs --out')
        dump(a.tier, a.out)
    else:
        if a.work is None:
            ap.error('run needs --work')
        run(a.tier, a.work, a.iterations, not a.no_heap)


if __name__ == '__main__':
    main()
