"""Checks: may relying party P serve subject S for purpose P? allow, deny or review.

`deny` when a restriction serving the purpose applies under the live
rulebook; `review` when it applies only because of records under dispute
(without them it would not); otherwise `allow`. Every check, and every
refused one, is logged before it is answered, and the person sees it.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from credence.core.assessment import Assessment
from credence.core.ids import InvalidSubject, parse_subject
from credence.core.rulebook import Rulebook
from credence.core.rulebook_model import MeasureKind, MeasureSpec
from credence.service.errors import Forbidden, Invalid

if TYPE_CHECKING:
    from credence.service.keys import Party
    from credence.service.state import Service


def canonical_subject(text: object, field: str = "subject") -> str:
    """The canonical subject key of `text`, or Invalid naming the field (never the value)."""
    if not isinstance(text, str):
        raise Invalid("must be a resident ID or a USCC, as text", field=field)
    try:
        return _canonical(text, dt.date.today())
    except InvalidSubject as exc:  # the reason, without the value (it may be someone's ID)
        reason = str(exc).replace(repr(text), "the value").replace(text, "the value")
        raise Invalid(reason, field=field) from None


@functools.lru_cache(maxsize=100_000)
def _canonical(text: str, today: dt.date) -> str:
    """Check digits and region tables cost ~10 µs; checks repeat subjects (cached per day)."""
    return str(parse_subject(text, today))


# Plain SQL, compiled once: building the expression per call cost more than running it.
_OPEN_DISPUTES = sa.text(
    "SELECT id, record_seq, deadline FROM disputes WHERE subject = :subject AND status = 'open'"
)


def open_disputes(service: Service, subject: str) -> list[tuple[int, int, str]]:
    """(dispute id, record seq, deadline) of the subject's open disputes."""
    with service.engine.connect() as conn:
        rows = conn.execute(_OPEN_DISPUTES, {"subject": subject})
        return [(int(a), int(b), str(c)) for a, b, c in rows]


def _basis(measure: MeasureSpec, found: Assessment) -> dict[str, Any]:
    """The list entry or the score a measure follows from, as the subject's file shows it."""
    when = measure.when
    if when.list is not None:
        for listing in found.lists:
            if listing.list == when.list:
                return {"list": listing.to_dict()}
        return {"list": {"list": when.list}}
    rule: dict[str, Any] = {}
    if when.score_at_least is not None:
        rule["score_at_least"] = when.score_at_least
    if when.score_below is not None:
        rule["score_below"] = when.score_below
    if when.grade_in:
        rule["grade_in"] = list(when.grade_in)
    return {"score": found.score, "grade": found.grade, "rule": rule}


def _serving(rulebook: Rulebook, found: Assessment, purpose: str) -> list[MeasureSpec]:
    return [
        rulebook.measures[name]
        for name in found.measures
        if name in rulebook.measures and purpose in rulebook.measures[name].purposes
    ]


def _reason(measure: MeasureSpec, basis: dict[str, Any], disputed: bool) -> str:
    if "list" in basis:
        entry = basis["list"]
        since = f" since {entry['since']}" if entry.get("since") else ""
        until = f" until {entry['until']}" if entry.get("until") else ""
        why = f"on the {entry['list']} list{since}{until}"
    else:
        why = f"score {basis['score']}, grade {basis['grade']}"
    tail = " (only because of a record under dispute)" if disputed else ""
    return f"{measure.kind.value} {measure.name} ({measure.title}): {why}{tail}"


def decide(
    service: Service,
    subject: str,
    purpose: str,
    head: dict[str, Any],
    cached_only: bool = False,
) -> dict[str, Any] | None:
    """The decision for `subject` and `purpose` at `head` (no logging: `check` logs).

    `cached_only`: None unless the answer is cached or can be made without a query
    (prepared, its subject unchanged since, no dispute of it open).
    """
    from credence.service.disputes import lapse_overdue

    rulebook = service.live(head)
    today = service.today().isoformat()
    # Every write that could change this answer appends a ledger entry about the subject
    # (or, for disputes and the like, an entry that counts as about everyone): the cached
    # answer holds at a later head unless one lies in between (Service.cached_at).
    key = ("decide", subject, purpose, rulebook.content_hash, today)
    cached = service.cached_at(key, subject, head)
    if cached is not None:
        return cached if cached["ledger"] == head else {**cached, "ledger": head}
    if cached_only and not service.answerable_in_memory(subject, rulebook):
        return None  # it needs the store: the caller computes it off the event loop
    pending = open_disputes(service, subject) if service.may_have_open_disputes(subject) else []
    if any(deadline < today for _, _, deadline in pending):
        lapse_overdue(service, subject)  # due process runs before the answer, not after
        head = service.ledger_head()
        pending = open_disputes(service, subject)
    found = service.assess(subject, rulebook, head)
    serving = _serving(rulebook, found, purpose)
    restrictions = [m for m in serving if m.kind == MeasureKind.RESTRICTION]
    without: set[str] = {m.name for m in restrictions}
    if restrictions and pending:
        disputed = tuple(sorted(seq for _, seq, _ in pending))
        clean = service.assess(subject, rulebook, head, exclude=disputed)
        without = {m.name for m in _serving(rulebook, clean, purpose)}
    decision = "allow"
    if restrictions:
        decision = "deny" if any(m.name in without for m in restrictions) else "review"
    measures = []
    for m in serving:
        basis = _basis(m, found)
        disputed_only = m.kind == MeasureKind.RESTRICTION and m.name not in without
        measures.append(
            {
                "measure": m.name,
                "kind": m.kind.value,
                "title": m.title,
                "legal_basis": m.legal_basis,
                "basis": basis,
                "disputed": disputed_only,
                "reason": _reason(m, basis, disputed_only),
            }
        )
    answer = {
        "decision": decision,
        "restrictions": [x for x in measures if x["kind"] == MeasureKind.RESTRICTION.value],
        "rewards": [x for x in measures if x["kind"] == MeasureKind.REWARD.value],
        "reasons": [x["reason"] for x in measures]
        or [f"no restriction of the {rulebook.name} rulebook serves {purpose}"],
        "rulebook": rulebook.ref,
        "ledger": head,
        "as_of": today,
    }
    service.remember_at(key, head, answer)
    return answer


@dataclass(frozen=True)
class Prepared:
    """A check decided but not yet answered: the inquiry row to log first, then the answer."""

    row: dict[str, Any]
    answer: dict[str, Any] | None  # None: refused (the purpose was not issued)
    refusal: Forbidden | None = None

    def finish(self, inquiry: int) -> dict[str, Any]:
        if self.answer is None:
            assert self.refusal is not None
            raise self.refusal
        return {
            "inquiry": inquiry,
            "subject": self.row["subject"],
            "purpose": self.row["purpose"],
            **self.answer,
        }


def prepare(
    service: Service,
    party: Party,
    subject_text: object,
    purpose: object,
    cached_only: bool = False,
) -> Prepared | None:
    """Decide a check (or its refusal); the caller logs `row` durably, then `finish`es.

    `cached_only`: return None rather than compute an answer that is not cached
    (the API then computes it in a worker thread, off the event loop).
    """
    if not isinstance(purpose, str) or not purpose:
        raise Invalid("must name the purpose of the check, e.g. flight-booking", field="purpose")
    subject = canonical_subject(subject_text)
    row = {
        "subject": subject,
        "key_id": party.id,
        "party": party.name,
        "role": party.role,
        "action": "check",
        "purpose": purpose[:64],
    }
    if purpose not in party.purposes:
        refusal = Forbidden(
            f"this key was not issued for purpose {purpose!r}; "
            f"it may check for: {', '.join(sorted(party.purposes))}",
            field="purpose",
        )
        row.update(decision="refused", rulebook=None, ledger_size=None)
        return Prepared(row, None, refusal)
    head = service.ledger_head()
    answer = decide(service, subject, purpose, head, cached_only)
    if answer is None:
        return None
    row.update(
        decision=answer["decision"],
        rulebook=answer["rulebook"]["name"],
        ledger_size=answer["ledger"]["size"],
    )
    return Prepared(row, answer)


def check(service: Service, party: Party, subject_text: object, purpose: object) -> dict[str, Any]:
    """Answer a relying party's check, logging it (or its refusal) durably first."""
    prepared = prepare(service, party, subject_text, purpose)
    assert prepared is not None
    return prepared.finish(service.log.record(**prepared.row))
