"""The portal in a real headless Chromium (Debian's package), against a real `credence serve`.

Run with `-m browser` (.ci/run does). Each page visited is saved as a
screenshot under $CREDENCE_ARTIFACTS (default: the test's temporary
directory) so that a person can look at what a user sees.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ORG, PERSON
from tests.serving import cli, issue_key, served_env, serving

pytestmark = pytest.mark.browser
ORG_NAME = "朝阳鑫源贸易有限公司"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("CREDENCE_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A served registry: a listed organisation and a listed person, with keys."""
    data = tmp_path_factory.mktemp("portal") / "data"
    env = served_env(data)
    cli(env, "init")
    cli(env, "source", "add", "court", "--items", "judicial.*")
    cli(env, "source", "add", "market-regulator", "--items", "administrative.business-*")
    keys = {
        "regulator": issue_key(env, "source", "mr-api", "--source", "market-regulator"),
        "court": issue_key(env, "source", "court-api", "--source", "court"),
        "airline": issue_key(env, "relying-party", "airline", "--purposes", "flight-booking"),
        "person": issue_key(env, "subject", "person-1", "--subject", PERSON),
    }
    with serving(env, data.parent / "serve.log") as (base, _proc):
        yield _populated(base, keys)


def _populated(base: str, keys: dict[str, str]) -> dict[str, Any]:
    """A listed organisation (with its registered name) and a listed person."""
    records = [
        {
            "reference": f"BR-{n}",
            "item": "judicial.defaulter-listed",
            "subject": subject,
            "occurred_on": "2026-03-01",
            "decided_on": "2026-03-02",
            "attributes": {"case_number": f"(2026)京0105执{n}号"},
        }
        for n, subject in enumerate((ORG, PERSON), start=1)
    ]
    sent = httpx.post(
        f"{base}/v1/records",
        json={"records": records},
        headers={"Authorization": f"Bearer {keys['court']}"},
        timeout=30,
    )
    assert sent.status_code == 201, sent.text
    seqs = [r["seq"] for r in sent.json()["receipts"]]
    named = httpx.post(
        f"{base}/v1/records",
        json={
            "reference": "REG-1",
            "item": "administrative.business-registration",
            "subject": ORG,
            "occurred_on": "2020-05-01",
            "attributes": {
                "name": ORG_NAME,
                "name_latin": "Chaoyang Xinyuan Maoyi Youxian Gongsi",
                "region": "110105",
            },
        },
        headers={"Authorization": f"Bearer {keys['regulator']}"},
        timeout=30,
    )
    assert named.status_code == 201, named.text
    return {"base": base, "keys": keys, "org_seq": seqs[0], "person_seq": seqs[1]}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium package is not installed (apt-get install chromium)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


def test_search_by_part_of_a_name_opens_the_organisation_page_with_its_chart(
    site: dict[str, Any], page: Any, artefacts: Path
) -> None:
    page.goto(site["base"] + "/")
    page.screenshot(path=str(artefacts / "home.png"), full_page=True)
    code = ORG.removeprefix("uscc:")
    page.get_by_label("Organisation name").fill("xin yuan")  # part of it, Latin, spaced
    page.get_by_role("button", name="Search").click()
    result = page.get_by_role("link", name=ORG_NAME)
    assert result.is_visible()
    page.screenshot(path=str(artefacts / "search.png"), full_page=True)
    result.click()
    page.wait_for_url(f"**/organisations/{code}")
    assert page.get_by_role("heading", level=1).inner_text() == ORG_NAME
    black = page.locator(".list-black")
    assert black.count() == 1
    assert f"#{site['org_seq']}" in black.inner_text()
    chart = page.get_by_role("img", name="Score at each month end")
    assert chart.is_visible()
    page.screenshot(path=str(artefacts / "organisation.png"), full_page=True)


def test_a_code_typed_loosely_finds_the_organisation(site: dict[str, Any], page: Any) -> None:
    code = ORG.removeprefix("uscc:")
    page.goto(site["base"] + "/")
    page.get_by_label("Organisation name").fill(f" {code[:9].lower()} {code[9:]} ")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"**/organisations/{code}")


def test_a_person_is_never_public(site: dict[str, Any], page: Any, artefacts: Path) -> None:
    person = PERSON.removeprefix("ric:")
    page.goto(site["base"] + f"/?q={person}")
    assert "No organisation's registered name contains" in page.locator("main").inner_text()
    response = page.goto(site["base"] + f"/organisations/{person}")
    assert response is not None and response.status == 422  # not an organisation's code
    assert "Unified Social Credit Code" in page.locator("main").inner_text()
    assert f"#{site['person_seq']}" not in page.locator("main").inner_text()
    response = page.goto(site["base"] + "/me")
    assert response is not None and response.status == 401
    assert page.get_by_label("Subject key").is_visible()
    assert str(site["person_seq"]) not in page.locator("main").inner_text()
    page.get_by_label("Subject key").fill(site["keys"]["airline"])  # a valid key, wrong role
    page.get_by_role("button", name="Sign in").click()
    assert "not a valid subject key" in page.locator("main").inner_text()
    page.screenshot(path=str(artefacts / "sign-in-refused.png"), full_page=True)


def test_a_check_shows_in_the_file_and_a_dispute_marks_the_record(
    site: dict[str, Any], page: Any, artefacts: Path
) -> None:
    checked = httpx.post(
        site["base"] + "/v1/checks",
        json={"subject": PERSON, "purpose": "flight-booking"},
        headers={"Authorization": f"Bearer {site['keys']['airline']}"},
        timeout=10,
    )
    assert checked.json()["decision"] == "deny"
    page.goto(site["base"] + "/me")
    page.get_by_label("Subject key").fill(site["keys"]["person"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/me")
    looked = page.locator("tr.inquiry")
    assert looked.count() >= 1
    assert "airline" in looked.first.inner_text()
    assert "flight-booking" in looked.first.inner_text()
    row = page.locator(f"#record-{site['person_seq']}")
    assert row.locator("[data-disputed]").count() == 0
    row.get_by_label(f"Why record {site['person_seq']} is wrong").fill(
        "The debt was paid before the listing."
    )
    row.get_by_role("button", name="Dispute").click()
    page.wait_for_url("**/me?notice=*")
    row = page.locator(f"#record-{site['person_seq']}")
    assert row.locator("[data-disputed]").inner_text() == "disputed"
    assert "open" in page.locator("#disputes").inner_text()
    page.screenshot(path=str(artefacts / "my-file.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artefacts / "my-file-phone.png"), full_page=True)


@pytest.mark.parametrize(
    "path", ["/catalogue", "/rulebooks", "/lists", "/ledger", "/statistics", "/simulation"]
)
def test_public_pages_render(site: dict[str, Any], page: Any, artefacts: Path, path: str) -> None:
    response = page.goto(site["base"] + path)
    assert response is not None and response.status == 200
    assert page.get_by_role("heading", level=1).is_visible()
    if path == "/lists":  # computed in the background: the page refreshes itself until done
        page.wait_for_selector("#sizes-h", timeout=120_000)
        assert page.locator("tr.list-black-row").count() == 1  # the organisation; never a person
    page.screenshot(path=str(artefacts / f"{path.strip('/')}.png"), full_page=True)
