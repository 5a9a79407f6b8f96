"""The categories of data that credence refuses to collect or score.

Kept as the stable import path for the guard, which lives in
`credence.core.guard` (normalisation, lexicon, matcher).
"""

from __future__ import annotations

from credence.core.guard import (
    ProhibitedUse,
    check_declared_categories,
    find_prohibited,
    prohibited_categories,
)

PROHIBITED_CATEGORIES: dict[str, tuple[str, ...]] = prohibited_categories()

__all__ = [
    "PROHIBITED_CATEGORIES",
    "ProhibitedUse",
    "check_declared_categories",
    "find_prohibited",
]
