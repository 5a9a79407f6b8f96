"""Leaf and record bytes are RFC 8785 canonical JSON, as docs/ledger.md promises."""

from __future__ import annotations

import json
import random
import string

import pyarrow as pa
import pytest
import rfc8785

from credence.core.canonical import canonical_json
from credence.core.records import Record
from credence.ledger.leaf import SALT_BYTES, record_hash, record_leaf, salt_column, subject_hash
from credence.ledger.treehead import sign_tree_head, signed_bytes, verify_tree_head


def _records(n: int) -> list[Record]:
    rng = random.Random(7)
    alphabet = string.printable + '京执号é\u2028\U0001f600"\\'
    out = []
    for i in range(n):
        attrs = {
            "".join(rng.choices(string.ascii_lowercase, k=5)): rng.choice(
                [
                    rng.randint(-(2**53) + 1, 2**53 - 1),
                    "".join(rng.choices(alphabet, k=8)),
                    True,
                    None,
                ]
            )
            for _ in range(rng.randint(0, 3))
        }
        out.append(
            Record(
                source="court",
                reference="".join(rng.choices(string.ascii_letters + '"\\/-_', k=10)),
                item="judicial.defaulter-listed",
                subject=f"ric:{i:018d}",
                occurred_on="2024-01-02",
                decided_on=rng.choice([None, "2024-01-03"]),
                attributes_json=canonical_json(attrs).decode() if attrs else None,
                corrects=rng.choice([None, 'C"1\\x']),
            )
        )
    return out


def test_record_content_is_rfc8785() -> None:
    for rec in _records(300):
        assert rec.content() == rfc8785.dumps(rec.to_dict())


def test_canonical_json_matches_the_reference() -> None:
    samples = [
        {"b": 1, "a": [True, None, "x"], "é": {"z": "\u2028", "y": 2**53 - 1}},
        {"amount": 5000.5, "k": 1e21, "s": "\U0001f600"},
        {"\U0001f600": 1, "\ufb01": 2},  # keys sorted by UTF-16 units, not code points
    ]
    for value in samples:
        assert canonical_json(value) == rfc8785.dumps(value)


def test_leaf_bytes_are_rfc8785_and_hide_the_subject() -> None:
    key = b"k" * 32
    for seq, rec in enumerate(_records(50)):
        salt = bytes([seq]) * 16
        leaf = record_leaf(
            seq, rec, record_hash(salt, rec.content()), subject_hash(key, rec.subject)
        )
        doc = json.loads(leaf)
        assert leaf == rfc8785.dumps(doc)
        assert doc["seq"] == seq and doc["kind"] == "record" and doc["v"] == 1
        assert rec.subject not in leaf.decode() and rec.reference not in leaf.decode()


def test_tree_head_signature_layout() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    head = sign_tree_head(key, 5, b"\x11" * 32, 1_700_000_000_000)
    tbs = signed_bytes(5, b"\x11" * 32, 1_700_000_000_000)
    assert tbs[:2] == b"\x00\x01" and len(tbs) == 2 + 8 + 8 + 32
    assert int.from_bytes(tbs[2:10], "big") == 1_700_000_000_000
    assert verify_tree_head(key.public_key(), head)
    other = Ed25519PrivateKey.generate()
    assert not verify_tree_head(other.public_key(), head)


@pytest.mark.parametrize("n", [0, 1, 2, 1000])
def test_a_salt_column_holds_n_fresh_salts_of_16_bytes(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One draw from the OS, cut into 16-byte salts in order (the draw stubbed here)."""
    drawn: list[bytes] = []

    def urandom(size: int) -> bytes:
        drawn.append(random.Random(size).randbytes(size))
        return drawn[-1]

    monkeypatch.setattr("credence.ledger.leaf.os.urandom", urandom)
    column = salt_column(n)
    assert column.type == pa.binary() and len(column) == n and column.null_count == 0
    pool = b"".join(drawn)
    assert column.to_pylist() == [pool[i : i + 16] for i in range(0, 16 * n, 16)]
    assert SALT_BYTES == 16 and len(pool) == 16 * n
    column.validate(full=True)
