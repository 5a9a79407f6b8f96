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
ACCESS = "access"  # an API key issued to a party, or revoked (schema 3)
DISPUTE = "dispute"  # a record contested, and the outcome
REPAIR = "repair"  # credit repair applied for, and the outcome
RULEBOOK = "rulebook"  # a rulebook published (the latest is live)
MATCH = "match"  # a record without a valid ID: received, matched, reviewed, disputed (schema 4)
KINDS = (SOURCE, KEY, ERASURE, ACCESS, DISPUTE, REPAIR, RULEBOOK, MATCH)
KEY_ACTIONS = ("issue", "revoke")
ACCESS_ACTIONS = ("issue", "revoke")
DISPUTE_ACTIONS = ("filed", "confirmed", "corrected", "withdrawn", "lapsed")
REPAIR_ACTIONS = ("applied", "rectified", "refused")
MATCH_ACTIONS = ("received", "proposed", "confirmed", "rejected", "disputed")
ROLES = ("source", "relying-party", "subject", "auditor", "admin")
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


def text_hash(text: str) -> str:
    """Hex SHA-256 of free text a person wrote: the ledger commits to it, never holds it."""
    return hashlib.sha256(text.encode()).hexdigest()


def access_entry(
    seq: int,
    action: str,
    role: str,
    name: str,
    key_hash: bytes,
    purposes: list[str],
    source: str | None,
) -> bytes:
    """A party's API key issued or revoked: who may reach the service, and for what.

    The key itself never appears, only its SHA-256; a subject key does not
    name its subject (the ledger holds no personal data).
    """
    if action not in ACCESS_ACTIONS or role not in ROLES:
        raise EntryError(f"access entry: bad action {action!r} or role {role!r}")
    fields = {
        "action": action,
        "key_sha256": key_hash.hex(),
        "name": name,
        "purposes": sorted(purposes),
        "role": role,
        "source": source or "",
    }
    return _leaf(seq, ACCESS, fields)


def dispute_entry(seq: int, action: str, dispute: int, record: int, detail: str) -> bytes:
    """A step of a dispute about record #`record`.

    `detail`: for `filed`, the SHA-256 of the subject's reason; for an
    answer, the SHA-256 of the source's explanation; for `corrected` or
    `withdrawn`, also the correcting record's seq as `by:<seq>:<hash>`.
    """
    if action not in DISPUTE_ACTIONS:
        raise EntryError(f"dispute action must be one of {DISPUTE_ACTIONS}, not {action!r}")
    fields = {"action": action, "detail": detail, "dispute": dispute, "record": record}
    return _leaf(seq, DISPUTE, fields)


def repair_entry(seq: int, action: str, repair: int, record: int, detail: str) -> bytes:
    """A step of a credit-repair application about record #`record` (detail: a text hash)."""
    if action not in REPAIR_ACTIONS:
        raise EntryError(f"repair action must be one of {REPAIR_ACTIONS}, not {action!r}")
    fields = {"action": action, "detail": detail, "record": record, "repair": repair}
    return _leaf(seq, REPAIR, fields)


def rulebook_entry(seq: int, name: str, sha256: str) -> bytes:
    """A rulebook published: from this entry on it is the live one."""
    return _leaf(seq, RULEBOOK, {"name": name, "sha256": sha256})


def salted_hash(salt: bytes, fields: dict[str, Any]) -> str:
    """Hex SHA-256 of a salt and canonical fields: a `match` entry's commitment to personal
    data, which a guess of the fields cannot confirm without the salt (kept in the store)."""
    return hashlib.sha256(salt + canonical_json(fields)).hexdigest()


def match_entry(seq: int, action: str, case: int, detail: str) -> bytes:
    """A step of identity resolution for unidentified record `case` (credence.identity).

    `detail` never holds personal data: for `received` and `proposed`, a
    salted SHA-256 of the record's identifying fields or of the match and its
    evidence; for `confirmed`, `record:<seq>` (the record appended); for
    `rejected` and `disputed`, the SHA-256 of the reason given.
    """
    if action not in MATCH_ACTIONS:
        raise EntryError(f"match action must be one of {MATCH_ACTIONS}, not {action!r}")
    return _leaf(seq, MATCH, {"action": action, "case": case, "detail": detail})


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
        ACCESS: {"action", "key_sha256", "name", "purposes", "role", "source"},
        DISPUTE: {"action", "detail", "dispute", "record"},
        REPAIR: {"action", "detail", "record", "repair"},
        RULEBOOK: {"name", "sha256"},
        MATCH: {"action", "case", "detail"},
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
    if kind == DISPUTE and (
        data["action"] not in DISPUTE_ACTIONS
        or not isinstance(data["record"], int)
        or not isinstance(data["dispute"], int)
    ):
        raise EntryError("dispute entry must name a known action, a dispute and a record")
    if kind == REPAIR and (
        data["action"] not in REPAIR_ACTIONS
        or not isinstance(data["record"], int)
        or not isinstance(data["repair"], int)
    ):
        raise EntryError("repair entry must name a known action, an application and a record")
    if kind == MATCH and (data["action"] not in MATCH_ACTIONS or not isinstance(data["case"], int)):
        raise EntryError("match entry must name a known action and an unidentified record")
    if kind == ACCESS and (data["action"] not in ACCESS_ACTIONS or data["role"] not in ROLES):
        raise EntryError("access entry must issue or revoke a key of a known role")


def key_bytes(entry: Entry) -> bytes:
    """The raw public key a key entry names."""
    try:
        raw = base64.b64decode(entry.body["public_key"], validate=True)
    except ValueError:
        raise EntryError("key entry public_key is not base64") from None
    if len(raw) != 32:
        raise EntryError("key entry public_key is not a 32-byte Ed25519 key")
    return raw
