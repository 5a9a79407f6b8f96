"""Types of the optional C extension (credence/ledger/_leafhash.c)."""

from collections.abc import Sequence
from typing import Any

def record_leaf_hashes(
    seq: Sequence[Any],
    salt: Sequence[Any],
    attributes: Sequence[Any],
    corrects: Sequence[Any],
    decided: Sequence[Any],
    item: Sequence[Any],
    occurred: Sequence[Any],
    reference: Sequence[Any],
    source: Sequence[Any],
    subject: Sequence[Any],
    key: bytes,
    version: int,
    /,
) -> list[bytes] | None: ...
def arrow_leaf_hashes(
    first_seq: int,
    n: int,
    columns: tuple[tuple[int, Any, Any, Any], ...],
    source: str,
    key: bytes,
    version: int,
    /,
) -> list[bytes] | None: ...
def perfect_levels(hashes: Sequence[bytes], /) -> list[list[bytes]] | None: ...
def subtrees(start: int, leaf_hashes: Sequence[bytes], /) -> list[tuple[int, bytes]] | None: ...
def sha256(data: bytes, /) -> bytes: ...
