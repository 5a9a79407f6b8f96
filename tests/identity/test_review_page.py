"""The auditors' review page (/review) through the app: sign-in, the queue, decisions.

The expected evidence is worked out by hand from docs/identity.md's table, not
read from credence.identity.model: a record naming PERSON by a reordered Latin
name with their birth date and district agrees exactly on all three fields, so
its match weight is log2(1e-5 / (1 - 1e-5)) + log2(0.85 / 0.0005)
+ log2(0.93 / 0.00005) + log2(0.80 / 0.002) = -16.6096 + 10.7313 + 14.1830
+ 8.6439 = 16.9486, and its probability 2^w / (1 + 2^w) = 0.999992.
"""

from __future__ import annotations

import re

import pytest

from credence.service import matches
from tests.conftest import PERSON
from tests.identity.test_matches_api import BORN, REGION, _register, _unidentified
from tests.service.conftest import World, world  # noqa: F401  (the fixture)

RIC = PERSON.removeprefix("ric:")


@pytest.fixture
def queued(world: World) -> World:  # noqa: F811
    """One pending match: PERSON named as "Xiaoming Wang", born BORN, living in REGION."""
    _register(world, PERSON, "王小明", "Wang Xiaoming", REGION, "R-1")
    assert _unidentified(world, "Xiaoming Wang", BORN, REGION).status_code == 201
    assert matches.resolve(world.service)["matched"] == 1
    return world


def _sign_in(w: World, who: str = "auditor") -> None:
    got = w.client.post("/review/sign-in", data={"key": w.keys[who]}, follow_redirects=False)
    assert got.status_code == 303, got.text


def _status(w: World) -> str:
    return str(w.client.get("/v1/me", headers=w.auth("person")).json()["matches"][0]["status"])


def _auditor_reads(w: World) -> list[dict[str, object]]:
    inquiries = w.client.get("/v1/me", headers=w.auth("person")).json()["inquiries"]
    return [q for q in inquiries if q["party"] == "inspector"]


def test_the_review_page_needs_an_auditor_key_and_reveals_nothing_without_one(
    queued: World,
) -> None:
    w = queued
    page = w.client.get("/review")
    assert page.status_code == 401
    assert 'name="key"' in page.text and "Auditor key" in page.text
    bad = "cred_aud_" + "x" * 43
    refusals = [w.client.post("/review/sign-in", data={"key": key}) for key in (bad,)]
    refusals += [
        w.client.post("/review/sign-in", data={"key": w.keys[who]})
        for who in ("person", "admin", "court", "airline")
    ]
    for got in refusals:
        assert got.status_code == 401
        assert "not a valid auditor key" in got.text
        assert "set-cookie" not in got.headers
        assert RIC not in got.text and "Xiaoming" not in got.text
    # The refusal reads the same whatever key was sent: nothing tells them apart.
    assert len({re.sub(r"\s+", " ", r.text) for r in refusals}) == 1
    assert _auditor_reads(w) == []


def test_a_subject_key_in_the_auditor_cookie_is_refused_and_decides_nothing(
    queued: World,
) -> None:
    w = queued
    w.client.cookies.set("credence_auditor_key", w.keys["person"], path="/review")
    assert w.client.get("/review").status_code == 401
    got = w.client.post("/review/confirm", data={"match": "1"}, follow_redirects=False)
    assert got.status_code == 401 and "not a valid auditor key" not in got.text
    assert _status(w) == "pending"
    assert _auditor_reads(w) == []


def test_the_auditor_sees_the_match_with_its_evidence_and_each_person_is_logged(
    queued: World,
) -> None:
    w = queued
    signed = w.client.post(
        "/review/sign-in", data={"key": w.keys["auditor"]}, follow_redirects=False
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/review"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("credence_auditor_key=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/review" in cookie
    page = w.client.get("/review")
    assert page.status_code == 200
    card = re.search(r'<section class="card match" id="match-1".*?</section>', page.text, re.S)
    assert card is not None
    text = card.group(0)
    assert f'<span class="code" data-candidate>{PERSON}</span> (person)' in text
    assert "Match weight <strong>16.95</strong>, probability <strong>0.999992</strong>" in text
    assert "(threshold 0.99)" in text
    rows = dict(re.findall(r'<tr data-field="(\w+)">(.*?)</tr>', text, re.S))
    assert rows.keys() == {"name", "birth_date", "region"}
    assert '<td class="said">Xiaoming Wang</td><td>the same name</td><td>yes</td>' in rows["name"]
    assert (
        '<td class="said">1980-01-01</td><td>the same date</td><td>yes</td>' in rows["birth_date"]
    )
    assert '<td class="said">110105</td><td>the same district</td><td>yes</td>' in rows["region"]
    assert 'action="/review/confirm"' in text and 'action="/review/reject"' in text
    # One read of the person logged for this page view, as GET /v1/matches logs it.
    reads = _auditor_reads(w)
    assert [(q["role"], q["action"], q["purpose"]) for q in reads] == [
        ("auditor", "read", "match-review")
    ]


def test_confirming_on_the_page_makes_the_restriction_apply(queued: World) -> None:
    w = queued
    _sign_in(w)
    assert w.check(PERSON)["decision"] == "allow"  # pending: counts for nothing
    got = w.client.post("/review/confirm", data={"match": "1"}, follow_redirects=False)
    assert got.status_code == 303 and got.headers["location"] == "/review?notice=confirmed-1"
    assert _status(w) == "confirmed"
    assert w.check(PERSON)["decision"] == "deny"
    page = w.client.get("/review?notice=confirmed-1")
    assert "Match 1 confirmed" in page.text and "No match is waiting for review." in page.text
    again = w.client.post("/review/confirm", data={"match": "1"})
    assert again.status_code == 409 and "match 1 is confirmed" in again.text


def test_rejecting_on_the_page_needs_a_reason_and_the_record_never_counts(
    queued: World,
) -> None:
    w = queued
    _sign_in(w)
    short = w.client.post("/review/reject", data={"match": "1", "reason": "no"})
    assert short.status_code == 422 and "The reason:" in short.text
    assert _status(w) == "pending"
    why = "the court's file names a different person"
    got = w.client.post(
        "/review/reject", data={"match": "1", "reason": why}, follow_redirects=False
    )
    assert got.status_code == 303 and got.headers["location"] == "/review?notice=rejected-1"
    assert _status(w) == "rejected"
    assert w.check(PERSON)["decision"] == "allow"
    assert w.client.get("/v1/matches", headers=w.auth("auditor")).json()["matches"] == []


def test_an_unknown_match_is_named_and_nothing_changes(queued: World) -> None:
    w = queued
    _sign_in(w)
    for value, status in (("x", 404), ("99", 404), ("", 404)):
        got = w.client.post("/review/confirm", data={"match": value})
        assert got.status_code == status, value
        assert "The match:" in got.text
    assert _status(w) == "pending"


def test_a_disputed_match_returns_to_the_page_and_may_be_upheld(queued: World) -> None:
    w = queued
    _sign_in(w)
    w.client.post("/review/confirm", data={"match": "1"})
    why = {"reason": "I have never been before that court"}
    got = w.client.post("/v1/me/matches/1/dispute", json=why, headers=w.auth("person"))
    assert got.status_code == 200 and w.check(PERSON)["decision"] == "allow"
    page = w.client.get("/review")
    assert '<strong class="status-disputed">disputed</strong>: the person disputes it' in page.text
    w.client.post("/review/confirm", data={"match": "1"})
    assert _status(w) == "confirmed" and w.check(PERSON)["decision"] == "deny"


def test_the_person_sign_in_page_links_to_the_review(world: World) -> None:  # noqa: F811
    page = world.client.get("/me")
    assert '<a href="/review">Match review</a>' in page.text
    out = world.client.post("/review/sign-out", follow_redirects=False)
    assert out.status_code == 303
    assert 'credence_auditor_key=""' in out.headers["set-cookie"]
    assert "Path=/review" in out.headers["set-cookie"]
