#!/usr/bin/env python3
"""Dump a cfdb dataset as Python cfdb 0.11.0 reads it, as JSON (cfdb-rs interop tests).

Usage: cfdb_dump.py PATH [PATH ...]

Opens each PATH with ``cfdb.open_dataset(PATH, 'r')`` and, separately, as a raw booklet file,
and prints one JSON object on stdout, ``{PATH: dump, ...}`` (the paths as given), each dump:

    {"metadata": <the stored system metadata, key order kept>,
     "keys": [sorted booklet keys],
     "dataset_type": str, "compression": str, "crs": str | null,
     "attrs": <dataset attributes as cfdb returns them>,
     "var_names": [...], "coord_names": [...], "data_var_names": [...],
     "variables": {name: {"kind": "coord" | "data_var", "coords": [...], "shape": [...],
                          "chunk_shape": [...], "dtype": <DataType name>, "numpy_dtype": str,
                          "attrs": {...}, "origin"/"step"/"axis" (coordinates),
                          "values": [...] | "bits": [...] | "ticks": [...]}}}

Values are the whole variable (``ds[name].data``) in C order, flattened:

* floats: ``bits``, the IEEE bits of each value as an unsigned integer of the value's width
  (float32 -> 32 bits), ``null`` for NaN (any payload) -- exact, no decimal round trip;
* integers and bools: ``values`` as JSON integers / booleans;
* datetimes: ``ticks``, int64 counts of the variable's unit, ``null`` for NaT, plus ``unit``;
* strings: ``values``, JSON strings, ``null`` for a missing string (None or NaN);
* geometries: ``values``, WKT at full precision (``shapely.to_wkt(g, rounding_precision=-1)``),
  ``null`` for a missing geometry.

Errors go to stderr with a non-zero exit status.
"""
import json
import math
import sys

import booklet
import cfdb
import numpy as np
import shapely


def _values(arr):
    arr = np.asarray(arr)
    flat = arr.ravel()
    kind = arr.dtype.kind
    if kind == "f":
        width = arr.dtype.itemsize * 8
        bits = flat.view(f"uint{width}")
        nan = np.isnan(flat)
        return {"bits": [None if n else int(b) for b, n in zip(bits.tolist(), nan.tolist())]}
    if kind in "iu":
        return {"values": [int(x) for x in flat.tolist()]}
    if kind == "b":
        return {"values": [bool(x) for x in flat.tolist()]}
    if kind == "M":
        unit = np.datetime_data(arr.dtype)[0]
        ticks = flat.view("int64").tolist()
        nat = np.iinfo("int64").min
        return {"ticks": [None if t == nat else int(t) for t in ticks], "unit": unit}
    out = []
    for x in flat.tolist():
        if x is None or (isinstance(x, float) and math.isnan(x)):
            out.append(None)
        elif isinstance(x, str):
            out.append(x)
        elif isinstance(x, shapely.Geometry):
            out.append(shapely.to_wkt(x, rounding_precision=-1))
        else:
            raise TypeError(f"cannot dump a {type(x).__name__} value: {x!r}")
    return {"values": out}


def dump(path):
    with booklet.open(path, "r") as db:
        meta = db.get_metadata()
        keys = sorted(db.keys())
    out = {"metadata": meta, "keys": keys}
    ds = cfdb.open_dataset(path, "r")
    try:
        out["dataset_type"] = ds.dataset_type
        out["compression"] = ds.compression if hasattr(ds, "compression") else None
        out["crs"] = None if ds.crs is None else ds.crs.to_string()
        out["attrs"] = dict(ds.attrs)
        out["var_names"] = list(ds.var_names)
        out["coord_names"] = list(ds.coord_names)
        out["data_var_names"] = list(ds.data_var_names)
        variables = {}
        for name in ds.var_names:
            v = ds[name]
            is_coord = name in ds.coord_names
            data = np.asarray(v.data)
            entry = {
                "kind": "coord" if is_coord else "data_var",
                "coords": list(v.coord_names),
                "shape": [int(s) for s in v.shape],
                "chunk_shape": [int(c) for c in v.chunk_shape],
                "dtype": v.dtype.name if hasattr(v.dtype, "name") else str(v.dtype),
                "numpy_dtype": str(data.dtype),
                "attrs": dict(v.attrs),
                "data_shape": [int(s) for s in data.shape],
            }
            if is_coord:
                m = meta["variables"][name]
                entry["origin"] = m.get("origin")
                entry["step"] = m.get("step")
                entry["axis"] = m.get("axis")
            entry.update(_values(data))
            variables[name] = entry
        out["variables"] = variables
    finally:
        ds.close()
    return out


def main(argv) -> int:
    if len(argv) < 2:
        print("usage: cfdb_dump.py PATH [PATH ...]", file=sys.stderr)
        return 2
    print(json.dumps({path: dump(path) for path in argv[1:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
