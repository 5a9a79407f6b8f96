"""The batch program fused for DuckDB: one streaming pass over a bucket group's records.

`sqlgen`'s program is a chain of per-record steps (held, contributions,
totals, reasons), which the store engine runs as one `WITH` query for one
subject. Over a whole bucket group DuckDB would materialise each of them,
and writing those per-record tables costs more than reading the Parquet.
So the batch path computes the same things in one aggregate per subject,
straight off the Parquet scan (`aggregate`):

- which records are held (the `held` step's test, as a flag, so subjects
  whose records are all left out are still counted);
- each record's points (the `contributions` step's expression, against the
  small `rules` table), summed per capped area and over the rest, with how
  many records fell in each area (`totals` caps only areas present);
- the top reasons by (|points| desc, seq) with `arg_min(..., n)` and their
  number (the `reasons` ranking, without a window or a sort);
- the records a record-entered list may need are read again in a second,
  filtered scan (`held_listed`: a few percent of the rows), so the listing
  SQL (`Program.listings`, unchanged) runs over those rows only.

Only the per-subject result is materialised (a twentieth of the records);
`batch_json` turns it into lines. The store engine's `compile_program`
output is untouched: the cross-engine tests compare the two engines' lines
byte for byte, so any drift between this module and `sqlgen` shows there.
"""

from __future__ import annotations

from credence.core.assessment import MAX_REASONS
from credence.core.catalogue import REVOCATION
from credence.core.cutoffs import Cutoffs
from credence.core.rulebook import Rulebook
from credence.engines.sqlgen import AGE_EXPIRES, AGE_NONE, clamp, kind_filter, lit

# Reasons are ranked by one BIGINT, (2^22 - |points|) << 40 | seq, when points and seqs fit.
_POINTS_BITS, _SEQ_BITS = 22, 40


class FusedProgram:
    """The SQL of the fused batch pass for one rulebook and as-of date (DuckDB dialect)."""

    def __init__(
        self, rulebook: Rulebook, cutoffs: Cutoffs, known_size: int | None, max_seq: int
    ) -> None:
        self.rb = rulebook
        self.cut = cutoffs
        self.known = known_size
        score = rulebook.score
        self.caps = list(score.caps.items()) if score else []
        self.listed = sorted(
            {
                c
                for lst in rulebook.lists.values()
                if lst.by_record
                for c in (*lst.entry_items, *lst.exit_items, *lst.extension_items)
            }
        )
        biggest = max((abs(r.points) for r in rulebook.item_rules.values()), default=0)
        self.packed = biggest < 2**_POINTS_BITS and 0 <= max_seq < 2**_SEQ_BITS

    # --- per record ---------------------------------------------------------------------------

    def held(self) -> str:
        """The `held` step's test as a flag (`c` is the corrected-seq join, if any)."""
        tests = [
            f"r.item <> {lit(REVOCATION)}",
            f"COALESCE(r.decided_on, r.occurred_on) <= {lit(self.cut.as_of)}",
            kind_filter(self.rb.kinds, "r.subject"),
        ]
        return " AND ".join(tests)

    def points(self) -> str:
        """A held record's points under its rule `u` (the `contributions` step's expression)."""
        cases = [
            f"WHEN u.ageing = {AGE_NONE} THEN u.sign * u.magnitude",
            f"WHEN u.ageing = {AGE_EXPIRES} THEN CASE WHEN x.start >= u.keep_from "
            "THEN u.sign * u.magnitude ELSE 0 END",
        ]
        for i, half in enumerate(sorted(self.cut.ladders)):
            steps = " ".join(
                f"WHEN x.start >= {lit(d)} THEN {p}" for d, p in self.cut.ladders[half]
            )
            cases.append(
                f"WHEN u.ageing = {2 + i} THEN u.sign * ((u.magnitude * CASE {steps} ELSE 0 END "
                "+ 500000) // 1000000)"
            )
        return f"CASE WHEN x.start < u.public_from THEN 0 {' '.join(cases)} ELSE 0 END"

    def records(self, corrected: bool) -> str:
        """Every record up to the known size, with `start` and the held flag."""
        where = f" WHERE r.seq < {int(self.known)}" if self.known is not None else ""
        join = " LEFT JOIN corrected c ON c.seq = r.seq" if corrected else ""
        held = self.held() + (" AND c.seq IS NULL" if corrected else "")
        return (
            "SELECT r.seq, r.subject, r.item, COALESCE(r.decided_on, r.occurred_on) AS start, "
            f"({held}) AS h FROM records r{join}{where}"
        )

    # --- per subject --------------------------------------------------------------------------

    def aggregate(self, corrected: bool) -> str:
        """One row per subject with any record known: what the lines are built from."""
        score = self.rb.score
        columns = ["x.subject", "count(*) FILTER (WHERE x.h) AS records"]
        source = f"({self.records(corrected)}) x"
        if score is not None:
            scored = kind_filter(score.subjects, "x.subject")
            source = (
                f"(SELECT x.*, u.area, {self.points()} AS points, u.item IS NOT NULL AS scored "
                f"FROM {source} LEFT JOIN rules u ON u.item = x.item AND x.h AND {scored}) x"
            )
            capped = [area.value for area, _ in self.caps]
            rest = f" AND x.area NOT IN ({', '.join(lit(a) for a in capped)})" if capped else ""
            columns.append(f"sum(x.points) FILTER (WHERE x.scored{rest}) AS rest")
            for i, area in enumerate(capped):
                columns.append(
                    f"sum(x.points) FILTER (WHERE x.scored AND x.area = {lit(area)}) AS a_{i}"
                )
                columns.append(
                    f"count(*) FILTER (WHERE x.scored AND x.area = {lit(area)}) AS n_{i}"
                )
            if self.packed:
                key = f"(({2**_POINTS_BITS} - abs(x.points)) * {2**_SEQ_BITS} + x.seq)"
            else:
                key = "(-abs(x.points), x.seq)"
            columns.append(
                "arg_min({'seq': x.seq, 'item': x.item, 'start': x.start, 'points': x.points}, "
                f"{key}, {MAX_REASONS}) FILTER (WHERE x.scored AND x.points <> 0) AS top"
            )
            columns.append("count(*) FILTER (WHERE x.scored AND x.points <> 0) AS counted")
        return f"SELECT {', '.join(columns)} FROM {source} GROUP BY x.subject"

    def held_listed(self, corrected: bool) -> str:
        """`held` for the listing SQL: only the records lists look at, in a second scan.

        Gathering them in the aggregate (a list per subject) cost twice what
        DuckDB takes to read those few rows again, filtered on `item`.
        """
        if not self.listed:
            return (
                "SELECT CAST(NULL AS BIGINT) AS seq, CAST(NULL AS VARCHAR) AS subject, "
                "CAST(NULL AS VARCHAR) AS item, CAST(NULL AS VARCHAR) AS start, "
                "CAST(NULL AS VARCHAR) AS attributes WHERE FALSE"
            )
        # A subquery, not a constant IN list: DuckDB 2.0 scans every row for `IN (...)` and
        # filters after (a mark join), but pushes the semi-join's keys into the Parquet scan,
        # which then decodes the other columns only where an item matched (40% less CPU).
        values = ", ".join(f"({lit(c)})" for c in self.listed)
        tests = [self.held(), f"r.item IN (SELECT v.item FROM (VALUES {values}) v(item))"]
        if self.known is not None:
            tests.append(f"r.seq < {int(self.known)}")
        join = ""
        if corrected:
            join = " LEFT JOIN corrected c ON c.seq = r.seq"
            tests.append("c.seq IS NULL")
        return (
            "SELECT r.seq, r.subject, r.item, COALESCE(r.decided_on, r.occurred_on) AS start, "
            f"r.attributes FROM records r{join} WHERE {' AND '.join(tests)}"
        )

    def subjects(self, kind: str) -> str:
        """Per subject assessed (a record held): score as kept, unclamped, cuts, reasons JSON."""
        score = self.rb.score
        columns = ["f.subject", "CAST(f.records AS BIGINT) AS records", f"{kind} AS kind"]
        if score is None:
            columns += [
                "CAST(NULL AS BIGINT) AS score",
                "CAST(NULL AS VARCHAR) AS reasons",
                "CAST(0 AS BIGINT) AS counted",
            ]
            return f"SELECT {', '.join(columns)} FROM f WHERE f.records > 0"
        parts = ["coalesce(f.rest, 0)"]
        for i, (_, cap) in enumerate(self.caps):
            parts.append(
                f"CASE WHEN f.n_{i} > 0 THEN {clamp(f'f.a_{i}', cap.min, cap.max)} ELSE 0 END"
            )
        total = f"({score.base} + {' + '.join(parts)})"
        scored = kind_filter(score.subjects, "f.subject")
        columns += [
            f"CASE WHEN {scored} THEN CAST({clamp(total, score.min, score.max)} AS BIGINT) END "
            "AS score",
            f"CASE WHEN {scored} THEN CAST({total} AS BIGINT) END AS unclamped",
        ]
        for i, (_, cap) in enumerate(self.caps):
            clamped = clamp(f"f.a_{i}", cap.min, cap.max)
            columns.append(
                f"CAST(CASE WHEN f.n_{i} > 0 THEN f.a_{i} - {clamped} ELSE 0 END AS BIGINT) "
                f"AS cut_{i}"
            )
        columns += [
            "array_to_string(list_transform(f.top, lambda x: "
            "'{\"seq\":' || CAST(x.seq AS VARCHAR) || ',\"item\":' || to_json(x.item) || "
            "',\"date\":' || to_json(x.start) || ',\"points\":' || CAST(x.points AS VARCHAR) "
            "|| '}'), ',') AS reasons",
            "f.counted",
        ]
        return f"SELECT {', '.join(columns)} FROM f WHERE f.records > 0"
