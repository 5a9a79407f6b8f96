"""Finding organisations by registered name: folding, substring search, the latest name.

Names and expected matches are written out by hand; the index is fed through
the API as a market regulator would feed it.
"""

from __future__ import annotations

from typing import Any

import pytest

from credence.service.keys import issue_key
from credence.service.names import search_key
from credence.store.registry import Registry
from tests.conftest import ORG, ORG_LETTER, PERSON
from tests.service.conftest import World

CODE = ORG.removeprefix("uscc:")


def registration(
    subject: str, reference: str, name: str, latin: str | None = None, day: str = "2026-01-05"
) -> dict[str, Any]:
    attributes: dict[str, Any] = {"name": name, "region": subject[7:13]}
    if latin:
        attributes["name_latin"] = latin
    return {
        "reference": reference,
        "item": "administrative.business-registration",
        "subject": subject,
        "occurred_on": day,
        "decided_on": day,
        "attributes": attributes,
    }


def _regulator(world: World) -> dict[str, str]:
    registry: Registry = world.registry
    registry.add_source("market-regulator", ["administrative.business-*"])
    key = issue_key(registry, "source", "mr-api", source="market-regulator")[0]
    return {"Authorization": f"Bearer {key}"}


def _send(world: World, auth: dict[str, str], *records: dict[str, Any]) -> list[int]:
    got = world.client.post("/v1/records", json={"records": list(records)}, headers=auth)
    assert got.status_code == 201, got.text
    return [r["seq"] for r in got.json()["receipts"]]


def _find(world: World, name: str) -> list[str]:
    got = world.client.get("/v1/organisations", params={"name": name})
    assert got.status_code == 200, got.text
    return [o["uscc"] for o in got.json()["organisations"]]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Chaoyang Xinyuan Maoyi", "chaoyangxinyuanmaoyi"),
        ("  XIN-yuan ", "xinyuan"),
        ("鑫源（北京）贸易", "鑫源北京贸易"),  # full-width brackets folded away
        ("ＡＢＣ", "abc"),  # full-width Latin letters
        ("A.B. & Co.,Ltd", "abcoltd"),
    ],
)
def test_search_keys_fold_case_spacing_and_width(text: str, key: str) -> None:
    assert search_key(text) == key


def test_a_name_is_found_by_any_part_in_chinese_or_latin(world: World) -> None:
    auth = _regulator(world)
    _send(
        world,
        auth,
        registration(ORG, "R-1", "朝阳鑫源贸易有限公司", "Chaoyang Xinyuan Maoyi Youxian Gongsi"),
        registration(
            ORG_LETTER, "R-2", "海淀明达科技专业合作社", "Haidian Mingda Keji Zhuanye Hezuoshe"
        ),
    )
    letter = ORG_LETTER.removeprefix("uscc:")
    assert _find(world, "鑫源") == [CODE]
    assert _find(world, "鑫源 贸易") == [CODE]
    assert _find(world, "xin yuan") == [CODE]
    assert _find(world, "XINYUANMAOYI") == [CODE]
    assert _find(world, "mingda keji") == [letter]
    assert sorted(_find(world, "gongsi")) == [CODE]
    assert sorted(_find(world, "有")) == [CODE]
    assert _find(world, "鑫源科技") == []


def test_the_latest_registration_is_the_current_name(world: World) -> None:
    auth = _regulator(world)
    _send(world, auth, registration(ORG, "R-1", "朝阳鑫源贸易有限公司", day="2025-01-05"))
    assert _find(world, "鑫源") == [CODE]
    _send(world, auth, registration(ORG, "R-2", "朝阳华盛物流有限公司", day="2026-02-01"))
    assert _find(world, "鑫源") == []
    assert _find(world, "华盛") == [CODE]
    page = world.client.get(f"/v1/organisations/{CODE}").json()
    assert page["name"] == "朝阳华盛物流有限公司"
    assert page["region"] == CODE[2:8]


def test_a_revoked_registration_is_no_longer_found(world: World) -> None:
    auth = _regulator(world)
    _send(world, auth, registration(ORG, "R-1", "朝阳鑫源贸易有限公司"))
    assert _find(world, "鑫源") == [CODE]
    revoke = {
        "reference": "R-1-REVOKED",
        "item": "revocation",
        "subject": ORG,
        "occurred_on": "2026-02-01",
        "corrects": "R-1",
    }
    _send(world, auth, revoke)
    assert _find(world, "鑫源") == []


def test_many_matches_are_cut_with_a_flag(world: World) -> None:
    from credence.core.ids import make_uscc

    auth = _regulator(world)
    records = [
        registration(
            "uscc:" + make_uscc(f"9111010560{n:07d}"), f"R-{n}", f"朝阳鑫源{n}号贸易有限公司"
        )
        for n in range(60)
    ]
    _send(world, auth, *records)
    got = world.client.get("/v1/organisations", params={"name": "鑫源"}).json()
    assert len(got["organisations"]) == got["limit"] == 50
    assert got["more"] is True


def test_a_person_is_never_found_by_name_or_number(world: World) -> None:
    world.submit(
        {
            "reference": "C-9",
            "item": "judicial.defaulter-listed",
            "subject": PERSON,
            "occurred_on": "2026-03-05",
            "decided_on": "2026-03-05",
            "attributes": {"case_number": "(2026)京0105执9号"},
        }
    )
    assert _find(world, PERSON.removeprefix("ric:")) == []
    assert _find(world, "执") == []  # attributes of other items are not names


def test_an_empty_name_is_refused_with_its_field(world: World) -> None:
    got = world.client.get("/v1/organisations", params={"name": ""})
    assert got.status_code == 422
    assert "name" in got.text


def test_latin_letters_inside_a_chinese_name_are_found(world: World) -> None:
    auth = _regulator(world)
    _send(world, auth, registration(ORG, "R-1", "北京ABC科技有限公司"))  # no Latin name
    assert _find(world, "abc") == [CODE]
    assert _find(world, "ABC科技") == [CODE]
    assert _find(world, "xyz") == []
