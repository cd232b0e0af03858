"""Generates python_vectors.json: encode/decode vectors computed by Python cfdb 0.11.0.

Run with the interop venv: target/interop-venv/bin/python gen_vectors.py > python_vectors.json
Every case: a DataType object, a chunk shape, input values, the payload cfdb's dtype.dumps()
writes, the values dtype.loads() reads back, and the compressed bytes cfdb's Compressor writes
for each compression option.
"""
import json

import numpy as np
import shapely

from cfdb import dtypes
from cfdb.support_classes import Compressor, shuffle_itemsize

rng = np.random.default_rng(12345)


def f32_edge():
    return [0.0, -0.0, 1.23, 0.005, 0.015, 0.025, 654.34, 654.35, -1.0, -0.995, np.nan, np.inf, -np.inf,
            1e30, -1e30, 0.25, 2.5, 3.5, 99.995, 1e-8]


CASES = []


def add(meta, shape, values):
    CASES.append((meta, shape, values))


n = 24
fl = f32_edge() + list(rng.uniform(-200, 800, n - len(f32_edge()) + 16))
fl = fl[:24]
for meta in [
    {"name": "float32"},
    {"name": "float64"},
    {"name": "float32", "precision": 2},
    {"name": "float64", "precision": 3},
    {"name": "float32", "precision": -1},
    {"name": "float32", "precision": 2, "dtype_encoded": "uint16", "fillvalue": 0, "offset": -1.0},
    {"name": "float64", "precision": 2, "dtype_encoded": "uint16", "fillvalue": 0, "offset": -1.0},
    {"name": "float32", "precision": 1, "dtype_encoded": "uint16", "fillvalue": 0, "offset": -101.0},
    {"name": "float64", "precision": 1, "dtype_encoded": "int16", "fillvalue": -32768, "offset": 0},
    {"name": "float32", "precision": 3, "dtype_encoded": "uint32", "fillvalue": 0, "offset": -1001},
    {"name": "float32", "precision": 6, "dtype_encoded": "uint32", "fillvalue": 0, "offset": -90.000001},
    {"name": "float64", "precision": 6, "dtype_encoded": "uint32", "fillvalue": 0, "offset": -180.000001},
    {"name": "float32", "precision": 0, "dtype_encoded": "uint8", "fillvalue": 0, "offset": -1},
    {"name": "float64", "precision": 2, "dtype_encoded": "int64", "fillvalue": 0, "offset": -5.5},
    {"name": "float32", "precision": -1, "dtype_encoded": "int8", "fillvalue": -128, "offset": 0.5},
]:
    add(meta, [4, 6], fl)
# large magnitudes near the uint32 top for float32
big = [4294967040.0 / 1000, 4294967296.0 / 1000, 4294967.5, 4294966.0, 1e7, -0.0005, 0.0, 1.0]
add({"name": "float32", "precision": 3, "dtype_encoded": "uint32", "fillvalue": 0, "offset": 0}, [8], big)

ints = {
    "int8": [-128, 127, 0, -1, 5, 100],
    "int16": [-32768, 32767, 0, -1, 5, 1000],
    "int32": [-2**31, 2**31 - 1, 0, -1, 5, 10**6],
    "int64": [-2**63, 2**63 - 1, 0, -1, 5, 10**12],
    "uint8": [0, 255, 1, 7, 128, 200],
    "uint16": [0, 65535, 1, 7, 128, 2000],
    "uint32": [0, 2**32 - 1, 1, 7, 128, 2**31],
    "uint64": [0, 2**64 - 1, 1, 7, 128, 2**63],
}
for name, vals in ints.items():
    add({"name": name}, [2, 3], vals)
add({"name": "int16", "dtype_encoded": "uint16", "fillvalue": 0, "offset": -6}, [6], [-5, 0, 250, 7, -4, 100])
add({"name": "int64", "dtype_encoded": "uint64", "fillvalue": 0, "offset": -1001}, [6], [-1000, 0, 5, 10**15, 7, -1])
add({"name": "uint32", "dtype_encoded": "uint16", "fillvalue": 0, "offset": 4}, [6], [5, 4, 65539, 100, 6, 7])
add({"name": "int32", "dtype_encoded": "int16", "fillvalue": -32768, "offset": 100}, [6], [100, -32667, 32867, 0, 1, -5])
add({"name": "int32", "dtype_encoded": "int16", "offset": 5}, [6], [5, 0, 32772, -32763, 17, 6])
add({"name": "int8", "dtype_encoded": "uint8", "fillvalue": 0, "offset": -101}, [6], [-100, 0, 27, 100, -1, 1])
add({"name": "bool"}, [2, 3], [True, False, True, True, False, False])

dts = {
    "datetime64[D]": ["2020-01-01", "NaT", "1677-09-22", "2262-04-11", "1970-01-01", "1900-03-01"],
    "datetime64[h]": ["2020-01-01T00", "NaT", "2022-06-30T20", "1970-01-01T00", "2100-01-01T00", "2000-01-01T01"],
    "datetime64[ns]": ["1677-09-21T00:12:43.145224193", "2262-04-11T23:47:16.854775807", "NaT", "2020-01-01T00:00:00.123456789", "1970-01-01", "1969-12-31T23:59:59.999999999"],
    "datetime64[M]": ["2020-01", "NaT", "1970-01", "1900-12", "2024-02", "3000-01"],
    "datetime64[Y]": ["2020", "NaT", "1970", "1900", "2024", "3000"],
    "datetime64[s]": ["2020-01-01T00:00:01", "NaT", "1970-01-01T00:00:00", "1900-12-01T00:00:00", "2024-02-29T12:34:56", "3000-01-01T00:00:00"],
}
for name, vals in dts.items():
    add({"name": name}, [6], vals)
add({"name": "datetime64[h]", "dtype_encoded": "uint32", "offset": 262967}, [6],
    ["2000-01-01T00", "NaT", "2000-01-01T01", "1999-01-01T00", "2100-01-01T00", "2020-06-01T05"])
add({"name": "datetime64[m]", "dtype_encoded": "int32", "offset": -36816481}, [6],
    ["1900-01-01T00:00", "NaT", "2023-01-01T00:30", "1800-01-01T00:00", "6000-01-01T00:00", "1970-01-01T00:00"])
add({"name": "datetime64[D]", "dtype_encoded": "uint8", "offset": 18261}, [6],
    ["2020-01-01", "NaT", "2019-12-31", "2020-09-12", "2020-09-13", "2020-01-02"])
add({"name": "str"}, [2, 3], ["a", None, "", "ünïcødé ✓", "x" * 40, "y" * 300])
add({"name": "str"}, [4], ["one", None, "", "z" * 70])
add({"name": "Point", "precision": 5, "dtype_encoded": "StringDType128"}, [3],
    ["POINT (172.63623 -43.53205)", None, "POINT Z (1 2 3)"])
add({"name": "LineString", "precision": 3, "dtype_encoded": "StringDType128"}, [2, 1],
    ["LINESTRING (1 2, 3 4.5)", None])
add({"name": "Polygon", "precision": 4, "dtype_encoded": "StringDType128"}, [1, 1, 2],
    ["POLYGON ((0 0, 1 0, 1 1, 0 0), (0.2 0.2, 0.3 0.2, 0.3 0.3, 0.2 0.2))", "POINT EMPTY"])


def to_array(dt, meta, values, shape):
    name = meta["name"]
    if dt.kind == 'f':
        return np.array(values, dtype=name).reshape(shape)
    if dt.kind in 'iub':
        return np.array(values, dtype=name).reshape(shape)
    if dt.kind == 'M':
        return np.array(values, dtype=name).reshape(shape)
    if dt.kind == 'T':
        return np.array(values, dtype=np.dtypes.StringDType(na_object=None)).reshape(shape)
    if dt.kind == 'G':
        return np.array([None if v is None else shapely.from_wkt(v) for v in values], dtype=object).reshape(shape)
    raise ValueError(name)


def jsonable(dt, arr):
    flat = arr.reshape(-1)
    if dt.kind == 'f':
        return [v.tobytes()[::-1].hex() for v in flat]  # big-endian hex of the bits
    if dt.kind in 'iu':
        return [int(v) for v in flat]
    if dt.kind == 'b':
        return [bool(v) for v in flat]
    if dt.kind == 'M':
        return [None if np.isnat(v) else int(v.astype('int64')) for v in flat]
    if dt.kind == 'T':
        return [None if v is None else str(v) for v in flat.tolist()]
    if dt.kind == 'G':
        return [None if v is None else shapely.to_wkt(v, rounding_precision=dt.precision) for v in flat]


out = []
for meta, shape, values in CASES:
    kwargs = {k: v for k, v in meta.items() if k != "name"}
    dt = dtypes.dtype(meta["name"], **kwargs)
    arr = to_array(dt, meta, values, shape)
    try:
        payload = dt.dumps(arr)
        err = None
    except Exception as e:  # packed ints out of range
        payload = None
        err = type(e).__name__
    case = {"meta": dt.to_dict(), "shape": shape, "input": jsonable(dt, arr), "error": err}
    if payload is not None:
        case["payload"] = payload.hex()
        back = dt.loads(payload, tuple(shape))
        case["decoded"] = jsonable(dt, back)
        try:
            case["reencoded"] = dt.dumps(np.asarray(back)).hex()
        except Exception as e:  # a packed int fill cell decodes to 0, which may not be encodable
            case["reencoded"] = type(e).__name__
        comp = {}
        for c in ("zstd", "zstd_shuffle", "lz4", "lz4_shuffle"):
            for level in (1, 3):
                comp[f"{c}:{level}"] = Compressor(c, level, shuffle_itemsize(dt)).compress(payload).hex()
        case["compressed"] = comp
    out.append(case)

print(json.dumps({"generator": "gen_vectors.py", "cases": out}, indent=0))
