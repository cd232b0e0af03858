#!/usr/bin/env python3
"""Rebuild the booklet golden files of this directory with the Python packages.

Pinned versions (those the committed files were made with; see README.md / MANIFEST.json):
    Python 3.11, booklet 0.12.10, portalocker 4.4.2, orjson 3.13.0, uuid6 2025.0.1,
    cfdb 0.11.0, cfdb-models 0.1.2, cfdb-vars 0.2.9, numpy 2.4.6, zstandard 0.25.0, msgspec 0.22.0
(`xtask/requirements-interop.txt`; `cargo xtask golden --check` runs this in the interop venv.)

Usage:
    generate.py OUTDIR            write every file into OUTDIR
    generate.py OUTDIR --check    write them, then compare with MANIFEST.json

Every user write passes an explicit timestamp (base 1_700_000_000_000_000 µs), so item and
metadata timestamps are reproducible. The header's file-creation timestamp and UUID come from
the clock and a random source and always differ; so do the item timestamps of cfdb_small.cfdb,
which cfdb stamps with the clock. The check compares everything else the manifest records:
file size, header fields (n_buckets, serializer codes, n_keys, value_len, timestamps flag, raw
index_offset / first_data_block_pos), len, every item (raw key and value bytes, timestamp) in
iteration order, metadata and its timestamp, reserved slots, the read-only open error of
crash_flag.blt and its state after a write-mode open.

Where the README/MANIFEST leave an input unrecorded (the superseded first metadata of mixed.blt,
the timestamps of hidden writes), this script picks values that reproduce the recorded file
size and block counts.
"""
import gc
import hashlib
import json
import os
import shutil
import sys
import tempfile

import booklet
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = 1_700_000_000_000_000


def ts(offset: int) -> int:
    return BASE + offset


# --------------------------------------------------------------------------------------------
# The files


def make_tiny(path):
    """spec booklet-format.md section 19."""
    db = booklet.open(path, "n", key_serializer="str", value_serializer="str", n_buckets=3)
    db.set("a", "x", timestamp=ts(0))
    db.set("bb", "yy", timestamp=ts(1))
    db.set_metadata({"k": 1}, timestamp=ts(2))
    db.close()


def make_empty(path):
    db = booklet.open(path, "n", key_serializer="str", value_serializer="str", n_buckets=11)
    db.close()


def make_one_key(path):
    db = booklet.open(path, "n", key_serializer="str", value_serializer="str", n_buckets=11)
    db.set("hello", "world", timestamp=ts(0))
    db.close()


def make_mixed(path):
    """orjson values; k1/k3 overwritten, k2 deleted, metadata twice, reserved slot 1."""
    db = booklet.open(path, "n", key_serializer="str", value_serializer="orjson", n_buckets=7)
    for i in range(6):
        db.set(f"k{i}", {"i": i}, timestamp=ts(i))
    # The superseded first metadata is not recorded; this one has the recorded file's size.
    db.set_metadata({"name": "mixed", "version": 1}, timestamp=ts(6))
    del db["k2"]
    db.set("k1", {"i": "one-overwritten"}, timestamp=ts(10))
    db.set_reserved(1, b"slot-one", timestamp=ts(11))
    db.set("k3", [3, 3, 3], timestamp=ts(12))
    db.set_metadata({"name": "mixed2"}, timestamp=ts(13))
    db.set("k6", "six", timestamp=ts(15))
    db.close()


def make_no_timestamps(path):
    db = booklet.open(
        path, "n", key_serializer="str", value_serializer="str", n_buckets=11,
        init_timestamps=False,
    )
    for i in range(5):
        db.set(f"k{i}", f"v{i}")
    del db["k0"]
    db.set("k1", "x")
    db.set_metadata({"ts": False})
    db.close()


def make_grown(path):
    """20 keys in 7 buckets: close() grows the index to 12007 buckets at EOF."""
    db = booklet.open(path, "n", key_serializer="str", value_serializer="bytes", n_buckets=7)
    for i in range(20):
        db.set(f"key{i:02d}", bytes([i]) * i, timestamp=ts(i))
    db.close()


def make_pruned(path):
    db = booklet.open(path, "n", key_serializer="str", value_serializer="str", n_buckets=11)
    for i in range(8):
        db.set(f"k{i}", f"v{i}", timestamp=ts(i))
    del db["k5"]
    db.set("k0", "v0b", timestamp=ts(20))
    db.set_metadata({"m": 1}, timestamp=ts(21))
    db.prune()
    db.set("new1", "n1", timestamp=ts(30))
    db.set("k1", "v1b", timestamp=ts(31))
    db.close()


def make_pruned_grown(path):
    db = booklet.open(path, "n", key_serializer="str", value_serializer="str", n_buckets=11)
    for i in range(8):
        db.set(f"k{i}", f"v{i}", timestamp=ts(i))
    del db["k2"]
    db.prune()
    for i in range(10):
        db.set(f"n{i}", "n", timestamp=ts(100 + i))
    db.close()


def make_large_value(path):
    db = booklet.open(path, "n", key_serializer="str", value_serializer=None, n_buckets=11)
    db.set("before", b"abc", timestamp=ts(0))
    db.set("big", bytes(i % 251 for i in range(1_100_000)), timestamp=ts(1))
    db.set("after", b"xyz", timestamp=ts(2))
    db.close()


def make_fixed_length(path):
    db = booklet.FixedLengthValue(path, "n", key_serializer="str", value_len=4, n_buckets=11)
    for i in range(6):
        db.set(f"k{i}", i.to_bytes(4, "little"))
    del db["k2"]
    db.set("k1", b"XXXX")
    db.close()


def make_crash_flag(path):
    """A write handle dropped without close(): booklet's finalizer flags the header."""
    db = booklet.open(path, "n", key_serializer="str", value_serializer="str", n_buckets=11)
    db.set("a", "1", timestamp=ts(0))
    db.sync()
    db.set("b", "2", timestamp=ts(1))  # buffered, never synced: lost
    del db
    gc.collect()


def temperature_array():
    return np.random.default_rng(0).uniform(-10, 30, (4, 5)).astype("float32")


def make_cfdb_small(path, npy_path):
    import cfdb

    temp = temperature_array()
    ds = cfdb.open_dataset(path, "n", n_buckets=101)
    ds.create.coord.lat(data=np.array([-45.0, -15.0, 15.0, 45.0]))
    ds.create.coord.lon(data=np.array([0.0, 10.0, 20.0, 30.0, 40.0]))
    tv = ds.create.data_var.generic(
        "temperature", ("latitude", "longitude"), dtype="float32", chunk_shape=(4, 5)
    )
    tv[:] = temp
    ds.attrs["title"] = "booklet format test"
    ds.close()
    np.save(npy_path, temp)


FILES = [
    ("tiny.blt", make_tiny),
    ("empty.blt", make_empty),
    ("one_key.blt", make_one_key),
    ("mixed.blt", make_mixed),
    ("no_timestamps.blt", make_no_timestamps),
    ("grown.blt", make_grown),
    ("pruned.blt", make_pruned),
    ("pruned_grown.blt", make_pruned_grown),
    ("large_value.blt", make_large_value),
    ("fixed_length.blt", make_fixed_length),
    ("crash_flag.blt", make_crash_flag),
]


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    for name, make in FILES:
        path = os.path.join(outdir, name)
        if os.path.exists(path):
            os.remove(path)
        make(path)
    path = os.path.join(outdir, "cfdb_small.cfdb")
    if os.path.exists(path):
        os.remove(path)
    make_cfdb_small(path, os.path.join(outdir, "cfdb_small_temperature.npy"))


# --------------------------------------------------------------------------------------------
# Reading back (raw bytes) and checking against MANIFEST.json


class _Raw:
    @staticmethod
    def dumps(obj):
        return obj

    @staticmethod
    def loads(obj):
        return bytes(obj)


def header(path):
    with open(path, "rb") as f:
        h = f.read(200)
    u = lambda a, b: int.from_bytes(h[a:b], "little")  # noqa: E731
    return {
        "n_buckets": u(21, 25),
        "value_serializer": u(29, 31),
        "key_serializer": u(31, 33),
        "n_keys": u(33, 37),
        "value_len": u(37, 41),
        "timestamps": h[41] != 0,
        "index_offset_raw": u(65, 71),
        "first_data_block_pos_raw": u(71, 77),
    }


def open_read(path, flag="r"):
    try:
        return booklet.open(path, flag)
    except TypeError:
        return booklet.FixedLengthValue(path, flag)


def read_items(db):
    db._key_serializer = _Raw
    db._value_serializer = _Raw
    if db._init_timestamps:
        return [(k, v, t) for k, t, v in db.timestamps(include_value=True, decode_value=True)]
    return [(k, v, None) for k, v in db.items()]


def manifest_bytes(v):
    if "utf8" in v:
        return v["utf8"].encode()
    if "hex" in v:
        return bytes.fromhex(v["hex"])
    return ("sha256", v["len"], v["sha256"])


def same_bytes(got: bytes, want) -> bool:
    if isinstance(want, tuple):
        return len(got) == want[1] and hashlib.sha256(got).hexdigest() == want[2]
    return got == want


def compare_items(name, got, want_items, check_ts, errors):
    if len(got) != len(want_items):
        errors.append(f"{name}: {len(got)} items, manifest has {len(want_items)}")
        return
    for i, ((k, v, t), w) in enumerate(zip(got, want_items)):
        if k != manifest_bytes(w["key"]):
            errors.append(f"{name}: item #{i} key {k!r} != {w['key']}")
        if not same_bytes(v, manifest_bytes(w["value"])):
            errors.append(f"{name}: item #{i} ({k!r}) value differs")
        if check_ts and t != w.get("timestamp_us"):
            errors.append(f"{name}: item #{i} ({k!r}) timestamp {t} != {w.get('timestamp_us')}")


def check_file(outdir, entry, errors):
    name = entry["file"]
    path = os.path.join(outdir, name)
    clock_stamped = name.endswith(".cfdb")  # cfdb stamps its writes with the clock
    size = os.path.getsize(path)
    if size != entry["size"]:
        errors.append(f"{name}: size {size} != {entry['size']}")
    h = header(path)
    mh = entry["header"]
    for field in h:
        want = mh[field]
        if isinstance(want, dict):
            want = want["code"]
        if h[field] != want:
            errors.append(f"{name}: header {field} {h[field]} != {want}")

    if entry["booklet_open_r"] != "ok":
        try:
            db = open_read(path)
            db.close()
            errors.append(f"{name}: opened read-only, manifest says {entry['booklet_open_r']}")
        except Exception as exc:  # the expected refusal
            got = f"{type(exc).__name__}: {exc}"
            if got != entry["booklet_open_r"]:
                errors.append(f"{name}: open error {got!r} != {entry['booklet_open_r']!r}")
        after = entry.get("after_write_open")
        if after is not None:
            with tempfile.TemporaryDirectory() as tmp:
                copy = os.path.join(tmp, name)
                shutil.copy(path, copy)
                db = open_read(copy, "w")
                try:
                    if len(db) != after["len"]:
                        errors.append(f"{name}: after 'w' open len {len(db)} != {after['len']}")
                    compare_items(name + " (after 'w')", read_items(db), after["items"], True,
                                  errors)
                finally:
                    db.close()
        return

    db = open_read(path)
    try:
        if len(db) != entry["len"]:
            errors.append(f"{name}: len {len(db)} != {entry['len']}")
        compare_items(name, read_items(db), entry["items_in_iteration_order"],
                      not clock_stamped, errors)
        if "metadata" in entry:
            meta = db.get_metadata(include_timestamp=True) if db._init_timestamps else None
            if db._init_timestamps:
                got_meta, got_ts = meta if meta is not None else (None, None)
            else:
                got_meta, got_ts = db.get_metadata(), None
            if got_meta != entry["metadata"]:
                errors.append(f"{name}: metadata {got_meta!r} != {entry['metadata']!r}")
            if "metadata_timestamp_us" in entry and not clock_stamped:
                if got_ts != entry["metadata_timestamp_us"]:
                    errors.append(f"{name}: metadata timestamp {got_ts} != "
                                  f"{entry['metadata_timestamp_us']}")
        for slot, want_hex in (entry.get("reserved_slots_hex") or {}).items():
            got = db.get_reserved(int(slot))
            if got is None or got.hex() != want_hex:
                errors.append(f"{name}: reserved slot {slot} {got!r} != {want_hex}")
        if entry.get("reserved_slots_hex") == {}:
            for slot in (1, 2):
                if db.get_reserved(slot) is not None:
                    errors.append(f"{name}: reserved slot {slot} is set, manifest has none")
    finally:
        db.close()


def check(outdir) -> list:
    with open(os.path.join(HERE, "MANIFEST.json")) as f:
        manifest = json.load(f)
    errors = []
    names = {e["file"] for e in manifest["files"]}
    made = {n for n, _ in FILES} | {"cfdb_small.cfdb"}
    if names != made:
        errors.append(f"files in MANIFEST {sorted(names)} != generated {sorted(made)}")
    for entry in manifest["files"]:
        if entry["file"] in made:
            check_file(outdir, entry, errors)
    got = np.load(os.path.join(outdir, "cfdb_small_temperature.npy"))
    want = np.load(os.path.join(HERE, "cfdb_small_temperature.npy"))
    if got.dtype != want.dtype or got.shape != want.shape or got.tobytes() != want.tobytes():
        errors.append("cfdb_small_temperature.npy differs from the committed array")
    return errors


def main(argv) -> int:
    args = [a for a in argv[1:] if a != "--check"]
    if len(args) != 1:
        print("usage: generate.py OUTDIR [--check]", file=sys.stderr)
        return 2
    outdir = args[0]
    generate(outdir)
    print(f"booklet golden files written to {outdir}")
    if "--check" in argv[1:]:
        errors = check(outdir)
        if errors:
            for e in errors:
                print("MISMATCH " + e, file=sys.stderr)
            print(f"booklet golden check: {len(errors)} mismatch(es)", file=sys.stderr)
            return 1
        print("booklet golden check: every file matches MANIFEST.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
