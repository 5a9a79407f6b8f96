"""A witness's directory: its key, the log key it trusts, and the last checkpoint it cosigned.

Everything a witness promises rests on two files: the private key (who
cosigns) and the state (what it cosigned last). Both are owner-only and
the state is replaced atomically under a lock, because a witness that lost
or half-wrote its state, or checked and saved in two racing steps, could
be made to cosign a rollback (c2sp.org/tlog-witness, add-checkpoint).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credence.ledger.keys import KeyFileError, create_signing_key, load_signing_key
from credence.ledger.note import NoteError, Verifier, witness_verifier
from credence.ledger.note_base import check_key_name

KEY_FILE = "witness.key"
VKEY_FILE = "witness.vkey"
LOG_VKEY_FILE = "log.vkey"
STATE_FILE = "state.json"
CHECKPOINT_FILE = "checkpoint"  # the last cosigned note, as a monitor would fetch it
LOCK_FILE = "lock"


class WitnessError(RuntimeError):
    """The witness directory is missing, incomplete or not what the command expects."""


@dataclass(frozen=True, slots=True)
class WitnessState:
    """The latest checkpoint this witness cosigned for its log."""

    origin: str
    size: int
    root: bytes
    timestamp: int

    def to_json(self) -> str:
        data = {"origin": self.origin, "size": self.size, "root": self.root.hex()}
        return json.dumps({**data, "timestamp": self.timestamp}, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> WitnessState:
        try:
            data = json.loads(text)
            root = bytes.fromhex(data["root"])
            return cls(data["origin"], int(data["size"]), root, int(data["timestamp"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise WitnessError(f"witness state is unreadable ({exc}): refusing to guess") from None


def _write_private(path: Path, text: str) -> None:
    """Write owner-only via a temporary file and rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class WitnessDir:
    """The files of one witness; `create` once, then `open` for every cosigning."""

    def __init__(self, path: Path, key: Ed25519PrivateKey, me: Verifier, log: Verifier) -> None:
        self.path = path
        self.key = key
        self.verifier = me
        self.log_key = log

    @classmethod
    def create(cls, path: Path, log_key: Verifier, name: str) -> WitnessDir:
        """Make the directory (0700) and a new key (0600); never overwrite an existing key."""
        if log_key.sig_type != 0x01:
            raise WitnessError(f"{log_key.label()} is not a log (0x01) key")
        try:
            check_key_name(name)
        except NoteError as exc:
            raise WitnessError(f"bad witness name: {exc}") from None
        if (path / KEY_FILE).exists():
            raise WitnessError(f"{path / KEY_FILE} already exists: not overwriting a witness key")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        try:
            key = create_signing_key(path / KEY_FILE)
        except FileExistsError:
            raise WitnessError(f"{path / KEY_FILE} already exists: not overwriting") from None
        me = witness_verifier(name, key.public_key())
        _write_private(path / VKEY_FILE, me.vkey() + "\n")
        _write_private(path / LOG_VKEY_FILE, log_key.vkey() + "\n")
        return cls(path, key, me, log_key)

    @classmethod
    def open(cls, path: Path) -> WitnessDir:
        """Load a witness made by `create`, checking its vkey belongs to its key."""
        if not (path / KEY_FILE).exists():
            raise WitnessError(f"{path} is not a witness directory: run `credence witness init`")
        try:
            key = load_signing_key(path / KEY_FILE)
            me = Verifier.from_vkey((path / VKEY_FILE).read_text(encoding="utf-8"))
            log = Verifier.from_vkey((path / LOG_VKEY_FILE).read_text(encoding="utf-8"))
        except (OSError, NoteError, KeyFileError) as exc:
            raise WitnessError(f"witness directory {path} is damaged: {exc}") from None
        if me != witness_verifier(me.name, key.public_key()):
            raise WitnessError(f"{path / VKEY_FILE} does not belong to {path / KEY_FILE}")
        return cls(path, key, me, log)

    def state(self) -> WitnessState | None:
        """The last cosigned checkpoint, or None before the first cosignature."""
        try:
            text = (self.path / STATE_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return WitnessState.from_json(text)

    def save(self, state: WitnessState, cosigned_note: str) -> None:
        """Record a cosignature: the note first, then the state that commits to it."""
        _write_private(self.path / CHECKPOINT_FILE, cosigned_note)
        _write_private(self.path / STATE_FILE, state.to_json())

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's lock so check-then-save is atomic across processes."""
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
