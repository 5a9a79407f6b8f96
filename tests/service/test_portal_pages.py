"""The portal's pages through the app (no browser): what each shows, and to whom.

The browser tier (tests/browser, -m browser) drives the same pages in Chromium.
"""

from __future__ import annotations

import re

from credence.service import rulebooks
from tests.conftest import ORG, PERSON
from tests.service.conftest import World, listed

CODE = ORG.removeprefix("uscc:")
RIC = PERSON.removeprefix("ric:")


def test_home_finds_an_organisation_by_its_code_typed_loosely(world: World) -> None:
    page = world.client.get("/")
    assert page.status_code == 200
    assert 'href="/portal-static/portal.css"' in page.text
    got = world.client.get(
        "/", params={"q": f"  {CODE[:6].lower()} {CODE[6:]} "}, follow_redirects=False
    )
    assert got.status_code == 303
    assert got.headers["location"] == f"/organisations/{CODE}"


def test_a_resident_id_is_not_looked_up(world: World) -> None:
    world.submit(listed(PERSON))
    got = world.client.get("/", params={"q": RIC}, follow_redirects=False)
    assert got.status_code == 200
    assert "No organisation's registered name contains" in got.text
    page = world.client.get(f"/organisations/{RIC}")
    assert page.status_code == 422
    assert "Unified Social Credit Code" in page.text
    assert "defaulter" not in page.text.lower()


def test_the_organisation_page_shows_its_listing_record_and_chart(world: World) -> None:
    sent = world.submit(listed(ORG, reference="C-ORG"))
    seq = sent["receipts"][0]["seq"]
    page = world.client.get(f"/organisations/{CODE}")
    assert page.status_code == 200
    assert f"Organisation <code>{CODE}</code>" in page.text
    listing = re.search(r'<li class="list-black">(.*?)</li>', page.text, re.S)
    assert listing is not None and f"#{seq}" in listing.group(1)
    assert 'aria-label="Score at each month end"' in page.text
    # 12 month ends and today, each a point with its value in the table
    assert page.text.count("<circle") == 13


def test_an_unknown_organisation_is_a_clear_404(world: World) -> None:
    page = world.client.get(f"/organisations/{CODE}")
    assert page.status_code == 404
    assert "no organisation with this code" in page.text


def test_my_file_needs_a_subject_key(world: World) -> None:
    world.submit(listed(PERSON))
    page = world.client.get("/me")
    assert page.status_code == 401
    assert 'name="key"' in page.text and "judgment defaulter" not in page.text
    wrong = world.client.post("/me/sign-in", data={"key": world.keys["airline"]})
    assert wrong.status_code == 401
    assert "not a valid subject key" in wrong.text
    assert "credence_subject_key" not in wrong.headers.get("set-cookie", "")


def test_a_person_signs_in_sees_who_looked_and_disputes(world: World) -> None:
    seq = world.submit(listed(PERSON))["receipts"][0]["seq"]
    world.check(PERSON)
    signed = world.client.post(
        "/me/sign-in", data={"key": world.keys["person"]}, follow_redirects=False
    )
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/me" in cookie
    page = world.client.get("/me")
    assert page.status_code == 200
    assert re.search(r'<tr class="inquiry">.*?airline.*?flight-booking.*?deny', page.text, re.S)
    row = re.search(rf'<tr id="record-{seq}".*?</tr>', page.text, re.S)
    assert row is not None and "data-disputed" not in row.group(0)
    filed = world.client.post(
        "/me/disputes",
        data={"seq": str(seq), "reason": "The debt was paid before the listing."},
        follow_redirects=False,
    )
    assert filed.status_code == 303, filed.text
    page = world.client.get("/me")
    row = re.search(rf'<tr id="record-{seq}".*?</tr>', page.text, re.S)
    assert row is not None and 'data-disputed="yes"' in row.group(0)
    api = world.client.get("/v1/me", headers=world.auth("person")).json()
    assert [d["status"] for d in api["disputes"]] == ["open"]
    out = world.client.post("/me/sign-out", follow_redirects=False)
    assert out.status_code == 303
    assert world.client.get("/me").status_code == 401


def test_a_bad_dispute_says_which_field(world: World) -> None:
    seq = world.submit(listed(PERSON))["receipts"][0]["seq"]
    world.client.post("/me/sign-in", data={"key": world.keys["person"]})
    got = world.client.post("/me/disputes", data={"seq": str(seq), "reason": "no"})
    assert got.status_code == 422
    assert "The reason:" in got.text


def test_rulebook_history_and_a_readable_diff(world: World) -> None:
    first = rulebooks.publish(world.registry, "gov-default")
    second = rulebooks.publish(world.registry, "suining-2010")
    page = world.client.get("/rulebooks")
    assert page.status_code == 200
    assert f"#{first.seq}" in page.text and f"#{second.seq}" in page.text
    diff = world.client.get("/rulebooks", params={"old": first.seq, "new": second.seq})
    assert '<span class="del">-rulebook: gov-default</span>' in diff.text
    assert '<span class="add">+rulebook: suining-2010</span>' in diff.text
    same = world.client.get("/rulebooks", params={"old": first.seq, "new": first.seq})
    assert "No difference to show" in same.text


def test_public_pages_name_no_person(world: World) -> None:
    world.submit(listed(PERSON))
    world.check(PERSON)
    for path in ("/", "/catalogue", "/rulebooks", "/ledger", "/statistics"):
        page = world.client.get(path)
        assert page.status_code == 200, path
        assert RIC not in page.text, path


def test_search_by_part_of_a_name_links_to_the_organisation(world: World) -> None:
    from tests.service.test_names import _regulator, _send, registration

    auth = _regulator(world)
    _send(world, auth, registration(ORG, "R-1", "朝阳鑫源贸易有限公司", "Chaoyang Xinyuan Maoyi"))
    page = world.client.get("/", params={"q": "xin yuan"})
    assert page.status_code == 200
    assert f'<a href="/organisations/{CODE}" lang="zh-Hans">朝阳鑫源贸易有限公司</a>' in page.text
    org = world.client.get(f"/organisations/{CODE}")
    assert '<h1 lang="zh-Hans">朝阳鑫源贸易有限公司</h1>' in org.text


def test_a_policy_simulation_runs_in_the_background_and_shows_counts(world: World) -> None:
    import time

    world.submit(listed(PERSON), listed(ORG, reference="C-ORG"))
    first = world.client.get("/simulation", params={"draft": "suining-2010"})
    assert first.status_code == 200
    deadline = time.monotonic() + 120
    page = first
    while 'http-equiv="refresh"' in page.text:
        assert time.monotonic() < deadline, "the simulation did not finish"
        time.sleep(0.5)
        page = world.client.get("/simulation", params={"draft": "suining-2010"})
    assert "The simulation failed" not in page.text, page.text
    # two subjects hold records: one organisation, one person; only counts are shown
    assert re.search(r"<li>1 organisations assessed", page.text)
    assert re.search(r"<li>1 persons assessed", page.text)
    assert "Grade transitions" in page.text
    assert RIC not in page.text and CODE not in page.text


def test_an_unknown_draft_is_refused_with_its_field(world: World) -> None:
    got = world.client.get("/simulation", params={"draft": "no-such-rulebook"})
    assert got.status_code == 404
    assert "no preset or published rulebook" in got.text


def _settled(world: World, path: str, **params: object) -> str:
    import time

    deadline = time.monotonic() + 120
    page = world.client.get(path, params=params)
    while 'http-equiv="refresh"' in page.text:
        assert time.monotonic() < deadline, f"{path} did not finish"
        time.sleep(0.3)
        page = world.client.get(path, params=params)
    assert page.status_code == 200
    return page.text


def test_the_lists_name_organisations_and_only_count_people(world: World) -> None:
    from tests.conftest import ORG_LETTER

    world.submit(
        listed(PERSON),
        listed(ORG, reference="C-ORG"),
        listed(ORG_LETTER, reference="C-ORG2", day="2026-04-01"),
    )
    text = _settled(world, "/lists")
    rows = re.findall(r'<tr class="list-black-row"><td><a href="/organisations/(\w+)"', text)
    assert sorted(rows) == sorted([CODE, ORG_LETTER.removeprefix("uscc:")])
    assert RIC not in text
    # the size table counts one person on the defaulters' list, by number only
    assert re.search(r"<td class=\"num\">2</td><td class=\"num\">1</td>", text)
    only = _settled(world, "/lists", region=CODE[2:8])
    assert f"/organisations/{CODE}" in only
    other_region = ORG_LETTER.removeprefix("uscc:")[2:8]
    if other_region != CODE[2:8]:
        assert f"/organisations/{ORG_LETTER.removeprefix('uscc:')}" not in only


def test_statistics_chart_organisations_grades_and_scores(world: World) -> None:
    world.submit(listed(ORG, reference="C-ORG"), listed(PERSON))
    _settled(world, "/lists")  # the whole-registry run the statistics page reads
    text = world.client.get("/statistics").text
    assert 'aria-label="Organisations by grade"' in text
    # gov-default: base 1,000, a defaulter listing -200: one organisation at 800
    assert re.search(r"<tr><td>800-849</td><td class=\"num\">1</td></tr>", text)
    assert RIC not in text


def test_list_sizes_over_time_follow_the_listing_date(world: World) -> None:
    import time

    world.submit(listed(PERSON, day="2026-03-05"), listed(ORG, reference="C-ORG", day="2026-03-05"))
    deadline = time.monotonic() + 120
    text = _settled(world, "/lists")
    while 'aria-label="Subjects on judgment-defaulters at each month end"' not in text:
        assert time.monotonic() < deadline, "the history did not finish"
        time.sleep(0.3)
        text = world.client.get("/lists").text
    table = text[text.index('<h2 id="over-h">') : text.index('<form method="get" action="/lists"')]
    rows = re.findall(r"<tr><td>(\d{4}-\d{2}-\d{2})</td><td class=\"num\">(\d+)</td>", table)
    assert rows, table
    for day, count in rows:  # judgment-defaulters is the first list of gov-default
        assert int(count) == (2 if day >= "2026-03-05" else 0), (day, count)


def test_statistics_show_median_days_to_answer_and_corrections(world: World) -> None:
    import datetime as dt

    first = world.submit(listed(PERSON, reference="C-1"))["receipts"][0]["seq"]
    second = world.submit(listed(ORG, reference="C-2"))["receipts"][0]["seq"]
    # two disputes answered after 3 and after 9 days: median 6
    for who, seq, waited in (("person", first, 3), ("org", second, 9)):
        world.set_today(dt.date(2026, 6, 1))
        filed = world.client.post(
            "/v1/me/disputes",
            json={"seq": seq, "reason": "This record is not mine at all."},
            headers=world.auth(who),
        ).json()
        world.set_today(dt.date(2026, 6, 1) + dt.timedelta(days=waited))
        answered = world.client.post(
            f"/v1/disputes/{filed['id']}/answer",
            json={"outcome": "confirmed", "answer": "The case file names this subject."},
            headers=world.auth("court"),
        )
        assert answered.status_code == 200, answered.text
    fix = listed(PERSON, reference="C-1b")
    fix["corrects"] = "C-1"
    world.submit(fix)
    stats = world.client.get("/v1/statistics", headers=world.auth("auditor")).json()
    court = stats["sources"]["court"]
    assert court["dispute_days_median"] == 6 and court["corrections"] == 1
    page = world.client.get("/statistics").text
    row = re.search(r"<tr><td>court</td>(.*?)</tr>", page, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
    # records, disputes, upheld, lapsed, median days, corrections, repairs
    assert cells == ["3", "2", "0", "0", "6", "1", "0"]


def test_a_person_applies_for_repair_from_their_file(world: World) -> None:
    import datetime as dt

    seq = world.submit(listed(ORG, "C-9", "2025-03-01"))["receipts"][0]["seq"]
    world.set_today(dt.date(2026, 2, 27))  # a serious record: repair from a year after
    world.client.post("/me/sign-in", data={"key": world.keys["org"]})
    early = world.client.get("/me").text
    assert "repair possible from 2026-03-01" in early and "Apply for repair" not in early
    world.set_today(dt.date(2026, 3, 2))
    page = world.client.get("/me").text
    assert f'for="statement-{seq}"' in page
    # gov-default grades organisations: the listing's -200 points are shown as the reason
    why = re.search(r"<caption>Why: each of your records.*?</table>", page, re.S)
    assert why is not None and f"#{seq}</a>" in why.group(0) and "-200" in why.group(0)
    applied = world.client.post(
        "/me/repairs",
        data={"seq": str(seq), "statement": "We paid the judgment and the fine."},
        follow_redirects=False,
    )
    assert applied.status_code == 303, applied.text
    mine = world.client.get("/v1/me", headers=world.auth("org")).json()
    assert [r["status"] for r in mine["repairs"]] == ["pending"]
    assert "Repair 1 of record" in world.client.get("/me").text


def test_signed_note_signers_are_read_from_its_signature_lines() -> None:
    from credence.portal.views import signers

    note = "origin\n5\nroot=\n\n— credence/abc AAAA\n— witness-1 BBBB\n"
    assert signers(note) == ["credence/abc", "witness-1"]
    assert signers("") == []
