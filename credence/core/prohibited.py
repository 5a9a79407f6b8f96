"""The categories of data that credence refuses to collect or score.

Kept as the stable import path for the guard, which lives in
`credence.core.guard` (normalisation, lexicon, matcher).
"""

from __future__ import annotations

from typing import Any

from credence.core.guard import (
    ProhibitedUse,
    check_declared_categories,
    find_prohibited,
    prohibited_categories,
)


def __getattr__(name: str) -> Any:
    """`PROHIBITED_CATEGORIES`, loaded on first use: reading the lexicon costs about
    150 ms, which every command (and every subprocess a test starts) paid at import."""
    if name == "PROHIBITED_CATEGORIES":
        return prohibited_categories()
    raise AttributeError(name)


__all__ = [
    "PROHIBITED_CATEGORIES",  # noqa: F822 (module __getattr__)
    "ProhibitedUse",
    "check_declared_categories",
    "find_prohibited",
]
