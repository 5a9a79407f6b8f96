"""The `spark` engine: the compiled rulebook on PySpark, over the Parquet snapshot.

The same program the store and DuckDB engines run (`sqlgen`, transpiled to
Spark's dialect), over `records` = the snapshot's Parquet and `corrections`
= its correction links plus the records suppressed by due process. Each
step becomes a temporary view; `held` and `contributions`, read several
times, are persisted (memory, then disk). Spark reads the snapshot's bucket
directories as they are: every Parquet file is one input partition (see
`spark_session`), so an input partition holds one bucket's subjects, and
the `bucket` column Spark discovers from the directory names is the
snapshot's. The lines are built by Spark SQL (`spark_json`) and written by
the executors; only the outcome counts and the distinct listing days reach
the driver.

Output: JSON lines (one file, in subject order: Spark writes part files
next to it, which are then joined in order) or Parquet (a directory of
part files with `subject`, `kind`, `score`, `grade` and `assessment`, the
same JSON text as the line).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from credence.core.cutoffs import compute_cutoffs
from credence.core.rulebook import Rulebook
from credence.engines.batch_json import OutcomeCount
from credence.engines.spark_json import SparkLines
from credence.engines.spark_snapshot import SparkInput
from credence.engines.sqlgen import compile_program

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FORMATS = ("jsonl", "parquet")
_RECORDS = (
    "seq bigint, subject string, item string, occurred_on string, decided_on string, "
    "attributes string, corrects_seq bigint, bucket int"
)
_CORRECTIONS = "seq bigint, corrects_seq bigint"


@dataclass
class SparkRun:
    """What a run wrote and what it took (seconds), for the summary and the benchmark."""

    assessed: int = 0
    subjects_held: int = 0
    outcomes: list[OutcomeCount] = field(default_factory=list)
    seconds: float = 0.0


class SparkEngine:
    """Assess every subject of a snapshot with Spark."""

    def __init__(
        self,
        spark: SparkSession,
        source: SparkInput,
        rulebook: Rulebook,
        as_of: dt.date,
        known_size: int | None = None,
    ) -> None:
        self.spark = spark.newSession()  # its own temporary views; the same Spark context
        self.source = source
        self.rulebook = rulebook
        self.as_of = as_of
        self.known_size = known_size
        self.program = compile_program(
            rulebook, compute_cutoffs(rulebook, as_of), "spark", known_size=known_size
        )

    def _records(self) -> DataFrame:
        files = self.source.record_files()
        if not files:
            return self.spark.createDataFrame([], _RECORDS)
        return (
            self.spark.read.option("basePath", str(self.source.records_dir))
            .parquet(*(str(f) for f in files))
            .select(*[c.split()[0] for c in _RECORDS.split(", ")])
        )

    def _corrections(self) -> DataFrame:
        held = self.spark.createDataFrame(list(self.source.suppressed), _CORRECTIONS)
        files = self.source.correction_files()
        if not files:
            return held
        links = self.spark.read.parquet(*(str(f) for f in files)).select("seq", "corrects_seq")
        return links.unionByName(held)

    def _prepare(self, lines: SparkLines) -> None:
        """Register `records`, `corrections` and every step of the program as views."""
        self._records().createOrReplaceTempView("records")
        # Correction links are few beside the records: every task gets all of them.
        self._corrections().hint("broadcast").createOrReplaceTempView("corrections")
        for name, sql in self.program.steps:
            lines.view(name, sql, keep=name in ("held", "contributions"))

    def subjects_held(self) -> int:
        """Subjects with any record known, whether or not it counts (the summary's total)."""
        self._records().createOrReplaceTempView("records")
        row = self.spark.sql(self.program.subjects).collect()[0]
        return int(row[0])

    def write(
        self,
        out: Path | None,
        fmt: str = "jsonl",
        ledger: dict[str, object] | None = None,
        sink: BinaryIO | None = None,
    ) -> SparkRun:
        """Score everyone and write the result to `out` (or `sink` for JSON lines)."""
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        started = time.perf_counter()
        lines = SparkLines(
            self.spark, self.rulebook, self.program, self.as_of, self.known_size, ledger
        )
        try:
            self._prepare(lines)
            frame, outcomes = lines.lines()
            if fmt == "parquet":
                if out is None:
                    raise ValueError("Parquet output needs a directory (--out DIR)")
                _write_parquet(frame, out)
            else:
                _write_jsonl(frame, out, sink)
            run = SparkRun(outcomes=outcomes, subjects_held=self.subjects_held())
        finally:
            lines.release()
        run.assessed = sum(o.subjects for o in run.outcomes)
        run.seconds = time.perf_counter() - started
        return run


def _write_parquet(frame: DataFrame, out: Path) -> None:
    tmp = out.with_name(out.name + ".tmp")
    frame.withColumnRenamed("line", "assessment").write.mode("overwrite").parquet(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)


def _write_jsonl(frame: DataFrame, out: Path | None, sink: BinaryIO | None) -> None:
    """Spark writes sorted part files beside `out`; they are joined in order, streamed."""
    if out is None:
        scratch: Path | None = Path(tempfile.mkdtemp(prefix="credence-spark-"))
        parts = Path(str(scratch)) / "parts"
    else:
        scratch = None
        parts = out.with_name(f".{out.name}.parts")
        shutil.rmtree(parts, ignore_errors=True)
    frame.select("line").write.mode("overwrite").text(str(parts))
    try:
        files = sorted(parts.glob("part-*"))
        if out is not None:
            tmp = out.with_name(out.name + ".tmp")
            with tmp.open("wb") as target:
                _join(files, target)
            tmp.replace(out)
        else:
            assert sink is not None
            _join(files, sink)
    finally:
        shutil.rmtree(scratch or parts, ignore_errors=True)


def _join(files: Sequence[Path], target: BinaryIO) -> None:
    for part in files:
        with part.open("rb") as fh:
            shutil.copyfileobj(fh, target, 1 << 20)
