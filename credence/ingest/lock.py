"""One ingest of a file at a time.

Two runs of the same file at once used to crash on a shared temporary
file. Each run now holds an exclusive `flock` on the input file itself (no
lock file to litter the source's directory or be planted as a link); a
second run waits for the first, says so, and then finds everything already
held, so both succeed and the data is in the ledger once. The lock goes
with the process, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def ingest_lock(path: Path, waiting: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive lock on `path`; call `waiting` once if another run holds it."""
    with path.open("rb") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting(f"another ingest of {path} is running; waiting for it to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
