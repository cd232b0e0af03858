#!/usr/bin/env python3
"""Hold or probe booklet's OS file lock, for the cfdb-rs locking interop tests.

Usage:
    booklet_lock.py hold PATH MODE SECONDS
        booklet.open(PATH, MODE) (MODE 'w' takes the exclusive lock, 'r' a shared one), prints
        {"locked": true} and flushes stdout, sleeps SECONDS, closes, exits 0.
    booklet_lock.py try PATH MODE TIMEOUT
        booklet.open(PATH, MODE, timeout=TIMEOUT) and closes at once. Prints {"result": "ok"} or,
        when the lock was not acquired in time (booklet.LockTimeoutError, a TimeoutError subclass
        raised by booklet's lock loop over portalocker), {"result": "timeout", "error": "..."}.
        Exit status 0 in both cases.

Any other failure goes to stderr with a non-zero exit status.
"""
import json
import sys
import time

import booklet


def _print(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def hold(path: str, mode: str, seconds: float) -> int:
    db = booklet.open(path, mode)
    try:
        _print({"locked": True})
        time.sleep(seconds)
    finally:
        db.close()
    return 0


def try_open(path: str, mode: str, timeout: float) -> int:
    try:
        db = booklet.open(path, mode, timeout=timeout)
    except booklet.LockTimeoutError as exc:
        _print({"result": "timeout", "error": str(exc)})
        return 0
    db.close()
    _print({"result": "ok"})
    return 0


def main(argv) -> int:
    if len(argv) != 5 or argv[1] not in ("hold", "try"):
        print("usage: booklet_lock.py hold|try PATH MODE SECONDS|TIMEOUT", file=sys.stderr)
        return 2
    cmd, path, mode, secs = argv[1], argv[2], argv[3], float(argv[4])
    try:
        if cmd == "hold":
            return hold(path, mode, secs)
        return try_open(path, mode, secs)
    except Exception as exc:  # report any failure as a clean error
        print(f"booklet_lock.py: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
