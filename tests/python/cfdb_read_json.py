#!/usr/bin/env python3
"""Read whole variables of a cfdb dataset with Python cfdb and print them as JSON.

Usage: cfdb_read_json.py PATH VAR [VAR ...]

Opens ``cfdb.open_dataset(PATH, 'r')`` and prints one JSON object:

    {"var_names": [every variable, in order],
     "attrs": <dataset attributes>,
     "vars": {VAR: {"shape": [...], "origin": int | null (coordinates),
                    "values": [the whole variable (ds[VAR].data), C order, flattened]}}}

Values: floats as JSON numbers (exact: Python's float repr round-trips) with ``null`` for NaN;
integers as JSON integers; datetimes as int64 ticks of the variable's unit, ``null`` for NaT;
strings as JSON strings, ``null`` when missing.

Errors go to stderr with a non-zero exit status. Used by cfdb-rs's tests/tests/core_crash.rs.
"""
import json
import math
import sys

import cfdb
import numpy as np


def _values(arr):
    arr = np.asarray(arr)
    flat = arr.ravel()
    kind = arr.dtype.kind
    if kind == "f":
        return [None if math.isnan(v) else float(v) for v in flat.tolist()]
    if kind in "iub":
        return flat.tolist()
    if kind == "M":
        nat = np.isnat(flat)
        ticks = flat.view("int64")
        return [None if n else int(t) for t, n in zip(ticks.tolist(), nat.tolist())]
    return [None if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v) for v in flat.tolist()]


def main(argv) -> int:
    if len(argv) < 3:
        print("usage: cfdb_read_json.py PATH VAR [VAR ...]", file=sys.stderr)
        return 2
    try:
        ds = cfdb.open_dataset(argv[1], "r")
        try:
            out = {
                "var_names": list(ds.var_names),
                "attrs": dict(ds.attrs.data),
                "vars": {},
            }
            for name in argv[2:]:
                var = ds[name]
                entry = {"shape": list(var.shape), "values": _values(var.data)}
                origin = getattr(var, "origin", None)
                entry["origin"] = None if origin is None or callable(origin) else int(origin)
                out["vars"][name] = entry
        finally:
            ds.close()
    except Exception as exc:
        print(f"cfdb_read_json.py: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
