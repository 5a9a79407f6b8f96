"""Ingestion: every kind of bad row, idempotency, conflicts, corrections, crashes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from credence.ingest.pipeline import ingest_file
from credence.ingest.readers import FormatError
from credence.store.registry import Registry
from credence.store.schema import records, tree_heads
from credence.store.verify import verify_registry
from tests.conftest import (
    GOVERNANCE,
    ORG,
    ORG_LETTER,
    PERSON,
    PERSON_2,
    read_rejects,
    row,
    write_csv,
    write_jsonl,
    write_parquet,
)

TODAY = dt.date(2026, 11, 26)
WRITERS: dict[str, Callable[[Path, list[dict[str, Any]]], Path]] = {
    "csv": write_csv,
    "jsonl": write_jsonl,
    "parquet": write_parquet,
}


def ingest(registry: Registry, path: Path, source: str = "court") -> Any:
    return ingest_file(registry, path, source, today=TODAY)


def count_records(registry: Registry) -> int:
    with registry.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one())


BAD_ROWS = [
    (
        row(subject=PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1")),
        "subject",
        "check character should be",
    ),
    (row(subject="uscc:91110000600037341P"), "subject", "check character should be 'L'"),
    (row(subject="passport"), "subject", "not of the form scheme:id"),
    (row(item="judicial.no-such-item"), "item", "is not in the catalogue"),
    (
        row(item="administrative.traffic-minor", attributes={"decision_number": "T1"}),
        "item",
        "source 'court' may not submit",
    ),
    (
        row(item="judicial.defamation-judgment", subject=ORG),
        "subject",
        "does not apply to a organisation",
    ),
    (row(occurred_on="2023-02-30"), "occurred_on", "2023-02-30 is not a date"),
    (row(occurred_on="01/03/2024"), "occurred_on", "is not a date"),
    (row(occurred_on="2024-W01-1"), "occurred_on", "is not a date (YYYY-MM-DD)"),
    (row(occurred_on="2027-01-01", decided_on=""), "occurred_on", "2027-01-01 is in the future"),
    (row(decided_on="2024-02-01"), "decided_on", "is before occurred_on"),
    (row(reference=""), "reference", "is required"),
    (row(reference="has space"), "reference", "printable ASCII"),
    (row(subject=""), "subject", "is required"),
    (row(item=""), "item", "is required"),
    (row(occurred_on=""), "occurred_on", "is required"),
    (
        row(attributes={"case_number": "X1", "religion": "none"}),
        "attributes.religion",
        "not declared",
    ),
    (row(attributes={"amount": 5}), "attributes.case_number", "is required for this item"),
    (
        row(attributes={"case_number": "X1", "amount": "lots"}),
        "attributes.amount",
        "must be a number",
    ),
    (
        row(attributes={"case_number": "X1", "ground": 1.5}),
        "attributes.ground",
        "must be an integer",
    ),
    (row(item="revocation", attributes=None), "corrects", "must name the record it withdraws"),
    (row(corrects="NOPE"), "corrects", "no earlier record with reference 'NOPE'"),
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_each_kind_of_bad_row_is_rejected_with_field_and_reason(
    registry: Registry, tmp_path: Path, fmt: str
) -> None:
    good = row(reference="GOOD-1")
    rows = [good] + [
        {**r, "reference": f"B-{i}" if r["reference"] == "C-1" else r["reference"]}
        for i, (r, _, _) in enumerate(BAD_ROWS)
    ]
    path = WRITERS[fmt](tmp_path / f"court.{fmt}", rows)
    report = ingest(registry, path)
    assert (report.rows, report.accepted, report.rejected) == (len(rows), 1, len(BAD_ROWS))
    rejects = read_rejects(path)
    assert len(rejects) == len(BAD_ROWS)
    for reject, (bad, field, reason) in zip(rejects, BAD_ROWS, strict=True):
        assert reject["field"] == field, reject
        assert reason in reject["reason"], reject
        assert reject["subject"] == str(bad["subject"])  # the original row is kept
    assert [int(r["row"]) for r in rejects] == list(range(2, len(rows) + 1))
    assert count_records(registry) == 1


def test_good_rows_land_with_canonical_values(registry: Registry, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "court.csv",
        [
            row(
                subject=PERSON.lower(),
                attributes={"case_number": "(2024)京01执1号", "amount": 5000.0},
            ),
            row(reference="C-2", subject=ORG_LETTER, attributes={"case_number": "X1"}),
        ],
    )
    report = ingest(registry, path)
    assert report.accepted == 2 and report.rejected == 0
    assert report.rejects_file is None and not read_rejects(path)
    with registry.engine.connect() as conn:
        stored = conn.execute(
            sa.select(records.c.subject, records.c.attributes).order_by(records.c.seq)
        ).all()
    assert stored[0] == (PERSON, '{"amount":5000,"case_number":"(2024)京01执1号"}')
    assert stored[1][0] == ORG_LETTER


def test_reingesting_adds_nothing(registry: Registry, tmp_path: Path) -> None:
    rows = [row(reference=f"C-{i}") for i in range(30)] + [row(reference="BAD", subject="x:")]
    path = write_parquet(tmp_path / "court.parquet", rows)
    first = ingest(registry, path)
    assert (first.accepted, first.duplicates, first.rejected) == (30, 0, 1)
    head = registry.latest_tree_head()
    second = ingest(registry, path)
    assert (second.accepted, second.duplicates, second.rejected) == (0, 30, 1)
    assert count_records(registry) == 30
    assert registry.latest_tree_head() == head  # no new entries, no new head
    assert len(read_rejects(path)) == 1


def test_same_reference_with_different_content_is_a_conflict(
    registry: Registry, tmp_path: Path
) -> None:
    ingest(registry, write_csv(tmp_path / "a.csv", [row()]))
    changed = write_csv(tmp_path / "b.csv", [row(occurred_on="2024-03-02")])
    report = ingest(registry, changed)
    assert report.rejected == 1 and report.accepted == 0
    (reject,) = read_rejects(changed)
    assert reject["field"] == "reference"
    assert "already holds a different record" in reject["reason"]
    with registry.engine.connect() as conn:
        assert conn.execute(sa.select(records.c.occurred_on)).scalar_one() == "2024-03-01"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_held_reference_among_new_ones_is_sorted_out_row_by_row(
    registry: Registry, tmp_path: Path, fmt: str
) -> None:
    """The bulk insert meets the store's unique reference and is rolled back to its savepoint:
    the batch is then sorted row by row, exactly as if the references had been looked up."""
    ingest(registry, write_csv(tmp_path / "a.csv", [row(), row(reference="C-2")]))
    size = registry.ledger_size()
    rows = [row(reference="C-3"), row(), row(reference="C-2", occurred_on="2024-03-02")]
    path = WRITERS[fmt](tmp_path / f"b.{fmt}", [*rows, row(reference="C-4")])
    report = ingest(registry, path)
    assert (report.accepted, report.duplicates, report.rejected) == (2, 1, 1)
    assert [(r["row"], r["field"]) for r in read_rejects(path)] == [("3", "reference")]
    assert registry.ledger_size() == size + 2
    with registry.engine.connect() as conn:
        refs = conn.execute(sa.select(records.c.reference).order_by(records.c.seq)).scalars()
        assert list(refs) == ["C-1", "C-2", "C-3", "C-4"]
    assert verify_registry(registry).ok


def test_an_erased_reference_is_refused_when_sent_again(registry: Registry, tmp_path: Path) -> None:
    """Erasure takes the record out of `records`, so the unique reference cannot catch it."""
    ingest(registry, write_csv(tmp_path / "a.csv", [row()]))
    with registry.engine.connect() as conn:
        seq = conn.execute(sa.select(records.c.seq)).scalar_one()
    registry.erase(seq, "court order")
    path = write_csv(tmp_path / "b.csv", [row(), row(reference="C-2")])
    report = ingest(registry, path)
    assert (report.accepted, report.rejected) == (1, 1)
    (reject,) = read_rejects(path)
    assert (reject["row"], reject["field"]) == ("1", "reference")
    assert reject["reason"] == f"'C-1' named a record that was erased (ledger #{seq})"


def test_conflict_within_one_file(registry: Registry, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [row(), row(), row(decided_on="2024-03-06")])
    report = ingest(registry, path)
    assert (report.accepted, report.duplicates, report.rejected) == (1, 1, 1)


def test_corrections_and_revocations(registry: Registry, tmp_path: Path) -> None:
    ingest(registry, write_csv(tmp_path / "a.csv", [row(), row(reference="C-2", subject=ORG)]))
    fixes = [
        # the wrong person was named: the correction names the right one
        row(reference="C-1a", corrects="C-1", subject=PERSON_2),
        row(reference="C-2r", item="revocation", corrects="C-2", subject=ORG, attributes=None),
        row(reference="C-1b", corrects="C-1"),  # already corrected
        row(reference="C-2b", item="revocation", corrects="C-2r", subject=ORG, attributes=None),
        row(reference="C-9", item="revocation", corrects="C-1a", subject=PERSON, attributes=None),
    ]
    path = write_csv(tmp_path / "b.csv", fixes)
    report = ingest(registry, path)
    assert (report.accepted, report.rejected) == (2, 3)
    reasons = [(r["reference"], r["field"], r["reason"]) for r in read_rejects(path)]
    assert reasons[0][:2] == ("C-1b", "corrects") and "already corrected" in reasons[0][2]
    assert reasons[1][:2] == ("C-2b", "corrects") and "is a revocation" in reasons[1][2]
    assert reasons[2][:2] == ("C-9", "subject") and "does not match" in reasons[2][2]
    with registry.engine.connect() as conn:
        links = dict(conn.execute(sa.select(records.c.reference, records.c.corrects_seq)).all())
    first = GOVERNANCE  # the key issue and two sources come first in the ledger
    assert links == {"C-1": None, "C-2": None, "C-1a": first, "C-2r": first + 1}
    assert verify_registry(registry).ok


def test_files_with_uncatalogued_or_missing_columns_are_refused(
    registry: Registry, tmp_path: Path
) -> None:
    with pytest.raises(FormatError, match="religion are not part of the record format"):
        ingest(registry, write_csv(tmp_path / "x.csv", [row(religion="none")]))
    with pytest.raises(FormatError, match="missing column"):
        ingest(registry, write_parquet(tmp_path / "y.parquet", [{"item": "x"}]))
    with pytest.raises(FormatError, match="unknown format"):
        ingest(registry, write_csv(tmp_path / "z.txt", [row()]))
    assert count_records(registry) == 0


def test_malformed_lines_are_rejected_not_fatal(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    write_jsonl(path, [row()])
    path.write_text(path.read_text() + "{not json\n[1, 2]\n" + '{"item": "x", "extra": 1}\n')
    report = ingest(registry, path)
    assert (report.accepted, report.rejected) == (1, 3)
    assert [r["field"] for r in read_rejects(path)] == ["row", "row", "row"]
    bad_csv = tmp_path / "m.csv"
    write_csv(bad_csv, [row(reference="C-7")])
    bad_csv.write_text(bad_csv.read_text() + "only,three,fields\n")
    report = ingest(registry, bad_csv)
    assert report.rejected == 1
    assert "row has 3 fields" in read_rejects(bad_csv)[0]["reason"]


def test_interrupted_run_leaves_whole_batches_and_resumes(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [row(reference=f"C-{i}") for i in range(2500)]  # batch size is 1000
    path = write_parquet(tmp_path / "big.parquet", rows)
    from credence.store import appender as appender_module

    original = appender_module.seal
    calls = {"n": 0}

    def crash_on_second_batch(*args: Any) -> Any:
        calls["n"] += 1
        head = original(*args)  # the records and the head are written in the transaction...
        if calls["n"] == 2:
            raise KeyboardInterrupt  # ...and the process dies before the commit
        return head

    monkeypatch.setattr(appender_module, "seal", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        ingest(registry, path)
    assert count_records(registry) == 1000  # the first batch only, in full
    assert verify_registry(registry).ok
    monkeypatch.setattr(appender_module, "seal", original)
    report = ingest(registry, path)
    assert (report.accepted, report.duplicates) == (1500, 1000)
    assert count_records(registry) == 2500
    with registry.engine.connect() as conn:
        sizes = conn.execute(sa.select(tree_heads.c.size).order_by(tree_heads.c.size)).scalars()
        assert list(sizes) == [1, 2, 3] + [GOVERNANCE + n for n in (1000, 2000, 2500)]
    assert verify_registry(registry).ok


def test_unknown_source_is_refused(registry: Registry, tmp_path: Path) -> None:
    from credence.store.database import StoreError

    with pytest.raises(StoreError, match="no source named 'tax'"):
        ingest_file(registry, write_csv(tmp_path / "a.csv", [row()]), "tax")


def test_police_source_scope(registry: Registry, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "p.csv",
        [
            row(item="administrative.traffic-red-light", attributes={"decision_number": "T-1"}),
            row(
                reference="C-2",
                item="administrative.drunk-driving",
                attributes={"decision_number": "T-2"},
                subject=ORG,
            ),
        ],
    )
    report = ingest(registry, path, "police")
    assert (report.accepted, report.rejected) == (1, 1)


def test_worker_process_gives_the_same_result_as_inline(
    registry: Registry, tmp_path: Path, settings: Any
) -> None:
    rows = [row(reference=f"C-{i}") for i in range(2300)]
    rows[5] = row(reference="C-5", subject="ric:1")
    rows[1500] = row(reference="C-1500", occurred_on="2099-01-01")
    path = write_parquet(tmp_path / "w.parquet", rows)
    report = ingest_file(registry, path, "court", today=TODAY, use_worker=True)
    assert (report.rows, report.accepted, report.rejected) == (2300, 2298, 2)
    assert [r["row"] for r in read_rejects(path)] == ["6", "1501"]
    again = ingest_file(registry, path, "court", today=TODAY, use_worker=False)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2298, 2)
    assert verify_registry(registry).ok


def test_worker_failure_is_raised_in_the_writer(tmp_path: Path) -> None:
    from credence.core.catalogue import CatalogueError
    from credence.ingest.checking import CheckSpec, checked_batches

    path = write_parquet(tmp_path / "w.parquet", [row()])
    spec = CheckSpec(path, str(tmp_path / "missing.yaml"), "court", frozenset(), TODAY, 10)
    with pytest.raises(CatalogueError, match=r"missing\.yaml"):
        list(checked_batches(spec, use_worker=True))


def test_a_failure_inside_the_worker_process_is_raised_in_the_writer(tmp_path: Path) -> None:
    """The same failure when the worker itself meets it (no first batch checked here)."""
    from credence.core.catalogue import CatalogueError
    from credence.ingest.checking import CheckSpec
    from credence.ingest.worker import worker_batches

    path = write_parquet(tmp_path / "w.parquet", [row()])
    spec = CheckSpec(path, str(tmp_path / "missing.yaml"), "court", frozenset(), TODAY, 10)
    with pytest.raises(CatalogueError, match=r"missing\.yaml"):
        list(worker_batches(spec, first_here=False))


def test_rejects_are_in_row_order_whichever_stage_refused_them(
    registry: Registry, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "o.csv",
        [
            row(),
            row(decided_on="2024-03-09"),
            row(reference="C-3", subject="ric:1"),
        ],
    )
    ingest(registry, path)
    assert [(r["row"], r["field"]) for r in read_rejects(path)] == [
        ("2", "reference"),
        ("3", "subject"),
    ]
