"""One validation worker kept across files (resident_worker): the same ledger as inline.

Inside the block a warm worker and the writer check each file's first
batch half each; the worker hashes its leaves once told how many rows of
the writer's half were accepted. The stored records, the batches (tree
heads) and the rejects must be those of an inline ingest.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from credence.core.catalogue import CatalogueError
from credence.ingest import worker
from credence.ingest.checking import CheckSpec, checked_batches
from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.schema import records, tree_heads
from credence.store.verify import verify_registry
from tests.conftest import read_rejects, row, write_csv, write_jsonl, write_parquet

TODAY = dt.date(2026, 11, 26)
STORED = ("seq", "reference", "item", "subject", "occurred_on", "decided_on", "attributes")


def _files(folder: Path) -> list[Path]:
    """Files of 2,300, 300, 40 and 1 rows; rejects in both halves of first batches."""
    folder.mkdir()
    big = [row(reference=f"A-{i}") for i in range(2300)]
    big[5] = row(reference="A-5", subject="ric:1")  # the writer's half of batch 1
    big[701] = row(reference="A-701", occurred_on="2099-01-01")  # the worker's half
    big[1500] = row(reference="A-1500", subject="ric:1")  # a later batch
    small = [row(reference=f"B-{i}") for i in range(300)]
    small[2] = row(reference="B-2", occurred_on="2099-01-01")
    return [
        write_parquet(folder / "a.parquet", big),
        write_csv(folder / "b.csv", small),
        write_jsonl(folder / "c.jsonl", [row(reference=f"C-{i}") for i in range(40)]),
        write_parquet(folder / "d.parquet", [row(reference="D-0")]),
    ]


def _registry(data: Path) -> Registry:
    reg, _ = Registry.init(Settings(data_dir=data, batch_size=1000))
    reg.add_source("court", ["judicial.*"])
    return reg


def _ledger(reg: Registry) -> tuple[list[Any], list[int]]:
    with reg.engine.connect() as conn:
        rows = conn.execute(sa.select(*(records.c[c] for c in STORED)).order_by("seq")).all()
        heads = conn.execute(sa.select(tree_heads.c.size).order_by("size")).scalars().all()
    return [tuple(r) for r in rows], list(heads)


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    started: list[subprocess.Popen[bytes]] = []
    launch = worker._launch

    def counted() -> subprocess.Popen[bytes]:
        started.append(launch())
        return started[-1]

    monkeypatch.setattr(worker, "_launch", counted)
    return started


def test_files_in_one_resident_worker_give_the_inline_ledger(
    tmp_path: Path, launches: list[subprocess.Popen[bytes]]
) -> None:
    kept, inline = _registry(tmp_path / "kept"), _registry(tmp_path / "inline")
    with worker.resident_worker():
        reports = [ingest_file(kept, p, "court", today=TODAY) for p in _files(tmp_path / "k")]
        assert len(launches) == 1 and launches[0].poll() is None  # one worker, still there
    assert launches[0].poll() is not None  # gone with the block
    for path in _files(tmp_path / "i"):
        ingest_file(inline, path, "court", today=TODAY, use_worker=False)

    assert [(r.rows, r.accepted, r.rejected) for r in reports] == [
        (2300, 2297, 3),
        (300, 299, 1),
        (40, 40, 0),
        (1, 1, 0),
    ]
    assert [r["row"] for r in read_rejects(tmp_path / "k" / "a.parquet")] == ["6", "702", "1501"]
    for name in ("a.parquet", "b.csv"):
        assert read_rejects(tmp_path / "k" / name) == read_rejects(tmp_path / "i" / name)
    assert _ledger(kept) == _ledger(inline)  # same rows, seqs and batch boundaries
    assert verify_registry(kept).ok  # the worker's leaves hashed at the right seqs
    kept.close()
    inline.close()


def test_a_failed_file_stops_the_kept_worker_and_the_next_file_gets_a_new_one(
    tmp_path: Path, registry: Registry, launches: list[subprocess.Popen[bytes]]
) -> None:
    first, second = _files(tmp_path / "f")[2:]
    broken = CheckSpec(first, str(tmp_path / "missing.yaml"), "court", frozenset(), TODAY, 10)
    with worker.resident_worker():
        ingest_file(registry, first, "court", today=TODAY)  # the worker is kept
        with pytest.raises(CatalogueError, match=r"missing\.yaml"):
            list(checked_batches(broken))  # the warm worker's file fails
        assert launches[0].wait(timeout=10) is not None  # stopped, not kept
        report = ingest_file(registry, second, "court", today=TODAY)
    assert len(launches) == 2 and report.accepted == 1
    assert verify_registry(registry).ok
