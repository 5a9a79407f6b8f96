"""Ledger entries other than records: governance (sources, keys) and erasures.

What a source may submit and which keys may sign heads decide what the
ledger means, so changing them must be as visible as changing a record: each
change is a leaf of the same log. These leaves hold no personal data, so
the leaf bytes themselves are stored (the `entries` table) and anyone can
read them. Each is RFC 8785 JSON with `kind`, `seq` and `v`; the layouts
are in docs/ledger.md.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from credence.core.canonical import canonical_json

ENTRY_VERSION = 1
SOURCE = "source"
KEY = "key"
ERASURE = "erasure"
KINDS = (SOURCE, KEY, ERASURE)
KEY_ACTIONS = ("issue", "revoke")
MAX_REASON = 200
_REASON = re.compile(r"^[^\x00-\x1f\x7f]{3,200}$")


class EntryError(ValueError):
    """Entry bytes that are not a well-formed, canonical entry of their kind."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A parsed non-record entry."""

    seq: int
    kind: str
    body: dict[str, Any]


def _leaf(seq: int, kind: str, fields: dict[str, Any]) -> bytes:
    return canonical_json({**fields, "kind": kind, "seq": seq, "v": ENTRY_VERSION})


def source_entry(seq: int, name: str, patterns: list[str], items: list[str]) -> bytes:
    """A source registered, or its permitted items changed (the whole new set)."""
    return _leaf(seq, SOURCE, {"name": name, "patterns": sorted(patterns), "items": sorted(items)})


def key_entry(seq: int, action: str, public_key_raw: bytes) -> bytes:
    """A signing key issued (heads after this entry may be signed by it) or revoked."""
    if action not in KEY_ACTIONS:
        raise EntryError(f"key action must be one of {KEY_ACTIONS}, not {action!r}")
    key = base64.b64encode(public_key_raw).decode("ascii")
    return _leaf(seq, KEY, {"action": action, "algorithm": "ed25519", "public_key": key})


def check_reason(reason: str) -> str:
    """An erasure reason: one printable line; it is kept forever, so no personal data."""
    reason = reason.strip()
    if not _REASON.match(reason):
        raise EntryError(f"a reason must be one line of 3-{MAX_REASON} printable characters")
    return reason


def reference_hash(source: str, reference: str) -> str:
    """Hex SHA-256 of `source` newline `reference`: lets verify check an erased row's reference."""
    return hashlib.sha256(f"{source}\n{reference}".encode()).hexdigest()


def erasure_entry(
    seq: int, erases: int, reason: str, source: str, item: str, reference: str
) -> bytes:
    """A record's content and salt removed; its leaf hash stays in the tree.

    The entry names the erased record's source and item (public leaf fields)
    and commits to its reference, so the row kept in `erased` (which stops
    the source resubmitting it as new) can be checked too.
    """
    fields = {
        "erases": erases,
        "item": item,
        "reason": check_reason(reason),
        "reference_hash": reference_hash(source, reference),
        "source": source,
    }
    return _leaf(seq, ERASURE, fields)


def parse_entry(seq: int, body: bytes) -> Entry:
    """The entry stored at `seq`, refusing anything but its own canonical bytes."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise EntryError("is not JSON") from None
    if not isinstance(data, dict) or data.get("v") != ENTRY_VERSION:
        raise EntryError("is not a version 1 entry")
    if data.get("seq") != seq:
        raise EntryError(f"names position {data.get('seq')!r}, not its own")
    kind = data.get("kind")
    if kind not in KINDS:
        raise EntryError(f"has unknown kind {kind!r}")
    if canonical_json(data) != body:
        raise EntryError("is not in canonical form")
    _check_fields(kind, data)
    return Entry(seq, kind, data)


def _check_fields(kind: str, data: dict[str, Any]) -> None:
    expected = {
        SOURCE: {"name", "patterns", "items"},
        KEY: {"action", "algorithm", "public_key"},
        ERASURE: {"erases", "item", "reason", "reference_hash", "source"},
    }[kind] | {"kind", "seq", "v"}
    if set(data) != expected:
        raise EntryError(f"{kind} entry must have exactly the fields {sorted(expected)}")
    if kind == SOURCE and not all(
        isinstance(data[f], list) and all(isinstance(x, str) for x in data[f])
        for f in ("patterns", "items")
    ):
        raise EntryError("source entry patterns and items must be lists of strings")
    if kind == KEY and (data["action"] not in KEY_ACTIONS or data["algorithm"] != "ed25519"):
        raise EntryError("key entry must issue or revoke an ed25519 key")
    if kind == ERASURE and (not isinstance(data["erases"], int) or data["erases"] < 0):
        raise EntryError("erasure entry must name a ledger position")


def key_bytes(entry: Entry) -> bytes:
    """The raw public key a key entry names."""
    try:
        raw = base64.b64decode(entry.body["public_key"], validate=True)
    except ValueError:
        raise EntryError("key entry public_key is not base64") from None
    if len(raw) != 32:
        raise EntryError("key entry public_key is not a 32-byte Ed25519 key")
    return raw
