#!/usr/bin/env python3
"""Python side of the cfdb-models interop tests (cfdb 0.11.0 / cfdb-models 0.1.2).

Usage:
    models_check.py raw-metadata PATH...   stored metadata bytes of cfdb (booklet) files
    models_check.py decode PATH...         decode JSON files as cfdb's SysMeta
    models_check.py orjson-redump PATH     orjson.dumps(orjson.loads(bytes of PATH))

Prints one JSON document on stdout:

* ``raw-metadata``: ``[{"path": str, "raw": str}]`` -- the exact bytes booklet keeps in the
  metadata slot (UTF-8 text), obtained through ``booklet.open(PATH, 'r').get_metadata()`` with
  booklet's orjson decoding swapped for an identity function.
* ``decode``: ``[{"path": str, "ok": true, "reencoded": str} | {"path": str, "ok": false,
  "error": str}]``. Each file is decoded twice, the two ways cfdb's models meet metadata:
  ``msgspec.json.decode(raw, type=SysMeta, strict=True)`` and the path ``cfdb.Dataset`` takes on
  open, ``msgspec.convert(orjson.loads(raw), SysMeta)`` followed by cfdb's ``format_version``
  check. Both must succeed and agree; ``reencoded`` is what cfdb would write back:
  ``orjson.dumps(msgspec.to_builtins(obj))``. A failure reports the exception text.
* ``orjson-redump``: ``{"text": str}``.

Errors other than per-file decode failures go to stderr with a non-zero exit status.
"""
import json
import sys

import booklet
import booklet.main as booklet_main
import msgspec
import orjson
from cfdb import data_models, utils


class _RawJson:
    """Stands in for orjson inside booklet.main so get_metadata returns the stored bytes."""

    @staticmethod
    def loads(value):
        return bytes(value)


def raw_metadata(paths):
    out = []
    saved = booklet_main.orjson
    booklet_main.orjson = _RawJson
    try:
        for path in paths:
            with booklet.open(path, 'r') as db:
                raw = db.get_metadata()
            if raw is None:
                raise SystemExit(f'{path}: no metadata')
            out.append({'path': path, 'raw': raw.decode('utf-8')})
    finally:
        booklet_main.orjson = saved
    return out


def _cfdb_open_check(raw):
    """What cfdb.main.Dataset.__init__ does with stored metadata (flag 'r')."""
    meta = msgspec.convert(orjson.loads(raw), data_models.SysMeta)
    if meta.format_version > utils.format_version:
        raise ValueError(
            f'This file has format_version {meta.format_version}; this cfdb reads up to '
            f'{utils.format_version}. It was written by a newer cfdb: upgrade cfdb and '
            'cfdb-models to read it.'
        )
    return meta


def decode(paths):
    out = []
    for path in paths:
        with open(path, 'rb') as f:
            raw = f.read()
        try:
            strict = msgspec.json.decode(raw, type=data_models.SysMeta, strict=True)
            opened = _cfdb_open_check(raw)
            if strict != opened:
                raise AssertionError(f'strict decode {strict!r} != cfdb open path {opened!r}')
            text = orjson.dumps(msgspec.to_builtins(opened)).decode('utf-8')
            out.append({'path': path, 'ok': True, 'reencoded': text})
        except Exception as err:  # noqa: BLE001 - reported to the Rust side
            out.append({'path': path, 'ok': False, 'error': f'{type(err).__name__}: {err}'})
    return out


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == 'raw-metadata':
        result = raw_metadata(args)
    elif cmd == 'decode':
        result = decode(args)
    elif cmd == 'orjson-redump' and len(args) == 1:
        with open(args[0], 'rb') as f:
            result = {'text': orjson.dumps(orjson.loads(f.read())).decode('utf-8')}
    else:
        raise SystemExit(__doc__)
    json.dump(result, sys.stdout, ensure_ascii=False)


if __name__ == '__main__':
    main(sys.argv)
