"""Crash drill (issue 7, item 11): kill -9 an ingest at random points, re-run it, check.

Each cycle starts `credence ingest FILE --source drill` in a subprocess (its
own session, so the validation worker and multiprocessing's resource tracker
share its process group), waits for a seeded random kill point and kills the
whole group with SIGKILL. A fifth of the kill points are times within the
start-up and validation of an uninterrupted run of the same input; the rest
are placed by progress (after a random share of the input's rows is
committed, a random part of one batch's time), so that a busy machine still
gets its kills mid-run. Then it checks the interrupted state: `credence verify` passes,
the records of this input are exactly the accepted rows of whole batches
from the start of the file, and records, ledger state and the latest signed
tree head agree. The ingest is then run again to completion and every
accepted row of the input must be in the store exactly once, with the same
content as in an uninterrupted reference run into a separate registry, the
rejects file must name the same rows, and `credence verify` must pass.

Every cycle ingests a fresh file (references prefixed with the cycle
number), so every kill lands in real work; formats rotate through Parquet,
CSV and JSON Lines, and the full drill also feeds inputs large enough for
the validation worker process. The default run is a quick four cycles; the
full drill (`pytest -m drill`, run by `.ci/run`) does DRILL_CYCLES cycles
(default 50) within DRILL_BUDGET_SECONDS (default 600); DRILL_SEED changes the
kill points.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credence.settings import Settings
from credence.store.registry import Registry
from credence.synth.city import read_manifest, synthesise
from credence.synth.sinks import open_sink

FORMATS = ("parquet", "csv", "jsonl")
SOURCE = "drill"
DRILL_SEED = int(os.environ.get("DRILL_SEED", "20261127"))
_STARTUP_SHARE = 0.2  # share of kills drawn before the first commit (start-up, validation)


@dataclass(frozen=True)
class Base:
    """One synthetic input (a city's feeds in one file) and its uninterrupted run."""

    name: str
    fmt: str
    table: Any  # pyarrow Table with the synthetic references
    large: bool  # big enough for the validation worker process
    accepted_rows: frozenset[int] = frozenset()  # 1-based rows the reference run accepted
    content: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # row -> stored fields
    rejected_rows: tuple[int, ...] = ()
    first_commit_s: float = 0.0  # wall time until the first batch was committed
    run_s: float = 0.0  # wall time of the whole uninterrupted run


@dataclass
class Figures:
    cycles: int = 0
    killed_mid_run: int = 0  # SIGKILL landed while the ingest was running
    finished_before_kill: int = 0
    before_first_commit: int = 0  # of the mid-run kills: nothing of the input committed yet
    partial: int = 0  # some but not all batches committed
    all_committed: int = 0  # every batch committed, run not yet finished
    worker_cycles: int = 0  # inputs large enough for the validation worker
    rows_checked: int = 0
    rejected_rows: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    leftover_processes: list[str] = field(default_factory=list)
    stale_tmp_after_kill: int = 0
    unfinished_runs: int = 0
    verifies: int = 0
    reference_runs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def report(self) -> str:
        mid = self.killed_mid_run
        return "\n".join(
            [
                "",
                "crash drill figures",
                f"  cycles                 {self.cycles} ({self.worker_cycles} with the worker)",
                f"  kills mid-run          {mid} (nothing committed {self.before_first_commit}, "
                f"partial {self.partial}, all batches but not finished {self.all_committed})",
                f"  kills after completion {self.finished_before_kill}",
                f"  rows checked           {self.rows_checked} accepted "
                f"(+{self.rejected_rows} rejected rows excluded)",
                f"  lost                   {self.lost}",
                f"  duplicated             {self.duplicated}",
                f"  unexpected             {self.unexpected}",
                f"  verify runs            {self.verifies} (all exit 0: {not self.problems})",
                f"  leftover processes     {len(self.leftover_processes)}"
                + (f" {self.leftover_processes[:3]}" if self.leftover_processes else ""),
                f"  stale rejects .tmp     {self.stale_tmp_after_kill} after kills, "
                "0 after re-runs",
                f"  unfinished runs        {self.unfinished_runs} (ingest_runs, no finished_at)",
                f"  time                   {self.seconds:.1f} s",
                f"  uninterrupted runs     {', '.join(self.reference_runs)}",
                f"  problems               {len(self.problems)}",
                *(f"    {p}" for p in self.problems[:20]),
            ]
        )


# --- running the CLI ----------------------------------------------------------------------


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("credence")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from credence.cli.main import main; main()"]


def _env(data_dir: Path, batch_size: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDENCE_")}
    env.update(CREDENCE_DATA_DIR=str(data_dir), CREDENCE_BATCH_SIZE=str(batch_size))
    env["COLUMNS"] = "100"
    return env


def _run(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_cli(), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _must(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = _run(env, *args)
    assert done.returncode == 0, f"credence {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def _new_registry(path: Path, batch_size: int) -> dict[str, str]:
    env = _env(path, batch_size)
    _must(env, "init")
    _must(env, "source", "add", SOURCE, "--items", "*")
    return env


# --- process groups ----------------------------------------------------------------------


def _group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes in process group `pgid`, as 'pid cmdline'."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            state, group = fields[0], int(fields[2])
            if group != pgid or state == "Z":
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        found.append(f"{entry.name} {cmd.strip()[:120]}")
    return found


@contextlib.contextmanager
def _session(
    env: dict[str, str], *args: str, stderr: int = subprocess.DEVNULL
) -> Iterator[subprocess.Popen[str]]:
    """`credence ARGS` in a session of its own; its whole group is killed if the drill fails.

    Read `stderr` (subprocess.PIPE) with communicate(), or a chatty run could fill the pipe.
    """
    proc = subprocess.Popen(
        [*_cli(), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        raise
    finally:
        if proc.stderr is not None:
            proc.stderr.close()


def _reap_group(pgid: int, figures: Figures, when: str) -> None:
    """Wait briefly for the group to empty; note and kill whatever is left."""
    deadline = time.monotonic() + 3
    members = _group_members(pgid)
    while members and time.monotonic() < deadline:
        time.sleep(0.05)
        members = _group_members(pgid)
    if members:
        figures.leftover_processes += [f"{when}: {m}" for m in members]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


# --- inputs -------------------------------------------------------------------------------


def _city_table(out: Path, subjects: int, seed: int) -> Any:
    """A synthetic city's feeds as one table (every catalogued item, ~1% bad rows)."""
    synthesise(out, subjects, seed, bad_row_rate=0.01, fmt="parquet")
    manifest = read_manifest(out)
    return pa.concat_tables([pq.read_table(out / s.file) for s in manifest.sources])


def _references(table: Any, prefix: str) -> list[str]:
    # Empty references are deliberately bad rows: keep them empty so they stay rejected.
    return [prefix + r if r else r for r in table.column("reference").to_pylist()]


def _write_input(path: Path, table: Any, fmt: str, prefix: str) -> list[str]:
    refs = _references(table, prefix)
    index = table.schema.get_field_index("reference")
    renamed = table.set_column(index, "reference", pa.array(refs, type=pa.string()))
    sink = open_sink(path, fmt)
    sink.write(renamed)
    sink.close()
    return refs


def _reference_run(base: Base, work: Path, batch_size: int) -> Base:
    """Ingest `base` uninterrupted into a registry of its own; time it, note what it kept."""
    # A yardstick, not under test: set up in-process, which is quicker.
    settings = Settings(data_dir=work / f"reference-{base.name}", batch_size=batch_size)
    registry, _ = Registry.init(settings)
    registry.add_source(SOURCE, ["*"])
    registry.close()
    db = settings.data_dir / "credence.db"
    path = work / f"reference-{base.name}.{base.fmt}"
    refs = _write_input(path, base.table, base.fmt, "REF-")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*_cli(), "ingest", str(path), "--source", SOURCE],
        env=_env(settings.data_dir, batch_size),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first_commit = 0.0
    with _db(db) as conn:
        while proc.poll() is None:
            if not first_commit and _size(conn):
                first_commit = time.perf_counter() - started
            time.sleep(0.005)
    run_s = time.perf_counter() - started
    assert proc.returncode == 0, f"reference run of {base.name} failed"
    row_of = {r: n for n, r in enumerate(refs, start=1) if r}
    content = {row_of[r]: fields for r, fields in _stored_content(db, "REF-").items()}
    rejected = tuple(int(r["row"]) for r in _rejects(path))
    assert set(content).isdisjoint(rejected)
    assert len(content) + len(rejected) == base.table.num_rows, base.name
    return Base(
        base.name,
        base.fmt,
        base.table,
        base.large,
        frozenset(content),
        content,
        rejected,
        first_commit or run_s / 2,
        run_s,
    )


def _rejects(path: Path) -> list[dict[str, str]]:
    rejects = path.with_name(path.name + ".rejects.csv")
    if not rejects.exists():
        return []
    with rejects.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --- reading the store --------------------------------------------------------------------


@contextlib.contextmanager
def _db(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def _stored(db: Path, prefix: str) -> Counter[str]:
    """How many times each reference starting with `prefix` is held (any source)."""
    with _db(db) as conn:
        rows = conn.execute(
            "SELECT reference, COUNT(*) FROM records WHERE substr(reference, 1, ?) = ? "
            "GROUP BY reference",
            (len(prefix), prefix),
        ).fetchall()
    return Counter({ref: int(n) for ref, n in rows})


def _stored_content(db: Path, prefix: str) -> dict[str, tuple[Any, ...]]:
    with _db(db) as conn:
        rows = conn.execute(
            "SELECT reference, item, subject, occurred_on, decided_on, attributes, corrects "
            "FROM records WHERE substr(reference, 1, ?) = ?",
            (len(prefix), prefix),
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _ledger_agrees(db: Path) -> str | None:
    """Positions held (records and other entries), ledger state and latest head agree.

    Each record is held once per (source, reference), and the positions 0..n-1
    are each held exactly once across the records and entries tables.
    """
    with _db(db) as conn:
        count, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT source_id || ':' || reference) FROM records"
        ).fetchone()
        held, last = conn.execute(
            "SELECT COUNT(*), MAX(seq) FROM (SELECT seq FROM records UNION ALL "
            "SELECT seq FROM entries UNION ALL SELECT seq FROM erased)"
        ).fetchone()
        state = conn.execute("SELECT size FROM ledger_state").fetchone()
        head = conn.execute("SELECT MAX(size) FROM tree_heads").fetchone()
    size = 0 if state is None else int(state[0])
    head_size = int(head[0] or 0)
    seq_size = 0 if last is None else int(last) + 1
    if not (count == distinct and held == size == head_size == seq_size):
        return (
            f"records {count} (distinct {distinct}), positions held {held} (seq size "
            f"{seq_size}), ledger state {size}, latest head {head_size}"
        )
    return None


def _unfinished_runs(db: Path) -> int:
    with _db(db) as conn:
        return int(
            conn.execute("SELECT COUNT(*) FROM ingest_runs WHERE finished_at IS NULL").fetchone()[0]
        )


# --- the drill ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    cycles: int
    budget_s: float
    batch_size: int
    cycles_per_registry: int
    small: tuple[tuple[int, int], ...]  # (subjects, seed) of the small inputs
    large: tuple[tuple[int, int], ...] = ()  # (subjects, seed) of worker-sized inputs
    large_every: int = 0  # every n-th cycle uses a large input


def _kill_times(rng: random.Random, n: int) -> list[float]:
    """Stratified points in [0, 1): every part of a run gets its share of kills."""
    strata = list(range(n))
    rng.shuffle(strata)
    return [(s + rng.random()) / n for s in strata]


@dataclass(frozen=True)
class KillPoint:
    """When to kill: `seconds` after the start, or `delay` after `rows` of the input committed."""

    seconds: float | None
    rows: int = 0
    delay: float = 0.0

    def __str__(self) -> str:
        if self.seconds is not None:
            return f"kill at {self.seconds:.2f}s"
        return f"kill {self.delay:.3f}s after {self.rows} rows committed"


def _kill_point(base: Base, u: float, batch_size: int, rng: random.Random) -> KillPoint:
    """The first share of kills falls in start-up and validation, the rest during the commits.

    Kills during the commits are placed by progress, not by the clock, so that a machine
    busier or idler than during the reference run still gets them mid-run: after a share of
    the input's rows is committed, wait a random part of one batch's time.
    """
    if u < _STARTUP_SHARE:
        return KillPoint(base.first_commit_s * u / _STARTUP_SHARE)
    share = (u - _STARTUP_SHARE) / (1 - _STARTUP_SHARE)
    batches = max(1, -(-base.table.num_rows // batch_size))
    batch_s = max(base.run_s - base.first_commit_s, 0.0) / batches
    rows = max(1, int(share * len(base.accepted_rows)))
    return KillPoint(None, rows, rng.uniform(0, batch_s))


def _wait_for(proc: subprocess.Popen[Any], db: Path, point: KillPoint, timeout: float) -> None:
    """Return when `point` is reached (or the run ended, or `timeout` passed)."""
    if point.seconds is not None:
        time.sleep(point.seconds)
        return
    deadline = time.monotonic() + timeout
    with _db(db) as conn:
        before = _size(conn)
        while proc.poll() is None and time.monotonic() < deadline:
            if _size(conn) - before >= point.rows:
                time.sleep(point.delay)
                return
            time.sleep(0.005)


def _size(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT size FROM ledger_state").fetchone()
    return 0 if row is None else int(row[0])


def _batch_prefixes(base: Base, batch_size: int) -> set[int]:
    """How many accepted rows whole batches from the start of the file hold."""
    accepted = sorted(base.accepted_rows)
    out = {0, len(accepted)}
    i = 0
    for end in range(batch_size, base.table.num_rows + batch_size, batch_size):
        while i < len(accepted) and accepted[i] <= end:
            i += 1
        out.add(i)
    return out


def _verify(env: dict[str, str], figures: Figures, when: str) -> None:
    figures.verifies += 1
    done = _run(env, "verify")
    if done.returncode != 0:
        figures.problems.append(f"{when}: verify exit {done.returncode}: {done.stdout[-500:]}")


def run_drill(work: Path, plan: Plan) -> Figures:
    started = time.perf_counter()
    figures = Figures()
    rng = random.Random(DRILL_SEED)
    bases: list[Base] = []
    for subjects, seed in plan.small + plan.large:
        table = _city_table(work / f"city-{subjects}-{seed}", subjects, seed)
        large = (subjects, seed) in plan.large
        bases += [Base(f"s{seed}n{subjects}-{fmt}", fmt, table, large) for fmt in FORMATS]
    bases = [_reference_run(b, work, plan.batch_size) for b in bases]
    figures.reference_runs = [
        f"{b.name} {b.table.num_rows} rows {b.first_commit_s:.2f}/{b.run_s:.2f} s" for b in bases
    ]
    small = [b for b in bases if not b.large]
    large = [b for b in bases if b.large]

    kill_points = _kill_times(rng, plan.cycles)
    env: dict[str, str] = {}
    db = Path()
    dbs: list[Path] = []
    expected_total = 0
    for cycle in range(plan.cycles):
        if time.perf_counter() - started > plan.budget_s:
            break
        if cycle % plan.cycles_per_registry == 0:
            reg = work / f"registry-{cycle:03d}"
            env, db, expected_total = _new_registry(reg, plan.batch_size), reg / "credence.db", 0
            dbs.append(db)
        use_large = bool(large) and plan.large_every and cycle % plan.large_every == 1
        pool = large if use_large else small
        base = pool[cycle % len(pool)]
        figures.worker_cycles += base.large
        expected_total += len(base.accepted_rows)
        point = _kill_point(base, kill_points[cycle], plan.batch_size, rng)
        _cycle(work, env, db, base, cycle, point, plan, figures)
        problem = _ledger_agrees(db)
        with _db(db) as conn:
            held = int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        if problem or held != expected_total:
            figures.problems.append(
                f"cycle {cycle}: registry holds {held} of {expected_total}; "
                f"{problem or 'sizes agree'}"
            )
        figures.cycles += 1
    if not figures.cycles:
        figures.problems.append("no cycle started within the budget")
    figures.unfinished_runs = sum(_unfinished_runs(d) for d in dbs)
    figures.seconds = time.perf_counter() - started
    return figures


def _cycle(
    work: Path,
    env: dict[str, str],
    db: Path,
    base: Base,
    cycle: int,
    point: KillPoint,
    plan: Plan,
    figures: Figures,
) -> None:
    prefix = f"K{cycle:03d}-"
    path = work / f"cycle-{cycle:03d}.{base.fmt}"
    refs = _write_input(path, base.table, base.fmt, prefix)
    ref_rows = {refs[n - 1]: n for n in base.accepted_rows}
    accepted_refs = set(ref_rows)
    # Interrupt: start, wait for the kill point, kill the whole process group.
    with _session(env, "ingest", str(path), "--source", SOURCE) as proc:
        pgid = proc.pid  # the session leader's pid is its group id
        _wait_for(proc, db, point, timeout=3 * base.run_s + 5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        code = proc.wait(timeout=60)
    _reap_group(pgid, figures, f"cycle {cycle} after kill")
    when = f"cycle {cycle} ({base.name}, {point})"
    if code == -signal.SIGKILL:
        figures.killed_mid_run += 1
    elif code == 0:
        figures.finished_before_kill += 1
    else:
        figures.problems.append(f"{when}: ingest exited {code} before the kill")
    figures.stale_tmp_after_kill += len(list(work.glob(f"{path.name}*.tmp")))

    # The interrupted state: whole batches from the start of the file, all signed.
    held = _stored(db, prefix)
    n = len(held)
    if code == -signal.SIGKILL:
        if n == 0:
            figures.before_first_commit += 1
        elif n < len(accepted_refs):
            figures.partial += 1
        else:
            figures.all_committed += 1
    order = sorted(accepted_refs, key=ref_rows.__getitem__)
    if set(held) != set(order[:n]) or any(c != 1 for c in held.values()):
        figures.problems.append(f"{when}: interrupted state is not a prefix of the input")
    if n not in _batch_prefixes(base, plan.batch_size):
        figures.problems.append(f"{when}: {n} rows held is not a whole number of batches")
    if problem := _ledger_agrees(db):
        figures.problems.append(f"{when}: after the kill, {problem}")
    _verify(env, figures, f"{when} after the kill")

    # Run again to completion: every accepted row exactly once, same content, same rejects.
    with _session(env, "ingest", str(path), "--source", SOURCE, stderr=subprocess.PIPE) as rerun:
        _, err = rerun.communicate(timeout=600)
        err = err or ""
    _reap_group(rerun.pid, figures, f"cycle {cycle} after the re-run")
    if rerun.returncode != 0:
        figures.problems.append(f"{when}: re-run exit {rerun.returncode}: {err[-500:]}")
    held = _stored(db, prefix)
    figures.rows_checked += len(accepted_refs)
    figures.rejected_rows += len(base.rejected_rows)
    figures.lost += len(accepted_refs - set(held))
    figures.duplicated += sum(c - 1 for c in held.values())
    figures.unexpected += len(set(held) - accepted_refs)
    content = _stored_content(db, prefix)
    changed = [r for r, fields in content.items() if fields != base.content.get(ref_rows.get(r))]
    if changed:
        figures.problems.append(f"{when}: {len(changed)} records differ, e.g. {changed[0]}")
    rejected = tuple(int(r["row"]) for r in _rejects(path))
    if rejected != base.rejected_rows:
        figures.problems.append(f"{when}: rejects {len(rejected)} != {len(base.rejected_rows)}")
    if leftover := list(work.glob(f"{path.name}*.tmp")):
        figures.problems.append(f"{when}: temporary files left after the re-run: {leftover}")
    if problem := _ledger_agrees(db):
        figures.problems.append(f"{when}: after the re-run, {problem}")
    _verify(env, figures, f"{when} after the re-run")
    path.unlink()
    path.with_name(path.name + ".rejects.csv").unlink(missing_ok=True)


def _check(figures: Figures, cycles: int, min_mid_run: float) -> None:
    assert not figures.problems, figures.report()
    assert figures.cycles >= cycles, f"only {figures.cycles} of {cycles} cycles in the budget"
    assert (figures.lost, figures.duplicated, figures.unexpected) == (0, 0, 0)
    assert figures.killed_mid_run >= min_mid_run * figures.cycles, figures.report()


def test_crash_drill_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A few cycles on small inputs, for the default suite."""
    plan = Plan(cycles=4, budget_s=150, batch_size=100, cycles_per_registry=4, small=((120, 7),))
    figures = run_drill(tmp_path, plan)
    with capsys.disabled():
        print(figures.report())
    _check(figures, plan.cycles, min_mid_run=0.5)


@pytest.mark.drill
def test_crash_drill_full(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """At least DRILL_CYCLES (50) cycles within DRILL_BUDGET_SECONDS, some with the worker."""
    cycles = int(os.environ.get("DRILL_CYCLES", "50"))
    plan = Plan(
        cycles=cycles,
        budget_s=float(os.environ.get("DRILL_BUDGET_SECONDS", "600")),
        batch_size=1000,
        cycles_per_registry=3,
        small=((600, 1), (750, 2)),
        large=((2600, 3),),
        large_every=5,
    )
    figures = run_drill(tmp_path, plan)
    with capsys.disabled():
        print(figures.report())
    _check(figures, cycles, min_mid_run=0.8)
    assert figures.partial >= cycles // 4, "too few kills landed between two batch commits"
