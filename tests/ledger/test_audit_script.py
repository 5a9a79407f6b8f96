"""examples/audit_ledger.py, run as an outsider would, agrees with credence's own bytes.

The ledger is built with credence's record validation, leaf and tree code
(not through the store, which only adds persistence); proofs are produced
with merkle.py and note.py. The script then runs in a subprocess and must
accept the true record and refuse every change an attacker could make.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credence.core.catalogue import default_catalogue_path, load_catalogue
from credence.core.records import Record, Rejection, RowValidator
from credence.ledger import merkle
from credence.ledger.leaf import record_hash, record_leaf, subject_hash
from credence.ledger.note import (
    Checkpoint,
    format_consistency_request,
    format_inclusion_proof,
    log_verifier,
    sign_checkpoint,
)
from tests.conftest import ORG, PERSON, PERSON_2, row

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "audit_ledger.py"
ORIGIN = "registry.example/credence"


class Ledger:
    """A small ledger as the registry would write it, with every secret kept for the test."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        catalogue = load_catalogue(default_catalogue_path())
        validator = RowValidator(catalogue, "court", set(catalogue.items), dt.date(2026, 1, 1))
        self.records: list[Record] = []
        for r in rows:
            rec = validator.validate(r)
            assert not isinstance(rec, Rejection), rec
            self.records.append(rec)
        self.subject_key = os.urandom(32)
        self.salts = [os.urandom(16) for _ in self.records]
        self.leaves = [
            record_leaf(
                seq,
                rec,
                record_hash(salt, rec.content()),
                subject_hash(self.subject_key, rec.subject),
            )
            for seq, (rec, salt) in enumerate(zip(self.records, self.salts, strict=True))
        ]
        self.key = Ed25519PrivateKey.generate()
        self.vkey = log_verifier(ORIGIN, self.key.public_key()).vkey()

    def checkpoint(self, size: int) -> str:
        cp = Checkpoint(ORIGIN, size, merkle.root(self.leaves[:size]))
        return sign_checkpoint(cp, self.key, ORIGIN)

    def disclosed(self, seq: int, with_key: bool = False) -> dict[str, Any]:
        rec = self.records[seq]
        out: dict[str, Any] = {"content": rec.to_dict(), "salt": self.salts[seq].hex(), "seq": seq}
        if with_key:
            out["subject_key"] = self.subject_key.hex()
        else:
            out["subject_hash"] = subject_hash(self.subject_key, rec.subject)
        return out

    def proof(self, seq: int) -> str:
        path = merkle.inclusion_proof(self.leaves, seq)
        return format_inclusion_proof(seq, path, self.checkpoint(len(self.leaves)))


ROWS = [
    row(reference="C-1"),
    row(reference="C-2", subject=ORG, attributes={"case_number": "A1", "amount": 12345.67}),
    row(
        reference='C-"3"\\x',
        decided_on=None,
        attributes={"case_number": "（2024）第1号", "amount": 5.0},
    ),
    row(reference="C-4", subject=PERSON_2, attributes={"case_number": "x1", "amount": 1e-7}),
    row(reference="C-5", item="revocation", corrects="C-1", attributes=None),
    row(reference="C-6", subject=PERSON, attributes={"case_number": "北京1", "amount": 1e15}),
    row(reference="C-7", attributes={"amount": 100, "case_number": "k1"}),
]


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(ROWS)


def audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def check_record(tmp: Path, disclosed: dict[str, Any], proof: str, vkey: str) -> tuple[int, str]:
    (tmp / "record.json").write_text(json.dumps(disclosed, ensure_ascii=False))
    (tmp / "proof.tlog-proof").write_text(proof)
    done = audit(
        "record", str(tmp / "record.json"), str(tmp / "proof.tlog-proof"), "--log-key", vkey
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("seq", range(len(ROWS)))
def test_every_true_record_is_accepted(tmp_path: Path, ledger: Ledger, seq: int) -> None:
    code, out = check_record(tmp_path, ledger.disclosed(seq), ledger.proof(seq), ledger.vkey)
    assert code == 0, out
    assert f"seq {seq} is in {ORIGIN} at size {len(ROWS)}" in out


def test_subject_key_instead_of_hash_and_vkey_file(tmp_path: Path, ledger: Ledger) -> None:
    (tmp_path / "log.vkey").write_text(ledger.vkey + "\n")
    disclosed = ledger.disclosed(1, with_key=True)
    code, out = check_record(tmp_path, disclosed, ledger.proof(1), str(tmp_path / "log.vkey"))
    assert code == 0, out


def tampered(ledger: Ledger, seq: int, change: str) -> dict[str, Any]:
    d: dict[str, Any] = json.loads(json.dumps(ledger.disclosed(seq)))
    if change == "attribute":
        d["content"]["attributes"]["amount"] = 12345.68
    elif change == "salt":
        d["salt"] = ("00" if d["salt"][:2] != "00" else "01") + d["salt"][2:]
    elif change == "subject":
        d["content"]["subject"] = PERSON_2
        d["subject_key"] = ledger.subject_key.hex()
        del d["subject_hash"]
    elif change == "seq":
        d["seq"] = seq + 1
    elif change == "date":
        d["content"]["occurred_on"] = "2024-03-02"
    return d


@pytest.mark.parametrize("change", ["attribute", "salt", "subject", "seq", "date"])
def test_changed_record_is_refused(tmp_path: Path, ledger: Ledger, change: str) -> None:
    code, out = check_record(tmp_path, tampered(ledger, 1, change), ledger.proof(1), ledger.vkey)
    assert code == 1 and out.startswith("FAIL:"), out


def test_wrong_proof_hash_is_refused(tmp_path: Path, ledger: Ledger) -> None:
    lines = ledger.proof(2).split("\n")
    lines[2] = "A" * 43 + "="
    code, out = check_record(tmp_path, ledger.disclosed(2), "\n".join(lines), ledger.vkey)
    assert code == 1 and "inclusion fails" in out


def test_wrong_log_key_is_refused(tmp_path: Path, ledger: Ledger) -> None:
    other = log_verifier(ORIGIN, Ed25519PrivateKey.generate().public_key()).vkey()
    code, out = check_record(tmp_path, ledger.disclosed(0), ledger.proof(0), other)
    assert code == 1 and "signatures by the log key" in out


def test_tampered_checkpoint_is_refused(tmp_path: Path, ledger: Ledger) -> None:
    proof = ledger.proof(0).replace(f"\n{len(ROWS)}\n", f"\n{len(ROWS) + 1}\n")
    code, out = check_record(tmp_path, ledger.disclosed(0), proof, ledger.vkey)
    assert code == 1 and "does not verify" in out


def consistency(tmp_path: Path, ledger: Ledger, old: int, new: int, proof_from: int) -> int:
    (tmp_path / "old.note").write_text(ledger.checkpoint(old))
    path = merkle.consistency_proof(ledger.leaves[:new], proof_from)
    body = format_consistency_request(old, path, ledger.checkpoint(new))
    (tmp_path / "proof").write_text(body)
    old_note, proof = str(tmp_path / "old.note"), str(tmp_path / "proof")
    done = audit("consistency", old_note, proof, "--log-key", ledger.vkey)
    return done.returncode


def test_consistency_is_checked(tmp_path: Path, ledger: Ledger) -> None:
    assert consistency(tmp_path, ledger, 3, 7, 3) == 0
    assert consistency(tmp_path, ledger, 4, 4, 4) == 0
    assert consistency(tmp_path, ledger, 3, 7, 5) == 1  # proof from the wrong size
    assert consistency(tmp_path, ledger, 7, 3, 3) == 1  # a rollback


def test_script_canonical_json_matches_rfc8785() -> None:
    """The script's own RFC 8785 encoder against the reference package."""
    spec = importlib.util.spec_from_file_location("audit_ledger", SCRIPT)
    assert spec is not None and spec.loader is not None
    audit_ledger = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(audit_ledger)
    rng = random.Random(11)
    specials = [0.0, -0.0, 1e21, 1e-7, 1e-6, 123e-20, 5e-324, 1.7976931348623157e308, 0.1]
    numbers = specials + [rng.uniform(-1e6, 1e6) for _ in range(500)]
    numbers += [rng.random() * 10 ** rng.randint(-30, 30) for _ in range(500)]
    for x in numbers:
        assert audit_ledger.canonical(x) == rfc8785.dumps(x).decode(), x
    doc: Any = {
        "b": [1, True, None, 'é\u2028\x01"\\'],
        "a": {"z": "京", "\U0001f600": 1, "\ue000": 2},
    }
    assert audit_ledger.canonical(doc).encode() == rfc8785.dumps(doc)


def test_script_imports_only_stdlib_and_cryptography() -> None:
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    roots = {name.split(".")[0] for name in imported}
    assert roots - {"__future__", "cryptography"} <= sys.stdlib_module_names, roots
