#!/usr/bin/env python3
"""Rebuild the ten cfdb golden files of this directory with Python cfdb's public API.

Pinned versions (those the committed files were made with; see README.md / MANIFEST.json):
    Python 3.11, cfdb 0.11.0, cfdb-models 0.1.2, cfdb-vars 0.2.9, booklet 0.12.10,
    rechunkit 0.6.0, numpy 2.4.6, zstandard 0.25.0, lz4 4.4.5, msgspec 0.22.0, orjson 3.13.0,
    shapely 2.2.0, pyproj 3.7.2
(`xtask/requirements-interop.txt`; `cargo xtask golden --check` runs this in the interop venv.)

Usage:
    generate.py OUTDIR            write the ten files into OUTDIR
    generate.py OUTDIR --check    write them, then compare with MANIFEST.json

How the data is written: every file follows its README row and MANIFEST `description`
(dataset type, compression, templates vs generic creators, dtypes and encodings, chunk shapes,
attributes, CRS, prepend/append, deletes after a reopen). The cell values come from the MANIFEST
`values`: each data variable is written chunk by chunk, one assignment per chunk listed in
`chunk_keys_present` (clipped to the variable's shape), so exactly the recorded chunks exist;
cells of a written chunk that the manifest shows as blank are written as blank.

The check reopens every file read-only and compares with the manifest: the stored metadata JSON (key
order included), the sorted booklet key list, dataset attributes, and per variable the attributes, the decoded
values (datetimes via their int64 ticks, geometries via shapely equality of the WKT), and the
present chunk keys. The files are not byte-identical to the committed ones (booklet UUIDs and
write timestamps).
"""
import json
import math
import os
import sys

import booklet
import cfdb
import numpy as np
import shapely

HERE = os.path.dirname(os.path.abspath(__file__))
N_BUCKETS = 1009


def load_manifest():
    with open(os.path.join(HERE, "MANIFEST.json")) as f:
        return json.load(f)


MANIFEST = load_manifest()
ENTRIES = {e["file"]: e for e in MANIFEST["files"]}


# --------------------------------------------------------------------------------------------
# Manifest values -> numpy arrays


def _float(v):
    if v is None:
        return math.nan
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    return float(v)


def _flat(values):
    if isinstance(values, list):
        out = []
        for v in values:
            out.extend(_flat(v))
        return out
    return [values]


def manifest_array(var):
    """The manifest's decoded values of `var` as the numpy array cfdb returns."""
    shape = tuple(var["shape"])
    t = var["decoded_type"]
    if t.startswith("datetime64"):
        ticks = _flat(var["ticks"])
        nat = np.iinfo("int64").min
        a = np.array([nat if x is None else x for x in ticks], dtype="int64")
        return a.view(t).reshape(shape)
    flat = _flat(var["values"])
    if t.startswith("geometry-"):
        a = np.empty(len(flat), dtype=object)
        a[:] = [None if x is None else shapely.from_wkt(x) for x in flat]
        return a.reshape(shape)
    if t == "str":
        a = np.empty(len(flat), dtype=object)
        a[:] = flat
        return a.reshape(shape)
    if t.startswith("float"):
        return np.array([_float(x) for x in flat], dtype=t).reshape(shape)
    return np.array(flat, dtype=t).reshape(shape)


def write_present_chunks(ds, name, entry, extent=None):
    """Writes `name` one chunk at a time, for the chunks the manifest lists as present.

    `extent` (a (lo, hi) index range per dimension) limits the writes further, for variables
    whose blank cells inside a present chunk were never written (so they hold the fill code).
    """
    var = entry["variables"][name]
    values = manifest_array(var)
    shape = var["shape"]
    chunk = var["chunk_shape"]
    origins = var.get("origins") or [var.get("origin", 0)] * len(shape)
    dv = ds[name]
    for key in var["chunk_keys_present"]:
        starts = [int(s) for s in key.split("!", 1)[1].split(".")]
        sel = []
        for s, o, c, n in zip(starts, origins, chunk, shape):
            lo = max(s - o, 0)
            hi = min(s - o + c, n)
            if extent is not None:
                lo = max(lo, extent[len(sel)][0])
                hi = min(hi, extent[len(sel)][1])
            sel.append(slice(lo, hi))
        sel = tuple(sel)
        dv[sel] = values[sel]


def coord_values(entry, name):
    return manifest_array(entry["variables"][name])


def var_attrs(entry, name):
    return entry["variables"][name]["attrs"]


def open_new(path, entry, **kw):
    n_buckets = entry["n_buckets_requested_at_creation"]
    kw.setdefault("dataset_type", entry["dataset_type"])
    kw.setdefault("compression", entry["compression"])
    if entry["compression_level"] != 1:
        kw.setdefault("compression_level", entry["compression_level"])
    if n_buckets != 144013:
        kw["n_buckets"] = n_buckets
    return cfdb.open_dataset(path, "n", **kw)


# --------------------------------------------------------------------------------------------
# The files


# Where a stored packing offset is a JSON float (e.g. -1.0), cfdb computed it from float
# min_value/max_value; an int offset (e.g. -1001) came from int bounds.


def make_s01(path, e):
    ds = open_new(path, e)
    ds.create.coord.lat(data=coord_values(e, "latitude"), chunk_shape=(2,))
    ds.create.coord.lon(data=coord_values(e, "longitude"), chunk_shape=(3,))
    ds.create.crs.from_user_input(4326, x_coord="longitude", y_coord="latitude")
    ds.create.coord.generic("time", data=coord_values(e, "time"), step=True, axis="t")
    temp = ds.create.data_var.generic(
        "temp", ("latitude", "longitude", "time"), dtype="float32", chunk_shape=(2, 3, 3)
    )
    temp.attrs.update(var_attrs(e, "temp"))
    precip = ds.create.data_var.generic(
        "precip", ("latitude", "longitude", "time"),
        dtype=cfdb.dtypes.dtype("float64", precision=2, min_value=0.0, max_value=500.0),
        chunk_shape=(5, 7, 1),
    )
    precip.attrs.update(var_attrs(e, "precip"))
    write_present_chunks(ds, "temp", e)
    write_present_chunks(ds, "precip", e)
    ds.attrs.update(e["dataset_attrs"])
    ds.close()


def make_s02(path, e):
    ds = open_new(path, e)
    ds.create.coord.generic("x", data=coord_values(e, "x"), chunk_shape=(4,), step=True)
    ds.create.coord.generic("y", data=coord_values(e, "y"), chunk_shape=(2,))
    for name in ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "flag"]:
        dt = e["variables"][name]["dtype_metadata"]["name"]
        dv = ds.create.data_var.generic(name, ("x", "y"), dtype=dt, chunk_shape=(4, 2))
        dv.attrs.update(var_attrs(e, name))
        write_present_chunks(ds, name, e)
    ds.attrs.update(e["dataset_attrs"])
    ds.close()


def make_s03(path, e):
    ds = open_new(path, e)
    ds.create.coord.generic("time", data=coord_values(e, "time"), chunk_shape=(4,), step=True,
                            axis="t")
    ds.create.coord.generic("band", data=coord_values(e, "band"), chunk_shape=(2,))
    ds.create.data_var.generic("d_day", ("time", "band"), dtype="datetime64[D]",
                               chunk_shape=(4, 2))
    # offset = min - 1 = 262967 hours; a max far enough away to need uint32.
    ds.create.data_var.generic(
        "h_packed", ("time", "band"),
        dtype=cfdb.dtypes.dtype("datetime64[h]", min_value=np.datetime64(262968, "h"),
                         max_value=np.datetime64("2100-01-01T00", "h")),
        chunk_shape=(4, 2),
    )
    ds.create.data_var.generic("ns", ("time",), dtype="datetime64[ns]", chunk_shape=(3,))
    m = ds.create.data_var.generic(
        "m_enc", ("time",),
        dtype=cfdb.dtypes.dtype("datetime64[m]", dtype_encoded="int32", offset=-36816481),
        chunk_shape=(10,),
    )
    m.attrs.update(var_attrs(e, "m_enc"))
    for name in ["d_day", "h_packed", "ns", "m_enc"]:
        write_present_chunks(ds, name, e)
    ds.attrs.update(e["dataset_attrs"])
    ds.close()


def make_s04(path, e):
    ds = open_new(path, e)
    ds.create.coord.point(data=coord_values(e, "point"), chunk_shape=(3,))
    ds.create.crs.from_user_input(4326, xy_coord="point")
    ds.create.coord.generic(
        "time", data=coord_values(e, "time"),
        dtype=cfdb.dtypes.dtype("datetime64[m]", dtype_encoded="int32", offset=-36816481),
        chunk_shape=(4,), step=True, axis="t",
    )
    ds.create.data_var.generic("station_name", ("point",), dtype="str", chunk_shape=(2,))
    ds.create.data_var.generic("route", ("point",), dtype=cfdb.dtypes.dtype("linestring", precision=3),
                               chunk_shape=(2,))
    ds.create.data_var.generic("catchment", ("point",),
                               dtype=cfdb.dtypes.dtype("polygon", precision=4), chunk_shape=(5,))
    flow = ds.create.data_var.generic(
        "flow", ("point", "time"),
        dtype=cfdb.dtypes.dtype("float32", precision=2, min_value=-1.0, max_value=600.0),
        chunk_shape=(2, 4),
    )
    flow.attrs.update(var_attrs(e, "flow"))
    ds.create.data_var.generic("ok", ("point", "time"), dtype="bool", chunk_shape=(5, 6))
    for name in ["station_name", "route", "catchment", "flow", "ok"]:
        write_present_chunks(ds, name, e)
    ds.attrs.update(e["dataset_attrs"])
    ds.close()


def make_s05(path, e):
    ds = open_new(path, e)
    t = coord_values(e, "time")  # 2020-01-02 .. 2020-01-12, origin -3
    time = ds.create.coord.generic("time", data=t[3:8], chunk_shape=(3,), step=True)
    time.attrs.update(var_attrs(e, "time"))
    d = coord_values(e, "depth")
    depth = ds.create.coord.generic("depth", data=d[:3], chunk_shape=(2,))
    conc = ds.create.data_var.generic("conc", ("time", "depth"), dtype="float32",
                                      chunk_shape=(2, 2))
    conc.attrs.update(var_attrs(e, "conc"))
    ds.create.data_var.generic("qc", ("time", "depth"), dtype="uint8", chunk_shape=(4, 3))
    time.prepend(t[:1])    # gap-filled back to 2020-01-02: origin -3
    time.append(t[-1:])    # gap-filled forward to 2020-01-12
    depth.append(d[3:])
    write_present_chunks(ds, "conc", e)
    write_present_chunks(ds, "qc", e)
    ds.close()


def make_s06(path, e):
    ds = open_new(path, e)
    x = coord_values(e, "x")
    ds.create.coord.generic("x", data=x[[2, 0, 3, 1]], chunk_shape=(3,))  # unsorted input
    ds.create.coord.generic("y", data=coord_values(e, "y"), chunk_shape=(2,), step=True)
    label = ds.create.data_var.generic("label", ("x", "y"), dtype="str", chunk_shape=(3, 2))
    label.attrs.update(var_attrs(e, "label"))
    ds.create.data_var.generic("code", ("x",), dtype="str", chunk_shape=(4,))
    write_present_chunks(ds, "label", e)
    write_present_chunks(ds, "code", e)
    ds.attrs.update(e["dataset_attrs"])
    ds.close()


def make_s07(path, e):
    ds = open_new(path, e)
    ds.create.coord.generic("idx", data=coord_values(e, "idx"), chunk_shape=(5,), step=True)
    dtypes = {
        "i16_packed": cfdb.dtypes.dtype("int16", min_value=-5, max_value=300),
        "i64_packed": cfdb.dtypes.dtype("int64", min_value=-1000, max_value=5_000_000_000),
        "u32_packed": cfdb.dtypes.dtype("uint32", min_value=5, max_value=1000),
        "i32_explicit": cfdb.dtypes.dtype("int32", dtype_encoded="int16", offset=100, fillvalue=-32768),
        "f64_int16": cfdb.dtypes.dtype("float64", precision=1, dtype_encoded="int16", offset=0,
                                fillvalue=-32768),
        "f32_prec": cfdb.dtypes.dtype("float32", precision=3),
        "f32_packed": cfdb.dtypes.dtype("float32", precision=2, min_value=-10.0, max_value=60.0),
        "f64_packed3": cfdb.dtypes.dtype("float64", precision=3, min_value=-1000, max_value=100000),
        "i32_legacy": cfdb.dtypes.dtype("int32", dtype_encoded="int16", offset=5),
    }
    # Cells never written (they read as 0 but hold the fill code).
    extents = {"i16_packed": [(0, 6)], "i32_explicit": [(0, 4)]}
    for name, dt in dtypes.items():
        ds.create.data_var.generic(name, ("idx",), dtype=dt, chunk_shape=(5,))
        write_present_chunks(ds, name, e, extents.get(name))
    ds.attrs.update(e["dataset_attrs"])
    ds.close()


def make_s08(path, e):
    ds = open_new(path, e)
    ds.create.coord.generic("x", data=coord_values(e, "x"), chunk_shape=(4,))
    ds.create.coord.generic("aux", data=np.array([1, 2, 3], dtype="int32"), chunk_shape=(2,))
    a = ds.create.data_var.generic("a", ("x",), dtype="float64", chunk_shape=(4,))
    a.attrs.update({"long_name": "variable a"})
    b = ds.create.data_var.generic("b", ("x",), dtype="int32", chunk_shape=(4,))
    b.attrs.update({"long_name": "variable b"})
    c = ds.create.data_var.generic("c", ("x", "aux"), dtype="float32", chunk_shape=(4, 2))
    c.attrs.update({"long_name": "variable c"})
    a[:] = coord_values(e, "a")
    b[:] = np.arange(6, dtype="int32")
    c[:] = np.ones((6, 3), dtype="float32")
    ds.close()

    ds = cfdb.open_dataset(path, "w")
    del ds["b"]
    del ds["c"]
    del ds["aux"]
    ds.create.data_var.generic("b", ("x",), dtype="int16", chunk_shape=(2,))
    write_present_chunks(ds, "b", e)
    ds["a"].attrs.clear()
    ds.attrs.update(e["dataset_attrs"])
    ds.close()


def make_s09(path, e):
    ds = open_new(path, e)
    ds.create.coord.point(data=coord_values(e, "point"), chunk_shape=(2,))
    frt = ds.create.coord.forecast_reference_time(chunk_shape=(2,))
    frt.append(coord_values(e, "forecast_reference_time"))
    fp = ds.create.coord.forecast_period(data=coord_values(e, "forecast_period"),
                                         chunk_shape=(3,))
    fp.attrs.update(var_attrs(e, "forecast_period"))
    ds.create.data_var.air_temp(("point", "forecast_reference_time", "forecast_period"),
                                chunk_shape=(1, 2, 3))
    write_present_chunks(ds, "air_temperature", e)
    ds.close()


def make_s10(path, e):
    ds = open_new(path, e)
    ds.create.coord.generic("x", data=coord_values(e, "x"), step=True)
    ds.create.coord.generic("t", data=coord_values(e, "t"), step=True)
    ds.create.data_var.generic("v", ("x", "t"), dtype="float64")
    ds.create.data_var.generic("w", ("t",), dtype="int16")
    write_present_chunks(ds, "v", e)
    write_present_chunks(ds, "w", e)
    ds.close()


MAKERS = {
    "s01_grid_3d_zstd.cfdb": make_s01,
    "s02_grid_ints_lz4.cfdb": make_s02,
    "s03_datetimes_zstd_shuffle.cfdb": make_s03,
    "s04_ts_ortho_geometry_lz4_shuffle.cfdb": make_s04,
    "s05_prepend_append_zstd.cfdb": make_s05,
    "s06_strings_zstd.cfdb": make_s06,
    "s07_packing_zstd_shuffle.cfdb": make_s07,
    "s08_deleted_vars_lz4.cfdb": make_s08,
    "s09_ts_forecast_lz4_shuffle.cfdb": make_s09,
    "s10_default_chunks_zstd_level3.cfdb": make_s10,
}


def generate(outdir, only=None):
    os.makedirs(outdir, exist_ok=True)
    failures = {}
    for name, make in MAKERS.items():
        if only and name not in only:
            continue
        path = os.path.join(outdir, name)
        if os.path.exists(path):
            os.remove(path)
        try:
            make(path, ENTRIES[name])
        except Exception as exc:  # keep going: report every file
            failures[name] = f"generation failed: {type(exc).__name__}: {exc}"
    return failures


# --------------------------------------------------------------------------------------------
# Checking against MANIFEST.json


def same_values(var, got):
    """Compares cfdb's decoded array with the manifest values; returns an error or None."""
    want = manifest_array(var)
    got = np.asarray(got)
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    t = var["decoded_type"]
    if t.startswith("datetime64"):
        if str(got.dtype) != t:
            return f"dtype {got.dtype} != {t}"
        if not np.array_equal(got.view("int64"), want.view("int64")):
            return "datetime ticks differ"
        return None
    if t.startswith("geometry-"):
        for i, (g, w) in enumerate(zip(got.ravel(), want.ravel())):
            if (g is None) != (w is None) or (w is not None and not shapely.equals_exact(g, w, 0)):
                return f"geometry #{i}: {g} != {w}"
        return None
    if t == "str":
        g = [None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)
             for x in got.ravel().tolist()]
        w = want.ravel().tolist()
        return None if g == w else f"strings {g} != {w}"
    if str(got.dtype) != t:
        return f"dtype {got.dtype} != {t}"
    if t.startswith("float"):
        ok = np.array_equal(got, want, equal_nan=True)
    else:
        ok = np.array_equal(got, want)
    return None if ok else f"values differ:\n  got  {got.tolist()}\n  want {want.tolist()}"


def check_file(outdir, entry):
    errors = []
    name = entry["file"]
    path = os.path.join(outdir, name)
    with booklet.open(path, "r") as db:
        meta = db.get_metadata()
        keys = sorted(db.keys())
        raw_attrs = {k: json.loads(db[k]) for k in keys if k.endswith(".attrs")}
        if db._n_buckets != entry["n_buckets_in_header"]:
            errors.append(f"n_buckets {db._n_buckets} != {entry['n_buckets_in_header']}")
    # Order-sensitive: the stored JSON keeps cfdb's field and variable order.
    if json.dumps(meta) != json.dumps(entry["metadata"]):
        errors.append("metadata differs:\n  got  " + json.dumps(meta)
                      + "\n  want " + json.dumps(entry["metadata"]))
    elif list(meta["variables"]) != entry["variable_order"]:
        errors.append(f"variable order {list(meta['variables'])} != {entry['variable_order']}")
    if keys != entry["all_keys"]:
        errors.append(f"keys differ: extra {sorted(set(keys) - set(entry['all_keys']))}, "
                      f"missing {sorted(set(entry['all_keys']) - set(keys))}")
    if json.dumps(raw_attrs.get("__.attrs", {})) != json.dumps(entry["dataset_attrs"]):
        errors.append(f"dataset attrs {raw_attrs.get('__.attrs')} != {entry['dataset_attrs']}")
    ds = cfdb.open_dataset(path, "r")
    try:
        for vname, var in entry["variables"].items():
            got_attrs = raw_attrs.get(f"_{vname}.attrs", {})
            if json.dumps(got_attrs) != json.dumps(var["attrs"]):
                errors.append(f"{vname}: attrs {got_attrs} != {var['attrs']}")
            present = sorted(k for k in keys if k.split("!", 1)[0] == vname and "!" in k)
            if present != sorted(var["chunk_keys_present"]):
                errors.append(f"{vname}: chunk keys {present} != {var['chunk_keys_present']}")
            try:
                err = same_values(var, ds[vname].data)
            except Exception as exc:
                err = f"reading failed: {type(exc).__name__}: {exc}"
            if err:
                errors.append(f"{vname}: {err}")
    finally:
        ds.close()
    return errors


def compare_stored_bytes(outdir, name):
    """(identical, different) counts of the stored values shared with the committed file."""
    same = diff = 0
    with booklet.open(os.path.join(outdir, name), "r") as new, \
            booklet.open(os.path.join(HERE, name), "r") as old:
        for key in old.keys():
            if key in new:
                if new[key] == old[key]:
                    same += 1
                else:
                    diff += 1
    return same, diff


def main(argv) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) < 1:
        print("usage: generate.py OUTDIR [--check] [FILE ...]", file=sys.stderr)
        return 2
    outdir, only = args[0], set(args[1:])
    failures = generate(outdir, only)
    print(f"cfdb golden files written to {outdir}")
    if "--check" not in argv[1:]:
        for name, msg in failures.items():
            print(f"{name}: {msg}", file=sys.stderr)
        return 1 if failures else 0
    n_bad = 0
    for name in MAKERS:
        if only and name not in only:
            continue
        errs = [failures[name]] if name in failures else check_file(outdir, ENTRIES[name])
        if errs:
            n_bad += 1
            for err in errs:
                print(f"MISMATCH {name}: {err}", file=sys.stderr)
        else:
            print(f"ok {name}")
    total = len(only) if only else len(MAKERS)
    # Informational: how many stored values are byte-identical to the committed files.
    same = diff = 0
    for name in MAKERS:
        if (only and name not in only) or name in failures:
            continue
        s, d = compare_stored_bytes(outdir, name)
        same += s
        diff += d
    print(f"info: {same} of {same + diff} stored values (chunks, attrs) are byte-identical "
          "to the committed files")
    if n_bad:
        print(f"cfdb golden check: {n_bad} of {total} file(s) differ", file=sys.stderr)
        return 1
    print(f"cfdb golden check: all {total} files match MANIFEST.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
