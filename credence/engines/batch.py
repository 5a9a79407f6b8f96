"""The `duckdb` engine: the compiled rulebook over a Parquet snapshot, one bucket group at a time.

Memory is bounded whatever the registry's size: the snapshot is split into
hash buckets of subjects (`snapshot`), buckets are gathered into groups of
about `group_bytes` of Parquet, and groups are scored one after another;
within a group DuckDB keeps to `memory_limit` and spills beyond it to a
temporary directory of this process's own (`connect`). So a bigger registry
takes longer, not more memory: 200 million records in 128 buckets score in
under 8 GB (benchmarks/bench_scale.py). The Spark engine reads the same
bucket files (`Snapshot.bucket_glob`), so its partitions are these buckets.

`write_jsonl` is the batch path (`credence score --engine duckdb`): per
group, one fused DuckDB pass over the records (`fused`: held, points,
capped totals and ranked reasons aggregated per subject straight off the
Parquet scan, grouped by the subject's number and not its text, no
per-record table), a second scan of the few records lists look at, then
every subject's JSON line is written from the per-subject columns, in C
where it is built (`batch_json`, `line_writer`), so no Python runs per
subject. `run`/`run_buckets` still
give `Assessment` objects through the same Python as the store engine
(`merge`), from `sqlgen`'s steps materialised one by one, for `simulate`
and the tests.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from credence.core.assessment import Assessment
from credence.core.cutoffs import compute_cutoffs
from credence.core.ids import SubjectKind
from credence.core.rulebook import Rulebook
from credence.engines.batch_json import JsonLines, OutcomeCount, WriteLines
from credence.engines.errors import SnapshotError
from credence.engines.fused import FusedProgram, GroupTables, kind_table
from credence.engines.merge import merge_results
from credence.engines.snapshot import Snapshot
from credence.engines.sqlgen import compile_program

BucketDone = Callable[[int, int], None]  # (buckets done, buckets)
_EMPTY_CORRECTIONS = (
    "SELECT CAST(NULL AS BIGINT) AS seq, CAST(NULL AS BIGINT) AS corrects_seq WHERE FALSE"
)


@dataclass
class JsonRun:
    """What `write_jsonl` wrote: how many lines, and the outcome counts of each group."""

    assessed: int = 0
    outcomes: list[OutcomeCount] = field(default_factory=list)


@dataclass
class BatchTimings:
    """Where a batch run spent its time (seconds), for the benchmark and the report.

    In `write_jsonl`, `sql` (a thread running each group's SQL) and `assemble`
    (sorting, numbering and writing the lines) overlap: their sum exceeds the run."""

    sql: float = 0.0
    assemble: float = 0.0
    buckets: int = 0
    subjects: int = 0
    per_group: list[float] = field(default_factory=list)


def connect(memory_limit: str = "3GB", threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with bounded memory: beyond it, it spills to a temp directory;
    Parquet footers cached for the connection's life.

    The directory is this process's own under the system temp directory (an
    in-memory DuckDB would otherwise spill into `.tmp` under wherever it was
    started); DuckDB removes what it wrote there when the connection closes.
    """
    spill = Path(tempfile.gettempdir()) / f"credence-duckdb-{os.getpid()}"
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        "temp_directory": str(spill),
    }
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    con.execute("SET enable_progress_bar = false")  # the engine reports progress by bucket group
    # A bucket group's files are read by several queries (the aggregate, the listings' scan,
    # the numbering twice): their footers parsed once, not once a query (a tenth of the run).
    # The files do not change under a run: it holds the snapshot's lock (`snapshot_lock`).
    con.execute("SET parquet_metadata_cache = true")
    return con


class BatchEngine:
    """Assess every subject in a snapshot with DuckDB."""

    def __init__(
        self,
        snapshot: Snapshot,
        rulebook: Rulebook,
        as_of: dt.date,
        known_size: int | None = None,
        memory_limit: str = "3GB",
        group_bytes: int = 256 * 1024 * 1024,
        ledger: dict[str, Any] | None = None,
        suppressed: Sequence[tuple[int, int]] = (),
    ) -> None:
        self.snapshot = snapshot
        # (entry seq, record seq) of records suppressed by due process, read from the store
        # (a small table) and counted as corrections, as the store engine does.
        self.suppressed = list(suppressed)
        self.group_bytes = group_bytes
        self.rulebook = rulebook
        self.as_of = as_of
        self.known_size = known_size
        self.ledger = ledger
        self.subjects_held = 0  # subjects with any record known, counted as buckets are read
        cutoffs = compute_cutoffs(rulebook, as_of)
        self.program = compile_program(rulebook, cutoffs, "duckdb", known_size=known_size)
        self.fused = FusedProgram(rulebook, cutoffs, known_size, max_seq=snapshot.size)
        self.memory_limit = memory_limit
        self.timings = BatchTimings()

    def _steps(self, con: duckdb.DuckDBPyConnection, buckets: list[int]) -> None:
        """Materialise the program's steps over `records` = these buckets."""
        self._records(con, buckets)
        for name, sql in self.program.steps:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        # A subject's records are all in one bucket, so the per-group counts add up exactly.
        held = con.execute(self.program.subjects).fetchone()
        self.subjects_held += int(held[0]) if held else 0

    def _fused(
        self,
        con: duckdb.DuckDBPyConnection,
        buckets: list[int],
        corrected: bool,
        tables: GroupTables,
    ) -> None:
        """The fused pass over `records` = these buckets: `tables.f`, one row per subject,
        and `tables.numbering`, the view of their numbers (tables a cursor can read)."""
        self._records(con, buckets)
        self._kind_records(con, buckets)
        files = ", ".join(f"'{self.snapshot.subjects_glob(b)}'" for b in buckets)
        con.execute(
            f"CREATE OR REPLACE VIEW {tables.numbering} AS SELECT * FROM read_parquet([{files}])"
        )
        con.execute(f"CREATE OR REPLACE TABLE {tables.f} AS {self.fused.aggregate(corrected)}")
        held = con.execute(f"SELECT count(*) FROM {tables.f}").fetchone()
        self.subjects_held += int(held[0]) if held else 0

    def _kind_records(self, con: duckdb.DuckDBPyConnection, buckets: list[int]) -> None:
        """A view of these buckets' records a kind of subject (`fused.kind_table`): the
        files of that kind (`Snapshot.kind_files`), or none (an empty view)."""
        for bucket in buckets:
            stray = self.snapshot.unkinded_files(bucket)
            if stray:
                raise SnapshotError(
                    f"snapshot file {stray[0]} is not named for a kind of subject: "
                    "not a snapshot of this version (export it again)"
                )
        for kind in SubjectKind:
            found = [f for b in buckets for f in self.snapshot.kind_files(b, kind)]
            source = (
                "read_parquet([" + ", ".join(f"'{f}'" for f in found) + "])"
                if found
                else "records WHERE false"
            )
            con.execute(f"CREATE OR REPLACE TEMP VIEW {kind_table(kind)} AS SELECT * FROM {source}")

    def _records(self, con: duckdb.DuckDBPyConnection, buckets: list[int]) -> None:
        files = ", ".join(f"'{self.snapshot.bucket_glob(b)}'" for b in buckets)
        con.execute(f"CREATE OR REPLACE TEMP VIEW records AS SELECT * FROM read_parquet([{files}])")

    def _corrected(self, con: duckdb.DuckDBPyConnection) -> bool:
        """`corrected`: seqs corrected (within the known size), `rules`, `frules`; any corrected?"""
        known = f" AND seq < {int(self.known_size)}" if self.known_size is not None else ""
        con.execute(
            "CREATE OR REPLACE TEMP TABLE corrected AS SELECT DISTINCT corrects_seq AS seq "
            f"FROM corrections WHERE corrects_seq IS NOT NULL{known}"
        )
        for name, sql in self.program.steps:
            if name == "rules":
                con.execute(f"CREATE OR REPLACE TEMP TABLE rules AS {sql}")
                con.execute(f"CREATE OR REPLACE TEMP TABLE frules AS {self.fused.rules()}")
        found = con.execute("SELECT count(*) FROM corrected").fetchone()
        return bool(found and found[0])

    def _bucket_rows(
        self, con: duckdb.DuckDBPyConnection, buckets: list[int]
    ) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
        self._steps(con, buckets)
        scores = con.execute(self.program.scores + " ORDER BY 1").fetchall()
        listings: list[tuple[object, ...]] = []
        reasons: list[tuple[object, ...]] = []
        if self.program.listings:
            listings = con.execute(self.program.listings + " ORDER BY 1").fetchall()
        if self.program.reasons:
            reasons = con.execute(self.program.reasons + " ORDER BY 1").fetchall()
        return scores, listings, reasons

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """A connection holding `corrections`: every bucket's, and the suppressed records."""
        con = connect(self.memory_limit)
        corrections = (
            f"SELECT seq, corrects_seq FROM read_parquet('{self.snapshot.corrections_glob}')"
            if self.snapshot.has_corrections
            else _EMPTY_CORRECTIONS
        )
        con.execute(f"CREATE TEMP TABLE corrections AS {corrections}")
        if self.suppressed:
            con.executemany("INSERT INTO corrections VALUES (?, ?)", self.suppressed)
        return con

    def write_jsonl(self, sink: BinaryIO, progress: BucketDone | None = None) -> JsonRun:
        """Write every assessment's JSON line to `sink`; what was written.

        The lines are those `orjson.dumps(assessment.to_dict())` gives for
        `run()`'s assessments, in the same order (bucket groups, then subject).
        A thread runs each group's SQL (the aggregate, the listings) while this
        one reads the group before's subjects through a cursor and writes their
        lines: DuckDB works on both cores for the SQL, and the writing (sorting,
        the C writer, the file) would otherwise leave one idle. Reading the
        subjects here rather than in that thread took a sixth off its path.
        """
        lines = JsonLines(self.rulebook, self.as_of, self.known_size, self.ledger)
        result = JsonRun()
        con = self._connect()
        try:
            corrected = self._corrected(con)
            groups = self.snapshot.groups(self.group_bytes)

            def prepare(index: int) -> WriteLines:
                started = time.perf_counter()
                group, tables = groups[index], GroupTables.slot(index)
                self._fused(con, group, corrected, tables)
                finish = lines.prepare_lines(con, self.fused, corrected, tables)
                took = time.perf_counter() - started
                self.timings.sql += took
                self.timings.per_group.append(took)
                self.timings.buckets += len(group)
                return finish

            def write(finish: WriteLines) -> None:
                started = time.perf_counter()
                counts = finish(sink)
                result.assessed += sum(c.subjects for c in counts)
                result.outcomes.extend(counts)
                self.timings.assemble += time.perf_counter() - started

            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="credence-sql") as sql:
                ahead = sql.submit(prepare, 0) if groups else None
                for index in range(len(groups)):
                    assert ahead is not None
                    finish = ahead.result()
                    if index + 1 < len(groups):
                        ahead = sql.submit(prepare, index + 1)
                    write(finish)
                    if progress:
                        progress(index + 1, len(groups))
        finally:
            con.close()
        self.timings.subjects = result.assessed
        return result

    def run_buckets(
        self, progress: BucketDone | None = None
    ) -> Iterator[tuple[int, list[Assessment]]]:
        """Each group of buckets' assessments (in subject order), group by group."""
        con = self._connect()
        try:
            groups = self.snapshot.groups(self.group_bytes)
            for index, group in enumerate(groups):
                started = time.perf_counter()
                scores, listings, reasons = self._bucket_rows(con, group)
                took = time.perf_counter() - started
                self.timings.sql += took
                self.timings.per_group.append(took)
                started = time.perf_counter()
                found = list(
                    merge_results(
                        self.rulebook,
                        scores,
                        listings,
                        reasons,
                        self.as_of,
                        self.known_size,
                        self.ledger,
                    )
                )
                self.timings.subjects += len(found)
                self.timings.assemble += time.perf_counter() - started
                self.timings.buckets += len(group)
                yield index, found
                if progress:
                    progress(index + 1, len(groups))
        finally:
            con.close()

    def run(self, progress: BucketDone | None = None) -> Iterator[Assessment]:
        """Every assessment, bucket by bucket (subject order within each bucket)."""
        for _, found in self.run_buckets(progress):
            yield from found
