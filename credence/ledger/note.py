"""C2SP signed notes, checkpoints and cosignatures, byte for byte.

Our own signed tree heads (treehead.py) can only be checked with our own
tools. The transparency-log world already agrees on a text format: a
checkpoint (c2sp.org/tlog-checkpoint) is a signed note (c2sp.org/signed-note)
whose body is origin, size and root; witnesses add timestamped cosignatures
(c2sp.org/tlog-cosignature). Speaking that format lets any existing witness,
monitor or verifier (Go's sumdb/note, transparency-dev, sigsum) watch this
registry, so an outsider needs none of our code to catch a split view.

Pure: hashlib, base64 and cryptography only. Everything untrusted is parsed
strictly and refused with a NoteError that names what is wrong. The text
formats that carry proofs (tlog-witness requests, tlog-proof files) live in
`credence.ledger.tlog_text` and are re-exported here.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from credence.ledger.note_base import (
    MAX_SIGNATURES,
    NoteError,
    b64decode,
    check_key_name,
    check_text,
)
from credence.ledger.tlog_text import (
    ConsistencyRequest,
    InclusionProofText,
    format_consistency_request,
    format_inclusion_proof,
    parse_consistency_request,
    parse_inclusion_proof,
)

__all__ = [
    "MAX_SIGNATURES",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "Checkpoint",
    "ConsistencyRequest",
    "InclusionProofText",
    "NoteError",
    "NoteSignature",
    "SignedNote",
    "Verifier",
    "cosign",
    "cosignature_time",
    "format_consistency_request",
    "format_inclusion_proof",
    "log_verifier",
    "open_checkpoint",
    "open_note",
    "parse_consistency_request",
    "parse_inclusion_proof",
    "sign_checkpoint",
    "sign_note",
    "witness_verifier",
]

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
_SIG_LINE = "\u2014 "  # EM DASH, space
_KEY_HASH_SIZE = 4
_ED25519_SIG = 64
_COSIG = struct.Struct(">Q")
_MAX_TIMESTAMP = 2**63 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX_KEY_HASH = re.compile(r"[0-9a-f]{8}")
_TYPE_NAMES = {SIG_ED25519: "Ed25519 note key", SIG_COSIGNATURE_V1: "Ed25519 cosignature key"}


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, 4-byte key hash and the algorithm's bytes after it."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_hash + self.signature).decode("ascii")
        return f"{_SIG_LINE}{self.name} {blob}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A note split into its signed text and its signature lines (not yet verified)."""

    body: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, text: str | bytes) -> SignedNote:
        """Split a note at its last blank line, refusing anything the spec calls malformed."""
        text = check_text(text, "note")
        split = text.rfind("\n\n")
        if split < 0 or not text.endswith("\n"):
            raise NoteError("malformed note: no blank line before the signature lines")
        body, block = text[: split + 1], text[split + 2 :]
        lines = block.split("\n")[:-1]
        if not lines:
            raise NoteError("malformed note: it has no signature lines")
        if len(lines) > MAX_SIGNATURES:
            raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
        return cls(body, tuple(_parse_signature_line(line) for line in lines))

    def format(self) -> str:
        return self.body + "\n" + "".join(s.line() for s in self.signatures)


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIG_LINE):
        raise NoteError(f"malformed note: signature line {line[:40]!r} does not start with '— '")
    name, sep, blob = line[len(_SIG_LINE) :].partition(" ")
    if not sep:
        raise NoteError(f"malformed note: signature line {line[:40]!r} has no signature")
    check_key_name(name)
    raw = b64decode(blob, f"signature of {name}")
    if len(raw) <= _KEY_HASH_SIZE:
        raise NoteError(f"malformed note: the signature of {name} is too short")
    return NoteSignature(name, raw[:_KEY_HASH_SIZE], raw[_KEY_HASH_SIZE:])


def key_hash(name: str, sig_type: int, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || key)[:4]: the ID every signed-note verifier computes."""
    data = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key
    return hashlib.sha256(data).digest()[:_KEY_HASH_SIZE]


@dataclass(frozen=True, slots=True)
class Verifier:
    """A trusted public key: name, signature type (0x01 log, 0x04 cosigner), 32 raw bytes."""

    name: str
    sig_type: int
    key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if self.sig_type not in _TYPE_NAMES:
            raise NoteError(f"unsupported signature type 0x{self.sig_type:02x} (want 0x01 or 0x04)")
        if len(self.key) != 32:
            raise NoteError(f"an Ed25519 public key is 32 bytes, got {len(self.key)}")

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.sig_type, self.key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.key)

    def label(self) -> str:
        """`name+hexhash`, how Go's sumdb/note names a key in its errors."""
        return f"{self.name}+{self.key_hash.hex()}"

    def vkey(self) -> str:
        blob = base64.b64encode(bytes([self.sig_type]) + self.key).decode("ascii")
        return f"{self.label()}+{blob}"

    @classmethod
    def from_vkey(cls, text: str) -> Verifier:
        """Parse `<name>+<hex key hash>+<base64(type || key)>`, checking the hash matches."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("malformed vkey: want <name>+<hex key hash>+<base64 key>")
        name, hex_hash, blob = parts
        if not _HEX_KEY_HASH.fullmatch(hex_hash):
            raise NoteError(f"malformed vkey: key hash {hex_hash!r} is not 8 lower-case hex digits")
        raw = b64decode(blob, "vkey key")
        if len(raw) < 2:
            raise NoteError("malformed vkey: no key material")
        verifier = cls(name, raw[0], raw[1:])
        if verifier.key_hash.hex() != hex_hash:
            raise NoteError(
                f"malformed vkey: key hash {hex_hash} does not match the key "
                f"(computed {verifier.key_hash.hex()})"
            )
        return verifier

    def message(self, body: str, signature: bytes) -> tuple[bytes, bytes] | None:
        """(signed bytes, Ed25519 signature) for this key's type, or None if malformed."""
        if self.sig_type == SIG_ED25519:
            return (body.encode("utf-8"), signature) if len(signature) == _ED25519_SIG else None
        if len(signature) != _COSIG.size + _ED25519_SIG:
            return None
        (timestamp,) = _COSIG.unpack(signature[: _COSIG.size])
        return _cosigned_message(timestamp, body), signature[_COSIG.size :]

    def verifies(self, body: str, sig: NoteSignature) -> bool:
        parts = self.message(body, sig.signature)
        if parts is None:
            return False
        try:
            self.public_key.verify(parts[1], parts[0])
        except InvalidSignature:
            return False
        return True


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def log_verifier(name: str, public_key: Ed25519PublicKey) -> Verifier:
    """The 0x01 verifier for a log's checkpoint key (name should equal the origin)."""
    return Verifier(name, SIG_ED25519, _raw_public(public_key))


def witness_verifier(name: str, public_key: Ed25519PublicKey) -> Verifier:
    """The 0x04 verifier for a witness's cosignature/v1 key."""
    return Verifier(name, SIG_COSIGNATURE_V1, _raw_public(public_key))


def _cosigned_message(timestamp: int, body: str) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def open_note(
    text: str | bytes, verifiers: Sequence[Verifier]
) -> tuple[SignedNote, list[Verifier]]:
    """Parse a note and verify every line from a known key; return the keys that signed.

    Follows signed-note: lines from unknown keys (name or hash differs) are
    ignored, a known key's bad signature rejects the whole note, and at least
    one known key must have signed. Stricter than the spec on one point: a
    known key that signs twice is refused, since no honest signer does that.
    """
    note = SignedNote.parse(text)
    known = {(v.name, v.key_hash): v for v in verifiers}
    signed: list[Verifier] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_hash))
        if verifier is None:
            continue
        if verifier in signed:
            raise NoteError(f"note has two signature lines for key {verifier.label()}")
        if not verifier.verifies(note.body, sig):
            raise NoteError(f"invalid signature for key {verifier.label()}")
        signed.append(verifier)
    if not signed:
        raise NoteError(_unsigned_reason(note, verifiers))
    return note, signed


def _unsigned_reason(note: SignedNote, verifiers: Sequence[Verifier]) -> str:
    wanted = ", ".join(v.label() for v in verifiers) or "no key"
    for v in verifiers:
        for sig in note.signatures:
            if sig.name == v.name:
                return (
                    f"note is not signed by {v.label()}: its line for {v.name} has key hash "
                    f"{sig.key_hash.hex()} (a different key or signature type)"
                )
    return f"note is not signed by {wanted}"


def sign_note(body: str, key: Ed25519PrivateKey, name: str) -> str:
    """A note carrying one Ed25519 (0x01) signature by `key` under `name`."""
    check_text(body, "note text")
    if not body.endswith("\n"):
        raise NoteError("note text must end with a newline")
    verifier = log_verifier(name, key.public_key())
    sig = NoteSignature(name, verifier.key_hash, key.sign(body.encode("utf-8")))
    return SignedNote(body, (sig,)).format()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head as c2sp.org/tlog-checkpoint text: origin, size, root, extensions."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError("checkpoint origin must be one non-empty line")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise NoteError(f"checkpoint size must be a non-negative integer, got {self.size!r}")
        if len(self.root) != 32:
            raise NoteError(f"checkpoint root must be 32 bytes, got {len(self.root)}")
        for line in self.extensions:
            if not line or "\n" in line:
                raise NoteError("checkpoint extension lines must be single non-empty lines")

    def body(self) -> str:
        root = base64.b64encode(self.root).decode("ascii")
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        """Read a checkpoint body strictly: no leading zeroes, 32-byte root, no empty lines."""
        if not text.endswith("\n"):
            raise NoteError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint needs origin, size and root lines")
        origin, size, root, *extensions = lines
        if not _DECIMAL.fullmatch(size):
            raise NoteError(f"checkpoint size {size[:30]!r} is not a decimal (no leading zeroes)")
        raw_root = b64decode(root, "checkpoint root")
        try:
            return cls(origin, int(size), raw_root, tuple(extensions))
        except NoteError as exc:
            raise NoteError(f"malformed checkpoint: {exc}") from None


def sign_checkpoint(cp: Checkpoint, key: Ed25519PrivateKey, name: str) -> str:
    """The checkpoint as a note signed by the log key (name should equal cp.origin)."""
    return sign_note(cp.body(), key, name)


def open_checkpoint(text: str | bytes, log_key: Verifier, origin: str | None = None) -> Checkpoint:
    """The checkpoint in `text`, if `log_key` signed it and its origin is the expected one.

    `origin` defaults to the key's name: credence signs each checkpoint with
    a key named after its origin, as tlog-checkpoint recommends.
    """
    if log_key.sig_type != SIG_ED25519:
        raise NoteError(f"{log_key.label()} is a cosignature key, not a log key")
    note, _ = open_note(text, [log_key])
    cp = Checkpoint.parse_body(note.body)
    expected = log_key.name if origin is None else origin
    if cp.origin != expected:
        raise NoteError(f"checkpoint origin {cp.origin!r} is not the expected {expected!r}")
    return cp


def cosign(note_text: str | bytes, key: Ed25519PrivateKey, name: str, timestamp: int) -> str:
    """The note with a cosignature/v1 line by `key` at `timestamp` (replacing an older one).

    The caller must already have checked the checkpoint's log signature and
    consistency: a cosignature is the witness's word that it did.
    """
    if isinstance(timestamp, bool) or not 0 < timestamp <= _MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp must be in 1..2^63-1, got {timestamp!r}")
    note = SignedNote.parse(note_text)
    Checkpoint.parse_body(note.body)
    verifier = witness_verifier(name, key.public_key())
    signature = _COSIG.pack(timestamp) + key.sign(_cosigned_message(timestamp, note.body))
    mine = NoteSignature(name, verifier.key_hash, signature)
    kept = [s for s in note.signatures if (s.name, s.key_hash) != (name, verifier.key_hash)]
    return SignedNote(note.body, (*kept, mine)).format()


def cosignature_time(note_text: str | bytes, witness: Verifier) -> int:
    """When `witness` cosigned the note; NoteError if it did not, or its signature is bad."""
    if witness.sig_type != SIG_COSIGNATURE_V1:
        raise NoteError(f"{witness.label()} is not a cosignature (0x04) key")
    note, _ = open_note(note_text, [witness])
    wanted = (witness.name, witness.key_hash)
    sig = next(s for s in note.signatures if (s.name, s.key_hash) == wanted)
    (timestamp,) = _COSIG.unpack(sig.signature[: _COSIG.size])
    return int(timestamp)
