"""The registry's two secrets: the tree-head signing key and the subject-hash key.

Both live in the data directory, readable only by the owner. The signing
key's public half is also stored in the registry so that old tree heads can
be checked after a key rotation.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SUBJECT_KEY_BYTES = 32


class KeyFileError(RuntimeError):
    """A key file is missing or unreadable."""


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def create_signing_key(path: Path) -> Ed25519PrivateKey:
    """Make a new Ed25519 key at `path` (never overwrites an existing one)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(path, pem)
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyFileError(
            f"signing key {path} is missing: set CREDENCE_KEY_DIR to where it is kept "
            "(`verify` can check with the published key instead: --public-key FILE)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return key


def create_subject_key(path: Path) -> bytes:
    key = secrets.token_bytes(SUBJECT_KEY_BYTES)
    _write_private(path, key.hex().encode("ascii"))
    return key


def load_subject_key(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        raise KeyFileError(
            f"subject-hash key {path} is missing: restore it from your backup "
            "(a new key would make every record fail verify)"
        ) from None
