"""JSON text that parses two ways: an object naming a key twice.

orjson (like most parsers) silently keeps the last of two equal keys, while
a reader of the same text elsewhere may keep the first: the record that is
stored and the record that was meant would differ. Such objects are refused.
"""

from __future__ import annotations

import json
from typing import Any


def has_duplicate_keys(text: str, parsed: dict[str, Any]) -> bool:
    """True when the JSON object in `text` names a key twice (orjson keeps the last one).

    A key's quoted name appearing once in the text proves it is not doubled; only
    when one appears more often is the text parsed again, strictly.
    """
    if all(text.count(f'"{key}"') <= 1 for key in parsed):
        return False

    def refuse_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise _Duplicate
        return dict(pairs)

    try:
        json.loads(text, object_pairs_hook=refuse_twice)
    except _Duplicate:
        return True
    except (ValueError, RecursionError):
        return False
    return False


class _Duplicate(Exception):
    """A JSON object with a key twice."""
