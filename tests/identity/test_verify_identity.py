"""`credence verify` checks the `unidentified` table against the `match` ledger entries.

A registry goes through every step (received, proposed, confirmed, disputed,
confirmed again; another match left pending; a record left unmatched) and
verifies clean; then one thing is changed directly in the database, as
someone with write access but no signing key could, and verify must name it.
Expected messages are written here by hand.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from credence.service import matches
from credence.store.schema import records, unidentified
from credence.store.verify import verify_registry
from tests.conftest import PERSON, PERSON_2
from tests.identity.test_matches_api import BORN, REGION, _register, _unidentified
from tests.service.conftest import World, world  # noqa: F401  (the fixture)


@pytest.fixture
def lived(world: World) -> World:  # noqa: F811
    """Match 1 confirmed, disputed and upheld; match 2 pending; record 3 unmatched."""
    w = world
    _register(w, PERSON, "王小明", "Wang Xiaoming", REGION, "R-1")
    _register(w, PERSON_2, "李娜", "Li Na", "310101", "R-2")
    for ref, name, born, region in (
        ("U-1", "Xiaoming Wang", BORN, REGION),
        ("U-2", "Li Na", "1990-02-15", "310101"),
        ("U-3", "张三", "1970-01-01", "110105"),
    ):
        assert _unidentified(w, name, born, region, ref=ref).status_code == 201
    assert matches.resolve(w.service)["matched"] == 2
    assert w.client.post("/v1/matches/1/confirm", headers=w.auth("auditor")).status_code == 200
    why = {"reason": "I have never been before that court"}
    got = w.client.post("/v1/me/matches/1/dispute", json=why, headers=w.auth("person"))
    assert got.status_code == 200
    assert w.client.post("/v1/matches/1/confirm", headers=w.auth("auditor")).status_code == 200
    assert [_row(w, c).status for c in (1, 2, 3)] == ["confirmed", "pending", "unmatched"]
    return w


def _row(w: World, case: int) -> Any:
    with w.service.engine.connect() as conn:
        return conn.execute(sa.select(unidentified).where(unidentified.c.id == case)).one()


def _tamper(w: World, case: int, **values: Any) -> None:
    with w.service.engine.begin() as conn:
        conn.execute(sa.update(unidentified).where(unidentified.c.id == case).values(**values))


def _problems(w: World) -> list[str]:
    return verify_registry(w.registry).problems


def test_every_step_of_identity_resolution_verifies(lived: World) -> None:
    row = _row(lived, 1)
    assert row.record_seq is not None and row.revoked_seq is not None
    assert _problems(lived) == []


def test_a_pending_match_marked_confirmed_is_named(lived: World) -> None:
    last = _row(lived, 2).last_entry
    _tamper(lived, 2, status="confirmed")
    assert _problems(lived) == [
        f"match 2 is confirmed in the store, but ledger entry #{last} says pending "
        "(changed behind the system's back)"
    ]


def test_a_confirmed_match_sent_back_to_pending_is_named(lived: World) -> None:
    last = _row(lived, 1).last_entry
    _tamper(lived, 1, status="pending")
    assert _problems(lived) == [
        f"match 1 is pending in the store, but ledger entry #{last} says confirmed "
        "(changed behind the system's back)"
    ]


def test_a_match_moved_to_another_subject_is_named(lived: World) -> None:
    _tamper(lived, 2, subject=PERSON)
    [problem] = _problems(lived)
    assert problem.startswith("unidentified record 2: its matched subject or evidence differ")


def test_stronger_evidence_written_in_is_named(lived: World) -> None:
    evidence = json.loads(_row(lived, 2).evidence)
    evidence["match_weight"] = 30.0
    _tamper(lived, 2, evidence=json.dumps(evidence, sort_keys=True))
    [problem] = _problems(lived)
    assert problem.startswith("unidentified record 2: its matched subject or evidence differ")


def test_what_the_record_said_changed_is_named(lived: World) -> None:
    _tamper(lived, 3, name="王小明", birth_date=BORN)  # now it would match PERSON
    [problem] = _problems(lived)
    assert problem.startswith(
        "unidentified record 3: its name, birth date, region, item or reference differ"
    )


def test_an_unmatched_record_given_a_subject_is_named(lived: World) -> None:
    _tamper(lived, 3, subject=PERSON)
    assert _problems(lived) == [
        "unidentified record 3 names a subject, but no `proposed` entry does"
    ]


def test_a_row_added_without_its_received_entry_is_named(lived: World) -> None:
    row = dict(_row(lived, 3)._mapping)
    row.update(id=4, reference="U-4")
    with lived.service.engine.begin() as conn:
        conn.execute(sa.insert(unidentified).values(**row))
    assert _problems(lived) == [
        "unidentified record 4 is in the store without its `received` ledger entry"
    ]


def test_a_row_deleted_is_named(lived: World) -> None:
    with lived.service.engine.begin() as conn:
        conn.execute(sa.delete(unidentified).where(unidentified.c.id == 2))
    assert _problems(lived) == ["match 2 is in the ledger but not in the store"]


def test_a_confirmed_match_pointing_elsewhere_is_named(lived: World) -> None:
    row = _row(lived, 1)
    _tamper(lived, 1, record_seq=row.revoked_seq)
    assert _problems(lived) == [
        f"match 1 points to record #{row.revoked_seq}, but its `confirmed` entries name "
        f"#{row.record_seq}"
    ]


def test_a_confirmation_cut_short_is_named_until_it_is_completed(world: World) -> None:  # noqa: F811
    w = world
    _register(w, PERSON, "王小明", "Wang Xiaoming", REGION, "R-1")
    assert _unidentified(w, "王小明", BORN, REGION).status_code == 201
    matches.resolve(w.service)
    row = _row(w, 1)
    fields = {
        "item": row.item,
        "subject": row.subject,
        "reference": row.reference,
        "occurred_on": row.occurred_on,
        "decided_on": row.decided_on,
        "attributes": json.loads(row.attributes),
    }
    seq = matches._append(w.service, row, fields)  # the append, then a "crash"
    assert _problems(w) == [
        f"record #{seq} was appended for match-1, but no `confirmed` entry names it "
        "(a confirmation cut short: confirm it again)"
    ]
    assert w.client.post("/v1/matches/1/confirm", headers=w.auth("auditor")).status_code == 200
    assert _problems(w) == []


def test_a_match_upheld_may_be_disputed_and_upheld_again(lived: World) -> None:
    """Each round of review appends records under new references (one use per source)."""
    w = lived
    assert w.check(PERSON)["decision"] == "deny"  # upheld once
    why = {"reason": "I still have never been before that court"}
    got = w.client.post("/v1/me/matches/1/dispute", json=why, headers=w.auth("person"))
    assert got.status_code == 200, got.text
    assert w.check(PERSON)["decision"] == "allow"  # disputed again: stops counting at once
    assert w.client.post("/v1/matches/1/confirm", headers=w.auth("auditor")).status_code == 200
    assert w.check(PERSON)["decision"] == "deny"  # upheld again: counts again
    with w.service.engine.connect() as conn:
        rows = conn.execute(
            sa.select(records.c.seq, records.c.reference)
            .where(
                records.c.subject == PERSON,
                records.c.item != "administrative.resident-registration",
            )
            .order_by(records.c.seq)
        ).all()
    (_, r1), (_, r2), (s3, r3), (s4, r4), (s5, r5) = rows
    assert [r1, r2, r3] == ["U-1", "match-1-disputed", "match-1-upheld"]
    assert [r4, r5] == [f"match-1-disputed-{s3}", f"match-1-upheld-{s4}"]
    row = _row(w, 1)
    assert (row.status, row.record_seq, row.revoked_seq) == ("confirmed", s5, s4)
    assert _problems(w) == []
