"""Prints Python cfdb 0.11.0's Rechunker numbers and rechunk yields for a variable as JSON.

Usage: rechunker_dump.py FILE VAR CASES_JSON
CASES_JSON: [{"target": [..], "max_mem": n, "sel": [[start, stop], ...] or null}, ...]
Output: one object per case with calc_n_chunks, calc_n_reads_rechunker, ideal shape and mem,
source read shape, and the yields: [{"region": [[a, b], ...], "sum": float}] in order.
"""
import json
import sys

import cfdb
import numpy as np


def main():
    path, var, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    out = []
    with cfdb.open_dataset(path) as ds:
        for case in cases:
            v = ds[var]
            if case.get("sel"):
                v = v[tuple(slice(a, b) for a, b in case["sel"])]
            r = v.rechunker()
            t = tuple(case["target"])
            m = case["max_mem"]
            reads, writes = r.calc_n_reads_rechunker(t, m)
            yields = []
            for slices, data in r.rechunk(t, m):
                a = np.asarray(data, dtype="float64")
                yields.append({"region": [[s.start, s.stop] for s in slices],
                               "sum": float(np.nansum(a))})
            out.append({
                "calc_n_chunks": int(r.calc_n_chunks()),
                "n_reads": int(reads),
                "n_writes": int(writes),
                "ideal_read_chunk_shape": [int(x) for x in r.calc_ideal_read_chunk_shape(t)],
                "ideal_read_chunk_mem": int(r.calc_ideal_read_chunk_mem(t)),
                "source_read_chunk_shape": [int(x) for x in r.calc_source_read_chunk_shape(t, m)],
                "yields": yields,
            })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
