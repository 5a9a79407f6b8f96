"""The rulebook compiled to SQL: written once, transpiled by SQLGlot for each engine.

The computation is a chain of named steps over two relations, `records`
(seq, subject, item, occurred_on, decided_on, attributes) and `corrections`
(seq, corrects_seq), then three final queries:

- `scores`: every subject with a record held, its integer score (NULL
  where the rulebook gives its kind no score), how many records count,
  the score before the scale's ends and what each area cap left out;
- `listings`: listing records still in force (not ended by an exit record,
  inside their duration with any extension);
- `reasons`: each subject's records with the largest points, ranked, with
  the number of scored records;
- `subjects`: how many subjects the records are about at all.

Every date test is a string comparison with a cut-off computed in Python
(`credence.core.cutoffs`), and every number is an integer, so SQLite,
DuckDB (and later PostgreSQL and Spark) cannot disagree on calendars or
rounding. The text is written in DuckDB's dialect and transpiled; the store
engine runs the steps as one `WITH` query, the batch engine materialises
them one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from credence.core.assessment import MAX_REASONS
from credence.core.catalogue import REVOCATION
from credence.core.cutoffs import Cutoffs, months
from credence.core.ids import SubjectKind
from credence.core.periods import Period
from credence.core.rulebook import ResolvedList, Rulebook

SUBJECT_PARAM = "__credence_subject__"  # replaced by the engine's bind parameter
AGE_NONE, AGE_EXPIRES = 0, 1  # half-life ladders are numbered from 2


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def kind_filter(kinds: tuple[SubjectKind, ...] | set[SubjectKind], column: str) -> str:
    if set(kinds) >= set(SubjectKind):
        return "TRUE"
    if SubjectKind.PERSON in kinds:
        return f"{column} LIKE 'ric:%'"
    return f"{column} NOT LIKE 'ric:%'"


def kind_bit_filter(kinds: tuple[SubjectKind, ...] | set[SubjectKind], sid: str) -> str:
    """`kind_filter` on a subject's number (the batch snapshot's `sid`), whose low bit is 1
    for a person."""
    if set(kinds) >= set(SubjectKind):
        return "TRUE"
    return f"({sid} & 1) = {1 if SubjectKind.PERSON in kinds else 0}"


def clamp(expr: str, lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"CASE WHEN {expr} < {lo} THEN {lo} WHEN {expr} > {hi} THEN {hi} ELSE {expr} END"
    if lo is not None:
        return f"CASE WHEN {expr} < {lo} THEN {lo} ELSE {expr} END"
    if hi is not None:
        return f"CASE WHEN {expr} > {hi} THEN {hi} ELSE {expr} END"
    return expr


# The types of a listing's columns (`_Builder.listing`): subject, list, seq, start, extension.
LISTING_COLUMNS = ("TEXT", "TEXT", "BIGINT", "TEXT", "BIGINT")
# ... and of a reason's (`_Builder.reasons`): subject, seq, item, start, points, counted.
REASON_COLUMNS = ("TEXT", "BIGINT", "TEXT", "TEXT", "BIGINT", "BIGINT")


@dataclass(frozen=True)
class Program:
    """The compiled computation in one dialect."""

    dialect: str
    steps: tuple[tuple[str, str], ...]  # (name, SELECT) in dependency order
    scores: str
    listings: str | None
    reasons: str | None
    subjects: str = ""  # how many subjects `records` holds anything about
    # The SQL types of the columns `scores`, `listings` and `reasons` give (`merge_results`
    # reads them by position): the store engine puts the three side by side in one
    # statement, each padded with NULLs of the others' types (PostgreSQL types a column
    # of bare NULLs as text, which a later branch's integers cannot join).
    columns: tuple[tuple[str, ...], ...] = ()

    def with_query(self, final: str, *prelude: tuple[str, str]) -> str:
        """One statement: `prelude` and every step as CTEs, then `final` (the store engine)."""
        ctes = ",\n".join(f"{name} AS ({sql})" for name, sql in (*prelude, *self.steps))
        return f"WITH {ctes}\n{final}"


class _Builder:
    def __init__(
        self,
        rulebook: Rulebook,
        cutoffs: Cutoffs,
        known_size: int | None,
        one_subject: bool,
        numbered: bool = False,
    ) -> None:
        self.rb = rulebook
        self.cut = cutoffs
        self.known = known_size
        self.one = one_subject
        self.numbered = numbered  # `subject` holds the subject's number (`numbered_listings`)

    def held(self) -> str:
        """Records that count at all: known, dated by as-of, not revoked or corrected."""
        where = [
            f"r.item <> {lit(REVOCATION)}",
            f"COALESCE(r.decided_on, r.occurred_on) <= {lit(self.cut.as_of)}",
            kind_filter(self.rb.kinds, "r.subject"),
        ]
        corrected = "SELECT 1 FROM corrections c WHERE c.corrects_seq = r.seq"
        if self.known is not None:
            where.append(f"r.seq < {int(self.known)}")
            corrected += f" AND c.seq < {int(self.known)}"
        if self.one:
            where.append(f"r.subject = {lit(SUBJECT_PARAM)}")
        where.append(f"NOT EXISTS ({corrected})")
        linked = sorted(
            {
                c
                for lst in self.rb.lists.values()
                for c in (*lst.entry_items, *lst.exit_items, *lst.extension_items)
            }
            if any(lst.spec.exit or lst.spec.extension for lst in self.rb.lists.values())
            else set()
        )
        # Only list records are matched on attributes: copying every record's JSON into
        # the step would dominate the batch engine's time.
        attributes = (
            f"CASE WHEN r.item IN ({', '.join(lit(c) for c in linked)}) THEN r.attributes END"
            if linked
            else "CAST(NULL AS VARCHAR)"
        )
        return (
            "SELECT r.seq, r.subject, r.item, COALESCE(r.decided_on, r.occurred_on) AS start, "
            f"{attributes} AS attributes FROM records r WHERE " + " AND ".join(where)
        )

    def rules(self) -> str:
        ladders = {half: 2 + i for i, half in enumerate(sorted(self.cut.ladders))}
        rows = []
        for code, rule in self.rb.item_rules.items():
            ageing = AGE_NONE
            if rule.ageing.expires_after:
                ageing = AGE_EXPIRES
            elif rule.ageing.half_life:
                ageing = ladders[months(Period.parse(rule.ageing.half_life))]
            rows.append(
                f"SELECT {lit(code)} AS item, {lit(rule.area.value)} AS area, "
                f"{1 if rule.points >= 0 else -1} AS sign, {abs(rule.points)} AS magnitude, "
                f"{lit(self.cut.public_from[code])} AS public_from, "
                f"{lit(self.cut.keep_from.get(code, '0000-01-01'))} AS keep_from, "
                f"{ageing} AS ageing"
            )
        return " UNION ALL ".join(rows)

    def contributions(self) -> str:
        assert self.rb.score is not None
        cases = [
            f"WHEN u.ageing = {AGE_NONE} THEN u.sign * u.magnitude",
            f"WHEN u.ageing = {AGE_EXPIRES} THEN CASE WHEN h.start >= u.keep_from "
            "THEN u.sign * u.magnitude ELSE 0 END",
        ]
        for i, half in enumerate(sorted(self.cut.ladders)):
            ladder = self.cut.ladders[half]
            steps = " ".join(f"WHEN h.start >= {lit(d)} THEN {ppm}" for d, ppm in ladder)
            ppm = f"CASE {steps} ELSE 0 END"
            cases.append(
                f"WHEN u.ageing = {2 + i} THEN u.sign * ((u.magnitude * {ppm} + 500000) // 1000000)"
            )
        return (
            "SELECT h.subject, h.seq, h.item, h.start, u.area, "
            f"CASE WHEN h.start < u.public_from THEN 0 {' '.join(cases)} ELSE 0 END AS points "
            "FROM held h JOIN rules u ON u.item = h.item WHERE "
            + kind_filter(self.rb.score.subjects, "h.subject")
        )

    def totals(self) -> str:
        """Capped points per subject, and per capped area the points its cap left out."""
        assert self.rb.score is not None
        caps = self.rb.score.caps
        capped = "a.points"
        cuts = ""
        if caps:
            bounded = {area: clamp("a.points", cap.min, cap.max) for area, cap in caps.items()}
            whens = " ".join(
                f"WHEN a.area = {lit(area.value)} THEN {expr}" for area, expr in bounded.items()
            )
            capped = f"CASE {whens} ELSE a.points END"
            cuts = "".join(
                f", CAST(SUM(CASE WHEN a.area = {lit(area.value)} THEN a.points - {expr} "
                f"ELSE 0 END) AS BIGINT) AS cut_{i}"
                for i, (area, expr) in enumerate(bounded.items())
            )
        return (
            f"SELECT a.subject, SUM({capped}) AS points{cuts} FROM ("
            "SELECT subject, area, SUM(points) AS points FROM contributions "
            "GROUP BY subject, area) a GROUP BY a.subject"
        )

    def score_columns(self) -> tuple[str, ...]:
        """The types of `scores`' columns: subject, score, records[, unclamped, cuts]."""
        extra = () if self.rb.score is None else ("BIGINT",) * (1 + len(self.rb.score.caps))
        return ("TEXT", "BIGINT", "BIGINT", *extra)

    def scores(self) -> str:
        """Per subject held: score, records counting, score before the scale's ends, cuts."""
        score = self.rb.score
        held = "(SELECT subject, COUNT(*) AS records FROM held GROUP BY subject) s"
        if score is None:
            return f"SELECT s.subject, CAST(NULL AS BIGINT) AS score, s.records FROM {held}"
        total = f"({score.base} + COALESCE(t.points, 0))"
        scored = kind_filter(score.subjects, "s.subject")
        cuts = "".join(f", COALESCE(t.cut_{i}, 0) AS cut_{i}" for i in range(len(score.caps)))
        return (
            f"SELECT s.subject, CASE WHEN {scored} THEN "
            f"CAST({clamp(total, score.min, score.max)} AS BIGINT) END AS score, s.records, "
            f"CASE WHEN {scored} THEN CAST({total} AS BIGINT) END AS unclamped{cuts} "
            f"FROM {held} LEFT JOIN totals t ON t.subject = s.subject"
        )

    def reasons(self) -> str:
        """The top records by points, each row carrying how many scored records there are."""
        return (
            "SELECT subject, seq, item, start, points, counted FROM ("
            "SELECT subject, seq, item, start, points, ROW_NUMBER() OVER ("
            "PARTITION BY subject ORDER BY ABS(points) DESC, seq) AS rn, "
            "COUNT(*) OVER (PARTITION BY subject) AS counted "
            f"FROM contributions WHERE points <> 0) ranked WHERE rn <= {MAX_REASONS}"
        )

    def subjects(self) -> str:
        """Subjects with any record known (whether or not it counts): the left-out count."""
        where = f" WHERE seq < {int(self.known)}" if self.known is not None else ""
        return f"SELECT COUNT(DISTINCT subject) AS subjects FROM records{where}"

    def listings(self) -> str | None:
        """Every record-entered list's listings, one `listing` each."""
        record_lists = [lst for lst in self.rb.lists.values() if lst.by_record]
        return " UNION ALL ".join(self.listing(lst) for lst in record_lists) or None

    def listing(self, lst: ResolvedList) -> str:
        def items(codes: tuple[str, ...]) -> str:
            return "(" + ", ".join(lit(c) for c in codes) + ")"

        def attr(alias: str, name: str) -> str:
            return f"json_extract_string({alias}.attributes, {lit('$.' + name)})"

        kinds = (kind_bit_filter if self.numbered else kind_filter)(lst.spec.subjects, "e.subject")
        cut = self.cut.listing_from[lst.name]
        ext = "0"
        joins = ""
        exit_clause = ""
        if lst.spec.exit:
            m = lst.spec.exit.match
            exit_clause = (
                f" AND NOT EXISTS (SELECT 1 FROM held x WHERE x.subject = e.subject "
                f"AND x.item IN {items(lst.exit_items)} AND x.start >= e.start "
                f"AND {attr('x', m)} = {attr('e', m)})"
            )
        if lst.spec.extension:
            spec = lst.spec.extension
            joins = (
                " LEFT JOIN (SELECT e2.seq, SUM(CAST("
                f"{attr('x', spec.attribute)} AS BIGINT)) AS units FROM held e2 JOIN held x "
                f"ON x.subject = e2.subject AND x.item IN {items(lst.extension_items)} "
                f"AND x.start >= e2.start AND {attr('x', spec.match)} = {attr('e2', spec.match)} "
                f"WHERE e2.item IN {items(lst.entry_items)} GROUP BY e2.seq) g ON g.seq = e.seq"
            )
            ext = "COALESCE(g.units, 0)"
        ladder = " ".join(
            f"WHEN {ext} >= {k} THEN {lit(cut[k])}" for k in range(len(cut) - 1, 0, -1)
        )
        threshold = f"CASE {ladder} ELSE {lit(cut[0])} END" if ladder else lit(cut[0])
        # A listing record counts only while it is public, like any other record.
        public = " ".join(
            f"WHEN {lit(c)} THEN {lit(self.cut.public_from[c])}" for c in lst.entry_items
        )
        return (
            f"SELECT e.subject, {lit(lst.name)} AS list, e.seq, e.start, {ext} AS extension "
            f"FROM held e{joins} WHERE e.item IN {items(lst.entry_items)} AND {kinds}"
            f"{exit_clause} AND e.start >= {threshold} AND e.start >= CASE e.item {public} END"
        )


def compile_program(
    rulebook: Rulebook,
    cutoffs: Cutoffs,
    dialect: str,
    *,
    known_size: int | None = None,
    one_subject: bool = False,
) -> Program:
    """Compile `rulebook` for one as-of date into `dialect` ("sqlite", "duckdb", "postgres")."""
    b = _Builder(rulebook, cutoffs, known_size, one_subject)
    steps: list[tuple[str, str]] = [("held", b.held())]
    reasons = None
    if rulebook.score is not None:
        steps += [
            ("rules", b.rules()),
            ("contributions", b.contributions()),
            ("totals", b.totals()),
        ]
        reasons = b.reasons()
    listings = b.listings()

    def out(sql: str) -> str:
        tree = sqlglot.parse_one(sql, read="duckdb")
        fix = _DIALECT_FIXES.get(dialect)
        return (fix(tree) if fix else tree).sql(dialect=dialect)

    return Program(
        dialect=dialect,
        steps=tuple((name, out(sql)) for name, sql in steps),
        scores=out(b.scores()),
        listings=out(listings) if listings else None,
        reasons=out(reasons) if reasons else None,
        subjects=out(b.subjects()),
        columns=(b.score_columns(), LISTING_COLUMNS, REASON_COLUMNS),
    )


def numbered_listings(
    rulebook: Rulebook, cutoffs: Cutoffs, known_size: int | None = None
) -> str | None:
    """`Program.listings` (DuckDB) over a `held` whose `subject` is the subject's number
    (the batch snapshot's `sid`): the batch engine reads the few records lists look at
    without their subject's text, and groups them by a number."""
    listings = _Builder(rulebook, cutoffs, known_size, one_subject=False, numbered=True).listings()
    return sqlglot.parse_one(listings, read="duckdb").sql(dialect="duckdb") if listings else None


def _postgres(tree: exp.Expr) -> exp.Expr:
    """What PostgreSQL needs beyond SQLGlot's transpilation, so results equal SQLite's.

    `attributes` is TEXT holding a JSON object: PostgreSQL extracts only from
    json, so it is cast first. DuckDB's `//` becomes DIV(), which returns
    numeric; integer `/` truncates, the same as `//` on the non-negative
    operands here, and a BIGINT numerator cannot overflow. SUM of a BIGINT
    is numeric in PostgreSQL (a Python Decimal), so every sum is cast back.
    """

    for extract in tree.find_all(exp.JSONExtractScalar):
        extract.set("this", exp.cast(extract.this, exp.DataType.Type.JSON))

    def integer_division(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.IntDiv):
            return node
        numerator = exp.cast(node.this, exp.DataType.Type.BIGINT)
        return exp.Div(this=numerator, expression=node.expression, typed=True)

    def integer_sum(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Sum) and not isinstance(node.parent, (exp.Cast, exp.Window)):
            return exp.cast(node, exp.DataType.Type.BIGINT)
        return node

    # One rewrite per pass: a node a rewrite returns is not visited again.
    return tree.transform(integer_division).transform(integer_sum)


# Per target dialect, the rewrite of the DuckDB-dialect tree before it is written out.
_DIALECT_FIXES = {"postgres": _postgres}
