"""One batch run at a time on a snapshot directory (`snapshot_lock`).

`credence serve` prepares its answers from the snapshot while an operator
may run `credence score`: without the lock, one run extends or rebuilds the
files the other is proving or reading.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from credence.engines.snapshot import snapshot_lock
from credence.ingest.pipeline import ingest_file
from credence.scoring.service import When, open_rulebook, score_jsonl
from credence.settings import Settings
from credence.store.registry import Registry
from tests.conftest import ORG, PERSON, PERSON_2, row, write_csv

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()  # until the test says so
"""


class Holder:
    """Another process holding the lock file of `snapshot_dir` until released."""

    def __init__(self, snapshot_dir: Path) -> None:
        lock = snapshot_dir.parent / f".{snapshot_dir.name}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(lock)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=10)


@pytest.fixture
def scored(registry: Registry, settings: Settings, tmp_path: Path) -> Registry:
    subjects = [PERSON, PERSON_2, ORG]
    rows = [row(reference=f"L-{i}", subject=subjects[i % 3]) for i in range(30)]
    ingest_file(registry, write_csv(tmp_path / "a.csv", rows), "court", today=dt.date(2026, 1, 1))
    return registry


def test_a_run_waits_for_another_process_and_says_so(settings: Settings) -> None:
    holder = Holder(settings.snapshot_dir)
    heard: list[str] = []
    got = threading.Event()

    def take() -> None:
        with snapshot_lock(settings.snapshot_dir, heard.append):
            got.set()

    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    try:
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:
            time.sleep(0.01)
        assert heard == [
            f"another batch run is using {settings.snapshot_dir}; waiting for it to finish"
        ]
        assert not got.is_set()
    finally:
        holder.release()
    taker.join(timeout=10)
    assert got.is_set()
    lock = settings.snapshot_dir.parent / f".{settings.snapshot_dir.name}.lock"
    assert oct(lock.stat().st_mode & 0o777) == "0o600"


def test_the_same_thread_may_take_it_again(settings: Settings) -> None:
    with snapshot_lock(settings.snapshot_dir), snapshot_lock(settings.snapshot_dir):
        pass
    with snapshot_lock(settings.snapshot_dir):  # and it was released
        pass


def test_scoring_holds_the_snapshot_until_it_has_read_it(
    scored: Registry, settings: Settings, tmp_path: Path
) -> None:
    """A `credence score` run started while another process holds the snapshot
    waits for it, then scores as usual."""
    rulebook = open_rulebook(scored, "gov-default")
    out = tmp_path / "scores.jsonl"
    holder = Holder(settings.snapshot_dir)
    done = threading.Event()

    def score() -> None:
        score_jsonl(scored, settings, rulebook, When(dt.date(2026, 6, 1)), out)
        done.set()

    runner = threading.Thread(target=score, daemon=True)
    runner.start()
    try:
        assert not done.wait(1.5), "scored while another process held the snapshot"
        assert not out.exists()
    finally:
        holder.release()
    runner.join(timeout=60)
    assert done.is_set()
    lines = out.read_text().splitlines()
    assert len(lines) == 3  # the three subjects with records
