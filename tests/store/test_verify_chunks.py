"""Verify walks the log in aligned chunks: whatever the chunking, the same problems.

The registry of `test_verify` (2,504 positions, heads at 1, 2, 3, 1003, 2003,
2504) is walked in chunks of 4 to 65,536 positions, inline and in worker
processes, so gaps, heads and proof ranges fall on and across chunk
boundaries. Each tamper's first finding is written out here by hand, and
every chunking must report exactly the same problems.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from credence.store import proofs
from credence.store.registry import Registry
from credence.store.verify import CheckpointClaim, verify_registry
from tests.conftest import GOVERNANCE as G

BITS = (2, 5, 16)  # chunks of 4, 32 and 65,536 positions


def edit(db: Path, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for sql in statements:
            conn.execute(sql)


def all_problems(registry: Registry, pool: bool = False, **kwargs: object) -> list[str]:
    """The problems found under every chunking (asserted equal); in worker processes too."""
    found = {
        bits: verify_registry(registry, workers=0, chunk_bits=bits, **kwargs).problems  # type: ignore[arg-type]
        for bits in BITS
    }
    if pool:  # chunks shared between this process and one or two workers
        found[-5] = verify_registry(registry, workers=2, chunk_bits=5, **kwargs).problems  # type: ignore[arg-type]
        found[-3] = verify_registry(registry, workers=1, chunk_bits=3, **kwargs).problems  # type: ignore[arg-type]
    first = found[BITS[0]]
    for bits, problems in found.items():
        assert problems == first, (bits, problems, first)
    return first


def test_an_untouched_ledger_is_ok_and_counted_alike(registry: Registry, filled: Path) -> None:
    for bits in BITS:
        report = verify_registry(registry, workers=0, chunk_bits=bits)
        assert report.ok, (bits, report.problems)
        assert (report.leaves, report.records, report.heads) == (G + 2501, 2501, 6)


TAMPERS: list[tuple[str, list[str], Callable[[str], bool]]] = [
    # A record gone at a chunk's first position (32 * 4 = 128), and at its last.
    (
        "chunk start",
        ["DELETE FROM records WHERE seq = 128"],
        lambda p: p == "ledger entry #128 is missing (next is #129)",
    ),
    (
        "chunk end",
        ["DELETE FROM records WHERE seq = 127"],
        lambda p: p == "ledger entry #127 is missing (next is #128)",
    ),
    # A run of records gone across chunk boundaries, and whole chunks.
    (
        "across",
        ["DELETE FROM records WHERE seq BETWEEN 120 AND 300"],
        lambda p: p == "ledger entry #120 is missing (next is #301)",
    ),
    # The first record after the governance entries.
    (
        "first record",
        [f"DELETE FROM records WHERE seq = {G}"],
        lambda p: p == f"ledger entry #{G} is missing (next is #{G + 1})",
    ),
    # A record moved onto a governance entry's position.
    (
        "twice",
        [f"UPDATE records SET seq = 1 WHERE seq = {G + 5}"],
        lambda p: p == "ledger entry #1 is stored twice",
    ),
]


@pytest.mark.parametrize(("name", "sql", "expected"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_gaps_are_named_alike_whatever_the_chunks(
    registry: Registry,
    filled: Path,
    name: str,
    sql: list[str],
    expected: Callable[[str], bool],
) -> None:
    edit(filled, *sql)
    problems = all_problems(registry, pool=name == "across")
    assert expected(problems[-1]), problems


def test_a_changed_record_and_a_wrong_head_are_named_alike(
    registry: Registry,
    filled: Path,
) -> None:
    edit(
        filled,
        f"UPDATE records SET occurred_on = '2024-03-02' WHERE seq = {G + 700}",
        f"UPDATE records SET leaf_hash = zeroblob(32) WHERE seq = {G + 1500}",
    )
    problems = all_problems(registry, pool=True)
    assert problems[0].startswith(f"ledger entry #{G + 700} (source court, reference C-700): ")
    assert problems[-1].startswith(f"tree head at size {G + 2000} does not match the log")


def test_a_forbidden_item_is_named_alike(registry: Registry, filled: Path) -> None:
    edit(filled, f"UPDATE records SET item = 'administrative.drunk-driving' WHERE seq = {G + 900}")
    problems = all_problems(registry)
    assert problems[-1] == (
        f"ledger entry #{G + 900}: source court was not permitted item "
        "administrative.drunk-driving (its permissions are ledger entry #1)"
    )


def test_the_deleted_tail_and_the_uncovered_tail_are_named_alike(
    registry: Registry,
    filled: Path,
) -> None:
    edit(filled, f"DELETE FROM records WHERE seq >= {G + 2400}")
    assert all_problems(registry)[-1].startswith(
        f"tree head at size {G + 2501} is beyond the log's {G + 2400} entries"
    )
    edit(filled, f"DELETE FROM tree_heads WHERE size = {G + 2501}")
    edit(filled, f"UPDATE ledger_state SET size = {G + 2400}")
    assert all_problems(registry) == [
        f"ledger entries #{G + 2000} to #{G + 2399} are not covered by a signed tree head "
        "(added behind the system's back, or their head was deleted)"
    ]


@pytest.mark.parametrize("size", [2, G + 1000])
def test_checkpoints_are_proved_alike(registry: Registry, filled: Path, size: int) -> None:
    head = proofs.signed_head(registry.engine, size)
    good = CheckpointClaim("kept", head.size, head.root)
    for bits in BITS:
        report = verify_registry(registry, workers=0, chunk_bits=bits, checkpoints=(good,))
        assert report.ok and report.checkpoints == 1, (bits, report.problems)
    forked = CheckpointClaim("forked", head.size, bytes(32))
    problems = all_problems(registry, checkpoints=(forked,))
    assert problems == [
        f"checkpoint forked (size {size}, root {'0' * 16}…) is not a prefix of the ledger: "
        "it was rolled back and regrown, or forked"
    ]


@pytest.mark.postgres
def test_chunks_on_postgresql_in_workers(pg_url: str, tmp_path: Path) -> None:
    """The workers read records through psycopg in its own parameter style."""
    import sqlalchemy as sa

    from credence.ingest.pipeline import ingest_file
    from credence.settings import Settings
    from credence.store.database import write_transaction
    from credence.store.schema import records
    from tests.conftest import ORG, PERSON, row, write_csv

    settings = Settings(data_dir=tmp_path / "data", db_url=pg_url, batch_size=7)
    registry, _ = Registry.init(settings)
    registry.add_source("court", ["judicial.*"])
    rows = [row(reference=f"C-{i}", subject=ORG if i % 2 else PERSON) for i in range(40)]
    ingest_file(registry, write_csv(tmp_path / "a.csv", rows), "court")
    for workers, bits in [(0, 2), (2, 3), (0, 16)]:
        report = verify_registry(registry, workers=workers, chunk_bits=bits)
        assert report.ok and report.leaves == 42 and report.records == 40, report.problems
    with write_transaction(registry.engine) as conn:
        conn.execute(sa.update(records).where(records.c.seq == 20).values(subject=ORG))
        conn.execute(sa.delete(records).where(records.c.seq == 33))
    for workers, bits in [(0, 2), (2, 3), (0, 16)]:
        problems = verify_registry(registry, workers=workers, chunk_bits=bits).problems
        assert problems[0].startswith("ledger entry #20 (source court, reference C-18): ")
        assert problems[1] == "ledger entry #33 is missing (next is #34)"
    registry.close()


def test_a_correction_of_an_erased_record_is_checked_against_the_kept_row(
    registry: Registry,
    filled: Path,
) -> None:
    """The correction's target is looked up per record (not joined): live, then erased."""
    target = G + 7  # C-7, which C-fix corrects
    registry.erase(target, "retention period over")
    for bits in BITS:
        report = verify_registry(registry, workers=0, chunk_bits=bits)
        assert report.ok, (bits, report.problems)
        assert report.records == 2500  # C-7 is erased: 2,501 - 1 recomputed
    # The kept row now names another reference: the correction no longer points at it.
    edit(filled, f"UPDATE erased SET reference = 'C-8' WHERE seq = {target}")
    problems = verify_registry(registry, workers=0).problems
    assert (
        f"ledger entry #{G + 2500} (source court, reference C-fix): its corrects link does "
        "not point at the record it names"
    ) in problems


# Attribute texts and whether the fast check certifies them as the canonical (RFC 8785)
# form of a non-empty object, worked out by hand: sorted keys, no spaces, integers below
# 2**53, no lists or fractions (those it leaves to `attributes_problem`).
ATTRIBUTES = [
    ('{"amount":5000,"case":"(2019) No. 1"}', True),
    ('{"a":{"b":1,"c":null},"d":false,"e":true}', True),
    ('{"a":[1,"x"]}', False),  # a list: left to the reference check (which accepts it)
    ('{"case":"(2019) No. 1","amount":5000}', False),  # keys out of order
    ('{"amount": 5000}', False),  # a space
    ('{"amount":5000}\n', False),  # trailing whitespace
    ("{}", False),  # empty
    ("[1,2]", False),  # not an object
    ('{"a":1},"corrects":"C-7"', False),  # a field moved into the text
    ('{"a":1,"a":1}', False),  # a key twice
    ('{"a":"\\u0041"}', False),  # an escape RFC 8785 does not write
    ('{"n":9007199254740993}', False),  # beyond 2**53: not written as is
    ('{"x":1.5}', False),  # a fraction: left to the reference check (which accepts it)
]


@pytest.mark.parametrize(("text", "canonical"), ATTRIBUTES)
def test_the_fast_attribute_check_never_accepts_what_the_reference_refuses(
    text: str, canonical: bool
) -> None:
    from credence.store.verify_chunks import _canonical_attributes
    from credence.store.verify_records import attributes_problem

    assert _canonical_attributes(text) is canonical
    if canonical:
        assert attributes_problem(text) is None


SCRIPT = """
import sys
from pathlib import Path

with open(sys.argv[2], "a") as marks:
    marks.write("main\\n")  # each time this script runs, as a program or re-imported

if __name__ == "__main__":
    from credence.settings import Settings
    from credence.store.registry import Registry
    from credence.store.verify import verify_registry

    registry = Registry.open(Settings(data_dir=Path(sys.argv[1])))
    report = verify_registry(registry, workers=1, chunk_bits=5)
    registry.close()
    print(report.ok, report.leaves)
"""


def test_worker_processes_do_not_run_the_programs_main_script_again(
    registry: Registry,
    filled: Path,
    tmp_path: Path,
) -> None:
    """multiprocessing's spawn re-imports the parent's main script in each child (the
    whole CLI, for `credence verify`); verify's workers need only their chunk code."""
    script = tmp_path / "program.py"
    script.write_text(SCRIPT)
    marks = tmp_path / "marks"
    done = subprocess.run(
        [sys.executable, str(script), str(filled.parent), str(marks)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["True", str(G + 2501)], done.stderr
    assert marks.read_text() == "main\n"
