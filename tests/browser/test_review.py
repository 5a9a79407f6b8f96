"""The auditors' review page (/review) in a real headless Chromium, against `credence serve`.

Two records arrive without an ID, each naming a registered person by name,
birth date and district; `credence identity resolve` makes them pending
matches. The auditor finds the page from /me's sign-in page, is refused with
a subject key, signs in with theirs, sees each match with its evidence,
confirms one (the airline is then refused) and rejects the other (still
allowed). Screenshots at desktop and phone width go to $CREDENCE_ARTIFACTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.test_portal import artefacts, browser, page  # noqa: F401  (fixtures)
from tests.conftest import PERSON, PERSON_2
from tests.serving import cli, issue_key, served_env, serving

pytestmark = pytest.mark.browser
# PERSON: born 1980-01-01, registered in 110105; PERSON_2: born 1990-02-15, in 310101.
PEOPLE = [(PERSON, "王小明", "Wang Xiaoming", "110105"), (PERSON_2, "李娜", "Li Na", "310101")]
SENT = [("Xiaoming Wang", "1980-01-01", "110105"), ("LI Na", "1990-02-15", "310101")]


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("review") / "data"
    env = served_env(data)
    cli(env, "init")
    cli(env, "source", "add", "court", "--items", "judicial.*")
    cli(env, "source", "add", "psb", "--items", "administrative.resident-registration")
    keys = {
        "court": issue_key(env, "source", "court-api", "--source", "court"),
        "psb": issue_key(env, "source", "psb-api", "--source", "psb"),
        "airline": issue_key(env, "relying-party", "airline", "--purposes", "flight-booking"),
        "person": issue_key(env, "subject", "person-1", "--subject", PERSON),
        "auditor": issue_key(env, "auditor", "inspector"),
    }
    with serving(env, data.parent / "serve.log") as (base, _proc):
        for n, (subject, name, latin, region) in enumerate(PEOPLE, start=1):
            _post(base, keys["psb"], "/v1/records", _registration(n, subject, name, latin, region))
        rows = [_unidentified(n, *sent) for n, sent in enumerate(SENT, start=1)]
        _post(base, keys["court"], "/v1/unidentified", {"records": rows})
        assert "2 pending match(es)" in cli(env, "identity", "resolve")
        yield {"base": base, "keys": keys}


def _post(base: str, key: str, path: str, body: dict[str, Any]) -> None:
    got = httpx.post(base + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert got.status_code == 201, got.text


def _registration(n: int, subject: str, name: str, latin: str, region: str) -> dict[str, Any]:
    return {
        "reference": f"R-{n}",
        "item": "administrative.resident-registration",
        "subject": subject,
        "occurred_on": "2020-01-01",
        "attributes": {"name": name, "name_latin": latin, "region": region},
    }


def _unidentified(n: int, name: str, born: str, region: str) -> dict[str, Any]:
    return {
        "reference": f"U-{n}",
        "item": "judicial.defaulter-listed",
        "occurred_on": "2026-03-05",
        "decided_on": "2026-03-05",
        "attributes": {"case_number": f"(2026)京0105执{n}号", "ground": 1},
        "name": name,
        "birth_date": born,
        "region": region,
    }


def _decision(base: str, key: str, subject: str) -> str:
    got = httpx.post(
        base + "/v1/checks",
        json={"subject": subject, "purpose": "flight-booking"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    return str(got.json()["decision"])


def test_an_auditor_reviews_the_matches_and_decides(
    queue: dict[str, Any],
    page: Any,  # noqa: F811
    artefacts: Path,  # noqa: F811
) -> None:
    base, keys = queue["base"], queue["keys"]
    assert _decision(base, keys["airline"], PERSON) == "allow"  # pending: counts for nothing
    page.goto(base + "/me")
    page.get_by_role("link", name="Match review").click()
    page.wait_for_url("**/review")
    page.get_by_label("Auditor key").fill(keys["person"])  # a valid key of another role
    page.get_by_role("button", name="Sign in").click()
    main = page.locator("main").inner_text()
    assert "not a valid auditor key" in main and PERSON not in main and "Xiaoming" not in main
    page.get_by_label("Auditor key").fill(keys["auditor"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/review")
    assert page.get_by_role("heading", level=1).inner_text() == "Probabilistic matches to review"
    first, second = page.locator("[data-match='1']"), page.locator("[data-match='2']")
    assert PERSON in first.locator("[data-candidate]").inner_text()
    assert PERSON_2 in second.locator("[data-candidate]").inner_text()
    said = first.locator("tr[data-field='name']").inner_text()
    assert "Xiaoming Wang" in said and "the same name" in said
    assert "Match weight 16.95, probability 0.999992" in first.inner_text()
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads the key
    page.screenshot(path=str(artefacts / "review.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artefacts / "review-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1200, "height": 900})

    first.get_by_role("button", name="Confirm match 1").click()
    page.wait_for_url("**/review?notice=confirmed-1")
    assert "Match 1 confirmed" in page.locator("[role=status]").inner_text()
    assert _decision(base, keys["airline"], PERSON) == "deny"

    second = page.locator("[data-match='2']")
    second.get_by_label("Why match 2 is wrong").fill("the court's file names another Li Na")
    second.get_by_role("button", name="Reject match 2").click()
    page.wait_for_url("**/review?notice=rejected-2")
    assert "No match is waiting for review." in page.locator("main").inner_text()
    assert _decision(base, keys["airline"], PERSON_2) == "allow"
    page.screenshot(path=str(artefacts / "review-done.png"), full_page=True)
