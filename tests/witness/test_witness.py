"""The witness cosigns only checkpoints that extend what it cosigned, and says why not."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from credence.cli.main import app
from credence.ledger import merkle
from credence.ledger.note import (
    Checkpoint,
    cosignature_time,
    format_consistency_request,
    log_verifier,
    open_checkpoint,
    sign_checkpoint,
)
from credence.witness import Refusal, Witness, WitnessDir, WitnessError
from credence.witness.state import KEY_FILE, STATE_FILE

ORIGIN = "registry.example/credence"
LEAVES = [f"entry {i}".encode() for i in range(20)]
runner = CliRunner()


class Log:
    """A test log: a key and the checkpoint notes it signs over LEAVES."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.verifier = log_verifier(ORIGIN, self.key.public_key())

    def checkpoint(self, size: int, leaves: list[bytes] = LEAVES) -> str:
        return sign_checkpoint(
            Checkpoint(ORIGIN, size, merkle.root(leaves[:size])), self.key, ORIGIN
        )

    def request(self, old: int, size: int, leaves: list[bytes] = LEAVES) -> tuple[int, list[bytes]]:
        return old, merkle.consistency_proof(leaves[:size], old)


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def witness(tmp_path: Path, log: Log) -> Witness:
    return Witness(WitnessDir.create(tmp_path / "w", log.verifier, "witness.example/w1"))


def state_of(w: Witness) -> tuple[int, bytes] | None:
    s = w.dir.state()
    return None if s is None else (s.size, s.root)


def test_first_cosign_is_trust_on_first_use(witness: Witness, log: Log) -> None:
    done = witness.add_checkpoint(log.checkpoint(5), now=1000)
    assert cosignature_time(done.note, witness.dir.verifier) == 1000
    assert open_checkpoint(done.note, log.verifier).size == 5
    assert state_of(witness) == (5, merkle.root(LEAVES[:5]))
    assert done.previous is None


def test_extend_with_a_valid_proof(witness: Witness, log: Log) -> None:
    witness.add_checkpoint(log.checkpoint(5))
    old, proof = log.request(5, 13)
    done = witness.add_checkpoint(log.checkpoint(13), old, proof, now=2000)
    assert cosignature_time(done.note, witness.dir.verifier) == 2000
    assert state_of(witness) == (13, merkle.root(LEAVES[:13]))


def test_same_tree_is_recosigned_without_proof(witness: Witness, log: Log) -> None:
    witness.add_checkpoint(log.checkpoint(5), now=1000)
    done = witness.add_checkpoint(log.checkpoint(5), now=1001)
    assert done.state.timestamp == 1001


def refused(
    w: Witness, match: str, note: str, old: int | None = None, proof: Sequence[bytes] = ()
) -> None:
    before = state_of(w)
    with pytest.raises(Refusal, match=match):
        w.add_checkpoint(note, old, proof)
    assert state_of(w) == before, "a refusal must leave the state untouched"


def test_rollback_is_refused(witness: Witness, log: Log) -> None:
    witness.add_checkpoint(log.checkpoint(13))
    refused(witness, "rollback", log.checkpoint(5))
    refused(witness, "rollback", log.checkpoint(5), *log.request(5, 13))


def test_fork_at_the_same_size_is_refused(witness: Witness, log: Log) -> None:
    witness.add_checkpoint(log.checkpoint(8))
    other = [b"forged", *LEAVES[1:]]
    refused(witness, "fork refused", log.checkpoint(8, other))


def test_fork_at_a_larger_size_is_refused(witness: Witness, log: Log) -> None:
    witness.add_checkpoint(log.checkpoint(8))
    other = [b"forged", *LEAVES[1:]]
    refused(witness, "fork or bad proof", log.checkpoint(12, other), *log.request(8, 12, other))


def test_bad_proof_is_refused(witness: Witness, log: Log) -> None:
    witness.add_checkpoint(log.checkpoint(8))
    old, proof = log.request(8, 12)
    proof[0] = bytes(32)
    refused(witness, "fork or bad proof", log.checkpoint(12), old, proof)
    refused(witness, "fork or bad proof", log.checkpoint(12), old, proof[:-1])


def test_missing_or_wrong_old_size_is_refused(witness: Witness, log: Log) -> None:
    witness.add_checkpoint(log.checkpoint(8))
    refused(witness, "consistency proof needed", log.checkpoint(12))
    refused(witness, "wrong old size 6", log.checkpoint(12), *log.request(6, 12))
    refused(witness, "larger than the checkpoint", log.checkpoint(12), 13, [])


def test_first_cosign_with_an_old_size_is_refused(witness: Witness, log: Log) -> None:
    refused(witness, "wrong old size 4", log.checkpoint(12), *log.request(4, 12))


def test_bad_signature_and_wrong_origin_are_refused(witness: Witness, log: Log) -> None:
    stranger = Ed25519PrivateKey.generate()
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, merkle.root(LEAVES[:3])), stranger, ORIGIN)
    refused(witness, "checkpoint refused: note is not signed", note)
    elsewhere = Checkpoint("other.example/log", 3, merkle.root(LEAVES[:3]))
    refused(witness, "origin", sign_checkpoint(elsewhere, log.key, ORIGIN))
    tampered = log.checkpoint(3).replace("\n3\n", "\n4\n")
    refused(witness, "invalid signature", tampered)


def test_empty_tree_needs_the_empty_root(witness: Witness, log: Log) -> None:
    bad = sign_checkpoint(Checkpoint(ORIGIN, 0, bytes(32)), log.key, ORIGIN)
    refused(witness, "empty-tree root", bad)
    witness.add_checkpoint(log.checkpoint(0))
    witness.add_checkpoint(log.checkpoint(4), 0, [])


def test_files_are_private_and_key_is_never_overwritten(tmp_path: Path, log: Log) -> None:
    w = Witness(WitnessDir.create(tmp_path / "w", log.verifier, "w1"))
    w.add_checkpoint(log.checkpoint(2))
    assert stat.S_IMODE((tmp_path / "w").stat().st_mode) == 0o700
    for name in (KEY_FILE, STATE_FILE, "witness.vkey", "log.vkey", "checkpoint"):
        assert stat.S_IMODE((tmp_path / "w" / name).stat().st_mode) == 0o600, name
    key_before = (tmp_path / "w" / KEY_FILE).read_bytes()
    with pytest.raises(WitnessError, match="already exists"):
        WitnessDir.create(tmp_path / "w", log.verifier, "w1")
    assert (tmp_path / "w" / KEY_FILE).read_bytes() == key_before
    assert WitnessDir.open(tmp_path / "w").verifier == w.dir.verifier


# --- command line ---------------------------------------------------------------


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["witness", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_init_cosign_extend_and_refuse(tmp_path: Path, log: Log) -> None:
    (tmp_path / "log.vkey").write_text(log.verifier.vkey() + "\n")
    wdir = str(tmp_path / "w")
    code, out, _ = cli(
        "init", "--dir", wdir, "--log-key", str(tmp_path / "log.vkey"), "--name", "w1"
    )
    assert code == 0 and out.startswith("w1+")
    assert (tmp_path / "w" / "witness.vkey").read_text().strip() == out.strip()
    assert cli("init", "--dir", wdir, "--log-key", log.verifier.vkey())[0] == 1

    (tmp_path / "cp5").write_text(log.checkpoint(5))
    code, out, err = cli("cosign", str(tmp_path / "cp5"), "--dir", wdir)
    assert code == 0 and "— w1 " in out and "size 5" in err

    # The add-checkpoint body as one file, written to --out.
    old, proof = log.request(5, 9)
    (tmp_path / "req").write_text(format_consistency_request(old, proof, log.checkpoint(9)))
    code, _, _ = cli("cosign", str(tmp_path / "req"), "--dir", wdir, "--out", str(tmp_path / "o"))
    assert code == 0 and "— w1 " in (tmp_path / "o").read_text()

    # A proof file without the checkpoint, plus the checkpoint file.
    old, proof = log.request(9, 14)
    (tmp_path / "proof").write_text(format_consistency_request(old, proof, ""))
    (tmp_path / "cp14").write_text(log.checkpoint(14))
    code, _, _ = cli(
        "cosign", str(tmp_path / "cp14"), "--dir", wdir, "--proof", str(tmp_path / "proof")
    )
    assert code == 0

    code, out, err = cli("cosign", str(tmp_path / "cp5"), "--dir", wdir)
    assert code == 1 and out == "" and err.count("\n") == 1 and "rollback refused" in err

    code, out, _ = cli("show", "--dir", wdir)
    assert code == 0 and "size 14" in out and merkle.root(LEAVES[:14]).hex() in out


def test_cli_refuses_a_proof_for_another_checkpoint(tmp_path: Path, log: Log) -> None:
    wdir = str(tmp_path / "w")
    assert cli("init", "--dir", wdir, "--log-key", log.verifier.vkey(), "--name", "w1")[0] == 0
    (tmp_path / "cp5").write_text(log.checkpoint(5))
    assert cli("cosign", str(tmp_path / "cp5"), "--dir", wdir)[0] == 0
    (tmp_path / "req").write_text(
        format_consistency_request(5, log.request(5, 9)[1], log.checkpoint(9))
    )
    (tmp_path / "cp10").write_text(log.checkpoint(10))
    code, _, err = cli(
        "cosign", str(tmp_path / "cp10"), "--dir", wdir, "--proof", str(tmp_path / "req")
    )
    assert code == 1 and "different checkpoint" in err


def test_cli_show_before_any_cosignature_and_missing_dir(tmp_path: Path, log: Log) -> None:
    wdir = str(tmp_path / "w")
    cli("init", "--dir", wdir, "--log-key", log.verifier.vkey(), "--name", "w1")
    code, out, _ = cli("show", "--dir", wdir)
    assert code == 0 and "trusted on first use" in out
    code, _, err = cli("show", "--dir", str(tmp_path / "nowhere"))
    assert code == 1 and "witness init" in err
