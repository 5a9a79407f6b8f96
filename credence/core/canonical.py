"""Canonical JSON (RFC 8785) for hashing records and ledger leaves.

The ledger commits to bytes that an outside auditor must be able to
recompute with their own code, so every hashed document is serialised per
RFC 8785 (JSON Canonicalization Scheme). The `rfc8785` package is the
reference; the fast path (orjson with sorted keys) produces identical bytes
for the documents credence hashes (strings, integers below 2**53, booleans,
null, nested objects and lists) and is checked against the reference in the
tests. Anything else (floats, keys outside the Basic Multilingual Plane)
goes to the reference, which is slower but exact.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import rfc8785


def fast_json(value: Any) -> str:
    """Sorted, compact JSON: RFC 8785 for ASCII keys and str/int/bool/null values only.

    Callers must know that holds (the catalogue guarantees it for attributes).
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def _is_simple(value: Any) -> bool:
    """True when json's encoder already produces RFC 8785 bytes for `value`."""
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return abs(value) < 2**53  # beyond that RFC 8785 numbers lose precision
    if isinstance(value, dict):
        # Python sorts keys by code point, RFC 8785 by UTF-16 unit: equal below U+D800.
        return all(
            isinstance(k, str) and (k.isascii() or max(k) < "\ud800") and _is_simple(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_is_simple(v) for v in value)
    return False


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of `value` as UTF-8 bytes."""
    if _is_simple(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return bytes(rfc8785.dumps(value))


def normalise_number(value: float) -> int | float:
    """Integral floats become ints, so 5000.0 and 5000 hash the same (as in RFC 8785)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def content_hash(value: Any) -> str:
    """`sha256:<hex>` of `value`'s RFC 8785 bytes: how catalogues and rulebooks are named.

    Layout and comments of the YAML do not count, so anyone can recompute
    the hash a result names from the parsed file with their own code.
    """
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()
