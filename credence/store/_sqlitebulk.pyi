"""Types of the optional C extension (credence/store/_sqlitebulk.c)."""

from typing import Any

def insert(
    connection: Any, sql: str, n: int, params: tuple[tuple[Any, ...], ...], /
) -> int | None: ...
