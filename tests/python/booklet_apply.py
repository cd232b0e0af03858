#!/usr/bin/env python3
"""Apply a list of write operations to a booklet file with Python booklet.

Usage: booklet_apply.py PATH FLAG [N_BUCKETS]  < ops.json

Opens ``booklet.open(PATH, FLAG, key_serializer='str')`` (plus ``n_buckets=N_BUCKETS`` when
given, which only matters when FLAG creates the file: 'n', or 'c' on a missing file). Values are
raw bytes: a new file gets booklet's default value serializer None (code 1), and values are always
written with ``encode_value=False``, so an existing file with another value serializer receives
exactly the given bytes.

stdin holds one JSON list of operations, applied in order:

    ["set", key, value_hex]                   db.set(key, bytes)  (timestamp: now)
    ["set_ts", key, value_hex, timestamp_us]  db.set(key, bytes, timestamp=timestamp_us)
    ["del", key]                              del db[key]  (KeyError is an error)
    ["meta", <json>]                          db.set_metadata(<json>)
    ["meta", <json>, timestamp_us]            db.set_metadata(<json>, timestamp=timestamp_us)
    ["prune"]                                 db.prune()
    ["sync"]                                  db.sync()

Then closes the file and prints ``{"ok": true, "len": <len after a final sync>}``. Errors go to stderr
with a non-zero exit status.
"""
import json
import sys

import booklet


def apply_ops(db, ops) -> None:
    if not isinstance(ops, list):
        raise ValueError("stdin must hold a JSON list of operations")
    for n, op in enumerate(ops):
        if not isinstance(op, list) or not op:
            raise ValueError(f"operation #{n} is not a non-empty list: {op!r}")
        name, args = op[0], op[1:]
        if name == "set" and len(args) == 2:
            db.set(args[0], bytes.fromhex(args[1]), encode_value=False)
        elif name == "set_ts" and len(args) == 3:
            db.set(args[0], bytes.fromhex(args[1]), timestamp=int(args[2]), encode_value=False)
        elif name == "del" and len(args) == 1:
            del db[args[0]]
        elif name == "meta" and len(args) == 1:
            db.set_metadata(args[0])
        elif name == "meta" and len(args) == 2:
            db.set_metadata(args[0], timestamp=int(args[1]))
        elif name == "prune" and not args:
            db.prune()
        elif name == "sync" and not args:
            db.sync()
        else:
            raise ValueError(f"operation #{n} is unknown or has the wrong arity: {op!r}")


def main(argv) -> int:
    if len(argv) not in (3, 4):
        print("usage: booklet_apply.py PATH FLAG [N_BUCKETS] < ops.json", file=sys.stderr)
        return 2
    path, flag = argv[1], argv[2]
    kwargs = {"key_serializer": "str"}
    if len(argv) == 4:
        kwargs["n_buckets"] = int(argv[3])
    try:
        ops = json.load(sys.stdin)
        db = booklet.open(path, flag, **kwargs)
        try:
            apply_ops(db, ops)
            # booklet counts buffered new keys only when it flushes; close() would sync anyway.
            db.sync()
            length = len(db)
        finally:
            db.close()
    except Exception as exc:  # report any failure as a clean error
        print(f"booklet_apply.py: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump({"ok": True, "len": length}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
