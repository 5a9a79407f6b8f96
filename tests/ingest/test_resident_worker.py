"""One validation worker kept across files (resident_worker): the same ledger as inline.

Inside the block a warm worker checks each whole file and sends its first
batch in parts (at 10%, 30% and 60% of the batch size), which the writer
inserts one by one inside the batch's one transaction. The stored records,
the batches (tree heads) and the rejects must be those of an inline ingest,
also when a later part repeats or corrects a reference (the batch is then
sorted whole).
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
from tests.conftest import PERSON_2, read_rejects, row, write_csv, write_jsonl, write_parquet

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
    kept = _registry(tmp_path / "kept")
    with worker.resident_worker():
        reports = [ingest_file(kept, p, "court", today=TODAY) for p in _files(tmp_path / "k")]
        assert len(launches) == 1 and launches[0].poll() is None  # one worker, still there
    assert launches[0].poll() is not None  # gone with the block
    _assert_as_inline(tmp_path, kept, reports)
    assert [r["row"] for r in read_rejects(tmp_path / "k" / "a.parquet")] == ["6", "702", "1501"]


def _assert_as_inline(tmp_path: Path, kept: Registry, reports: list[Any]) -> None:
    """`kept` (the files of _files(tmp_path / "k") ingested with a worker) holds what the same
    files ingested inline hold: reports, rejects, rows, seqs and batch boundaries; it verifies."""
    inline = _registry(tmp_path / "inline")
    for path in _files(tmp_path / "i"):
        ingest_file(inline, path, "court", today=TODAY, use_worker=False)
    assert [(r.rows, r.accepted, r.rejected) for r in reports] == [
        (2300, 2297, 3),
        (300, 299, 1),
        (40, 40, 0),
        (1, 1, 0),
    ]
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


def _later_parts_that_need_sorting(folder: Path) -> list[Path]:
    """First batches (1,000 rows: parts of 100, 200, 300 and 400) whose later parts repeat
    a reference of an earlier part, correct one, or repeat the whole file."""
    folder.mkdir()
    base = [row(reference=f"A-{i}") for i in range(1500)]
    repeats = [row(reference=f"R-{i}") for i in range(1000)]
    repeats[150] = row(reference="R-3")  # part 2 repeats part 1's R-3: a duplicate
    repeats[450] = row(reference="R-4", subject=PERSON_2)  # part 3: a conflict with R-4
    corrections = [row(reference=f"K-{i}") for i in range(1000)]
    corrections[700] = row(reference="K-700", corrects="A-7", subject=PERSON_2)  # part 4
    corrections[701] = row(reference="K-701", corrects="K-2")  # corrects part 1's K-2
    return [
        write_parquet(folder / "a.parquet", base),
        write_parquet(folder / "a-again.parquet", base),  # every row already held
        write_parquet(folder / "r.parquet", repeats),
        write_csv(folder / "k.csv", corrections),
    ]


def test_parts_that_repeat_or_correct_give_the_inline_ledger(tmp_path: Path) -> None:
    kept, inline = _registry(tmp_path / "kept"), _registry(tmp_path / "inline")
    with worker.resident_worker():
        reports = [
            ingest_file(kept, p, "court", today=TODAY)
            for p in _later_parts_that_need_sorting(tmp_path / "k")
        ]
    for path in _later_parts_that_need_sorting(tmp_path / "i"):
        ingest_file(inline, path, "court", today=TODAY, use_worker=False)

    assert [(r.rows, r.accepted, r.duplicates, r.rejected) for r in reports] == [
        (1500, 1500, 0, 0),
        (1500, 0, 1500, 0),
        (1000, 998, 1, 1),
        (1000, 1000, 0, 0),
    ]
    assert [r["row"] for r in read_rejects(tmp_path / "k" / "r.parquet")] == ["451"]
    assert read_rejects(tmp_path / "k" / "r.parquet") == read_rejects(tmp_path / "i" / "r.parquet")
    assert _ledger(kept) == _ledger(inline)
    assert verify_registry(kept).ok
    kept.close()
    inline.close()


def test_a_worker_that_fails_inside_a_streamed_batch_leaves_no_part_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = _registry(tmp_path / "data")
    first, second = _files(tmp_path / "f")[:2]
    receive = worker._receive
    told: list[str] = []

    def dies_after_the_first_part(process: subprocess.Popen[bytes]) -> tuple[str, Any]:
        message = receive(process)
        told.append(message[0])
        if len(told) == 1:
            assert message[1].more  # the first batch comes in parts
        if len(told) == 2:  # the writer is inside the batch's transaction by now
            process.kill()
            process.wait()
            raise RuntimeError("the validation worker stopped unexpectedly")
        return message

    with worker.resident_worker():
        ingest_file(reg, second, "court", today=TODAY)  # the worker is warm
        before = _ledger(reg)
        monkeypatch.setattr(worker, "_receive", dies_after_the_first_part)
        with pytest.raises(RuntimeError, match="stopped unexpectedly"):
            ingest_file(reg, first, "court", today=TODAY)
    assert _ledger(reg) == before  # no row of the batch's first part was kept
    assert verify_registry(reg).ok
    monkeypatch.undo()
    report = ingest_file(reg, first, "court", today=TODAY)  # a retry writes it all once
    assert (report.accepted, report.rejected) == (2297, 3)
    assert verify_registry(reg).ok
    reg.close()


def _framed(body: bytes) -> bytes:
    return len(body).to_bytes(worker._LENGTH_BYTES, "big") + body


def test_the_reader_thread_passes_frames_in_order_then_end_of_file() -> None:
    import os

    read_end, write_end = os.pipe()
    bodies = [bytes([i]) * (100_000 + i) for i in range(5)]  # each larger than a pipe holds
    import threading

    def send() -> None:  # as the worker does: blocked while the queue is full
        with os.fdopen(write_end, "wb") as out:
            for body in bodies:
                out.write(_framed(body))

    with os.fdopen(read_end, "rb") as stream:
        reader = worker._Reader(stream)
        sender = threading.Thread(target=send)
        sender.start()
        assert [reader.get() for _ in bodies] == bodies
        assert reader.get() is None  # the worker's end closed: end of file
        sender.join()


def test_a_stopped_reader_leaves_a_full_queue_and_ends() -> None:
    import os
    import threading

    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream, os.fdopen(write_end, "wb") as out:
        before = set(threading.enumerate())
        reader = worker._Reader(stream)
        (pump,) = set(threading.enumerate()) - before
        for _ in range(worker._READ_AHEAD + 1):  # one more than the queue holds
            out.write(_framed(b"x" * 10))
        out.flush()
        reader.stop()
        pump.join(timeout=30)
        assert not pump.is_alive()


def _announced(files: list[Path]) -> list[tuple[Path, str] | None]:
    return [*((p, "court") for p in files[1:]), None]


def test_files_announced_ahead_give_the_inline_ledger_with_the_worker_s_seqs(
    tmp_path: Path, launches: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file is checked while the one before is appended; its leaves come from the
    worker at the right seqs (the writer never re-seals), rejects and all."""
    from credence.store import appender

    resealed: list[int] = []
    real = appender.seal_hashes

    def counted(*args: Any) -> Any:
        resealed.append(1)
        return real(*args)

    monkeypatch.setattr(appender, "seal_hashes", counted)
    kept = _registry(tmp_path / "kept")
    files = _files(tmp_path / "k")
    with worker.resident_worker():
        reports = [
            ingest_file(kept, path, "court", today=TODAY, then=then)
            for path, then in zip(files, _announced(files), strict=True)
        ]
        assert len(launches) == 1 and launches[0].poll() is None
    assert resealed == []  # every batch's guessed seqs were the ones it got
    _assert_as_inline(tmp_path, kept, reports)


def test_a_file_announced_but_not_ingested_next_is_never_written_for_another(
    tmp_path: Path, registry: Registry, launches: list[subprocess.Popen[bytes]]
) -> None:
    """The worker checking the announced file is stopped when another file comes instead;
    that file gets a fresh worker, and the announced one is ingested correctly later."""
    a, b, c, d = _files(tmp_path / "f")
    with worker.resident_worker():
        ingest_file(registry, c, "court", today=TODAY, then=(b, "court"))
        report_d = ingest_file(registry, d, "court", today=TODAY)  # not b
        assert launches[0].wait(timeout=10) is not None  # the worker checking b: stopped
        report_b = ingest_file(registry, b, "court", today=TODAY, then=(tmp_path / "no", "x"))
        report_a = ingest_file(registry, a, "court", today=TODAY, then=(c, "no-such-source"))
    assert len(launches) == 2
    assert (report_d.accepted, report_b.accepted, report_a.accepted) == (1, 299, 2297)
    with registry.engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(records)).scalar()
    assert stored == 40 + 1 + 299 + 2297
    assert verify_registry(registry).ok


def test_a_file_whose_source_changes_after_it_was_announced_is_checked_again(
    tmp_path: Path, registry: Registry, launches: list[subprocess.Popen[bytes]]
) -> None:
    """The announced check is used only for the very same file, source and options."""
    registry.add_source("tax", ["judicial.*"])
    _a, b, c, _d = _files(tmp_path / "f")
    with worker.resident_worker():
        ingest_file(registry, c, "court", today=TODAY, then=(b, "court"))
        report = ingest_file(registry, b, "tax", today=TODAY)  # announced as court's
    assert len(launches) == 2 and report.accepted == 299
    with registry.engine.connect() as conn:
        sources = conn.execute(sa.text("SELECT DISTINCT source_id FROM records")).all()
    assert len(sources) == 2
    assert verify_registry(registry).ok
