#!/usr/bin/env python3
"""Python side of the rechunk plan interop test: rechunkit 0.6.0's planner and rechunker.

Usage: rechunk_plan.py CASES_JSON_PATH   (or ``-`` to read the cases from stdin)

The input is a JSON object ``{"plans": [...], "cfdb": [...]}``. Each plan case is::

    {"shape": [int], "itemsize": int, "source": [int], "target": [int], "max_mem": int,
     "sel": [[start, stop], ...] or null, "phase": [int] or null, "execute": bool}

All cases run in this one process. stdout is ``{"plans": [...], "cfdb": [...]}``; per plan case,
in order, an object holding the results of the rechunkit functions (each either a value or
``{"error": "ExceptionType: message"}``):

- ``ideal_unclipped``: calc_ideal_read_chunk_shape(source, target)
- ``ideal``: calc_ideal_read_chunk_shape(source, target, extent)
- ``ideal_mem``: calc_ideal_read_chunk_mem(ideal, itemsize)
- ``read_noshape``: calc_source_read_chunk_shape(source, target, itemsize, max_mem)
- ``read_phase``: calc_source_read_chunk_shape(..., phase=case phase) (no shape)
- ``read``: calc_source_read_chunk_shape(..., shape=extent, phase=selection phase)
- ``n_chunks_source``, ``n_chunks_target``: calc_n_chunks(shape, source / target)
- ``simple``: calc_n_reads_simple(shape, source, target)
- ``counts``: calc_n_reads_rechunker(shape, itemsize, source, target, max_mem, sel)

and, when ``execute`` is set:

- ``plan``: the groups of ``_rechunk_plan``: ``[kind, reads, writes, group_start]`` with regions
  as lists of ``[start, stop]``;
- ``requests``: the regions ``rechunker`` passed to its source callable, in order;
- ``yields``: per yielded target chunk, ``[region, checksum]`` where the data are
  ``arange(prod(shape)) % 97`` (dtype of the case's itemsize) and
  ``checksum = sum(value * (flat index within the chunk + 1))``;
- ``held``: per yield, the bytes the generator holds right then (its bulk buffer, its parked
  chunks and its not yet yielded batch buffers, read from the generator frame), in elements times
  the case's itemsize.

Each cfdb case (algorithms.md §4, the declared-space transform) is::

    {"lens": [int], "prepend": [int], "chunk": [int], "target": [int], "max_mem": int,
     "view": [[start, stop], ...] or null}

A dataset with int32 coordinates ``c0, c1, ...`` of lengths ``lens`` is created in a temporary
directory, ``prepend[d]`` values are prepended to coordinate ``d`` (origin ``-prepend[d]``), and
an int32 data variable ``v`` over all coordinates with chunk shape ``chunk`` is written with
``arange(size) % 97``. Then ``v`` (or ``ds.select(view)['v']``) is rechunked with cfdb's
``rechunker().rechunk(target, max_mem)``, with ``rechunkit.rechunker`` wrapped to record what cfdb
passes to it. The result has ``origins``, ``counts`` (cfdb's ``calc_n_reads_rechunker``),
``decl_shape``, ``decl_sel``, ``itemsize`` (as cfdb declares them to rechunkit), ``requests``
(the declared regions rechunkit reads) and ``yields`` (``[region, checksum]`` as above).
"""
import os
import tempfile
import json
import sys

import numpy as np
import rechunkit
from rechunkit.main import _rechunk_plan

DTYPES = {1: np.dtype('int8'), 2: np.dtype('int16'), 4: np.dtype('int32'), 8: np.dtype('int64')}


def call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - reported to the Rust side
        return {'error': f'{type(err).__name__}: {err}'}


def ints(v):
    if isinstance(v, dict):
        return v
    if isinstance(v, (tuple, list)):
        return [int(x) for x in v]
    return int(v)


def region(slices):
    return [[int(s.start), int(s.stop)] for s in slices]


def checksum(arr):
    flat = arr.astype(np.int64).ravel()
    return int(np.dot(flat, np.arange(1, flat.size + 1, dtype=np.int64)))


def execute(case, shape, sel):
    itemsize = case['itemsize']
    dtype = DTYPES[itemsize]
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    src = (np.arange(n, dtype=np.int64) % 97).astype(dtype).reshape(shape)
    requests = []

    def source(slices):
        requests.append(region(slices))
        return src[slices]

    plan = []
    for kind, reads, writes, gs in _rechunk_plan(tuple(shape), itemsize, tuple(case['source']),
                                                 tuple(case['target']), case['max_mem'], sel):
        plan.append([kind, [region(r) for r in reads], [region(w) for w in writes],
                     None if gs is None else [int(x) for x in gs]])

    gen = rechunkit.rechunker(source, tuple(shape), dtype, tuple(case['source']),
                              tuple(case['target']), case['max_mem'], sel, itemsize=itemsize)
    yields = []
    held = []
    for slices, data in gen:
        yields.append([region(slices), checksum(data)])
        f = gen.gi_frame.f_locals
        nbytes = sum(a.nbytes for _, a in f['pending'].values())
        if f.get('mem_arr1') is not None:
            nbytes += f['mem_arr1'].nbytes
        bufs = f.get('buffers')
        if bufs:
            nbytes += sum(b.nbytes for b in bufs if b is not None)
        held.append(nbytes)  # dtype.itemsize == case itemsize
    return {'plan': plan, 'requests': requests, 'yields': yields, 'held': held}


def run_case(case):
    shape = case['shape']
    s = tuple(case['source'])
    t = tuple(case['target'])
    b = case['itemsize']
    m = case['max_mem']
    sel = None
    if case['sel'] is not None:
        sel = tuple(slice(a, z) for a, z in case['sel'])
        extent = tuple(z - a for a, z in case['sel'])
        sel_phase = tuple(a % sc for (a, _), sc in zip(case['sel'], s))
    else:
        extent = tuple(shape)
        sel_phase = tuple(0 for _ in shape)
    out = {}
    out['ideal_unclipped'] = ints(call(rechunkit.calc_ideal_read_chunk_shape, s, t))
    ideal = call(rechunkit.calc_ideal_read_chunk_shape, s, t, extent)
    out['ideal'] = ints(ideal)
    out['ideal_mem'] = ints(call(rechunkit.calc_ideal_read_chunk_mem, ideal, b)) if not isinstance(ideal, dict) else ideal
    out['read_noshape'] = ints(call(rechunkit.calc_source_read_chunk_shape, s, t, b, m))
    if case['phase'] is not None:
        out['read_phase'] = ints(call(rechunkit.calc_source_read_chunk_shape, s, t, b, m,
                                      phase=tuple(case['phase'])))
    out['read'] = ints(call(rechunkit.calc_source_read_chunk_shape, s, t, b, m, shape=extent,
                            phase=sel_phase))
    out['n_chunks_source'] = ints(call(rechunkit.calc_n_chunks, tuple(shape), s))
    out['n_chunks_target'] = ints(call(rechunkit.calc_n_chunks, tuple(shape), t))
    out['simple'] = ints(call(rechunkit.calc_n_reads_simple, tuple(shape), s, t))
    out['counts'] = ints(call(rechunkit.calc_n_reads_rechunker, tuple(shape), b, s, t, m, sel))
    if case['execute']:
        out.update(execute(case, shape, sel))
    return out


def run_cfdb_case(case, tmp, k):
    import cfdb
    path = os.path.join(tmp, f'c{k}.cfdb')
    ds = cfdb.open_dataset(path, 'n')
    try:
        names = [f'c{d}' for d in range(len(case['lens']))]
        for name, n, pre in zip(names, case['lens'], case['prepend']):
            c = ds.create.coord.generic(name, data=np.arange(1000, 1000 + n, dtype='int32'),
                                        chunk_shape=(max(1, n),), step=1)
            if pre:
                c.prepend(np.arange(1000 - pre, 1000, dtype='int32'))
        full = [n + pre for n, pre in zip(case['lens'], case['prepend'])]
        v = ds.create.data_var.generic('v', tuple(names), dtype='int32',
                                       chunk_shape=tuple(case['chunk']))
        v[tuple(slice(None) for _ in names)] = (np.arange(int(np.prod(full)), dtype=np.int64) % 97).astype('int32').reshape(full)
        out = {'origins': [int(ds[n].origin) for n in names]}
        if case['view'] is not None:
            view = ds.select({n: slice(a, z) for n, (a, z) in zip(names, case['view'])})
            var = view['v']
        else:
            var = ds['v']
        target = tuple(case['target'])
        out['counts'] = ints(var.rechunker().calc_n_reads_rechunker(target, case['max_mem']))
        record = {'requests': []}
        orig = rechunkit.rechunker

        def wrapped(source, shape, dtype, s, t, m, sel=None, itemsize=None):
            record['decl_shape'] = [int(x) for x in shape]
            record['decl_sel'] = region(sel)
            record['itemsize'] = int(itemsize)

            def src(slices):
                record['requests'].append(region(slices))
                return source(slices)
            return orig(src, shape, dtype, s, t, m, sel, itemsize=itemsize)

        rechunkit.rechunker = wrapped
        try:
            out['yields'] = [[region(sl), checksum(data)]
                             for sl, data in var.rechunker().rechunk(target, case['max_mem'])]
        finally:
            rechunkit.rechunker = orig
        out.update(record)
        return out
    finally:
        ds.close()


def main(argv):
    if len(argv) != 2:
        raise SystemExit(__doc__)
    if rechunkit.__version__ != '0.6.0':
        raise SystemExit(f'rechunkit {rechunkit.__version__}, expected 0.6.0')
    if argv[1] == '-':
        cases = json.load(sys.stdin)
    else:
        with open(argv[1], 'rb') as f:
            cases = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        cfdb_out = [run_cfdb_case(c, tmp, k) for k, c in enumerate(cases['cfdb'])]
    json.dump({'plans': [run_case(c) for c in cases['plans']], 'cfdb': cfdb_out}, sys.stdout)


if __name__ == '__main__':
    main(sys.argv)
