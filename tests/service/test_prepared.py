"""Prepared answers: a first check answered from the batch run, never a stale one.

The expected decisions are the gov-default rulebook's, written by hand as in
conftest: a person listed as a judgment defaulter may not fly; nobody else
is restricted. Whether an answer came from the batch run or from the store is
seen by counting the store engine's calls.
"""

from __future__ import annotations

from credence.service.prepared import prepare
from credence.service.state import Service
from tests.conftest import ORG, PERSON, PERSON_2
from tests.service.conftest import World, listed


def test_a_first_check_is_answered_from_the_batch_run_as_the_store_would(
    world: World, computed: list[str]
) -> None:
    world.submit(listed(PERSON, "C-1"), listed(ORG, "C-2"), listed(PERSON_2, "C-3"))
    rulebook = world.service.live()
    expected = {
        s: world.service.assess(s, rulebook, world.service.ledger_head()).to_dict()
        for s in (PERSON, ORG)
    }
    world.service._cache.clear()  # forget the answers just computed
    world.service.prepared = prepare(world.service)
    assert world.service.prepared is not None
    assert set(world.service.prepared.answers) == {PERSON, ORG, PERSON_2}
    computed.clear()
    assert world.check(PERSON)["decision"] == "deny"
    assert world.check(ORG)["decision"] == "deny"  # no-flights follows the list, any kind
    assert computed == []  # neither went to the store
    head = world.service.ledger_head()
    for subject, want in expected.items():
        got = world.service.assess(subject, rulebook, head).to_dict()
        assert got == want


def test_a_record_after_the_batch_run_sends_that_subject_back_to_the_store(
    world: World, computed: list[str]
) -> None:
    world.submit(listed(ORG, "C-2"), listed(PERSON_2, "C-3"))
    world.service.prepared = prepare(world.service)
    computed.clear()
    world.submit(listed(PERSON, "C-4"))  # PERSON: not in the batch run at all
    fixed = {**listed(PERSON_2, "C-5"), "corrects": "C-3"}  # moves C-3 to PERSON_2 again
    world.submit(fixed)
    assert world.check(ORG)["decision"] == "deny"
    assert computed == []  # ORG unchanged since the run: prepared
    assert world.check(PERSON)["decision"] == "deny"
    assert world.check(PERSON_2)["decision"] == "deny"
    assert computed == [PERSON, PERSON_2]


def test_a_dispute_after_the_batch_run_is_seen_at_once(world: World, computed: list[str]) -> None:
    seq = world.submit(listed(PERSON_2, "C-6"))["receipts"][0]["seq"]
    world.service.prepared = prepare(world.service)
    assert world.check(PERSON_2)["decision"] == "deny"
    filed = world.client.post(
        "/v1/me/disputes",
        json={"seq": seq, "reason": "this judgment is not about me"},
        headers=world.auth("person2"),
    )
    assert filed.status_code == 201, filed.text
    assert world.check(PERSON_2)["decision"] == "review"


def test_answers_prepared_before_a_service_started_are_judged_by_what_came_after(
    world: World, computed: list[str]
) -> None:
    """A batch run at size L, then a service that first saw the ledger later: the
    revocation that entered in between sends PERSON to the store (no longer listed,
    where the batch run had PERSON listed), while ORG's prepared answer stands."""
    world.submit(listed(ORG, "C-7"), listed(PERSON, "C-8"))
    prepared = prepare(world.service)
    assert prepared is not None
    assert prepared.answers[PERSON].lists[0].list == "judgment-defaulters"
    revocation = {
        "reference": "C-8-R",
        "item": "revocation",
        "subject": PERSON,
        "occurred_on": "2026-05-20",
        "corrects": "C-8",
    }
    world.submit(revocation)
    fresh = Service(world.registry, world.service.settings)
    try:
        fresh.ledger_head()  # it has seen the head after the revocation
        fresh.note_changes_since(prepared.size)
        fresh.prepared = prepared
        rulebook, head = fresh.live(), fresh.ledger_head()
        computed.clear()
        assert fresh.assess(ORG, rulebook, head).lists[0].list == "judgment-defaulters"
        assert computed == []
        assert fresh.assess(PERSON, rulebook, head).lists == ()
        assert computed == [PERSON]
    finally:
        fresh.close()


def test_prepared_answers_serve_only_their_day_and_rulebook(
    world: World, computed: list[str]
) -> None:
    import datetime as dt

    world.submit(listed(ORG, "C-9"))
    world.service.prepared = prepare(world.service)
    computed.clear()
    world.set_today(world.service.today() + dt.timedelta(days=1))
    assert world.check(ORG)["decision"] == "deny"
    assert computed == [ORG]  # another day: computed on the store


def test_a_subject_without_a_record_counting_gets_the_stores_base_answer(
    world: World, computed: list[str]
) -> None:
    """PERSON_2 and ORG hold no record; the batch run assessed only PERSON. Their
    answers are still prepared: exactly what the store engine gives them."""
    world.submit(listed(PERSON, "C-10"))
    world.service.prepared = prepare(world.service)
    assert world.service.prepared is not None
    assert set(world.service.prepared.answers) == {PERSON}
    rulebook, head = world.service.live(), world.service.ledger_head()
    computed.clear()
    prepared = {s: world.service.assess(s, rulebook, head).to_dict() for s in (PERSON_2, ORG)}
    assert computed == []
    store = Service(world.registry, world.service.settings)  # no prepared answers
    try:
        for subject in (PERSON_2, ORG):
            assert store.assess(subject, rulebook, head).to_dict() == prepared[subject]
    finally:
        store.close()
    assert computed == [PERSON_2, ORG]
    assert world.check(PERSON_2)["decision"] == "allow"


def test_a_prepared_first_check_needs_no_query_unless_a_dispute_is_open(world: World) -> None:
    """On the event loop (`cached_only`), a prepared answer is given at once; a subject
    with a dispute open is left to the worker thread, which reads the dispute."""
    from credence.service.checks import decide

    seq = world.submit(listed(PERSON, "C-11"), listed(ORG, "C-12"))["receipts"][0]["seq"]
    world.service.prepared = prepare(world.service)
    head = world.service.ledger_head()
    answer = decide(world.service, ORG, "flight-booking", head, cached_only=True)
    assert answer is not None and answer["decision"] == "deny"
    filed = world.client.post(
        "/v1/me/disputes",
        json={"seq": seq, "reason": "this judgment is not about me"},
        headers=world.auth("person"),
    )
    assert filed.status_code == 201, filed.text
    head = world.service.ledger_head()
    assert decide(world.service, PERSON, "flight-booking", head, cached_only=True) is None
    assert decide(world.service, PERSON, "flight-booking", head)["decision"] == "review"  # type: ignore[index]
