"""Checks, the subject's file, disputes with deadlines, repair and receipts, in process."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from credence.ledger.merkle import root_from_hashes, verify_inclusion  # noqa: F401
from tests.conftest import ORG, PERSON, PERSON_2
from tests.service.conftest import World, listed


def test_a_listed_defaulter_is_denied_a_flight_and_others_are_allowed(world: World) -> None:
    world.submit(listed())
    denied = world.check(PERSON)
    assert denied["decision"] == "deny"
    assert [r["measure"] for r in denied["restrictions"]] == ["no-flights"]
    assert denied["restrictions"][0]["basis"]["list"]["list"] == "judgment-defaulters"
    assert denied["rulebook"]["name"] == "gov-default"
    assert isinstance(denied["inquiry"], int)
    assert world.check(PERSON_2)["decision"] == "allow"
    # the railway's purpose has its own restriction for the same listing
    assert world.check(PERSON, "train-ticketing", who="railway")["decision"] == "deny"


def test_a_purpose_not_issued_is_refused_and_logged_for_the_person(world: World) -> None:
    got = world.client.post(
        "/v1/checks",
        json={"subject": PERSON, "purpose": "train-ticketing"},
        headers=world.auth("airline"),
    )
    assert got.status_code == 403
    assert got.headers["content-type"] == "application/problem+json"
    assert got.json()["field"] == "purpose"
    mine = world.client.get("/v1/me", headers=world.auth("person")).json()
    assert [(i["party"], i["decision"]) for i in mine["inquiries"]] == [("airline", "refused")]


def test_the_file_shows_records_assessments_and_who_looked(world: World) -> None:
    world.submit(listed())
    world.check(PERSON)
    mine = world.client.get("/v1/me", headers=world.auth("person")).json()
    (record,) = mine["records"]
    assert record["item"] == "judicial.defaulter-listed" and record["source"] == "court"
    assert record["legal_basis"].startswith("SPC Provisions")
    assert record["disputed"] is False and record["status"] == "standing"
    live = [a for a in mine["assessments"] if a["live"]]
    assert live and live[0]["assessment"]["lists"][0]["list"] == "judgment-defaulters"
    assert any("listing ends" in note for note in live[0]["what_would_change"])
    assert mine["inquiries"][0]["party"] == "airline"
    assert mine["inquiries"][0]["decision"] == "deny"
    # the other person's file holds none of it
    other = world.client.get("/v1/me", headers=world.auth("person2")).json()
    assert other["records"] == [] and other["inquiries"] == []


def test_a_dispute_turns_deny_into_review_until_the_source_confirms(world: World) -> None:
    seq = world.submit(listed())["receipts"][0]["seq"]
    filed = world.client.post(
        "/v1/me/disputes",
        json={"seq": seq, "reason": "I paid the judgment debt in full last year."},
        headers=world.auth("person"),
    )
    assert filed.status_code == 201, filed.text
    dispute = filed.json()
    assert dispute["status"] == "open" and dispute["deadline"] == "2026-07-01"
    review = world.check(PERSON)
    assert review["decision"] == "review"
    assert review["restrictions"][0]["disputed"] is True
    mine = world.client.get("/v1/me", headers=world.auth("person")).json()
    assert mine["records"][0]["disputed"] is True
    seen = world.client.get("/v1/disputes", headers=world.auth("court")).json()["disputes"]
    assert [d["id"] for d in seen] == [dispute["id"]] and seen[0]["subject"] == PERSON
    assert world.client.get("/v1/disputes", headers=world.auth("police")).json()["disputes"] == []
    answer = world.client.post(
        f"/v1/disputes/{dispute['id']}/answer",
        json={"outcome": "confirmed", "answer": "The debt is still unpaid per the case file."},
        headers=world.auth("court"),
    )
    assert answer.status_code == 200, answer.text
    assert world.check(PERSON)["decision"] == "deny"


def test_an_unanswered_dispute_lapses_at_the_deadline_and_the_record_stops_counting(
    world: World,
) -> None:
    seq = world.submit(listed())["receipts"][0]["seq"]
    world.client.post(
        "/v1/me/disputes",
        json={"seq": seq, "reason": "This case number is not mine at all."},
        headers=world.auth("person"),
    )
    world.set_today(dt.date(2026, 7, 1))  # the last day for the source's answer
    assert world.check(PERSON)["decision"] == "review"
    world.set_today(dt.date(2026, 7, 2))
    after = world.check(PERSON)
    assert after["decision"] == "allow"
    mine = world.client.get("/v1/me", headers=world.auth("person")).json()
    assert mine["records"][0]["status"] == "suppressed (lapsed)"
    assert mine["disputes"][0]["status"] == "lapsed"


def test_a_withdrawal_needs_the_sources_revocation_and_then_allows(world: World) -> None:
    seq = world.submit(listed())["receipts"][0]["seq"]
    dispute = world.client.post(
        "/v1/me/disputes",
        json={"seq": seq, "reason": "Listed by mistake: wrong person."},
        headers=world.auth("person"),
    ).json()
    early = world.client.post(
        f"/v1/disputes/{dispute['id']}/answer",
        json={"outcome": "withdrawn", "answer": "Listed in error, withdrawn.", "by": seq},
        headers=world.auth("court"),
    )
    assert early.status_code == 422 and early.json()["field"] == "by"
    revocation = {
        "reference": "C-1-R",
        "item": "revocation",
        "subject": PERSON,
        "occurred_on": "2026-05-20",
        "corrects": "C-1",
    }
    by = world.submit(revocation)["receipts"][0]["seq"]
    done = world.client.post(
        f"/v1/disputes/{dispute['id']}/answer",
        json={"outcome": "withdrawn", "answer": "Listed in error, withdrawn.", "by": by},
        headers=world.auth("court"),
    )
    assert done.status_code == 200, done.text
    assert world.check(PERSON)["decision"] == "allow"


def test_repair_after_minimum_publicity_ends_the_record_early(world: World) -> None:
    # An organisation's serious listing: repair is possible a year after the decision.
    seq = world.submit(listed(ORG, "C-9", "2025-03-01"))["receipts"][0]["seq"]
    assert world.check(ORG)["decision"] == "deny"
    world.set_today(dt.date(2026, 2, 27))
    early = world.client.post(
        "/v1/me/repairs",
        json={"seq": seq, "statement": "We paid the judgment and the fine."},
        headers=world.auth("org"),
    )
    assert early.status_code == 422 and "2026-03-01" in early.json()["detail"]
    world.set_today(dt.date(2026, 3, 2))
    applied = world.client.post(
        "/v1/me/repairs",
        json={"seq": seq, "statement": "We paid the judgment and the fine."},
        headers=world.auth("org"),
    )
    assert applied.status_code == 201, applied.text
    assert world.check(ORG)["decision"] == "deny"  # only the source's confirmation ends it
    answer = world.client.post(
        f"/v1/repairs/{applied.json()['id']}/answer",
        json={"outcome": "rectified", "answer": "Payment confirmed by the enforcement bureau."},
        headers=world.auth("court"),
    )
    assert answer.status_code == 200, answer.text
    assert world.check(ORG)["decision"] == "allow"


def test_a_new_record_changes_the_answer_at_once(world: World) -> None:
    assert world.check(PERSON_2)["decision"] == "allow"
    world.submit(listed(PERSON_2, "C-2"))
    assert world.check(PERSON_2)["decision"] == "deny"


def test_receipts_prove_inclusion_in_the_signed_checkpoint(world: World) -> None:
    out = world.submit(listed(), listed(PERSON_2, "C-2"), listed(ORG, "C-3"))
    assert out["accepted"] == 3 and out["checkpoint"].count("\n") >= 3
    lines = out["checkpoint"].split("\n")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    for receipt in out["receipts"]:
        proof = [base64.b64decode(h) for h in receipt["inclusion_proof"]]
        leaf_hash = base64.b64decode(receipt["leaf_hash"])
        assert receipt["tree_size"] == size
        assert _verify_hash(leaf_hash, receipt["seq"], size, proof, root)
    again = world.submit(listed())
    assert again["accepted"] == 0 and again["receipts"][0]["status"] == "duplicate"
    later = world.client.get(
        f"/v1/receipts/{out['receipts'][0]['seq']}", headers=world.auth("court")
    )
    assert later.status_code == 200
    other = world.client.get(
        f"/v1/receipts/{out['receipts'][0]['seq']}", headers=world.auth("police")
    )
    assert other.status_code == 404


def _verify_hash(leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2 from a leaf hash (the receipt holds the hash, not the leaf)."""
    import hashlib

    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def test_a_batch_with_one_bad_record_writes_nothing_and_names_the_field(world: World) -> None:
    bad = listed(PERSON_2, "C-2")
    bad["subject"] = "ric:110105198001011234"
    got = world.client.post(
        "/v1/records", json={"records": [listed(), bad]}, headers=world.auth("court")
    )
    assert got.status_code == 422
    problem = got.json()
    assert problem["field"] == "records[1].subject"
    assert [e["index"] for e in problem["errors"]] == [1]
    assert world.check(PERSON)["decision"] == "allow"  # the good record was not written
    wrong_item = listed(PERSON_2, "C-5")
    wrong_item["item"] = "administrative.drunk-driving"
    refused = world.client.post("/v1/records", json=wrong_item, headers=world.auth("court"))
    assert refused.status_code == 422 and refused.json()["field"] == "item"


def test_idempotency_key_replays_refuses_a_different_body_and_a_request_in_flight(
    world: World,
) -> None:
    from credence.service import idempotency

    headers = {**world.auth("court"), "Idempotency-Key": "batch-0001"}
    first = world.client.post("/v1/records", json=listed(), headers=headers)
    again = world.client.post("/v1/records", json=listed(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    changed = world.client.post("/v1/records", json=listed(PERSON_2, "C-2"), headers=headers)
    assert changed.status_code == 422 and changed.json()["field"] == "Idempotency-Key"
    court = next(p for p in _parties(world) if p.name == "court-api")
    body = b'{"x": 1}'
    digest = idempotency.request_hash("POST", "/v1/records", body)
    assert idempotency.claim(world.service.engine, court.id, "in-flight", digest) is None
    busy = world.client.post(
        "/v1/records",
        content=body,
        headers={**world.auth("court"), "Idempotency-Key": "in-flight"},
    )
    assert busy.status_code == 409


def _parties(world: World) -> list:  # type: ignore[type-arg]
    from credence.service.keys import list_keys

    return list_keys(world.registry)


def test_public_organisation_page_and_no_person_is_public(world: World) -> None:
    world.submit(listed(ORG, "C-3"), listed())
    org = world.client.get(f"/v1/organisations/{ORG.removeprefix('uscc:')}")
    assert org.status_code == 200
    assert org.json()["public_records"][0]["item"] == "judicial.defaulter-listed"
    person = world.client.get(f"/v1/organisations/{PERSON}")
    unknown = world.client.get("/v1/organisations/91350100M000100Y43")
    assert person.status_code == 404
    assert person.json()["detail"] == unknown.json()["detail"] or unknown.status_code == 422
    assert world.client.get("/v1/ledger/checkpoint").status_code == 200
    assert world.client.get("/v1/catalogue").json()["items"]


def test_verify_passes_after_due_process_and_catches_tampering_with_it(world: World) -> None:
    import sqlalchemy as sa

    from credence.store.schema import suppressions
    from credence.store.verify import verify_registry

    seq = world.submit(listed())["receipts"][0]["seq"]
    other = world.submit(listed(PERSON_2, "C-2"))["receipts"][0]["seq"]
    for who, record in (("person", seq), ("person2", other)):
        world.client.post(
            "/v1/me/disputes",
            json={"seq": record, "reason": "This record is not about me at all."},
            headers=world.auth(who),
        )
    world.set_today(dt.date(2026, 7, 2))
    assert world.check(PERSON)["decision"] == "allow"  # lapsed: suppressed
    key = world.registry.signing_key().public_key()
    assert verify_registry(world.registry, public_key=key).ok
    engine = world.service.engine
    with engine.begin() as conn:  # someone brings the person's restriction back
        conn.execute(sa.delete(suppressions).where(suppressions.c.record_seq == seq))
    found = verify_registry(world.registry, public_key=key)
    assert not found.ok and f"suppresses record #{seq}" in found.problems[0]
    with engine.begin() as conn:
        conn.execute(sa.insert(suppressions).values(seq=10_000, record_seq=seq, cause="lapsed"))
    found = verify_registry(world.registry, public_key=key)
    assert not found.ok and "no lapsed dispute" in found.problems[0]


def test_ready_is_a_503_problem_while_warm_up_runs_then_200(world: World) -> None:
    world.service.warmed.clear()
    got = world.client.get("/v1/ready")
    assert got.status_code == 503
    assert got.headers["content-type"].startswith("application/problem+json")
    assert "warming up" in got.json()["detail"]
    world.service.warmed.set()
    assert world.client.get("/v1/ready").json() == {"status": "ready"}


def test_another_subjects_record_leaves_a_cached_answer_standing(
    world: World, computed: list[str]
) -> None:
    """An answer is recomputed when the ledger gains something about its subject, not
    when it gains a record about somebody else (then it speaks for the newer head)."""
    first = world.check(PERSON_2)
    assert first["decision"] == "allow" and len(computed) == 1
    world.submit(listed(ORG, "C-31"))  # about an organisation, not about PERSON_2
    again = world.check(PERSON_2)
    assert again["decision"] == "allow" and len(computed) == 1  # not recomputed
    assert again["ledger"]["size"] > first["ledger"]["size"]  # and it says so for the new head
    world.submit(listed(PERSON_2, "C-32"))
    assert world.check(PERSON_2)["decision"] == "deny" and len(computed) == 2


def test_a_correction_moving_a_record_to_another_person_clears_the_first(world: World) -> None:
    """The wrong person listed, then the source's correction names the right one: the
    first person's answer changes at once, though the correction's subject is another."""
    world.submit(listed(PERSON_2, "C-41"))
    assert world.check(PERSON_2)["decision"] == "deny"
    fixed = {**listed(PERSON, "C-42"), "corrects": "C-41"}
    world.submit(fixed)
    assert world.check(PERSON_2)["decision"] == "allow"
    assert world.check(PERSON)["decision"] == "deny"


def test_a_dispute_refreshes_its_subjects_answer_and_no_one_elses(
    world: World, computed: list[str]
) -> None:
    """A dispute step is about one record: that subject's cached answer goes (deny turns
    to review), another subject's stays cached, and issuing a key changes no answer."""
    from credence.service.keys import issue_key

    seq = world.submit(listed(PERSON_2, "C-51"))["receipts"][0]["seq"]
    computed.clear()  # count from the first check on
    assert world.check(PERSON)["decision"] == "allow"
    assert world.check(PERSON_2)["decision"] == "deny"
    assert computed == [PERSON, PERSON_2]
    issue_key(world.registry, "auditor", "second-inspector")  # an access entry
    filed = world.client.post(
        "/v1/me/disputes",
        json={"seq": seq, "reason": "this judgment is not about me"},
        headers=world.auth("person2"),
    )
    assert filed.status_code == 201, filed.text
    assert world.check(PERSON)["decision"] == "allow"
    assert computed.count(PERSON) == 1  # still cached
    assert world.check(PERSON_2)["decision"] == "review"
    assert computed.count(PERSON_2) >= 2  # computed afresh


def test_an_idempotency_key_is_kept_for_its_hours_then_forgotten(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within CREDENCE_IDEMPOTENCY_HOURS a key replays; after, it is a new request, and the
    sweep deletes it (the table does not keep every key ever sent)."""
    import sqlalchemy as sa

    from credence.service import idempotency
    from credence.service.errors import Invalid
    from credence.store.schema import idempotency as table

    court = next(p for p in _parties(world) if p.name == "court-api")
    first, other = b'{"a": 1}', b'{"a": 2}'
    engine = world.service.engine
    digest = idempotency.request_hash("POST", "/v1/records", first)
    assert idempotency.claim(engine, court.id, "day-key", digest, 3600) is None
    idempotency.finish(engine, court.id, "day-key", 201, b'{"ok": true}')
    stored = idempotency.claim(engine, court.id, "day-key", digest, 3600)
    assert stored is not None and stored.body == b'{"ok": true}'
    changed = idempotency.request_hash("POST", "/v1/records", other)
    with pytest.raises(Invalid):  # a different body within the hour: refused
        idempotency.claim(engine, court.id, "day-key", changed, 3600)

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1, seconds=5)
    monkeypatch.setattr(idempotency, "_now", lambda: later)
    # An hour on, the same key with another body is a new request, not a 422.
    assert idempotency.claim(engine, court.id, "day-key", changed, 3600) is None
    idempotency.finish(engine, court.id, "day-key", 201, b"{}")
    assert idempotency.claim(engine, court.id, "kept-key", digest, 3600) is None

    much_later = later + dt.timedelta(hours=1, seconds=5)
    monkeypatch.setattr(idempotency, "_now", lambda: much_later)
    assert idempotency.expire(engine, 3600) == 2
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
