"""What a snapshot check proved last time, kept under a MAC so that it can be trusted.

Recomputing every row's leaf on every run costs more than scoring, and the
snapshot only grows. So after a full proof, `verified.json` records the
size proved, the Merkle frontier at that size and the SHA-256 of every
Parquet file, under an HMAC whose key is derived from the signing key: the
same secret that signs heads, so whoever can only write the data directory
cannot forge it, while whoever holds the signing key could re-sign the
ledger anyway. A missing or invalid MAC simply means a full proof.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credence.engines.snapshot import Snapshot

STATE_FILE = "verified.json"
_CONTEXT = b"credence/snapshot-proof/v1\n"


@dataclass(frozen=True)
class ProvedState:
    """A snapshot proved at `size`: the frontier there and each file's digest."""

    size: int
    frontier: tuple[bytes, ...]
    files: dict[str, str]


def mac_key(signing_key: Ed25519PrivateKey) -> bytes:
    """A MAC key derived one way from the signing key (the key cannot be recovered from it)."""
    raw = signing_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return hashlib.sha256(_CONTEXT + raw).digest()


def _body(state: ProvedState) -> bytes:
    data = {
        "size": state.size,
        "frontier": [h.hex() for h in state.frontier],
        "files": dict(sorted(state.files.items())),
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def save_state(snapshot: Snapshot, key: bytes, state: ProvedState) -> None:
    body = _body(state)
    tag = hmac.new(key, body, hashlib.sha256).hexdigest()
    path = snapshot.path / STATE_FILE
    tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(json.dumps({"state": json.loads(body), "mac": tag}).encode("utf-8"))
    tmp.replace(path)


def load_state(snapshot: Snapshot, key: bytes) -> ProvedState | None:
    """The proved state, or None when absent, unreadable or not MAC'd under `key`."""
    try:
        data = json.loads((snapshot.path / STATE_FILE).read_text(encoding="utf-8"))
        raw = data["state"]
        state = ProvedState(
            int(raw["size"]),
            tuple(bytes.fromhex(h) for h in raw["frontier"]),
            {str(k): str(v) for k, v in raw["files"].items()},
        )
        tag = str(data["mac"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    expected = hmac.new(key, _body(state), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, tag) or len(state.frontier) != state.size.bit_count():
        return None
    return state
