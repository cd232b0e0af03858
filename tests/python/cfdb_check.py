#!/usr/bin/env python3
"""Check cfdb files written by cfdb-rs against tests/data/cfdb/MANIFEST.json with Python cfdb.

Usage: cfdb_check.py OUTDIR [FILE ...]

For every golden file name (all ten of MANIFEST.json unless FILE names are given), runs
``check_file(OUTDIR, entry)`` of ``tests/data/cfdb/generate.py``: the stored metadata JSON
(key order and number typing included), the booklet bucket count, the sorted key list, the
dataset and variable attributes, the present chunk keys and the values decoded by Python
cfdb 0.11.0.

Then, beyond generate.py's check, compares every stored value with the committed golden file
of the same name: attribute values must be byte-identical, and chunk values must be
byte-identical once decompressed (the uncompressed payload: packing, byte order, shuffle,
MessagePack); the compressed bytes themselves may differ (another LZ4 encoder may choose other
matches for the same payload).

Prints one JSON object on stdout: ``{file: [error, ...]}`` (an empty list means the file
matches). A file that cannot be checked at all gets one error describing why.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "data", "cfdb"))

import booklet  # noqa: E402
import lz4.frame  # noqa: E402
import zstandard  # noqa: E402

import generate  # noqa: E402  (tests/data/cfdb/generate.py)


def _decompress(compression, data):
    if compression.startswith("zstd"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return lz4.frame.decompress(data)


def compare_payloads(outdir, entry):
    """Errors for the stored values that differ from the committed file's (see above)."""
    errors = []
    name = entry["file"]
    with booklet.open(os.path.join(outdir, name), "r") as new, \
            booklet.open(os.path.join(generate.HERE, name), "r") as old:
        for key in sorted(old.keys()):
            if key not in new:
                continue  # reported by check_file
            a, b = new[key], old[key]
            if a == b:
                continue
            if "!" not in key:
                errors.append(f"{key}: stored bytes {a!r} != committed {b!r}")
                continue
            pa = _decompress(entry["compression"], a)
            pb = _decompress(entry["compression"], b)
            if pa != pb:
                errors.append(f"{key}: uncompressed payload {pa.hex()} != committed {pb.hex()}")
    return errors


def main(argv) -> int:
    if len(argv) < 2:
        print("usage: cfdb_check.py OUTDIR [FILE ...]", file=sys.stderr)
        return 2
    outdir = argv[1]
    names = argv[2:] or list(generate.ENTRIES)
    out = {}
    for name in names:
        entry = generate.ENTRIES.get(name)
        if entry is None:
            out[name] = [f"no MANIFEST entry named {name!r}"]
            continue
        if not os.path.exists(os.path.join(outdir, name)):
            out[name] = ["file missing"]
            continue
        try:
            out[name] = generate.check_file(outdir, entry) + compare_payloads(outdir, entry)
        except Exception as exc:  # report, do not stop: every file gets a verdict
            out[name] = [f"check failed: {type(exc).__name__}: {exc}"]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
