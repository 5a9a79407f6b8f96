"""The error type and strict low-level readers shared by the signed-note formats.

Kept apart from note.py so that the proof text formats (tlog_text.py) can
refuse bad input with the same NoteError without importing the signing code.
"""

from __future__ import annotations

import base64
import binascii

MAX_SIGNATURES = 100  # signed-note: accept at least 16; Go's sumdb/note stops at 100
MAX_PROOF_HASHES = 63  # a tree of at most 2^63 leaves has proofs of at most 63 hashes
HASH_SIZE = 32


class NoteError(ValueError):
    """A note, key, checkpoint or proof text is malformed or not signed as required."""


def check_text(text: str | bytes, what: str) -> str:
    """Decode to str and refuse control characters other than newline (signed-note §Format)."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError(f"malformed {what}: not valid UTF-8") from None
    for ch in text:
        if ch < " " and ch != "\n":
            raise NoteError(f"malformed {what}: control character {ch!r}")
    return text


def check_key_name(name: str) -> None:
    """Key names are non-empty, without Unicode spaces or '+', so vkeys split unambiguously."""
    if not name:
        raise NoteError("malformed key name: empty")
    if "+" in name or any(ch.isspace() for ch in name):
        raise NoteError(f"malformed key name {name[:60]!r}: no spaces or '+' allowed")


def b64decode(text: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 §4), padding required, nothing outside the alphabet."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"malformed {what}: {text[:60]!r} is not base64") from None


def decode_hash(text: str, what: str) -> bytes:
    raw = b64decode(text, what)
    if len(raw) != HASH_SIZE:
        raise NoteError(f"malformed {what}: a hash is {HASH_SIZE} bytes, got {len(raw)}")
    return raw


def encode_hash(value: bytes) -> str:
    if len(value) != HASH_SIZE:
        raise NoteError(f"a proof hash is {HASH_SIZE} bytes, got {len(value)}")
    return base64.b64encode(value).decode("ascii")
