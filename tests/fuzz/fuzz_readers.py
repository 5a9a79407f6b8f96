"""Atheris harness: the readers on fuzzed files must yield rows or raise FormatError, nothing else.

Run: python tests/fuzz/fuzz_readers.py [libFuzzer flags, e.g. -max_total_time=60]

The first byte picks the format and whether a valid CSV header comes first
(so that the fuzzer reaches the row parser); the rest is the file. Any
exception other than FormatError is a crash. FUZZ_KNOWN names exception
classes (comma-separated) to tolerate while a known fix is pending: each one
hit is appended to the file FUZZ_KNOWN_LOG instead, so the search goes on.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from credence.core.records import RECORD_FIELDS
    from credence.ingest.readers import FormatError, read_batches, read_columns

SUFFIXES = (".csv", ".jsonl", ".parquet", ".csv")
HEADER = (",".join(RECORD_FIELDS) + "\n").encode()
KNOWN = frozenset(filter(None, os.environ.get("FUZZ_KNOWN", "").split(",")))
KNOWN_LOG = os.environ.get("FUZZ_KNOWN_LOG")
FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-readers-"))
_seen: set[str] = set()


def read_file(data: bytes) -> None:
    if not data:
        return
    choice, body = data[0] % len(SUFFIXES), data[1:]
    path = FOLDER / f"input{SUFFIXES[choice]}"
    path.write_bytes(HEADER + body if choice == 3 else body)
    try:
        read_columns(path)
        for batch in read_batches(path, 5):
            for _number, _row in batch:
                pass
    except FormatError:
        pass


def test_one_input(data: bytes) -> None:
    try:
        read_file(data)
    except Exception as exc:
        name = type(exc).__name__
        if name not in KNOWN:
            raise
        if KNOWN_LOG and name not in _seen:
            _seen.add(name)
            with open(KNOWN_LOG, "a", encoding="utf-8") as fh:
                fh.write(f"{name}: {str(exc)[:120]!r}\n")


def main() -> None:
    sys.setrecursionlimit(1_000)  # deep JSON fails fast, as it would in a worker
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
