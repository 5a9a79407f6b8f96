"""Every route of the OpenAPI document, called by every role and without a key.

The expected access is written here by hand, route by route, from the issue's
role list, not read from the code: a route the table does not know fails the
test, so a new route cannot ship without deciding who may call it.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from credence.store.schema import access_denials
from tests.conftest import ORG, PERSON, PERSON_2
from tests.service.conftest import World, listed

PUBLIC = "public"
# (method, path template) -> who may call it: PUBLIC, or the roles.
ACCESS: dict[tuple[str, str], str | set[str]] = {
    ("GET", "/v1/health"): PUBLIC,
    ("GET", "/v1/ready"): PUBLIC,
    ("GET", "/v1/catalogue"): PUBLIC,
    ("GET", "/v1/rulebooks"): PUBLIC,
    ("GET", "/v1/rulebooks/{name}"): PUBLIC,
    ("GET", "/v1/organisations"): PUBLIC,
    ("GET", "/v1/organisations/{uscc}"): PUBLIC,
    ("GET", "/v1/ledger/checkpoint"): PUBLIC,
    ("GET", "/v1/ledger/proofs/inclusion"): PUBLIC,
    ("GET", "/v1/ledger/proofs/consistency"): PUBLIC,
    ("POST", "/v1/records"): {"source"},
    ("GET", "/v1/receipts/{seq}"): {"source"},
    ("GET", "/v1/disputes"): {"source"},
    ("POST", "/v1/disputes/{dispute_id}/answer"): {"source"},
    ("GET", "/v1/repairs"): {"source"},
    ("POST", "/v1/repairs/{repair_id}/answer"): {"source"},
    ("POST", "/v1/unidentified"): {"source"},
    ("POST", "/v1/checks"): {"relying-party"},
    ("GET", "/v1/me"): {"subject"},
    ("POST", "/v1/me/disputes"): {"subject"},
    ("POST", "/v1/me/repairs"): {"subject"},
    ("POST", "/v1/me/matches/{match_id}/dispute"): {"subject"},
    ("GET", "/v1/subjects/{subject}"): {"auditor"},
    ("GET", "/v1/inquiries"): {"auditor"},
    ("GET", "/v1/statistics"): {"auditor"},
    ("GET", "/v1/matches"): {"auditor"},
    ("POST", "/v1/matches/{match_id}/confirm"): {"auditor"},
    ("POST", "/v1/matches/{match_id}/reject"): {"auditor"},
    ("GET", "/v1/ledger/records/{seq}"): {"auditor"},
    ("POST", "/v1/sources"): {"admin"},
    ("POST", "/v1/keys"): {"admin"},
    ("GET", "/v1/keys"): {"admin"},
    ("POST", "/v1/keys/{key_id}/revoke"): {"admin"},
    ("POST", "/v1/rulebooks"): {"admin"},
}
CALLERS = {
    "none": None,
    "source": "court",
    "relying-party": "airline",
    "subject": "person",
    "auditor": "auditor",
    "admin": "admin",
}
PATH_VALUES = {
    "name": "gov-default",
    "uscc": ORG.removeprefix("uscc:"),
    "seq": "3",
    "dispute_id": "1",
    "repair_id": "1",
    "match_id": "1",
    "subject": PERSON_2,
    "key_id": "999999",
}
QUERY = {
    "/v1/organisations": {"name": "xinyuan"},
    "/v1/ledger/proofs/inclusion": {"seq": "0"},
    "/v1/ledger/proofs/consistency": {"old": "1"},
    "/v1/inquiries": {"subject": PERSON},
}
BODIES = {
    "/v1/checks": {"subject": PERSON, "purpose": "flight-booking"},
    "/v1/me/disputes": {"seq": 0, "reason": "not mine at all, wrong case"},
    "/v1/me/repairs": {"seq": 0, "statement": "all paid off in full now"},
    "/v1/records": listed(PERSON_2, "C-7"),
    "/v1/sources": {"name": "tax", "items": ["commercial.*"]},
    "/v1/keys": {"role": "auditor", "name": "second-auditor"},
    "/v1/rulebooks": {"rulebook": "gov-default"},
    "/v1/disputes/{dispute_id}/answer": {"outcome": "confirmed", "answer": "confirmed on file"},
    "/v1/repairs/{repair_id}/answer": {"outcome": "refused", "answer": "not rectified yet"},
    "/v1/unidentified": {"records": []},
    "/v1/matches/{match_id}/reject": {"reason": "not the same person at all"},
    "/v1/me/matches/{match_id}/dispute": {"reason": "not me, never lived there"},
}


def _routes(world: World) -> list[tuple[str, str]]:
    spec = world.client.get("/openapi.json").json()
    return sorted((method.upper(), path) for path, ops in spec["paths"].items() for method in ops)


def test_the_table_covers_every_route_in_the_openapi_document(world: World) -> None:
    assert set(_routes(world)) == set(ACCESS)


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_each_role_reaches_exactly_its_routes_and_denials_are_logged(
    world: World, caller: str
) -> None:
    world.submit(listed())
    denied = 0
    for method, template in _routes(world):
        path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], template)
        who = CALLERS[caller]
        headers = world.auth(who) if who else {}
        body = BODIES.get(template) or BODIES.get(path)
        got = world.client.request(
            method, path, headers=headers, params=QUERY.get(template), json=body
        )
        allowed = ACCESS[(method, template)]
        may = allowed == PUBLIC or (caller != "none" and caller in allowed)
        if may:
            assert got.status_code not in (401, 403), (caller, method, template, got.text)
            assert got.status_code < 500, (caller, method, template, got.text)
        else:
            expected = 401 if caller == "none" else 403
            assert got.status_code == expected, (caller, method, template, got.text)
            assert got.headers["content-type"] == "application/problem+json"
            denied += 1
    with world.service.engine.connect() as conn:
        logged = conn.execute(sa.select(sa.func.count()).select_from(access_denials)).scalar()
    assert logged == denied


def test_a_subject_key_never_reads_another_subjects_file(world: World) -> None:
    world.submit(listed(PERSON_2, "C-2"))
    other = world.client.get(f"/v1/subjects/{PERSON_2}", headers=world.auth("person"))
    assert other.status_code == 403
    mine = world.client.get("/v1/me", headers=world.auth("person")).json()
    assert mine["subject"] == PERSON and mine["records"] == []


def test_an_auditors_read_is_logged_and_shown_to_the_person(world: World) -> None:
    got = world.client.get(f"/v1/subjects/{PERSON}", headers=world.auth("auditor"))
    assert got.status_code == 200
    mine = world.client.get("/v1/me", headers=world.auth("person")).json()
    assert [(i["party"], i["action"]) for i in mine["inquiries"]] == [("inspector", "read")]


def test_authentication_failures_say_nothing_about_the_subject(world: World) -> None:
    world.submit(listed())
    known = world.client.get(f"/v1/subjects/{PERSON}", headers={"Authorization": "Bearer x"})
    unknown = world.client.get(f"/v1/subjects/{PERSON_2}", headers={"Authorization": "Bearer x"})
    assert known.status_code == unknown.status_code == 401
    assert known.content == unknown.content
