#!/usr/bin/env python3
"""Read a booklet file with Python booklet and check that its index agrees with its scan.

Usage: booklet_verify.py PATH

Opens ``booklet.open(PATH, 'r')``, iterates every item (the linear scan), looks every key up
again through the bucket index (``db.get``), and prints one JSON object:

    {"len": len(db), "n_items": ..., "items": [[key, value_hex, timestamp_us], ...],
     "lookup_mismatches": [key, ...], "metadata": <get_metadata()>}

Keys are str (cfdb's key serializer); values are the raw stored bytes.
"""
import json
import sys

import booklet


class _Raw:
    @staticmethod
    def dumps(obj):
        return obj

    @staticmethod
    def loads(obj):
        return bytes(obj)


def main(argv) -> int:
    if len(argv) != 2:
        print("usage: booklet_verify.py PATH", file=sys.stderr)
        return 2
    try:
        with booklet.open(argv[1], "r") as db:
            db._value_serializer = _Raw
            items = [[k, v.hex(), ts] for k, ts, v in db.timestamps(include_value=True, decode_value=True)]
            mismatches = [k for k, vh, _ in items if db.get(k) is None or db.get(k).hex() != vh]
            out = {
                "len": len(db),
                "n_items": len(items),
                "items": items,
                "lookup_mismatches": mismatches,
                "metadata": db.get_metadata(),
            }
    except Exception as exc:
        print(f"booklet_verify.py: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
