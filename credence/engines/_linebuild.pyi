"""Types of the optional C extension (credence/engines/_linebuild.c)."""

from typing import Any

def build(n: int, pieces: tuple[tuple[Any, ...], ...], start: int, stop: int, /) -> bytes: ...
