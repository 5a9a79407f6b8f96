"""The batch engine's JSON lines: no Python per subject.

`credence.core.assessment.assemble` turns one subject's rows into an
assessment; here the same decisions are taken for a whole bucket group in
SQL over the fused pass's per-subject table, and each subject's line is
written by the C writer (`line_writer`) or, as the reference and fallback,
built as text by DuckDB: byte for byte what
`orjson.dumps(assessment.to_dict())` writes (the cross-engine tests compare
both with it). Python still decides what depends on the rulebook's logic, but
once per distinct value rather than once per subject:

- the outcome (grade, lists entered by score or grade, measures) is a
  function of (kind, score, record lists): a few hundred keys per run, each
  computed by `assessment.outcome_for` and joined back;
- a listing's end is a function of (list, start, extension): one per
  distinct day, computed by `assessment.listing_end`.

Everything else (reasons ranked, listing records, caps and scale limits,
counts) is SQL over the fused pass's table and the records lists read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import duckdb
import orjson
import pyarrow as pa

from credence.core.assessment import MAX_REASONS, ListingRow, listing_end, outcome_for
from credence.core.ids import SubjectKind
from credence.core.rulebook import Rulebook
from credence.engines import line_writer
from credence.engines.errors import SnapshotError
from credence.engines.fused import FusedProgram, GroupTables
from credence.engines.sqlgen import lit

_OK = "o"  # separator inside an outcome key (kind, score, record lists)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class OutcomeCount:
    """How many subjects of a group share one outcome, for the run's summary."""

    kind: SubjectKind
    grade: str | None
    lists: tuple[tuple[str, str], ...]  # (list, colour) in the rulebook's order
    measures: tuple[str, ...]
    subjects: int


# Writes a bucket group's lines to a sink; its outcome counts.
WriteLines = Callable[[BinaryIO], list[OutcomeCount]]


@dataclass(frozen=True)
class Outcome:
    """An outcome's pieces of a line (JSON texts) and how many subjects have it."""

    grade: str
    measures: str
    score_lists: list[str | None]  # per score-entered list: its listing's JSON, or None
    count: OutcomeCount


def outcome_pieces(
    rulebook: Rulebook, kind_name: str, score: Any, reclists: str | None, n: int
) -> Outcome:
    """One outcome key's JSON pieces and count (`assessment.outcome_for`, once per key):
    `reclists` holds the positions in the rulebook of the subject's record-entered lists.
    Shared by the DuckDB and Spark line builders."""
    every = list(rulebook.lists)
    kind = SubjectKind(kind_name)
    names = frozenset(every[int(p)] for p in reclists.split(",")) if reclists else frozenset()
    grade, by_score, measured = outcome_for(
        rulebook, kind, None if score is None else int(score), names
    )
    score_lists: list[str | None] = []
    for name, lst in rulebook.lists.items():
        if lst.by_record:
            continue
        listing = {"list": name, "colour": lst.spec.colour, "since": None, "until": None}
        score_lists.append(_json({**listing, "records": []}) if name in by_score else None)
    listed = tuple(
        (name, rulebook.lists[name].spec.colour)
        for name in every
        if name in names or name in by_score
    )
    return Outcome(
        grade=_json(grade),
        measures=_json(list(measured)),
        score_lists=score_lists,
        count=OutcomeCount(kind, grade, listed, measured, n),
    )


class JsonLines:
    """The SQL (and the few Python look-ups) that turn a group's per-subject table into
    JSON lines."""

    def __init__(
        self,
        rulebook: Rulebook,
        as_of: dt.date,
        known_size: int | None,
        ledger: dict[str, Any] | None,
    ) -> None:
        self.rb = rulebook
        tail = {
            "rulebook": rulebook.ref,
            "catalogue": rulebook.catalogue.ref,
            "ledger": ledger,
            "as_of": as_of.isoformat(),
            "known_size": known_size,
        }
        self.tail = _json(tail)[1:]  # `"rulebook":...}`: the same for every line of the run
        self.names = list(rulebook.lists)  # a list's position: its index in the rulebook
        self.record_lists = [n for n, lst in rulebook.lists.items() if lst.by_record]
        self.score_lists = [n for n, lst in rulebook.lists.items() if not lst.by_record]
        self._ends: dict[tuple[str, str, int], dt.date] = {}  # `_listing_end`'s, this run's
        self._outcomes_seen: dict[tuple[str, int | None, str | None], Outcome] = {}

    # --- the steps after the engine's ---------------------------------------------------------

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
                    text = lit(f'{head}{bound},"not_counted":')
                    whens.append(
                        f"WHEN s.cut_{i} {test} 0 THEN {text} || CAST(s.cut_{i} AS VARCHAR) || '}}'"
                    )
            if whens:
                parts.append(f"CASE {' '.join(whens)} END")
        parts.append(
            "CASE WHEN s.unclamped <> s.score THEN "
            '\'{"rule":"scale","area":null,"at":\' || CAST(s.score AS VARCHAR) || '
            "',\"not_counted\":' || CAST(s.unclamped - s.score AS VARCHAR) || '}' END"
        )
        return f"CASE WHEN score IS NULL THEN '' ELSE concat_ws(',', {', '.join(parts)}) END"

    def _listing_ends(self, con: duckdb.DuckDBPyConnection, listings: str) -> None:
        """`j_ends`: each distinct (list, start, extension)'s end in `listings`, computed
        once a run in Python (`_listing_end`)."""
        rows = con.execute(f"SELECT DISTINCT list, start, extension FROM {listings}").fetchall()
        ends = [self._listing_end(str(n), str(s), int(e)) for n, s, e in rows]
        table = pa.table(
            {
                "list": pa.array([r[0] for r in rows], pa.string()),
                "start": pa.array([r[1] for r in rows], pa.string()),
                "extension": pa.array([r[2] for r in rows], pa.int64()),
                "until": pa.array([d.isoformat() for d in ends], pa.string()),
            }
        )
        con.register("j_ends_arrow", table)
        con.execute("CREATE OR REPLACE TEMP TABLE j_ends AS SELECT * FROM j_ends_arrow")
        con.unregister("j_ends_arrow")

    def _outcome(self, kind: str, score: Any, reclists: str | None, n: int) -> Outcome:
        """`outcome_pieces` of one outcome key with `n` subjects, each key computed once a
        run: the bucket groups share most of their keys (a few hundred each), and computing
        them again cost a tenth of the lines' time."""
        key = (kind, None if score is None else int(score), reclists or None)
        found = self._outcomes_seen.get(key)
        if found is None:
            found = self._outcomes_seen[key] = outcome_pieces(self.rb, kind, score, reclists, 0)
        c = found.count  # constructed, not `dataclasses.replace`d: a third of the cost
        count = OutcomeCount(c.kind, c.grade, c.lists, c.measures, n)
        return Outcome(found.grade, found.measures, found.score_lists, count)

    def _listing_end(self, name: str, start: str, extension: int) -> dt.date:
        """`assessment.listing_end` of one (list, start, extension), remembered for the run:
        the bucket groups share most of their listings' days (a sixth of the lists' time)."""
        key = (name, start, extension)
        end = self._ends.get(key)
        if end is None:
            row = ListingRow(name, 0, start, extension)
            end = self._ends[key] = listing_end(self.rb, self.rb.lists[name], row)
        return end

    def _listing_rows(
        self, con: duckdb.DuckDBPyConnection, listings: str | None, held: str, table: str
    ) -> None:
        """`table`: every listing in force (`FusedProgram.listings`, a row a listing record)
        over `held` (the records lists look at, `FusedProgram.held_listed`); nothing without
        record-entered lists. A table, not a temporary one: `_lists` reads it through the
        writing thread's cursor.

        `held` is a materialised CTE of the listings' statement rather than a table of its
        own: the listings read it several times, and DuckDB's table storage cost a sixth
        more than the CTE's (the records' attributes are most of it)."""
        if not self.record_lists:
            return
        assert listings is not None
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS WITH held AS MATERIALIZED ({held}) {listings}"
        )

    def _lists(self, con: duckdb.DuckDBPyConnection, tables: GroupTables) -> None:
        """`tables.lists`, temporary on `con`: per subject (by its number, `sid`), its record
        lists' key and each listing's JSON, from `tables.listings` (`_listing_rows`). Run on
        the writing thread's cursor: the SQL thread, which the writing thread waited for a
        third of the run, is left the scans."""
        if not self.record_lists:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {tables.lists} AS "
                "SELECT CAST(NULL AS BIGINT) AS sid, '' AS reclists WHERE FALSE"
            )
            return
        self._listing_ends(con, tables.listings)
        # One aggregate per subject, each record list's columns filtered from it: grouping by
        # (subject, list) and then by subject, with ordered string_agg, cost 3x as much.
        aggs, present, columns = [], [], []
        for n in self.record_lists:
            i = self.names.index(n)
            where = f"FILTER (WHERE l.list = {lit(n)})"
            aggs.append(
                f"min(l.start) {where} AS since_{i}, max(e.until) {where} AS until_{i}, "
                f"list(l.seq) {where} AS seqs_{i}"
            )
            present.append(f"CASE WHEN seqs_{i} IS NOT NULL THEN '{i}' END")
            colour = self.rb.lists[n].spec.colour
            head = '{"list":' + _json(n) + ',"colour":' + _json(colour) + ',"since":'
            columns.append(
                f"CASE WHEN seqs_{i} IS NOT NULL THEN concat({lit(head)}, to_json(since_{i}), "
                f"',\"until\":', to_json(until_{i}), ',\"records\":[', "
                f"array_to_string(list_sort(seqs_{i}), ','), ']}}') END AS rec_{i}"
            )
        # `reclists`: the positions of the subject's lists in the rulebook's order.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {tables.lists} AS SELECT sid, "
            f"concat_ws(',', {', '.join(present)}) AS reclists, {', '.join(columns)} "
            f"FROM (SELECT l.subject AS sid, {', '.join(aggs)} FROM {tables.listings} l "
            "JOIN j_ends e ON e.list = l.list AND e.start = l.start AND e.extension = l.extension "
            "GROUP BY l.subject)"
        )

    def _outcomes(self, con: duckdb.DuckDBPyConnection, subjects: str) -> list[OutcomeCount]:
        """`j_outcomes`: each outcome's key (`okey`, and its kind, score and record lists),
        grade, score lists and measures as JSON, for the outcomes `subjects` holds."""
        found = con.execute(
            f"SELECT kind, score, reclists, count(*) FROM {subjects} GROUP BY ALL"
        ).fetchall()
        keys, grades, measures = [], [], []
        kinds, scores, reclist_keys = [], [], []
        score_lists: list[list[str | None]] = [[] for _ in self.score_lists]
        counts = []
        for kind_name, score, reclists, n in found:
            okey = f"{kind_name}{_OK}{'' if score is None else int(score)}{_OK}{reclists or ''}"
            kinds.append(kind_name)
            scores.append(score)
            reclist_keys.append(reclists)
            outcome = self._outcome(str(kind_name), score, reclists, int(n))
            keys.append(okey)
            grades.append(outcome.grade)
            measures.append(outcome.measures)
            for i, listing in enumerate(outcome.score_lists):
                score_lists[i].append(listing)
            counts.append(outcome.count)
        columns: dict[str, pa.Array] = {
            "okey": pa.array(keys, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "score": pa.array(scores, pa.int64()),
            "reclists": pa.array(reclist_keys, pa.string()),
            "grade": pa.array(grades, pa.string()),
            "measures": pa.array(measures, pa.string()),
        }
        for i, name in enumerate(self.score_lists):
            columns[f"sl_{self.names.index(name)}"] = pa.array(score_lists[i], pa.string())
        con.register("j_outcomes_arrow", pa.table(columns))
        con.execute("CREATE OR REPLACE TEMP TABLE j_outcomes AS SELECT * FROM j_outcomes_arrow")
        con.unregister("j_outcomes_arrow")
        return counts

    def _line(self, lists: str = "l", reasons: str = "r") -> str:
        """A line's text; `lists` and `reasons` name the relations holding those columns."""
        slots = []
        for i, name in enumerate(self.names):
            slots.append(f"{lists}.rec_{i}" if name in self.record_lists else f"o.sl_{i}")
        lists = f"concat_ws(',', {', '.join(slots)})" if slots else "''"
        # One concat() of every piece: a chain of `||` allocates each intermediate string (1.1 s
        # of CPU against 0.7 s for a 7.5M-record group's lines). concat() skips a NULL where
        # `||` gives one, so every piece is non-NULL by construction: coalesced, or joined.
        return (
            'concat(\'{"subject":\', to_json(s.subject), \',"kind":"\', s.kind, '
            "'\",\"score\":', coalesce(CAST(s.score AS VARCHAR), 'null'), "
            "',\"grade\":', o.grade, ',\"records\":', CAST(s.records AS VARCHAR), "
            f"',\"lists\":[', {lists}, '],\"measures\":', o.measures, "
            f"',\"reasons\":[', coalesce({reasons}.reasons, ''), '],\"more_reasons\":', "
            f"CAST(coalesce({reasons}.counted - least({reasons}.counted, {MAX_REASONS}), 0) "
            "AS VARCHAR), "
            f"',\"limits\":[', s.limits, '],', {lit(self.tail)}, chr(10))"
        )

    def prepare_lines(
        self,
        con: duckdb.DuckDBPyConnection,
        fused: FusedProgram,
        corrected: bool,
        tables: GroupTables,
        rows_per_batch: int = 65_536,
    ) -> WriteLines:
        """A bucket group's lines after the fused pass (`BatchEngine._fused`), in two
        halves: the listings' SQL now (only the records lists look at are read, as
        `held`; reasons and cuts come ready from `tables.f`), and a function that reads
        the group's subjects and writes their lines to a sink through a connection of its
        own (a cursor), so the engine runs the next group's SQL on `con` meanwhile. The
        lines are written in C (`line_writer`) when it is built, else built by DuckDB.

        `tables` names the group's per-subject tables (`BatchEngine._fused`
        made `tables.f` and `tables.numbering`; `tables.listings` is made here,
        `tables.lists` by the function, on its cursor): tables, not temporary
        ones, which only `con` would see, and named per group, so the next
        group's do not replace them while they are read.
        """
        # By the subject's number, as `f`.
        self._listing_rows(con, fused.listings, fused.held_listed(corrected), tables.listings)

        def subjects(numbering: str | None) -> str:
            # Not materialised: the outcomes read only (kind, score, record lists) of it, and
            # the lines join the outcomes on those three rather than on a key built per subject.
            return (
                f"(SELECT s.*, l.* EXCLUDE (sid) FROM ({fused.subjects(tables.f, numbering)}) "
                f"s LEFT JOIN {tables.lists} l ON l.sid = s.sid)"
            )

        cursor = con.cursor()

        def write(sink: BinaryIO) -> list[OutcomeCount]:
            try:
                self._lists(cursor, tables)
                if line_writer.available():
                    written = self._written_lines(
                        cursor, fused, subjects(None), tables.numbering, sink
                    )
                    if written is not None:
                        return written
                return self._sql_lines(cursor, subjects(tables.numbering), sink, rows_per_batch)
            finally:
                cursor.close()

        return write

    def _sql_lines(
        self, con: duckdb.DuckDBPyConnection, subjects: str, sink: BinaryIO, rows_per_batch: int
    ) -> list[OutcomeCount]:
        """The group's lines built by DuckDB (the reference, and the fallback of the C
        writer), written to `sink`; the outcome counts."""
        counts = self._outcomes(con, subjects)
        query = (
            f"SELECT {self._line('s', 's')} AS line FROM "
            f"(SELECT *, {self._limits()} AS limits FROM {subjects} s) s "
            "JOIN j_outcomes o ON o.kind = s.kind AND o.score IS NOT DISTINCT FROM s.score "
            "AND o.reclists IS NOT DISTINCT FROM s.reclists ORDER BY s.subject"
        )
        for batch in con.sql(query).to_arrow_reader(rows_per_batch):
            sink.write(line_bytes(batch))
        return counts

    def _written_lines(
        self,
        con: duckdb.DuckDBPyConnection,
        fused: FusedProgram,
        subjects: str,
        numbering: str,
        sink: BinaryIO,
    ) -> list[OutcomeCount] | None:
        """The group's per-subject columns (`subjects`, by number), put in subject order
        with their keys from `numbering` (`line_writer.by_subject`), checked for the C
        writer (`line_writer`), and their lines written to `sink`: the outcome counts;
        None, and nothing written, where that cannot be done (the SQL path writes them)."""
        packed = fused.packed and self.rb.score is not None
        record_lists = [f"s.rec_{self.names.index(n)}" for n in self.record_lists]
        columns = [
            "s.sid",
            "s.kind",
            "s.score",
            "s.records",
            f"coalesce(s.counted - least(s.counted, {MAX_REASONS}), 0) AS more",
            "s.limits",
            "s.reclists" if self.record_lists else "CAST(NULL AS VARCHAR) AS reclists",
            "s.top" if packed else "s.reasons",
            *record_lists,
        ]
        table = con.sql(
            f"SELECT {', '.join(columns)} FROM "
            f"(SELECT *, {self._limits()} AS limits FROM {subjects} s) s"
        ).to_arrow_table()
        if table.num_rows == 0:
            return []
        keys = con.sql(f"SELECT sid, subject FROM {numbering}").to_arrow_table()
        try:
            table = line_writer.by_subject(table, keys)
        except LookupError as e:
            raise SnapshotError(f"snapshot's subjects/ files: {e}") from e
        if not line_writer.subjects_plain(table["subject"]):
            return None
        if packed and line_writer.reasons(table["top"], fused.reason_spec()) is None:
            return None
        return self._write_table(table, fused, packed, sink)

    def _write_table(
        self, table: pa.Table, fused: FusedProgram, packed: bool, sink: BinaryIO
    ) -> list[OutcomeCount]:
        """Write the lines the C writer makes of `table`'s columns (in subject order) to
        `sink`; the outcome counts."""
        w = line_writer
        keys = w.outcome_keys(table["kind"], table["score"], table["reclists"])
        outcomes = [self._outcome(k, score, sets, n) for k, score, sets, n in keys.keys]
        reasons = (
            w.reasons(table["top"], fused.reason_spec()) if packed else w.text(table["reasons"])
        )
        assert reasons is not None  # checked by `_written_lines`
        lists = []
        for i, name in enumerate(self.names):
            if name in self.record_lists:
                lists.append(w.text(table[f"rec_{i}"]))
            else:
                at = self.score_lists.index(name)
                lists.append(w.take(keys.index, [o.score_lists[at] for o in outcomes]))
        pieces = [
            w.literal('{"subject":'),
            w.quoted(table["subject"]),
            w.literal(',"kind":"'),
            w.take(keys.index, [k[0] for k in keys.keys]),
            w.literal('","score":'),
            w.integer(table["score"], "null"),
            w.literal(',"grade":'),
            w.take(keys.index, [o.grade for o in outcomes]),
            w.literal(',"records":'),
            w.integer(table["records"], "null"),
            w.literal(',"lists":['),
            w.joined(",", lists),
            w.literal('],"measures":'),
            w.take(keys.index, [o.measures for o in outcomes]),
            w.literal(',"reasons":['),
            reasons,
            w.literal('],"more_reasons":'),
            w.integer(table["more"], "0"),
            w.literal(',"limits":['),
            w.text(table["limits"]),
            w.literal(f"],{self.tail}\n"),
        ]
        w.write(sink, table.num_rows, pieces)
        return [o.count for o in outcomes]


def line_bytes(batch: pa.RecordBatch) -> memoryview | bytes:
    """A batch's lines as one run of bytes, straight from Arrow's buffer (no copy per line)."""
    column = batch.column(0)
    if len(column) == 0:
        return b""
    if column.null_count:
        raise AssertionError("a JSON line came out NULL: a piece of it was missing")
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        width = 8 if pa.types.is_large_string(column.type) else 4
        offsets = column.buffers()[1]
        assert offsets is not None
        first = int.from_bytes(
            offsets[column.offset * width : (column.offset + 1) * width], "little", signed=True
        )
        end = column.offset + len(column)
        last = int.from_bytes(offsets[end * width : (end + 1) * width], "little", signed=True)
        data = column.buffers()[2]
        assert data is not None
        return memoryview(data)[first:last]
    return "".join(column.to_pylist()).encode()
