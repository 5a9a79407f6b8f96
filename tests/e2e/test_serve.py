"""End to end: a real `credence serve` process on loopback, driven over HTTP.

Everything goes through the public surfaces: keys from `credence key issue`
(the key alone on the last line), records, checks, the person's file and a
dispute over the wire, and a clean stop on SIGTERM.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import PERSON, PERSON_2
from tests.serving import cli, issue_key, served_env, serving


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    data = tmp_path_factory.mktemp("e2e") / "data"
    env = served_env(data)
    cli(env, "init")
    cli(env, "source", "add", "court", "--items", "judicial.*")
    keys = {
        "court": issue_key(env, "source", "court-api", "--source", "court"),
        "airline": issue_key(env, "relying-party", "airline", "--purposes", "flight-booking"),
        "person": issue_key(env, "subject", "person-1", "--subject", PERSON),
    }
    log = data.parent / "serve.log"
    with serving(env, log) as (base, proc):
        yield base, keys
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM)
    text = log.read_text()
    assert "Finished server process" in text
    assert PERSON.split(":")[1] not in text  # no resident ID in the server's log
    assert keys["court"] not in text


def _auth(keys: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[who]}"}


def test_a_record_submitted_over_http_changes_the_check_and_the_file(
    server: tuple[str, dict[str, str]],
) -> None:
    base, keys = server
    record = {
        "reference": "E2E-1",
        "item": "judicial.defaulter-listed",
        "subject": PERSON,
        "occurred_on": "2026-05-01",
        "decided_on": "2026-05-02",
        "attributes": {"case_number": "(2026)京0105执9号"},
    }
    with httpx.Client(base_url=base, timeout=10) as http:
        before = http.post(
            "/v1/checks",
            json={"subject": PERSON, "purpose": "flight-booking"},
            headers=_auth(keys, "airline"),
        )
        assert before.json()["decision"] == "allow"
        sent = http.post("/v1/records", json=record, headers=_auth(keys, "court"))
        assert sent.status_code == 201, sent.text
        seq = sent.json()["receipts"][0]["seq"]
        after = http.post(
            "/v1/checks",
            json={"subject": PERSON, "purpose": "flight-booking"},
            headers=_auth(keys, "airline"),
        )
        assert after.json()["decision"] == "deny"
        disputed = http.post(
            "/v1/me/disputes",
            json={"seq": seq, "reason": "The debt was settled before the listing."},
            headers=_auth(keys, "person"),
        )
        assert disputed.status_code == 201, disputed.text
        review = http.post(
            "/v1/checks",
            json={"subject": PERSON, "purpose": "flight-booking"},
            headers=_auth(keys, "airline"),
        )
        assert review.json()["decision"] == "review"
        mine = http.get("/v1/me", headers=_auth(keys, "person")).json()
        assert mine["records"][0]["disputed"] is True
        assert [i["decision"] for i in mine["inquiries"]] == ["review", "deny", "allow"]


def test_errors_over_the_wire_are_problem_documents(server: tuple[str, dict[str, str]]) -> None:
    base, keys = server
    with httpx.Client(base_url=base, timeout=10) as http:
        no_key = http.get("/v1/me")
        assert no_key.status_code == 401
        assert no_key.headers["content-type"] == "application/problem+json"
        wrong = http.get(f"/v1/subjects/{PERSON_2}", headers=_auth(keys, "person"))
        assert wrong.status_code == 403
        bad = http.post(
            "/v1/checks",
            json={"subject": "ric:123", "purpose": "flight-booking"},
            headers=_auth(keys, "airline"),
        )
        assert bad.status_code == 422 and bad.json()["field"] == "subject"
        spec = http.get("/openapi.json").json()
        assert "/v1/checks" in spec["paths"] and http.get("/docs").status_code == 200


def test_the_checkpoint_is_public_and_signed(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    text = httpx.get(f"{base}/v1/ledger/checkpoint", timeout=10).text
    assert text.split("\n")[0].startswith("credence/") and "\n\u2014 " in text
