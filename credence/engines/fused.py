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
- the top reasons by (|points| desc, seq) and their number (the `reasons`
  ranking, without a window or a sort): when they fit, a reason is packed
  into one BIGINT whose order is the ranking's, `(2^P - |points|, seq)`
  above its day, item and sign, so `min(key, n)` ranks them and the line
  decodes them (a quarter of the aggregate's time less than `arg_min` of
  a struct, which stays as the fallback);
- the records a record-entered list may need are read again in a second,
  filtered scan (`held_listed`: a few percent of the rows), so the listing
  SQL (`Program.listings`, unchanged) runs over those rows only.

Only the per-subject result is materialised (a twentieth of the records);
`batch_json` turns it into lines. The store engine's `compile_program`
output is untouched: the cross-engine tests compare the two engines' lines
byte for byte, so any drift between this module and `sqlgen` shows there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import orjson

from credence.core.assessment import MAX_REASONS
from credence.core.catalogue import REVOCATION
from credence.core.cutoffs import Cutoffs
from credence.core.ids import SubjectKind
from credence.core.rulebook import Rulebook
from credence.engines.sqlgen import (
    AGE_EXPIRES,
    AGE_NONE,
    clamp,
    kind_bit_filter,
    lit,
    numbered_listings,
)

# A reason packed in one BIGINT, most significant first: 2^P - |points|, seq, its day (since
# _DAY_ZERO: a ledger holds no date before 1949-10-01, and held records start by as-of), the
# rule's index, the sign of its points. Ascending keys are the ranking (|points| desc, seq).
_DAY_ZERO = dt.date(1900, 1, 1)
_KEY_BITS = 63
_EPOCH = dt.date(1970, 1, 1)  # the snapshot's `start_day` counts days from it


def _day(iso: str) -> int:
    """An ISO date (a cutoff) as days since 1970-01-01, as the snapshot's `start_day`."""
    return (dt.date.fromisoformat(iso) - _EPOCH).days


@dataclass(frozen=True)
class GroupTables:
    """Names of a bucket group's per-subject relations, which the line writer reads
    through a cursor while the next group's are made: `f` (the aggregate), `numbering`
    (the view of its subjects/ files), `listings` (its listings in force) and `lists` (its
    record lists by subject, made on the cursor: `batch_json`)."""

    f: str
    numbering: str
    listings: str
    lists: str

    @classmethod
    def slot(cls, index: int) -> GroupTables:
        """Two sets of names, taken in turn: a group's are free again once the group
        two before it is written."""
        n = index % 2
        return cls(f"f_{n}", f"numbering_{n}", f"j_listings_{n}", f"j_lists_{n}")


def kind_table(kind: SubjectKind) -> str:
    """The view of a bucket group's records of one kind of subject (its kind's files)."""
    return f"records_{kind.value}"


@dataclass(frozen=True)
class _Packing:
    points: int  # bits of |points|; the field holds 2^points - |points|, one bit more
    seq: int
    day: int
    item: int

    def fits(self) -> bool:
        return self.points + 1 + self.seq + self.day + self.item + 1 <= _KEY_BITS


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
        self.items = sorted(rulebook.item_rules)  # a rule's index in the packed reason
        biggest = max((abs(r.points) for r in rulebook.item_rules.values()), default=0)
        days = (dt.date.fromisoformat(cutoffs.as_of) - _DAY_ZERO).days
        self.packing = _Packing(
            points=biggest.bit_length(),
            seq=max(max_seq, 1).bit_length(),
            day=max(days, 1).bit_length(),
            item=max(len(self.items) - 1, 1).bit_length(),
        )
        self.packed = max_seq >= 0 and days >= 0 and self.packing.fits()
        # The listing SQL over `held_listed`, whose `subject` is the subject's number.
        self.listings = numbered_listings(rulebook, cutoffs, known_size)

    # --- per record ---------------------------------------------------------------------------

    def held(self) -> str:
        """The `held` step's test as a flag, on the snapshot's derived columns (`start_day`,
        and the kind bit of `sid`), which `snapshot_check` proves equal to the dates and
        the subject the store engine tests."""
        tests = [
            f"r.item <> {lit(REVOCATION)}",
            f"r.start_day <= {_day(self.cut.as_of)}",
            kind_bit_filter(self.rb.kinds, "r.sid"),
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
                f"WHEN x.start >= {_day(d)} THEN {p}" for d, p in self.cut.ladders[half]
            )
            cases.append(
                f"WHEN u.ageing = {2 + i} THEN u.sign * ((u.magnitude * CASE {steps} ELSE 0 END "
                "+ 500000) // 1000000)"
            )
        return f"CASE WHEN x.start < u.public_from THEN 0 {' '.join(cases)} ELSE 0 END"

    def rules(self) -> str:
        """`frules`: `rules` (materialised first) with each rule's index in `self.items`, and
        its area's: the capped areas' positions in `self.caps`, then one for all the rest."""
        values = ", ".join(f"({lit(c)}, {i})" for i, c in enumerate(self.items))
        areas = " ".join(f"WHEN {lit(a.value)} THEN {i}" for i, (a, _) in enumerate(self.caps))
        area = f"CASE u.area {areas} ELSE {len(self.caps)} END" if areas else "0"
        # The rule's dates as days, as the records' `start_day` (`x.start` in `points`).
        days = ", ".join(
            f"date_diff('day', DATE '1970-01-01', CAST(u.{c} AS DATE)) AS {c}"
            for c in ("public_from", "keep_from")
        )
        return (
            f"SELECT u.* REPLACE ({days}), v.idx, {area} AS aidx FROM rules u "
            f"JOIN (VALUES {values}) v(item, idx) ON v.item = u.item"
        )

    def _key(self) -> str:
        """A scored record's reason packed in one BIGINT (`self.packing`); NULL at 0 points."""
        p = self.packing
        field = f"CAST({2**p.points} - abs(x.points) AS BIGINT)"
        day = f"(x.start + {(_EPOCH - _DAY_ZERO).days})"  # `start_day` counts from 1970
        key = (
            f"((({field} * {2**p.seq} + x.seq) * {2**p.day} + {day}) * {2**p.item} + x.idx) * 2 "
            "+ CAST(x.points < 0 AS BIGINT)"
        )
        return f"CASE WHEN x.points <> 0 THEN {key} END"

    def _shifts(self) -> tuple[int, int, int, int]:
        """Where a packed reason's item, day, seq and points start (bits from the right)."""
        p = self.packing
        shift_item = 1
        shift_day = shift_item + p.item
        shift_seq = shift_day + p.day
        return shift_item, shift_day, shift_seq, shift_seq + p.seq

    def reason_spec(self) -> tuple[object, ...]:
        """How the C line writer decodes a packed reason (credence/engines/_linebuild.c):
        what `reason_json`'s lambda does in SQL, as shifts, masks and the items' JSON."""
        p = self.packing
        shift_item, shift_day, shift_seq, shift_points = self._shifts()
        epoch = (_DAY_ZERO - _EPOCH).days
        items = tuple(orjson.dumps(c) for c in self.items)
        return (
            shift_seq,
            2**p.seq - 1,
            shift_day,
            2**p.day - 1,
            epoch,
            shift_item,
            2**p.item - 1,
            shift_points,
            2**p.points,
            items,
        )

    def reason_json(self) -> str:
        """The lambda turning one of `f.top` into a reason's JSON (seq, item, date, points)."""
        if not self.packed:
            return (
                "lambda x: '{\"seq\":' || CAST(x.seq AS VARCHAR) || ',\"item\":' || "
                "to_json(x.item) || ',\"date\":' || to_json(x.start) || ',\"points\":' || "
                "CAST(x.points AS VARCHAR) || '}'"
            )
        p = self.packing
        shift_item, shift_day, shift_seq, shift_points = self._shifts()
        items = "[" + ", ".join(lit(orjson.dumps(c).decode()) for c in self.items) + "]"
        magnitude = f"({2**p.points} - (k >> {shift_points}))"
        # concat(), not `||`: one string per reason, not one per piece (no piece is NULL).
        return (
            f"lambda k: concat('{{\"seq\":', CAST((k >> {shift_seq}) & {2**p.seq - 1} AS VARCHAR), "
            f"',\"item\":', {items}[((k >> {shift_item}) & {2**p.item - 1}) + 1], "
            f'\',"date":"\', CAST(DATE {lit(_DAY_ZERO.isoformat())} + CAST((k >> {shift_day}) & '
            f'{2**p.day - 1} AS INTEGER) AS VARCHAR), \'","points":\', '
            f"CAST(CASE WHEN k & 1 = 1 THEN -{magnitude} ELSE {magnitude} END AS VARCHAR), '}}')"
        )

    def records(self, corrected: bool, kinds: str = "TRUE", table: str = "records") -> str:
        """Every record of `table` up to the known size (of subjects passing `kinds`, a test
        of `r.sid`), with `start` and the held flag."""
        tests = [f"r.seq < {int(self.known)}"] if self.known is not None else []
        if kinds != "TRUE":
            tests.append(kinds)
        where = f" WHERE {' AND '.join(tests)}" if tests else ""
        join = " LEFT JOIN corrected c ON c.seq = r.seq" if corrected else ""
        held = self.held() + (" AND c.seq IS NULL" if corrected else "")
        return (
            "SELECT r.seq, r.sid, r.item, r.start_day AS start, "
            f"({held}) AS h FROM {table} r{join}{where}"
        )

    # --- per subject --------------------------------------------------------------------------

    def aggregate(self, corrected: bool) -> str:
        """One row per subject with any record known, by its number (`sid`): what the
        lines are built from, with the subject's key put beside it (`numbered`)."""
        score = self.rb.score
        columns = ["x.sid", "count_if(x.h) AS records"]
        source = f"({self.records(corrected)}) x"
        unscored = ""
        if score is not None:
            scored = kind_bit_filter(score.subjects, "x.sid")
            if scored != "TRUE":
                # Subjects of a kind the rulebook does not score only count their records:
                # aggregated apart (a union by name leaves their sums and reasons NULL), they
                # skip the rules and the eight other aggregates (a third of the pass).
                # Each reads its kind's files only (`kind_table`); the kind test stays.
                only = kind_bit_filter(score.subjects, "r.sid")
                (kind,) = score.subjects
                (other,) = set(SubjectKind) - {kind}
                rest = self.records(corrected, f"NOT ({only})", kind_table(other))
                unscored = (
                    f" UNION ALL BY NAME SELECT x.sid, count_if(x.h) AS records FROM "
                    f"({rest}) x GROUP BY x.sid"
                )
                source = f"({self.records(corrected, only, kind_table(kind))}) x"
                scored = "TRUE"
            # Per area, the points of its scored records and NULL elsewhere, so the sums and
            # counts need no FILTER (evaluating one per aggregate cost a fifth of the pass).
            # `aidx` and `points` are NULL where no rule scores the record, or it is not held
            # or not of a scored kind. The join is on the item alone and those tests go into
            # the CASEs: a join condition beyond the key cost a tenth of the pass more.
            areas = [f"CASE WHEN x.aidx = {i} THEN x.points END" for i in range(len(self.caps))]
            per_area = "".join(f", {a} AS p_{i}" for i, a in enumerate(areas))
            counts = f"x.h AND {scored}"
            source = (
                f"(SELECT x.*, CASE WHEN {counts} THEN u.aidx END AS aidx, u.idx, "
                f"CASE WHEN {counts} THEN {self.points()} END AS points FROM {source} "
                "LEFT JOIN frules u ON u.item = x.item) x"
            )
            if self.packed:
                per_area += f", {self._key()} AS k"
            rest = f"CASE WHEN x.aidx = {len(self.caps)} THEN x.points END"
            source = f"(SELECT x.*, {rest} AS p_rest{per_area} FROM {source}) x"
            columns.append("sum(x.p_rest) AS rest")
            for i in range(len(self.caps)):
                # The sum is NULL where no record of the area counts: the area is absent
                # (`totals` caps only areas present), with no count to keep beside it.
                columns.append(f"sum(x.p_{i}) AS a_{i}")
            if self.packed:
                # min(k, n) skips NULL keys: records with no points or no rule.
                columns += [f"min(x.k, {MAX_REASONS}) AS top", "count(x.k) AS counted"]
            else:
                reasons = "x.aidx IS NOT NULL AND x.points <> 0"
                columns += [
                    "arg_min({'seq': x.seq, 'item': x.item, "
                    "'start': CAST(DATE '1970-01-01' + CAST(x.start AS INTEGER) AS VARCHAR), "
                    f"'points': x.points}}, (-abs(x.points), x.seq), {MAX_REASONS}) "
                    f"FILTER (WHERE {reasons}) AS top",
                    f"count(*) FILTER (WHERE {reasons}) AS counted",
                ]
        return f"SELECT {', '.join(columns)} FROM {source} GROUP BY x.sid{unscored}"

    @staticmethod
    def numbered(table: str, numbering: str) -> str:
        """The per-subject `table` (keyed by `sid`) with its subject's key beside it, from
        `numbering` (the group's subjects/), joined where the lines read it."""
        return (
            f"(SELECT n.subject, {table}.* FROM {table} JOIN {numbering} n ON n.sid = {table}.sid)"
        )

    def held_listed(self, corrected: bool) -> str:
        """`held` for the listing SQL (`self.listings`): only the records lists look at,
        in a second scan, each under its subject's number (`subject` is `sid` here).

        Gathering them in the aggregate (a list per subject) cost twice what
        DuckDB takes to read those few rows again, filtered on `item`; reading
        the subject's text too cost a fifth more again.
        """
        if not self.listed:
            return (
                "SELECT CAST(NULL AS BIGINT) AS seq, CAST(NULL AS BIGINT) AS subject, "
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
            "SELECT r.seq, r.sid AS subject, r.item, "
            "COALESCE(r.decided_on, r.occurred_on) AS start, "
            f"r.attributes FROM records r{join} WHERE {' AND '.join(tests)}"
        )

    def subjects(self, table: str, numbering: str | None) -> str:
        """Per subject assessed (a record held) in `table`: its key (from `numbering`; none
        without it) and number, kind, score as kept, unclamped, cuts, reasons JSON."""
        score = self.rb.score
        source = self.numbered(table, numbering) if numbering else table
        kind = (
            f"CASE WHEN {kind_bit_filter({SubjectKind.PERSON}, 'f.sid')} "
            f"THEN {lit(SubjectKind.PERSON.value)} ELSE {lit(SubjectKind.ORGANISATION.value)} END"
        )
        columns = ["f.sid", "CAST(f.records AS BIGINT) AS records", f"{kind} AS kind"]
        if numbering:
            columns.insert(0, "f.subject")
        if score is None:
            columns += [
                "CAST(NULL AS BIGINT) AS score",
                "CAST(NULL AS VARCHAR) AS reasons",
                "CAST(0 AS BIGINT) AS counted",
            ]
            return f"SELECT {', '.join(columns)} FROM {source} f WHERE f.records > 0"
        parts = ["coalesce(f.rest, 0)"]
        for i, (_, cap) in enumerate(self.caps):
            clamped = clamp(f"f.a_{i}", cap.min, cap.max)
            parts.append(f"CASE WHEN f.a_{i} IS NOT NULL THEN {clamped} ELSE 0 END")
        total = f"({score.base} + {' + '.join(parts)})"
        scored = kind_bit_filter(score.subjects, "f.sid")
        columns += [
            f"CASE WHEN {scored} THEN CAST({clamp(total, score.min, score.max)} AS BIGINT) END "
            "AS score",
            f"CASE WHEN {scored} THEN CAST({total} AS BIGINT) END AS unclamped",
        ]
        for i, (_, cap) in enumerate(self.caps):
            clamped = clamp(f"f.a_{i}", cap.min, cap.max)
            columns.append(
                f"CAST(CASE WHEN f.a_{i} IS NOT NULL THEN f.a_{i} - {clamped} ELSE 0 END "
                f"AS BIGINT) AS cut_{i}"
            )
        columns += [
            f"array_to_string(list_transform(f.top, {self.reason_json()}), ',') AS reasons",
            "f.counted",
        ]
        if self.packed:
            columns.append("f.top")  # the packed keys themselves, for the C line writer
        return f"SELECT {', '.join(columns)} FROM {source} f WHERE f.records > 0"
