"""What a verifier trusts, and where it comes from: keys, origin, kept checkpoints.

The rule is that nothing stored beside the data vouches for the data: the
key that heads must verify under is the signing key file's public half (kept
in CREDENCE_KEY_DIR, ideally away from the database) or a key the auditor
pins; checkpoints are files someone kept. The signing side keeps its own
last checkpoint beside the key (`checkpoints/latest.note`), so the operator
notices a rolled-back database without any outside party.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credence.ledger.note import (
    Checkpoint,
    NoteError,
    Verifier,
    cosignature_time,
    log_verifier,
    open_checkpoint,
    sign_checkpoint,
)
from credence.ledger.treehead import key_id, load_public_key
from credence.settings import Settings
from credence.store.database import StoreError
from credence.store.registry import Registry
from credence.store.verify import CheckpointClaim


@dataclass(frozen=True)
class LogKey:
    """The log's public key with its checkpoint name (the origin)."""

    origin: str
    public_key: Ed25519PublicKey

    @property
    def verifier(self) -> Verifier:
        return log_verifier(self.origin, self.public_key)


def origin_for(settings: Settings, public_key: Ed25519PublicKey) -> str:
    return settings.log_origin or f"credence/{key_id(public_key)[:16]}"


def own_log_key(registry: Registry) -> LogKey:
    """The log key from the signing key file (which is not in the database)."""
    return LogKey(registry.log_origin(), registry.signing_key().public_key())


def pinned_log_key(path: Path, settings: Settings) -> LogKey:
    """A key an auditor holds: a C2SP vkey line (`log.vkey`) or an Ed25519 PEM public key."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read public key {path}: {exc}") from None
    try:
        if text.startswith("-----BEGIN"):
            public = load_public_key(text)
            return LogKey(origin_for(settings, public), public)
        verifier = Verifier.from_vkey(text)
    except (NoteError, ValueError) as exc:
        raise StoreError(f"{path} is not a log public key: {exc}") from None
    return LogKey(verifier.name, verifier.public_key)


def make_checkpoint(registry: Registry, size: int, root: bytes) -> str:
    """A signed checkpoint note (C2SP tlog-checkpoint) of a head, by the signing key."""
    log_key = own_log_key(registry)
    return sign_checkpoint(
        Checkpoint(log_key.origin, size, root), registry.signing_key(), log_key.origin
    )


def kept_checkpoint_path(settings: Settings) -> Path:
    return (settings.key_dir or settings.data_dir) / "checkpoints" / "latest.note"


def keep_checkpoint(settings: Settings, note: str) -> Path:
    """Remember the newest checkpoint issued, beside the key, atomically and privately."""
    path = kept_checkpoint_path(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(note)
    tmp.replace(path)
    return path


def claim_of(name: str, text: str, log_key: LogKey, witnesses: list[Verifier]) -> CheckpointClaim:
    """A checkpoint file's claim, after checking the log's signature and cosignatures."""
    try:
        cp = open_checkpoint(text, log_key.verifier, log_key.origin)
    except NoteError as exc:
        raise StoreError(f"checkpoint {name}: {exc}") from None
    cosigned = set()
    for witness in witnesses:
        try:
            cosignature_time(text, witness)
        except (NoteError, StopIteration):
            continue
        cosigned.add(witness.name)
    return CheckpointClaim(name, cp.size, cp.root, frozenset(cosigned))


def witness_key(path_or_vkey: str) -> Verifier:
    """A witness's cosignature key: a vkey line, or a file holding one."""
    text = path_or_vkey
    path = Path(path_or_vkey)
    if "+" not in path_or_vkey or path.exists():
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StoreError(f"cannot read witness key {path_or_vkey}: {exc}") from None
    try:
        verifier = Verifier.from_vkey(text)
    except NoteError as exc:
        raise StoreError(f"witness key {path_or_vkey}: {exc}") from None
    if verifier.sig_type != 0x04:
        raise StoreError(f"witness key {path_or_vkey} is not a cosignature (0x04) key")
    return verifier


def kept_claims(registry: Registry) -> tuple[CheckpointClaim, ...]:
    """The checkpoint kept beside the key, as a claim to verify against (if any)."""
    path = kept_checkpoint_path(registry.settings)
    if not path.exists():
        return ()
    text = path.read_text(encoding="utf-8")
    return (claim_of(str(path), text, own_log_key(registry), []),)
