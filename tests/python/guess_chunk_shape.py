#!/usr/bin/env python3
"""Python side of the guess_chunk_shape interop test: rechunkit 0.6.0's guess_chunk_shape.

Usage: guess_chunk_shape.py CASES_JSON_PATH   (or ``-`` to read the cases from stdin)

The input is a JSON list of ``{"shape": [int, ...], "itemsize": int, "target": int}``. All cases
run in this one process; stdout is a JSON list with, per case in order, ``{"chunk": [int, ...]}``
or ``{"error": "ExceptionType: message"}``.

cfdb 0.11.0 re-exports this very function as ``cfdb.guess_chunk_shape``; the script checks that.
"""
import json
import sys

import cfdb
import rechunkit


def main(argv):
    if len(argv) != 2:
        raise SystemExit(__doc__)
    if cfdb.guess_chunk_shape is not rechunkit.guess_chunk_shape:
        raise SystemExit('cfdb.guess_chunk_shape is not rechunkit.guess_chunk_shape')
    if argv[1] == '-':
        cases = json.load(sys.stdin)
    else:
        with open(argv[1], 'rb') as f:
            cases = json.load(f)
    out = []
    for case in cases:
        try:
            chunk = rechunkit.guess_chunk_shape(tuple(case['shape']), case['itemsize'], case['target'])
            out.append({'chunk': [int(v) for v in chunk]})
        except Exception as err:  # noqa: BLE001 - reported to the Rust side
            out.append({'error': f'{type(err).__name__}: {err}'})
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main(sys.argv)
