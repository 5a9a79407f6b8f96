"""Tamper detection: edit the SQLite file behind credence's back and verify names it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from credence.cli.main import app
from credence.ledger.treehead import sign_tree_head
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.sealing import head_row
from credence.store.verify import CheckpointClaim, verify_registry
from tests.conftest import GOVERNANCE, ORG

G = GOVERNANCE


def edit(db: Path, sql: str, *params: object) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql, params)


def problems(registry: Registry, **kwargs: object) -> list[str]:
    report = verify_registry(registry, **kwargs)  # type: ignore[arg-type]
    assert not report.ok
    return report.problems


def test_changed_record_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, "UPDATE records SET occurred_on = '2024-03-02' WHERE reference = 'C-1234'")
    (problem,) = problems(registry)
    assert f"ledger entry #{G + 1234}" in problem and "reference C-1234" in problem
    assert "does not match its ledger leaf" in problem


def test_changed_subject_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, f"UPDATE records SET subject = '{ORG}' WHERE seq = {G + 10}")
    assert f"ledger entry #{G + 10} " in problems(registry)[0]


def test_changed_record_and_leaf_hash_is_caught_by_the_signed_head(
    registry: Registry, filled: Path
) -> None:
    """An attacker who rewrites the record and its leaf hash cannot re-sign the head."""
    from credence.ledger.leaf import SubjectHasher
    from credence.store.verify_records import expected_leaf, record_of, record_rows

    seq = G + 1500
    edit(filled, f"UPDATE records SET occurred_on = '2024-03-02' WHERE seq = {seq}")
    with registry.engine.connect() as conn:
        entry = next(r for r in record_rows(conn, seq, seq + 1))
        rec, salt = record_of(entry, {1: "court"})
    leaf = expected_leaf(seq, rec, salt, SubjectHasher(registry.subject_key()))
    edit(filled, "UPDATE records SET leaf_hash = ? WHERE seq = ?", _h(leaf), seq)
    (problem,) = problems(registry)
    assert f"tree head at size {G + 2000} does not match the log" in problem
    assert f"between #{G + 1000} and #{G + 1999}" in problem


def _h(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def test_deleted_record_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, "DELETE FROM records WHERE seq = 42")
    assert "ledger entry #42 is missing" in problems(registry)[0]


def test_deleted_ledger_tail_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, f"DELETE FROM records WHERE seq >= {G + 2400}")
    assert f"beyond the log's {G + 2400} entries" in problems(registry)[-1]


def test_forged_signature_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, f"UPDATE tree_heads SET timestamp_ms = timestamp_ms + 1 WHERE size = {G + 1000}")
    assert f"tree head at size {G + 1000}: signature does not verify" in problems(registry)


def test_redirected_correction_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, "UPDATE records SET corrects_seq = 8 WHERE reference = 'C-fix'")
    assert "corrects link does not point" in problems(registry)[0]


def test_correction_link_moved_into_the_attributes_text_is_named(
    registry: Registry, filled: Path
) -> None:
    """The splice the old byte layout allowed: same bytes, link cleared, record counts again."""
    with sqlite3.connect(filled) as conn:
        attrs, corrects = conn.execute(
            "SELECT attributes, corrects FROM records WHERE reference = 'C-fix'"
        ).fetchone()
    spliced = attrs + f',"corrects":"{corrects}"'
    edit(
        filled,
        "UPDATE records SET attributes = ?, corrects = NULL, corrects_seq = NULL "
        "WHERE reference = 'C-fix'",
        spliced,
    )
    assert "attributes are not JSON" in problems(registry)[0]


def test_deleted_head_in_the_middle_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, f"DELETE FROM tree_heads WHERE size = {G + 1000}")
    (problem,) = problems(registry)
    assert f"tree head at size {G + 2000} follows the head at size {G + 1000}" in problem
    assert "missing" in problem


def test_deleted_newest_head_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, f"DELETE FROM tree_heads WHERE size = {G + 2501}")
    (problem,) = problems(registry)
    assert f"#{G + 2000} to #{G + 2500} are not covered by a signed tree head" in problem


def test_forged_record_appended_after_the_last_head_is_named(
    registry: Registry, filled: Path
) -> None:
    """Even with a correctly recomputed leaf hash, an unsigned entry is an error."""
    from credence.ledger.leaf import SubjectHasher
    from credence.store.verify_records import expected_leaf, record_of, record_rows

    seq = G + 2501
    with registry.engine.connect() as conn:
        template = next(record_rows(conn, G + 5, G + 6))
    edit(
        filled,
        "INSERT INTO records SELECT ?, source_id, 'FORGED', item, subject, occurred_on, "
        "decided_on, attributes, NULL, NULL, salt, run_id, leaf_hash FROM records WHERE seq = ?",
        seq,
        G + 5,
    )
    rec, salt = record_of(template, {1: "court"})
    leaf = expected_leaf(
        seq, rec._replace(reference="FORGED"), salt, SubjectHasher(registry.subject_key())
    )
    edit(filled, "UPDATE records SET leaf_hash = ? WHERE seq = ?", _h(leaf), seq)
    found = problems(registry)
    assert any(f"#{seq} to #{seq} are not covered" in p for p in found), found


def test_rogue_key_and_resigned_heads_are_refused(registry: Registry, filled: Path) -> None:
    """Rewrite a record, its leaf, re-sign every head with a key of one's own: not trusted."""
    from credence.ledger.merkle import CompactRange

    edit(filled, f"UPDATE records SET occurred_on = '2020-01-01' WHERE seq = {G + 3}")
    _rehash_and_resign(registry, filled, Ed25519PrivateKey.generate())
    (problem,) = problems(registry)
    assert "tree head at size 1 is signed by key" in problem and "not the pinned key" in problem
    assert CompactRange  # the helper below rebuilt the whole tree


def _rehash_and_resign(registry: Registry, db: Path, key: Ed25519PrivateKey) -> None:
    """What an attacker with the database (not the key file) can do: everything else."""
    from credence.ledger.leaf import SubjectHasher
    from credence.ledger.merkle import CompactRange
    from credence.store.verify_records import expected_leaf, record_of, record_rows

    hasher = SubjectHasher(registry.subject_key())
    with sqlite3.connect(db) as conn:
        hashes = dict(conn.execute("SELECT seq, leaf_hash FROM entries").fetchall())
        with registry.engine.connect() as sa_conn:
            for r in record_rows(sa_conn, 0, 10**9):
                rec, salt = record_of(r, {1: "court", 2: "police"})
                hashes[r.seq] = _h(expected_leaf(r.seq, rec, salt, hasher))
        for seq, value in hashes.items():
            conn.execute("UPDATE records SET leaf_hash = ? WHERE seq = ?", (value, seq))
        sizes = [s for (s,) in conn.execute("SELECT size FROM tree_heads ORDER BY size")]
        conn.execute("DELETE FROM tree_heads")
        frontier, prev = CompactRange(), 0
        for seq in sorted(hashes):
            frontier.append(bytes(hashes[seq]))
            if frontier.size in sizes:
                head = sign_tree_head(key, frontier.size, frontier.root(), 1, prev_size=prev)
                values = head_row(head)
                conn.execute(
                    f"INSERT INTO tree_heads ({', '.join(values)}) VALUES "
                    f"({', '.join('?' * len(values))})",
                    tuple(values.values()),
                )
                prev = frontier.size


def test_widened_source_permissions_are_named(registry: Registry, filled: Path) -> None:
    edit(filled, """UPDATE sources SET patterns = '["*"]' WHERE name = 'police'""")
    (problem,) = problems(registry)
    assert "source police's permitted items in the store differ from ledger entry #2" in problem


def test_erasure_keeps_the_tree_and_is_the_only_way_to_lose_content(
    registry: Registry, filled: Path
) -> None:
    seq = G + 20
    by = registry.erase(seq, "dispute upheld: record withdrawn by the court")
    report = verify_registry(registry)
    assert report.ok, report.problems
    assert report.leaves == G + 2501 + 1 and by == G + 2501
    with sqlite3.connect(filled) as conn:
        assert conn.execute("SELECT count(*) FROM records WHERE seq = ?", (seq,)).fetchone() == (0,)
    # Deleting a record's content without an erasure entry is tampering, even if it
    # pretends to be erased.
    edit(
        filled,
        "INSERT INTO erased SELECT seq, source_id, reference, item, leaf_hash, ? "
        f"FROM records WHERE seq = {G + 21}",
        by,
    )
    edit(filled, f"DELETE FROM records WHERE seq = {G + 21}")
    assert (
        f"ledger entry #{G + 21} is erased, but no erasure entry names it" in problems(registry)[0]
    )


def test_checkpoint_from_a_rolled_back_or_forked_ledger(
    registry: Registry, filled: Path, settings: Settings, tmp_path: Path
) -> None:
    head = registry.latest_tree_head()
    assert head is not None
    good = CheckpointClaim("kept.note", head.size, head.root)
    assert verify_registry(registry, checkpoints=(good,)).ok
    older = CheckpointClaim("older.note", G + 1000, b"\x07" * 32)  # a fork at size 1003
    assert "not a prefix of the ledger" in problems(registry, checkpoints=(older,))[0]
    future = CheckpointClaim("future.note", head.size + 5, head.root)
    assert "rolled back or truncated" in problems(registry, checkpoints=(future,))[0]


def test_cli_verify_exits_non_zero_and_names_the_leaf(
    registry: Registry, filled: Path, settings: Settings
) -> None:
    env = {"CREDENCE_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()
    ok = runner.invoke(app, ["verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert f"{G + 2501} entries (2501 records)" in ok.output
    edit(filled, f"UPDATE records SET attributes = NULL WHERE seq = {G + 7}")
    bad = runner.invoke(app, ["verify"], env=env)
    assert bad.exit_code == 1
    assert f"ledger entry #{G + 7} " in bad.output and "TAMPERED" in bad.output


def test_cli_checkpoint_then_rollback_is_caught(
    registry: Registry, filled: Path, settings: Settings, tmp_path: Path
) -> None:
    env = {"CREDENCE_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()
    old = tmp_path / "old.db"
    _copy(filled, old)
    registry.add_source("tax", ["administrative.tax-*"])
    note = tmp_path / "cp.note"
    assert runner.invoke(app, ["checkpoint", "--out", str(note)], env=env).exit_code == 0
    assert note.read_text().startswith("credence/")
    _copy(old, filled)  # the database replaced by an older copy
    pinned = ["--public-key", str(settings.public_key_path)]
    bad = runner.invoke(app, ["verify", "--checkpoint", str(note), *pinned], env=env)
    assert bad.exit_code == 1 and "rolled back or truncated" in bad.output, bad.output


def _copy(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite database (the WAL included)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


@pytest.mark.parametrize("workers", [0, 2])
def test_parallel_and_inline_verification_agree(
    registry: Registry, filled: Path, workers: int
) -> None:
    report = verify_registry(registry, workers=workers)
    assert report.ok and (report.leaves, report.records, report.heads) == (G + 2501, 2501, 6)
    edit(filled, f"UPDATE records SET subject = 'uscc:91110000600037341L' WHERE seq = {G + 2300}")
    edit(filled, f"UPDATE records SET occurred_on = '2020-01-01' WHERE seq = {G + 1700}")
    (problem,) = verify_registry(registry, workers=workers).problems
    assert problem.startswith(f"ledger entry #{G + 1700} ")


def test_an_erased_rows_kept_reference_is_checked(registry: Registry, filled: Path) -> None:
    """Changing the kept reference would let the source resubmit the erased record as new."""
    registry.erase(G + 30, "retention period over")
    assert verify_registry(registry).ok
    edit(filled, f"UPDATE erased SET reference = 'C-other' WHERE seq = {G + 30}")
    (problem,) = problems(registry)
    assert f"ledger entry #{G + 30} is erased, but its kept source, item or reference" in problem
