"""The `sql` engine: the compiled rulebook run on the store itself.

This is the engine for one subject (a check, `credence explain`, the
portal): one indexed lookup of that subject's records and one statement,
prepared once per rulebook and as-of date, giving its score, listings and
reasons side by side (`_side_by_side`). It can also score everyone, which is
how the batch engine is tested against it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import sqlalchemy as sa

from credence.core.assessment import Assessment
from credence.core.cutoffs import compute_cutoffs
from credence.core.rulebook import Rulebook
from credence.engines.merge import merge_results
from credence.engines.sqlgen import SUBJECT_PARAM, Program, compile_program

_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres"}
# What stops a record counting: a later correction or revocation, or due process (a lapsed
# dispute, a granted repair: the `suppressions` table), each from its ledger entry's seq on.
_CORRECTIONS = (
    "SELECT seq, corrects_seq FROM records WHERE corrects_seq IS NOT NULL "
    "UNION ALL SELECT seq, record_seq AS corrects_seq FROM suppressions"
)
# ... of one subject's records only: found from its records by index (`ix_records_corrects`,
# the suppressions' unique `record_seq`), not by reading every correction in the registry,
# which a check would otherwise do (and index) once a call: linear in the registry's
# corrections, not the subject's records.
_SUBJECT_CORRECTIONS = (
    "SELECT c.seq, c.corrects_seq FROM records t JOIN records c ON c.corrects_seq = t.seq "
    "WHERE t.subject = :subject UNION ALL SELECT s.seq, s.record_seq AS corrects_seq "
    "FROM records t JOIN suppressions s ON s.record_seq = t.seq WHERE t.subject = :subject"
)


def _statement(
    program: Program, final: str, exclude: tuple[int, ...] = (), one_subject: bool = False
) -> sa.TextClause:
    corrections = (_SUBJECT_CORRECTIONS if one_subject else _CORRECTIONS) + "".join(
        f" UNION ALL SELECT 0, {int(seq)}" for seq in exclude
    )
    text = program.with_query(final, ("corrections", corrections))
    return sa.text(text.replace(f"'{SUBJECT_PARAM}'", ":subject"))


def _side_by_side(program: Program) -> str:
    """The program's three results (`scores`, `listings`, `reasons`) as one: each row's
    first column says which it is (0, 1, 2), then each result has columns of its own,
    NULL (of their type: `Program.columns`) in the others' rows.

    One statement, so the subject's records are read (`held`) once, not once a result:
    read three times, a subject with hundreds of records paid for its records' pages
    three times (20-27 ms against 8 for one read: the checks' slowest one in a hundred)."""
    finals = (program.scores, program.listings, program.reasons)
    nulls = [[f"CAST(NULL AS {t})" for t in types] for types in program.columns]
    branches = []
    for part, final in enumerate(finals):
        if final is not None:
            before = [n for pad in nulls[:part] for n in pad]
            after = [n for pad in nulls[part + 1 :] for n in pad]
            columns = ", ".join([f"{part} AS part", *before, "p.*", *after])
            branches.append(f"SELECT {columns} FROM ({final}) p")
    return " UNION ALL ".join(branches)


class StoreEngine:
    """Assess subjects on the registry's own database."""

    def __init__(
        self,
        engine: sa.Engine,
        rulebook: Rulebook,
        as_of: dt.date,
        known_size: int | None = None,
        ledger: dict[str, Any] | None = None,
    ) -> None:
        dialect = _DIALECTS.get(engine.dialect.name)
        if dialect is None:
            raise ValueError(f"no SQL dialect for database '{engine.dialect.name}'")
        self.engine = engine
        self.rulebook = rulebook
        self.as_of = as_of
        self.known_size = known_size
        self.ledger = ledger
        cutoffs = compute_cutoffs(rulebook, as_of)
        self.dialect = dialect
        self._one = compile_program(
            rulebook, cutoffs, dialect, known_size=known_size, one_subject=True
        )
        self._all = compile_program(rulebook, cutoffs, dialect, known_size=known_size)
        self._one_final = _side_by_side(self._one)
        self._one_sql = self._one_statement()
        # Where each result's columns end in a side-by-side row (after its `part` column).
        self._one_ends = list(accumulate((len(t) for t in self._one.columns), initial=1))
        self._all_sql = self._statements(self._all)
        self._conn: sa.Connection | None = None

    def _one_statement(self, exclude: tuple[int, ...] = ()) -> sa.TextClause:
        """One subject's results side by side, its own corrections and `exclude` left out."""
        return _statement(self._one, self._one_final, exclude, one_subject=True)

    @staticmethod
    def _statements(program: Program) -> list[sa.TextClause | None]:
        """Everyone's scores, listings and reasons, three statements, in subject order."""
        order = " ORDER BY 1"
        return [
            _statement(program, program.scores + order),
            _statement(program, program.listings + order) if program.listings else None,
            _statement(program, program.reasons + order) if program.reasons else None,
        ]

    def __enter__(self) -> StoreEngine:
        self._conn = self.engine.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sa.Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def assess(
        self,
        subject: str,
        exclude: tuple[int, ...] = (),
        conn: sa.Connection | None = None,
        ledger: dict[str, Any] | None = None,
    ) -> Assessment:
        """One subject's assessment (the base score and `records` 0 if nothing of theirs counts).

        `exclude`: records to leave out as if corrected away (a check asks what
        would remain without the records under dispute). `conn` and `ledger`: a
        connection and head of the caller's (the service shares one compiled
        engine between threads, each with its own connection).
        """
        conn = conn if conn is not None else self._connection()
        statement = self._one_statement(exclude) if exclude else self._one_sql
        rows = conn.execute(statement, {"subject": subject}).all()
        conn.rollback()  # end the read transaction: never hold a snapshot open between calls
        results: tuple[list[tuple[Any, ...]], ...] = ([], [], [])
        ends = self._one_ends
        for row in rows:
            part = int(row[0])
            results[part].append(tuple(row[ends[part] : ends[part + 1]]))
        scores, listings, reasons = results
        base = self.rulebook.score.base if self.rulebook.score else None
        scored = scores[0] if scores else (subject, base, 0)
        return next(
            merge_results(
                self.rulebook,
                [scored],
                listings,
                reasons,
                self.as_of,
                self.known_size,
                ledger if ledger is not None else self.ledger,
            )
        )

    def assess_all(self) -> Iterator[Assessment]:
        """Every subject the registry holds records on, in subject order."""
        conn = self._connection()
        scores_sql, listings_sql, reasons_sql = self._all_sql
        assert scores_sql is not None
        scores = conn.execute(scores_sql).all()
        listings = conn.execute(listings_sql).all() if listings_sql is not None else []
        reasons = conn.execute(reasons_sql).all() if reasons_sql is not None else []
        conn.rollback()
        yield from merge_results(
            self.rulebook, scores, listings, reasons, self.as_of, self.known_size, self.ledger
        )

    def subjects_held(self) -> int:
        """How many subjects the store holds any record about (up to `known_size`)."""
        conn = self._connection()
        found = conn.execute(sa.text(self._all.subjects)).scalar()
        conn.rollback()
        return int(found or 0)
