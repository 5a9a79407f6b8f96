"""String columns assembled with pyarrow.compute, for attribute values and feed rows.

Building twenty million JSON fragments one Python string at a time would
dominate the generator's run time, so every text (case numbers, ISO dates,
references, JSON Lines) is put together column-wise here. pyarrow.compute
converts plain Python strings to scalars slowly on every call, so literals
and small lookup arrays are cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credence.synth.arrays import Ints


@lru_cache(maxsize=512)
def _text_array(texts: tuple[str, ...]) -> Any:
    return pa.array(texts, type=pa.string())


def pick(texts: Sequence[str], index: Ints) -> Any:
    """`texts[i]` for every `i` in `index`, as a string array."""
    return pc.take(_text_array(tuple(texts)), pa.array(index))


def num(values: Ints) -> Any:
    """Decimal text of integers."""
    return pc.cast(pa.array(values, type=pa.int64()), pa.string())


def padded(values: Ints, width: int) -> Any:
    """Decimal text of integers, zero-padded to `width`."""
    return pc.utf8_lpad(num(values), width=width, padding="0")


@lru_cache(maxsize=4096)
def lit(text: str) -> Any:
    """A cached pyarrow scalar: pyarrow.compute converts plain Python strings slowly."""
    return pa.scalar(text, type=pa.string())


def join(*parts: Any) -> Any:
    """Element-wise concatenation of string arrays and literal strings."""
    args = [lit(p) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, lit(""))


def quoted(text: Any) -> Any:
    """Text as JSON string literals; generated texts hold nothing that needs escaping."""
    return join('"', text, '"')


def iso_dates(days: Ints) -> Any:
    """ISO `YYYY-MM-DD` strings for epoch days, vectorised."""
    return pc.cast(pa.array(days.astype(np.int32), type=pa.int32()).cast(pa.date32()), pa.string())
