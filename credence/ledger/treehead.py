"""Signed tree heads: the registry's signed statement of (size, root, time).

Anyone who keeps a tree head can later demand proof that the log only grew
from it (a consistency proof), so the registry cannot quietly rewrite
history. The signed bytes follow RFC 6962 §3.5 (TreeHeadSignature) so that
existing Certificate Transparency tooling understands them:
version(1) = 0, signature_type(1) = 1 (tree_hash), timestamp(8, ms),
tree_size(8), sha256_root_hash(32), all big-endian, signed with Ed25519.

A second signature chains each head to the one before it (`prev_size`), so
that deleting a head from the store is as visible as changing one: the
RFC 6962 structure has no room for it, and CT tooling ignores the chain.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

_TBS = struct.Struct(">BBQQ32s")
_CHAIN = struct.Struct(">QQQ32s")
CHAIN_CONTEXT = b"credence/tree-head-chain/v1\n"


@dataclass(frozen=True, slots=True)
class TreeHead:
    """A signed tree head as stored and published."""

    size: int
    root: bytes
    timestamp_ms: int
    key_id: str
    signature: bytes
    prev_size: int = 0
    chain_signature: bytes = b""

    def to_dict(self) -> dict[str, object]:
        return {
            "size": self.size,
            "root": self.root.hex(),
            "timestamp_ms": self.timestamp_ms,
            "key_id": self.key_id,
            "signature": self.signature.hex(),
            "prev_size": self.prev_size,
            "chain_signature": self.chain_signature.hex(),
        }


def signed_bytes(size: int, root: bytes, timestamp_ms: int) -> bytes:
    """The RFC 6962 TreeHeadSignature structure that is signed."""
    return _TBS.pack(0, 1, timestamp_ms, size, root)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the raw public key: names the key that signed a head."""
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()


def chain_bytes(prev_size: int, size: int, root: bytes, timestamp_ms: int) -> bytes:
    """What the chain signature covers: the previous head's size and this head."""
    return CHAIN_CONTEXT + _CHAIN.pack(prev_size, size, timestamp_ms, root)


def sign_tree_head(
    private_key: Ed25519PrivateKey, size: int, root: bytes, timestamp_ms: int, prev_size: int = 0
) -> TreeHead:
    signature = private_key.sign(signed_bytes(size, root, timestamp_ms))
    chain = private_key.sign(chain_bytes(prev_size, size, root, timestamp_ms))
    kid = key_id(private_key.public_key())
    return TreeHead(size, root, timestamp_ms, kid, signature, prev_size, chain)


def verify_tree_head(public_key: Ed25519PublicKey, head: TreeHead) -> bool:
    """True when both of `head`'s signatures were made by `public_key`."""
    try:
        public_key.verify(head.signature, signed_bytes(head.size, head.root, head.timestamp_ms))
        public_key.verify(
            head.chain_signature,
            chain_bytes(head.prev_size, head.size, head.root, head.timestamp_ms),
        )
    except InvalidSignature:
        return False
    return True


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
