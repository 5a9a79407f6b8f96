"""The batch engine's listing SQL over records keyed by the subject's number (`sid`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb

from credence.core.catalogue import default_catalogue_path, load_catalogue
from credence.core.cutoffs import compute_cutoffs
from credence.core.rulebook import load_rulebook, resolve_rulebook_path
from credence.engines.sqlgen import numbered_listings

AS_OF = dt.date(2026, 11, 1)


def _listed(rows: Sequence[tuple[int, int, str, str, str | None]]) -> list[tuple[int, str, int]]:
    rulebook = load_rulebook(
        resolve_rulebook_path("gov-default"), load_catalogue(default_catalogue_path())
    )
    sql = numbered_listings(rulebook, compute_cutoffs(rulebook, AS_OF))
    assert sql is not None
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE held (seq BIGINT, subject BIGINT, item VARCHAR, start VARCHAR, "
        "attributes VARCHAR)"
    )
    con.executemany("INSERT INTO held VALUES (?, ?, ?, ?, ?)", rows)
    found = con.execute(f"SELECT subject, list, seq FROM ({sql}) ORDER BY seq").fetchall()
    return [(int(s), str(n), int(q)) for s, n, q in found]


def test_an_organisations_list_takes_organisations_numbers_only() -> None:
    """Serious violators are organisations (even numbers); a person's number (odd) with
    the same record is not listed, whatever the record says."""
    item = "administrative.serious-violation-list"
    rows = [(1, 40, item, "2026-06-01", None), (2, 41, item, "2026-06-01", None)]
    assert _listed(rows) == [(40, "serious-violators", 1)]


def test_performance_ends_a_listing_of_the_same_subject_and_case_only() -> None:
    """A defaulter's listing ends with a performance record of the same case by the same
    subject: another subject's performance of that case number does not end it."""
    listed, done = "judicial.defaulter-listed", "judicial.defaulter-performed"
    case = '{"case_number":"(2026) A 1"}'
    rows = [
        (1, 7, listed, "2026-01-10", case),
        (2, 9, listed, "2026-01-10", case),
        (3, 9, done, "2026-03-01", case),
        (4, 10, done, "2026-03-01", case),
    ]
    assert _listed(rows) == [(7, "judgment-defaulters", 1)]
