"""The Spark engine's JSON lines, built by Spark SQL: no Python per subject.

The same decisions as the DuckDB engine's `batch_json`, in Spark's SQL
(which has no `arg_min(..., n)`, `REPLACE` or `string_agg`, and reads
backslashes in string literals as escapes), so a subject's line is byte for
byte what `orjson.dumps(assessment.to_dict())` writes. Python decides what
depends on the rulebook's logic once per distinct value, on the driver:

- the outcome (grade, lists entered by score or grade, measures) per
  distinct (kind, score, record lists): a few hundred keys, collected,
  computed by `assessment.outcome_for` and broadcast back;
- a listing's end per distinct (list, start, extension), likewise.

Only those small distinct sets ever reach the driver. Text from outside
the rulebook (subjects, item codes) is quoted by Spark's own JSON writer
(`to_json`), which escapes as orjson does for every character but the
control characters that validated subjects and catalogue codes cannot hold.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import orjson

from credence.core.assessment import MAX_REASONS, ListingRow, listing_end
from credence.core.ids import SubjectKind
from credence.core.rulebook import Rulebook
from credence.engines.batch_json import OutcomeCount, outcome_pieces
from credence.engines.sqlgen import Program

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_OK = "o"  # separator inside an outcome key (kind, score, record lists)


def slit(text: str) -> str:
    """A Spark SQL string literal: backslash and quote escaped with a backslash.

    (Spark reads `'a''b'` as two adjacent literals, `ab`, so SQL's doubled
    quote must not be used.)
    """
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _js(column: str) -> str:
    """A column's value as a JSON string, quoted and escaped by Spark's JSON writer."""
    wrapped = f"to_json(named_struct('v', {column}))"  # {"v":"..."}
    return f"substring({wrapped}, 6, length({wrapped}) - 6)"


def _kind(column: str) -> str:
    return f"CASE WHEN {column} LIKE 'ric:%' THEN 'person' ELSE 'organisation' END"


def _joined(values: str, each: str) -> str:
    """`values` (an array) sorted ascending, each turned to text by `each` (on `x`), joined."""
    return f"concat_ws(',', transform(array_sort({values}), x -> {each}))"


class SparkLines:
    """The Spark SQL (and the few Python look-ups) that turn the steps into JSON lines."""

    def __init__(
        self,
        spark: SparkSession,
        rulebook: Rulebook,
        program: Program,
        as_of: dt.date,
        known_size: int | None,
        ledger: dict[str, Any] | None,
    ) -> None:
        self.spark = spark
        self.rb = rulebook
        self.program = program
        tail = {
            "rulebook": rulebook.ref,
            "catalogue": rulebook.catalogue.ref,
            "ledger": ledger,
            "as_of": as_of.isoformat(),
            "known_size": known_size,
        }
        self.tail = _json(tail)[1:]  # `"rulebook":...}`: the same for every line of the run
        self.names = list(rulebook.lists)
        self.record_lists = [n for n, lst in rulebook.lists.items() if lst.by_record]
        self.score_lists = [n for n, lst in rulebook.lists.items() if not lst.by_record]
        self.scored = [k for k in SubjectKind if rulebook.scores(k)]
        self.kept: list[DataFrame] = []  # persisted here: unpersisted by `release`

    def view(self, name: str, sql: str, keep: bool = False) -> DataFrame:
        """Register `sql` as the temporary view `name` (persisted if `keep`: read again)."""
        frame = self.spark.sql(sql)
        if keep:
            frame = frame.persist()
            self.kept.append(frame)
        frame.createOrReplaceTempView(name)
        return frame

    def release(self) -> None:
        for frame in self.kept:
            frame.unpersist()
        self.kept.clear()

    # --- per subject: lists, reasons, score as kept ---------------------------------------------

    def _listing_ends(self) -> None:
        rows = self.spark.sql("SELECT DISTINCT list, start, extension FROM j_listings").collect()
        ends = [
            (
                str(n),
                str(s),
                int(e),
                listing_end(
                    self.rb, self.rb.lists[str(n)], ListingRow(str(n), 0, str(s), int(e))
                ).isoformat(),
            )
            for n, s, e in rows
        ]
        schema = "list string, start string, extension bigint, until string"
        self.spark.createDataFrame(ends, schema).createOrReplaceTempView("j_ends")

    def _lists(self) -> None:
        if not self.record_lists:
            self.view("j_lists", "SELECT CAST(NULL AS STRING) AS subject, '' AS reclists LIMIT 0")
            return
        assert self.program.listings is not None
        self.view("j_listings", self.program.listings, keep=True)
        self._listing_ends()
        position = " ".join(f"WHEN {slit(n)} THEN {self.names.index(n)}" for n in self.names)
        columns = []
        for n in self.record_lists:
            colour = self.rb.lists[n].spec.colour
            head = '{"list":' + _json(n) + ',"colour":' + _json(colour) + ',"since":"'
            columns.append(
                f"max(CASE WHEN list = {slit(n)} THEN concat({slit(head)}, since, "
                '\'","until":"\', until, \'","records":[\', recs, \']}\') END) '
                f"AS rec_{self.names.index(n)}"
            )
        recs = _joined("collect_list(l.seq)", "CAST(x AS STRING)")
        self.view(
            "j_lists",
            f"SELECT subject, {_joined('collect_list(pos)', 'CAST(x AS STRING)')} AS reclists, "
            f"{', '.join(columns)} FROM (SELECT l.subject, l.list, CASE l.list {position} END "
            f"AS pos, min(l.start) AS since, max(e.until) AS until, {recs} AS recs "
            "FROM j_listings l JOIN j_ends e ON e.list = l.list AND e.start = l.start "
            "AND e.extension = l.extension GROUP BY l.subject, l.list) g GROUP BY subject",
        )

    def _reasons(self) -> None:
        if self.program.reasons is None:
            self.view(
                "j_reasons",
                "SELECT CAST(NULL AS STRING) AS subject, '' AS reasons, "
                "CAST(0 AS BIGINT) AS counted LIMIT 0",
            )
            return
        # Sorted by (-|points|, seq), the store's ranking, then the first MAX_REASONS kept.
        ranked = (
            "slice(array_sort(collect_list(named_struct('k', -abs(points), 'seq', seq, "
            f"'item', item, 'start', start, 'points', points))), 1, {MAX_REASONS})"
        )
        each = (
            "concat('{\"seq\":', CAST(x.seq AS STRING), ',\"item\":', "
            + _js("x.item")
            + ", ',\"date\":\"', x.start, '\",\"points\":', CAST(x.points AS STRING), '}')"
        )
        self.view(
            "j_reasons",
            f"SELECT subject, concat_ws(',', transform({ranked}, x -> {each})) AS reasons, "
            "count(*) AS counted FROM contributions WHERE points <> 0 GROUP BY subject",
        )

    def _score(self) -> str:
        if len(self.scored) == len(SubjectKind):
            return "s.score"
        if not self.scored:
            return "CAST(NULL AS BIGINT)"
        return f"CASE WHEN {_kind('s.subject')} = {slit(self.scored[0].value)} THEN s.score END"

    def _limits(self) -> str:
        """The caps and scale ends that changed the score (`assessment.score_limits`)."""
        spec = self.rb.score
        if spec is None:
            return "''"
        parts = []
        for i, (area, cap) in enumerate(spec.caps.items()):
            head = '{"rule":"cap","area":' + _json(area.value) + ',"at":'
            whens = []
            for test, bound in (("<", cap.min), (">", cap.max)):
                if bound is not None:
                    text = slit(f'{head}{bound},"not_counted":')
                    whens.append(
                        f"WHEN cut_{i} {test} 0 THEN concat({text}, CAST(cut_{i} AS STRING), '}}')"
                    )
            if whens:
                parts.append(f"CASE {' '.join(whens)} END")
        parts.append(
            "CASE WHEN unclamped <> score THEN concat("
            '\'{"rule":"scale","area":null,"at":\', CAST(score AS STRING), '
            "',\"not_counted\":', CAST(unclamped - score AS STRING), '}') END"
        )
        return f"CASE WHEN score IS NULL THEN '' ELSE concat_ws(',', {', '.join(parts)}) END"

    def _subjects(self) -> None:
        """`j_subjects`: each subject's score as kept, kind, limits and outcome key."""
        extra = ""
        if self.rb.score is not None:
            extra = ", s.unclamped" + "".join(
                f", s.cut_{i}" for i in range(len(self.rb.score.caps))
            )
        inner = (
            f"SELECT s.subject, {self._score()} AS score, s.records{extra}, "
            f"{_kind('s.subject')} AS kind, l.reclists "
            f"FROM ({self.program.scores}) s LEFT JOIN j_lists l ON l.subject = s.subject"
        )
        self.view(
            "j_subjects",
            f"SELECT *, concat(kind, '{_OK}', coalesce(CAST(score AS STRING), ''), '{_OK}', "
            f"coalesce(reclists, '')) AS okey, {self._limits()} AS limits FROM ({inner}) s",
            keep=True,
        )

    # --- per outcome: grade, score lists, measures (Python, once per key) ----------------------

    def _outcomes(self) -> list[OutcomeCount]:
        found = self.spark.sql(
            "SELECT okey, kind, score, reclists, count(*) AS n FROM j_subjects "
            "GROUP BY okey, kind, score, reclists"
        ).collect()
        rows: list[tuple[str | None, ...]] = []
        counts = []
        for okey, kind_name, score, reclists, n in found:
            o = outcome_pieces(self.rb, kind_name, score, reclists, int(n))
            rows.append((okey, o.count.grade, o.grade, o.measures, *o.score_lists))
            counts.append(o.count)
        schema = "okey string, grade_value string, grade string, measures string" + "".join(
            f", sl_{self.names.index(n)} string" for n in self.score_lists
        )
        self.spark.createDataFrame(rows, schema).createOrReplaceTempView("j_outcomes")
        return counts

    def _line(self) -> str:
        slots = [
            f"l.rec_{i}" if name in self.record_lists else f"o.sl_{i}"
            for i, name in enumerate(self.names)
        ]
        lists = f"concat_ws(',', {', '.join(slots)})" if slots else "''"
        return (
            "concat('{\"subject\":', " + _js("s.subject") + ', \',"kind":"\', s.kind, '
            "'\",\"score\":', coalesce(CAST(s.score AS STRING), 'null'), "
            "',\"grade\":', o.grade, ',\"records\":', CAST(s.records AS STRING), "
            f"',\"lists\":[', {lists}, '],\"measures\":', o.measures, "
            "',\"reasons\":[', coalesce(r.reasons, ''), '],\"more_reasons\":', "
            f"CAST(coalesce(r.counted - least(r.counted, {MAX_REASONS}), 0) AS STRING), "
            f"',\"limits\":[', s.limits, '],', {slit(self.tail)})"
        )

    def lines(self) -> tuple[DataFrame, list[OutcomeCount]]:
        """After the engine's steps: every subject's line (no newline), and the outcome counts.

        The frame has `subject`, `kind`, `score` (as kept), `grade` and `line`,
        ordered by subject.
        """
        self._lists()
        self._reasons()
        self._subjects()
        counts = self._outcomes()
        frame = self.spark.sql(
            "SELECT /*+ BROADCAST(o) */ s.subject, s.kind, s.score, o.grade_value AS grade, "
            f"{self._line()} AS line FROM j_subjects s JOIN j_outcomes o ON o.okey = s.okey "
            "LEFT JOIN j_lists l ON l.subject = s.subject "
            "LEFT JOIN j_reasons r ON r.subject = s.subject"
        ).orderBy("subject")
        return frame, counts
