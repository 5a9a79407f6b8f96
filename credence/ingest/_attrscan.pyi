"""Types of the optional C extension (credence/ingest/_attrscan.c)."""

from typing import Any

def scan(
    n: int,
    texts: tuple[int, Any, Any, Any],
    names: tuple[bytes, ...],
    types: str,
    max_chars: int,
    /,
) -> tuple[bytes, tuple[tuple[bytes, bytes, bytes], ...], tuple[bytes, bytes]]: ...
