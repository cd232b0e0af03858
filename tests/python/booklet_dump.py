#!/usr/bin/env python3
"""Dump a booklet file as JSON, the Python side of the cfdb-rs interop tests.

Usage: booklet_dump.py PATH

Opens PATH with ``booklet.open(PATH, 'r')`` (``booklet.FixedLengthValue(PATH, 'r')`` for
fixed-length files) and prints one JSON object on stdout:

    {"len": int, "n_buckets": int, "timestamps": bool,
     "items": [{"key": str, "value_hex": str, "timestamp_us": int|null}, ...],
     "metadata": <get_metadata()> | null,
     "metadata_timestamp_us": int|null}

``items`` are in booklet's iteration order (physical file order). Values are always the raw
stored (serialized) bytes, whatever the file's value serializer: the script swaps in identity
serializers on the open handle, so e.g. orjson or str values come out as their stored bytes.
Keys are the stored key bytes decoded as UTF-8 (files are written with key serializer 'str');
a key that is not valid UTF-8 is reported as ``{"key": null, "key_hex": ...}``.

Errors go to stderr with a non-zero exit status.
"""
import json
import sys

import booklet


class _Raw:
    """An identity serializer: booklet hands us the stored bytes untouched."""

    @staticmethod
    def dumps(obj):
        return obj

    @staticmethod
    def loads(obj):
        return bytes(obj)


def _key_fields(raw: bytes) -> dict:
    try:
        return {"key": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"key": None, "key_hex": raw.hex()}


def _open_read(path: str):
    """``booklet.open(path, 'r')``; a FixedLengthValue file (other magic, which ``booklet.open``
    rejects with TypeError) is opened with ``booklet.FixedLengthValue(path, 'r')`` instead."""
    try:
        return booklet.open(path, "r")
    except TypeError:
        return booklet.FixedLengthValue(path, "r")


def dump(path: str) -> dict:
    with _open_read(path) as db:
        # Read the stored bytes, not the deserialized objects.
        db._key_serializer = _Raw
        db._value_serializer = _Raw
        has_ts = bool(getattr(db, "_init_timestamps", False))
        items = []
        if has_ts:
            for key, ts, value in db.timestamps(include_value=True, decode_value=True):
                entry = _key_fields(key)
                entry["value_hex"] = value.hex()
                entry["timestamp_us"] = ts
                items.append(entry)
        else:
            for key, value in db.items():
                entry = _key_fields(key)
                entry["value_hex"] = value.hex()
                entry["timestamp_us"] = None
                items.append(entry)

        metadata = None
        metadata_ts = None
        if has_ts:
            out = db.get_metadata(include_timestamp=True)
            if out is not None:
                metadata, metadata_ts = out
        else:
            metadata = db.get_metadata()

        return {
            "len": len(db),
            "n_buckets": db._n_buckets,
            "timestamps": has_ts,
            "items": items,
            "metadata": metadata,
            "metadata_timestamp_us": metadata_ts,
        }


def main(argv) -> int:
    if len(argv) != 2:
        print("usage: booklet_dump.py PATH", file=sys.stderr)
        return 2
    try:
        result = dump(argv[1])
    except Exception as exc:  # report any failure as a clean error
        print(f"booklet_dump.py: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
