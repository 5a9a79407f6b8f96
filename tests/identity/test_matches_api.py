"""A record without a valid ID, through the API: matched, reviewed, disputed.

Expected decisions are the gov-default rulebook's, written by hand (as in
tests/service): a judgment defaulter may not fly. The person here is listed
only through a record that named them by name, birth date and district, so
the restriction must apply exactly while an auditor's confirmation stands.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from credence.service import matches
from credence.service.keys import issue_key
from credence.store.schema import unidentified
from credence.store.verify import verify_registry
from tests.conftest import PERSON, PERSON_2
from tests.service.conftest import World, world  # noqa: F401  (the fixture)

# PERSON is ric 110105 19800101 123x: born 1 January 1980, registered in Chaoyang (110105).
BORN, REGION = "1980-01-01", "110105"


def _register(w: World, subject: str, name: str, latin: str, region: str, ref: str) -> None:
    w.registry.add_source("psb", ["administrative.resident-registration"])
    if "psb" not in w.keys:
        w.keys["psb"] = issue_key(w.registry, "source", "psb-api", source="psb")[0]
    body = {
        "reference": ref,
        "item": "administrative.resident-registration",
        "subject": subject,
        "occurred_on": "2020-01-01",
        "attributes": {"name": name, "name_latin": latin, "region": region},
    }
    got = w.client.post("/v1/records", json=body, headers=w.auth("psb"))
    assert got.status_code == 201, got.text


def _unidentified(w: World, name: str, born: str, region: str, ref: str = "U-1") -> Any:
    row = {
        "reference": ref,
        "item": "judicial.defaulter-listed",
        "occurred_on": "2026-03-05",
        "decided_on": "2026-03-05",
        "attributes": {"case_number": "(2026)京0105执9号", "ground": 1},
        "name": name,
        "birth_date": born,
        "region": region,
    }
    return w.client.post("/v1/unidentified", json={"records": [row]}, headers=w.auth("court"))


def _decision(w: World) -> str:
    return str(w.check(PERSON)["decision"])


def test_a_restriction_applies_only_while_an_auditor_confirms_the_match(world: World) -> None:  # noqa: F811
    w = world
    _register(w, PERSON, "王小明", "Wang Xiaoming", REGION, "R-1")
    _register(w, PERSON_2, "王小明", "Wang Xiaoming", "310101", "R-2")  # a namesake
    assert _unidentified(w, "Xiaoming Wang", BORN, REGION).status_code == 201
    assert matches.resolve(w.service)["matched"] == 1
    assert _decision(w) == "allow"  # pending: counts for nothing

    mine = w.client.get("/v1/me", headers=w.auth("person")).json()
    [match] = mine["matches"]
    assert match["status"] == "pending" and match["probabilistic"] is True
    assert match["evidence"]["agreed"] == ["birth_date", "name", "region"]
    assert w.client.get("/v1/me", headers=w.auth("person2")).json()["matches"] == []

    queue = w.client.get("/v1/matches", headers=w.auth("auditor")).json()["matches"]
    assert [m["id"] for m in queue] == [match["id"]]
    got = w.client.post(f"/v1/matches/{match['id']}/confirm", headers=w.auth("auditor"))
    assert got.status_code == 200, got.text
    assert _decision(w) == "deny"

    why = {"reason": "I have never been before that court"}
    got = w.client.post(f"/v1/me/matches/{match['id']}/dispute", json=why, headers=w.auth("person"))
    assert got.status_code == 200, got.text
    assert got.json()["status"] == "disputed"
    assert _decision(w) == "allow"  # disputed: stops counting at once
    queue = w.client.get("/v1/matches", headers=w.auth("auditor")).json()["matches"]
    assert [m["status"] for m in queue] == ["disputed"]

    reason = {"reason": "the court confirms a different person"}
    got = w.client.post(f"/v1/matches/{match['id']}/reject", json=reason, headers=w.auth("auditor"))
    assert got.json()["status"] == "rejected"
    assert _decision(w) == "allow"
    assert w.client.get("/v1/matches", headers=w.auth("auditor")).json()["matches"] == []
    assert verify_registry(w.registry).ok


def test_name_only_agreement_is_left_unmatched(world: World) -> None:  # noqa: F811
    w = world
    _register(w, PERSON, "王小明", "Wang Xiaoming", REGION, "R-1")
    assert _unidentified(w, "王小明", "1980-01-02", REGION).status_code == 201
    assert _unidentified(w, "王小明", BORN, "310101", ref="U-2").status_code == 201
    assert matches.resolve(w.service)["matched"] == 0
    assert w.client.get("/v1/me", headers=w.auth("person")).json()["matches"] == []


def test_two_namesakes_with_the_same_birth_date_and_district_are_never_linked(
    world: World,  # noqa: F811
) -> None:
    w = world
    twin = "ric:11010519800101456X"  # born the same day in the same district
    _register(w, PERSON, "李娜", "Li Na", REGION, "R-1")
    _register(w, twin, "李娜", "Li Na", REGION, "R-2")
    assert _unidentified(w, "Na Li", BORN, REGION).status_code == 201
    assert matches.resolve(w.service) == {
        "considered": 1,
        "pairs": 4,
        "matched": 0,
        "ambiguous": 1,
    }


def test_an_unidentified_record_with_a_bad_field_is_refused_naming_it(world: World) -> None:  # noqa: F811
    got = _unidentified(world, "王小明", "1980-02-30", REGION)
    assert got.status_code == 422
    assert got.json()["field"] == "records[0].birth_date"
    got = _unidentified(world, "王小明", BORN, "11010")
    assert got.json()["field"] == "records[0].region"


def test_the_portal_shows_the_match_with_its_evidence_and_takes_a_dispute(
    world: World,  # noqa: F811
) -> None:
    w = world
    _register(w, PERSON, "王小明", "Wang Xiaoming", REGION, "R-1")
    assert _unidentified(w, "WANG Xiao-ming", BORN, REGION).status_code == 201
    matches.resolve(w.service)
    w.client.post("/me/sign-in", data={"key": w.keys["person"]})
    page = w.client.get("/me").text
    assert 'data-match="1"' in page
    assert "WANG Xiao-ming, born 1980-01-01, region 110105" in page
    assert "agreed: birth_date, name, region" in page
    assert "counts for nothing until confirmed" in page
    got = w.client.post(
        "/me/matches/dispute",
        data={"match": "1", "reason": "I was never at that court"},
        follow_redirects=False,
    )
    assert got.status_code == 303 and got.headers["location"] == "/me?notice=match-1#matches"
    queue = w.client.get("/v1/matches", headers=w.auth("auditor")).json()["matches"]
    assert [(m["id"], m["status"]) for m in queue] == [(1, "disputed")]


def test_a_confirmation_cut_short_after_the_append_completes_when_repeated(
    world: World,  # noqa: F811
) -> None:
    w = world
    _register(w, PERSON, "王小明", "Wang Xiaoming", REGION, "R-1")
    assert _unidentified(w, "王小明", BORN, REGION).status_code == 201
    matches.resolve(w.service)
    with w.service.engine.connect() as conn:
        row = conn.execute(sa.select(unidentified).where(unidentified.c.id == 1)).one()
    first = matches._append(w.service, row, _fields(row))  # the append, then a "crash"
    assert _decision(w) == "deny"  # the record itself counts once it is in the ledger
    got = w.client.post("/v1/matches/1/confirm", headers=w.auth("auditor"))
    assert got.status_code == 200, got.text
    assert got.json()["status"] == "confirmed" and got.json()["record_seq"] == first


def _fields(row: Any) -> dict[str, Any]:
    import json

    return {
        "item": row.item,
        "subject": row.subject,
        "reference": row.reference,
        "occurred_on": row.occurred_on,
        "decided_on": row.decided_on,
        "attributes": json.loads(row.attributes),
    }
