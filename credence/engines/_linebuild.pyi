"""Types of the optional C extension (credence/engines/_linebuild.c)."""

from collections.abc import Callable
from typing import Any

def write(
    sink_write: Callable[[memoryview], object],
    n: int,
    pieces: tuple[tuple[Any, ...], ...],
    rows: int,
    /,
) -> None: ...
def sort_order(n: int, column: tuple[Any, ...], /) -> bytes: ...
def plain(n: int, column: tuple[Any, ...], /) -> bool: ...
