"""Scoring as a service: pick the rulebook, the engine and the point in time, then run.

Commands (and later the API) call these functions rather than the engines,
so "which records count on which day" is decided in one place:

- `as_of` is the day ages, publicity and list durations are measured on;
  records dated after it do not count. Default: today.
- `known_at` limits the records to those the ledger had signed by the end of
  that day (from the tree heads), so a past decision can be recomputed
  exactly. Default: everything the registry holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from credence.core.assessment import Assessment
from credence.core.ids import SubjectKind
from credence.core.rulebook import Rulebook, load_rulebook, resolve_rulebook_path
from credence.core.simulate import Simulation
from credence.engines.batch import BatchEngine
from credence.engines.batch_json import OutcomeCount
from credence.engines.errors import SnapshotError
from credence.engines.snapshot import Snapshot, ensure_snapshot, snapshot_lock
from credence.engines.snapshot_check import check_snapshot
from credence.engines.snapshot_state import mac_key
from credence.engines.spark_snapshot import SparkInput
from credence.engines.store import StoreEngine
from credence.scoring.heads import snapshot_head, store_head
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.schema import records, suppressions

ENGINES = ("sql", "duckdb", "spark")
# kind, grade, (list, colour) entered, measures: what a summary counts subjects by
OutcomeKey = tuple[SubjectKind, str | None, tuple[tuple[str, str], ...], tuple[str, ...]]
DEFAULT_RULEBOOK = "gov-default"


@dataclass(frozen=True)
class When:
    """The point in time an assessment speaks for."""

    as_of: dt.date
    known_at: dt.date | None = None


def open_rulebook(registry: Registry, name_or_file: str | None) -> Rulebook:
    """A preset name or a YAML path, validated against the registry's catalogue; None
    is the live rulebook (the latest published, else gov-default), so that the CLI
    scores and explains under the rules the service answers with."""
    if name_or_file is None:
        from credence.service.rulebooks import live

        return live(registry)
    return load_rulebook(resolve_rulebook_path(name_or_file), registry.catalogue)


@dataclass
class Tally:
    """What a run learns besides its assessments; complete once they have all been read.

    `subjects_held` counts every subject with any record known (as of `known_at`):
    those the run did not assess had no record counting under the rulebook.
    """

    ledger: dict[str, Any] | None = None
    subjects_held: int = 0


def known_size(registry: Registry, when: When) -> int | None:
    return registry.size_known_at(when.known_at) if when.known_at else None


def records_held(registry: Registry, subject: str, when: When) -> int:
    """How many records (of any item, counting or not) the registry holds about `subject`."""
    query = sa.select(sa.func.count()).where(records.c.subject == subject)
    size = known_size(registry, when)
    if size is not None:
        query = query.where(records.c.seq < size)
    with registry.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def assess_one(registry: Registry, rulebook: Rulebook, subject: str, when: When) -> Assessment:
    """One subject on the store (the engine behind checks, explain and the portal)."""
    size = known_size(registry, when)
    head = store_head(registry, size)
    with StoreEngine(registry.engine, rulebook, when.as_of, size, head) as eng:
        return eng.assess(subject)


def assess_all(
    registry: Registry,
    settings: Settings,
    rulebook: Rulebook,
    when: When,
    engine: str = "duckdb",
    progress: Callable[[str, int, int], None] | None = None,
    tally: Tally | None = None,
) -> Iterator[Assessment]:
    """Every subject with a record counting under `rulebook`, by the chosen engine."""
    tally = tally if tally is not None else Tally()
    size = known_size(registry, when)
    if engine == "sql":
        tally.ledger = store_head(registry, size)
        with StoreEngine(registry.engine, rulebook, when.as_of, size, tally.ledger) as eng:
            yield from eng.assess_all()
            tally.subjects_held = eng.subjects_held()
        return
    if engine != "duckdb":  # the spark engine writes lines only (`score_spark`)
        raise ValueError(f"assessments one by one come from sql or duckdb, not {engine!r}")
    with snapshot_lock(settings.snapshot_dir):
        batch = _batch_engine(registry, settings, rulebook, when, size, tally, progress)
        yield from batch.run(
            progress=(lambda done, total: progress("score", done, total)) if progress else None
        )
        tally.subjects_held = batch.subjects_held


def score_jsonl(
    registry: Registry,
    settings: Settings,
    rulebook: Rulebook,
    when: When,
    out: Path | None,
    engine: str = "duckdb",
    progress: Callable[[str, int, int], None] | None = None,
    tally: Tally | None = None,
) -> list[OutcomeCount]:
    """Every subject's JSON line to `out` (atomically) or stdout; the outcomes, counted.

    On DuckDB the lines are built by the database (`BatchEngine.write_jsonl`),
    with no Python per subject; on the store, assessment by assessment. The
    lines are the same either way (the cross-engine tests compare them).
    """
    tally = tally if tally is not None else Tally()
    if engine == "spark":
        return score_spark(registry, settings, rulebook, when, out, "jsonl", progress, tally)
    if engine != "duckdb":
        found: dict[OutcomeKey, int] = {}

        def each(a: Assessment) -> None:
            key = (a.kind, a.grade, tuple((x.list, x.colour) for x in a.lists), a.measures)
            found[key] = found.get(key, 0) + 1

        write_jsonl(
            assess_all(registry, settings, rulebook, when, engine, progress, tally), out, each
        )
        return [OutcomeCount(k, g, ls, ms, n) for (k, g, ls, ms), n in found.items()]
    size = known_size(registry, when)
    with snapshot_lock(settings.snapshot_dir):
        batch = _batch_engine(registry, settings, rulebook, when, size, tally, progress)
        tick = (lambda done, total: progress("score", done, total)) if progress else None
        if progress:
            progress("score", 0, -1)
        tmp = out.with_name(out.name + ".tmp") if out else None
        with tmp.open("wb") if tmp else contextlib.nullcontext(sys.stdout.buffer) as sink:
            run = batch.write_jsonl(sink, tick)
        if tmp and out:
            tmp.replace(out)
        tally.subjects_held = batch.subjects_held
    return run.outcomes


def score_spark(
    registry: Registry,
    settings: Settings,
    rulebook: Rulebook,
    when: When,
    out: Path | None,
    fmt: str = "jsonl",
    progress: Callable[[str, int, int], None] | None = None,
    tally: Tally | None = None,
) -> list[OutcomeCount]:
    """Every subject scored by Spark over the verified snapshot, written as `fmt` to `out`."""
    tally = tally if tally is not None else Tally()
    size = known_size(registry, when)
    if progress:
        progress("snapshot", 0, -1)
    with snapshot_lock(settings.snapshot_dir):
        snapshot = verified_snapshot(
            registry,
            settings,
            progress=(lambda done, total: progress("snapshot", done, total)) if progress else None,
            proving=(
                (lambda done, total: progress("prove snapshot", done, total)) if progress else None
            ),
        )
        tally.ledger = snapshot_head(snapshot) if size is None else store_head(registry, size)
        held = tuple(suppressed(registry))
        source = SparkInput(snapshot.path, snapshot.buckets, tally.ledger, held)
        return score_spark_input(settings, source, rulebook, when.as_of, size, out, fmt, tally)


def score_spark_input(
    settings: Settings,
    source: SparkInput,
    rulebook: Rulebook,
    as_of: dt.date,
    size: int | None,
    out: Path | None,
    fmt: str,
    tally: Tally,
) -> list[OutcomeCount]:
    """Spark over `source` (the data directory's snapshot or an export), on the set master."""
    from credence.engines.spark import SparkEngine
    from credence.engines.spark_session import spark_session

    spark = spark_session(
        settings.spark_master, settings.spark_driver_memory, shuffle_partitions=source.buckets
    )
    engine = SparkEngine(spark, source, rulebook, as_of, size)
    sink = None if out else sys.stdout.buffer
    run = engine.write(out, fmt, source.ledger, sink)
    tally.ledger = source.ledger
    tally.subjects_held = run.subjects_held
    return run.outcomes


def _batch_engine(
    registry: Registry,
    settings: Settings,
    rulebook: Rulebook,
    when: When,
    size: int | None,
    tally: Tally,
    progress: Callable[[str, int, int], None] | None,
) -> BatchEngine:
    """The DuckDB engine over the verified snapshot (exported and proved first, each a
    progress stage that starts its clock when it starts); notes the head in `tally`."""
    if progress:
        progress("snapshot", 0, -1)  # started; its total comes with its first tick
    snapshot = verified_snapshot(
        registry,
        settings,
        progress=(lambda done, total: progress("snapshot", done, total)) if progress else None,
        proving=(lambda done, total: progress("prove snapshot", done, total)) if progress else None,
    )
    tally.ledger = snapshot_head(snapshot) if size is None else store_head(registry, size)
    return BatchEngine(
        snapshot,
        rulebook,
        when.as_of,
        size,
        settings.duckdb_memory_limit,
        ledger=tally.ledger,
        suppressed=suppressed(registry),
    )


def suppressed(registry: Registry) -> list[tuple[int, int]]:
    """(entry seq, record seq) of every record suppressed by due process, for the batch engine."""
    with registry.engine.connect() as conn:
        rows = conn.execute(sa.select(suppressions.c.seq, suppressions.c.record_seq)).all()
    return [(int(a), int(b)) for a, b in rows]


def verified_snapshot(
    registry: Registry,
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
    proving: Callable[[int, int], None] | None = None,
) -> Snapshot:
    """The batch snapshot, brought up to date and proved to be the ledger at its head.

    `progress` hears the export's rows; `proving` hears the proof start (0, -1: total not
    yet known) and end (1, 1), so a progress bar's clock covers it too.

    Raises SnapshotError (scoring stops) when a row was changed, added or
    removed behind the system's back; the snapshot is derived data, so the
    remedy is to delete it and let the next run rebuild it from the ledger.
    """
    # Held by the caller too, while it reads the rows proved here (the same thread may nest).
    with snapshot_lock(settings.snapshot_dir):
        snapshot = ensure_snapshot(
            registry.engine, settings.snapshot_dir, settings.score_buckets, progress=progress
        )
        key = registry.signing_key()
        if proving:
            proving(0, -1)
        try:
            check_snapshot(
                snapshot, registry.engine, registry.subject_key(), key.public_key(), mac_key(key)
            )
        except SnapshotError as exc:
            raise SnapshotError(
                f"{exc}; refusing to score it (delete {snapshot.path} to rebuild it from the "
                "ledger, and run `credence verify`)"
            ) from None
        if proving:
            proving(1, 1)
        return snapshot


def integrity_problems(registry: Registry) -> list[str]:
    """What the cheap integrity checks find (empty: none), under the signing key file."""
    from credence.store.integrity import quick_check

    return quick_check(registry, registry.signing_key().public_key())[1]


def write_jsonl(
    assessments: Iterator[Assessment],
    out: Path | None,
    each: Callable[[Assessment], None] | None = None,
) -> int:
    """Write one JSON object per line to `out` (atomically) or stdout; return how many.

    `each` sees every assessment as it is written, for counts and examples.
    """
    tmp = out.with_name(out.name + ".tmp") if out else None
    count = 0
    with tmp.open("wb") if tmp else contextlib.nullcontext(sys.stdout.buffer) as sink:
        for assessment in assessments:
            sink.write(orjson.dumps(assessment.to_dict()) + b"\n")
            if each:
                each(assessment)
            count += 1
    if tmp and out:
        tmp.replace(out)
    return count


def simulate(
    registry: Registry,
    settings: Settings,
    current: Rulebook,
    proposed: Rulebook,
    when: When,
    engine: str = "duckdb",
    progress: Callable[[str, int, int], None] | None = None,
) -> Simulation:
    """Assess everyone under both rulebooks and count what would change."""
    size = known_size(registry, when)
    if engine == "sql":
        result = Simulation(ledger=store_head(registry, size))
        with (
            StoreEngine(registry.engine, current, when.as_of, size, result.ledger) as old,
            StoreEngine(registry.engine, proposed, when.as_of, size, result.ledger) as new,
        ):
            result.add_all(list(old.assess_all()), list(new.assess_all()))
        return result
    with snapshot_lock(settings.snapshot_dir):
        return _simulate_batch(registry, settings, current, proposed, when, size, progress)


def _simulate_batch(
    registry: Registry,
    settings: Settings,
    current: Rulebook,
    proposed: Rulebook,
    when: When,
    size: int | None,
    progress: Callable[[str, int, int], None] | None,
) -> Simulation:
    """`simulate` on DuckDB over the verified snapshot (the caller holds it)."""
    snapshot = verified_snapshot(registry, settings)
    result = Simulation(
        ledger=snapshot_head(snapshot) if size is None else store_head(registry, size)
    )
    limit = settings.duckdb_memory_limit
    held = suppressed(registry)
    old_run = BatchEngine(
        snapshot, current, when.as_of, size, limit, ledger=result.ledger, suppressed=held
    )
    new_run = BatchEngine(
        snapshot, proposed, when.as_of, size, limit, ledger=result.ledger, suppressed=held
    )
    tick = (lambda done, total: progress("simulate", done, total)) if progress else None
    for (_, old_found), (_, new_found) in zip(
        old_run.run_buckets(), new_run.run_buckets(tick), strict=True
    ):
        result.add_all(old_found, new_found)
    return result
