"""Prints Python cfdb 0.11.0's groups of a variable as JSON.

Usage: groupby_dump.py FILE VAR SPEC_JSON
SPEC_JSON is the groupby spec, e.g. '{"time": "7D"}' or '["latitude"]'.
Output: [{"region": [[start, stop], ...], "sum": float, "count": n}, ...] in yield order
(NaN cells are left out of the sum and the count).
"""
import json
import sys

import cfdb
import numpy as np


def main():
    path, var, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    out = []
    with cfdb.open_dataset(path) as ds:
        v = ds[var]
        for slices, data in v.groupby(spec):
            a = np.asarray(data, dtype="float64")
            ok = ~np.isnan(a)
            out.append({
                "region": [[s.start, s.stop] for s in slices],
                "sum": float(a[ok].sum()),
                "count": int(ok.sum()),
            })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
