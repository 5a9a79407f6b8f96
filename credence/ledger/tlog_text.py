"""Proof text formats: tlog-witness add-checkpoint bodies and tlog-proof files.

A proof is only useful to an outsider if it travels with the signed
checkpoint it leads to, in a format their tools already read. These are the
two C2SP formats: the body a log POSTs to a witness (c2sp.org/tlog-witness:
old size, consistency proof, checkpoint) and the offline inclusion proof
(c2sp.org/tlog-proof). The checkpoint part is kept as text, unverified: the
caller opens it with the keys it trusts (note.open_checkpoint).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from credence.ledger.note_base import (
    MAX_PROOF_HASHES,
    NoteError,
    b64decode,
    check_text,
    decode_hash,
    encode_hash,
)

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class ConsistencyRequest(NamedTuple):
    """A tlog-witness add-checkpoint body: prove `note`'s tree extends the one of `old_size`."""

    old_size: int
    proof: list[bytes]
    note: str


@dataclass(frozen=True, slots=True)
class InclusionProofText:
    """A tlog-proof file: the entry at `index` is in the tree of the checkpoint `note`."""

    index: int
    proof: list[bytes]
    note: str
    extra: bytes | None = None


def _hash_lines(proof: Sequence[bytes]) -> str:
    if len(proof) > MAX_PROOF_HASHES:
        raise NoteError(f"a proof has at most {MAX_PROOF_HASHES} hashes, got {len(proof)}")
    return "".join(encode_hash(h) + "\n" for h in proof)


def _decimal(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise NoteError(f"malformed {what}: {text[:30]!r} is not a decimal without leading zeroes")
    return int(text)


def _split_hashes(lines: list[str], start: int, what: str) -> tuple[list[bytes], str]:
    """Hash lines from `start` up to the blank line; the rest, rejoined, is the note."""
    try:
        blank = lines.index("", start)
    except ValueError:
        raise NoteError(f"malformed {what}: no blank line before the checkpoint") from None
    hashes = lines[start:blank]
    if len(hashes) > MAX_PROOF_HASHES:
        raise NoteError(f"malformed {what}: more than {MAX_PROOF_HASHES} proof hashes")
    proof = [decode_hash(h, f"{what} hash") for h in hashes]
    note = "\n".join(lines[blank + 1 :])
    if not note.strip():
        raise NoteError(f"malformed {what}: the checkpoint is missing")
    return proof, note


def format_consistency_request(old_size: int, proof: Sequence[bytes], note_text: str) -> str:
    """`old N`, one base64 hash per line, a blank line, then the signed checkpoint."""
    if old_size < 0:
        raise NoteError(f"old size must be non-negative, got {old_size}")
    return f"old {old_size}\n{_hash_lines(proof)}\n{note_text}"


def parse_consistency_request(text: str | bytes) -> ConsistencyRequest:
    """Read an add-checkpoint body strictly; the checkpoint is returned unverified."""
    text = check_text(text, "consistency request")
    lines = text.split("\n")
    head = lines[0]
    if not head.startswith("old "):
        raise NoteError("malformed consistency request: the first line must be 'old <size>'")
    old_size = _decimal(head[4:], "consistency request old size")
    proof, note = _split_hashes(lines, 1, "consistency request")
    return ConsistencyRequest(old_size, proof, note)


def format_inclusion_proof(
    index: int, proof: Sequence[bytes], note_text: str, extra: bytes | None = None
) -> str:
    """A tlog-proof@v1 file: header, optional extra, index, hashes, blank line, checkpoint."""
    if index < 0:
        raise NoteError(f"index must be non-negative, got {index}")
    extra_line = "" if extra is None else f"extra {base64.b64encode(extra).decode('ascii')}\n"
    return f"{TLOG_PROOF_HEADER}\n{extra_line}index {index}\n{_hash_lines(proof)}\n{note_text}"


def parse_inclusion_proof(text: str | bytes) -> InclusionProofText:
    """Read a tlog-proof@v1 file strictly; the checkpoint is returned unverified."""
    text = check_text(text, "tlog-proof")
    lines = text.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise NoteError(f"malformed tlog-proof: the first line must be {TLOG_PROOF_HEADER!r}")
    at = 1
    extra = None
    if len(lines) > at and lines[at].startswith("extra "):
        extra = b64decode(lines[at][6:], "tlog-proof extra data")
        at += 1
    if len(lines) <= at or not lines[at].startswith("index "):
        raise NoteError("malformed tlog-proof: missing the 'index <n>' line")
    index = _decimal(lines[at][6:], "tlog-proof index")
    proof, note = _split_hashes(lines, at + 1, "tlog-proof")
    return InclusionProofText(index, proof, note, extra)
