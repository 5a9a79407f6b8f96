"""Interrupted and killed ingests: no process outlives the command, no temp file stays.

The kill tests run the real console entry point in a child process and
watch its children through /proc (Linux): a killed writer must take the
validation worker (and any multiprocessing resource tracker) with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from credence.cli.main import app
from credence.ingest.checking import WORKER_MIN_TEXT_BYTES
from tests.conftest import row, write_csv

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
ENTRY = "from credence.cli.main import main; main()"


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields after the command name: state, ppid, ...


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"  # a zombie has exited


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {
        **os.environ,
        "CREDENCE_DATA_DIR": str(tmp_path / "data"),
        "CREDENCE_BATCH_SIZE": "2000",
    }
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=values).exit_code == 0
    assert (
        runner.invoke(
            app, ["source", "add", "court", "--items", "judicial.*"], env=values
        ).exit_code
        == 0
    )
    return values


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV large enough that `credence ingest` uses the validation worker."""
    rows = [row(reference=f"C-{i}") for i in range(60_000)]
    rows[7] = row(reference="C-7", subject="ric:1")  # one reject: the rejects file is used
    path = write_csv(tmp_path_factory.mktemp("big") / "big.csv", rows)
    assert path.stat().st_size >= WORKER_MIN_TEXT_BYTES
    return path


def _as_at_a_terminal() -> None:
    """In the child before exec: SIGINT delivered and handled as at a terminal. A test
    runner's worker may ignore or block it, and a child inherits both."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_ingest(path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    """Start `credence ingest` and wait for its worker; return the process and the worker."""
    cmd = [sys.executable, "-c", ENTRY, "ingest", str(path), "--source", "court"]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_at_a_terminal,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = [p for p in _children(proc.pid) if "credence.ingest.worker" in _cmdline(p)]
        if workers:
            return proc, workers[0]
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no validation worker started")


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _running(p)]


def test_sigkill_of_the_writer_takes_the_worker_with_it(big_csv: Path, env: dict[str, str]) -> None:
    proc, worker = _start_ingest(big_csv, env)
    assert _wait_for_a_batch(env, proc)  # the worker is working; the writer committed once
    family = _children(proc.pid)
    assert worker in family
    os.kill(proc.pid, signal.SIGKILL)  # the writer only, not its process group
    proc.wait()
    started = time.monotonic()
    left = _gone_within(family, 5)
    assert not left, [(p, _cmdline(p)) for p in left]
    assert time.monotonic() - started < 5
    assert not any("resource_tracker" in _cmdline(p) for p in family)


def _wait_for_a_batch(env: dict[str, str], proc: subprocess.Popen[str]) -> bool:
    """True as soon as the first batch of records is committed, False if the run ended
    first (a fixed sleep was too long once ingest got fast: the run had ended)."""
    import sqlite3

    db = Path(env["CREDENCE_DATA_DIR"]) / "credence.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            if conn.execute("SELECT count(*) FROM records").fetchone()[0] > 0:
                return True
        time.sleep(0.005)
    raise AssertionError("no batch was committed within 60 s")


def _reset(env: dict[str, str]) -> None:
    """An empty registry with the court source, in the same data directory."""
    import shutil

    shutil.rmtree(env["CREDENCE_DATA_DIR"])
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    added = runner.invoke(app, ["source", "add", "court", "--items", "judicial.*"], env=env)
    assert added.exit_code == 0


def _verify(env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify"], env=env)
    return result.exit_code, result.output


def test_sigint_keeps_whole_batches_and_a_rerun_completes(
    big_csv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "CREDENCE_BATCH_SIZE": "500"}  # 120 durable commits: time to interrupt
    seen = []
    for _attempt in range(3):
        proc, worker = _start_ingest(big_csv, env)
        seen.append(_wait_for_a_batch(env, proc))
        if seen[-1]:  # then interrupt at once
            os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            break
        # On a starved machine the run can end before the signal lands: nothing was tested,
        # so start again from an empty ledger.
        _reset(env)
    here = (signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, []))
    assert proc.returncode == 130, (err, seen, here)
    assert err.startswith("interrupted: ") and "rows in whole batches were kept (ledger size" in err
    assert "run the same command again to resume" in err and "Traceback" not in err
    assert not _gone_within([worker], 5)
    assert not list(big_csv.parent.glob("*.tmp"))
    assert _verify(env)[0] == 0
    rerun = subprocess.run(
        [sys.executable, "-c", ENTRY, "ingest", str(big_csv), "--source", "court"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "60000 rows:" in rerun.stdout and "1 rejected" in rerun.stdout
    assert _verify(env)[0] == 0


def test_interrupt_inside_a_batch_rolls_it_back(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from credence.ingest import pipeline

    path = write_csv(tmp_path / "a.csv", [row(reference=f"C-{i}") for i in range(5000)])
    real = pipeline._append
    calls = []

    def append(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(*args)

    monkeypatch.setattr(pipeline, "_append", append)
    result = CliRunner().invoke(app, ["ingest", str(path), "--source", "court"], env=env)
    assert result.exit_code == 130
    assert "interrupted: 2000 rows in whole batches were kept (ledger size 2002)" in result.stderr
    assert not list(tmp_path.glob("*.tmp"))
    monkeypatch.undo()
    assert _verify(env)[0] == 0
    again = CliRunner().invoke(app, ["ingest", str(path), "--source", "court"], env=env)
    assert "5000 rows: 3000 accepted, 2000 already held" in again.output


POOL = """
import multiprocessing as mp, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from credence.lifeline import pool_initializer

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx, initializer=pool_initializer,
                             initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(time.sleep, 60) for _ in range(2)]
        print("ready", flush=True)
        [f.result() for f in futures]
"""


def test_pool_workers_of_verify_and_snapshot_die_with_their_parent(tmp_path: Path) -> None:
    script = tmp_path / "pool.py"
    script.write_text(POOL)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(0.5)
    family = _children(proc.pid)  # two workers and the resource tracker
    assert len(family) == 3
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = _gone_within(family, 5)
    assert not left, [(p, _cmdline(p)) for p in left]
