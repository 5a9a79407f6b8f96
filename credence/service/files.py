"""The subject's file: their records, their assessments and why, and who looked them up.

What a person sees of themselves (`GET /v1/me`) and what an auditor sees of
anyone (`GET /v1/subjects/{subject}`, itself logged as an inquiry the person
then sees). Each record says where it came from, under which law, until when
it counts and whether it is disputed; each assessment says what would
change it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from credence.core.assessment import Assessment
from credence.core.catalogue import REVOCATION
from credence.core.rulebook import Rulebook
from credence.service.disputes import (
    disputes_of_subject,
    repair_possible_from,
    repairs_of_subject,
)
from credence.service.inquiries import inquiries_about
from credence.service.matches import matches_of_subject
from credence.store.schema import records, sources, suppressions

if TYPE_CHECKING:
    from credence.service.state import Service


def _records(service: Service, subject: str) -> list[dict[str, Any]]:
    later = records.alias("later")
    query = (
        sa.select(
            records.c.seq,
            sources.c.name.label("source"),
            records.c.reference,
            records.c.item,
            records.c.occurred_on,
            records.c.decided_on,
            records.c.attributes,
            records.c.corrects_seq,
            sa.select(sa.func.min(later.c.seq))
            .where(later.c.corrects_seq == records.c.seq)
            .scalar_subquery()
            .label("replaced_by"),
            sa.select(suppressions.c.cause)
            .where(suppressions.c.record_seq == records.c.seq)
            .scalar_subquery()
            .label("suppressed"),
        )
        .join(sources, sources.c.id == records.c.source_id)
        .where(records.c.subject == subject)
        .order_by(records.c.seq)
    )
    with service.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def _record_view(
    service: Service, row: dict[str, Any], live: Rulebook, disputed: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    catalogue = service.registry.catalogue
    item = row["item"]
    start = row["decided_on"] or row["occurred_on"]
    view: dict[str, Any] = {
        "seq": row["seq"],
        "source": row["source"],
        "reference": row["reference"],
        "item": item,
        "occurred_on": row["occurred_on"],
        "decided_on": row["decided_on"],
        "attributes": orjson.loads(row["attributes"]) if row["attributes"] else {},
    }
    if item == REVOCATION:
        view.update(title="Revocation of an earlier record", revokes=row["corrects_seq"])
    else:
        entry = catalogue[item]
        period = live.publicity.get(item)
        view.update(
            title=entry.title,
            area=entry.area.value,
            legal_basis=entry.legal_basis,
            corrects=row["corrects_seq"],
            counts_until=period.add_to(dt.date.fromisoformat(start)).isoformat()
            if period
            else None,
        )
        if entry.polarity.value == "negative":
            view["repair_from"] = repair_possible_from(service, item, start).isoformat()
    status = "standing"
    if row["replaced_by"] is not None:
        status = "replaced"
        view["replaced_by"] = row["replaced_by"]
    elif row["suppressed"]:
        status = f"suppressed ({row['suppressed']})"
    view["status"] = status
    dispute = disputed.get(row["seq"])
    view["disputed"] = dispute is not None and dispute["status"] == "open"
    if dispute is not None:
        view["dispute"] = {k: dispute[k] for k in ("id", "status", "deadline")}
    return view


def what_would_change(rulebook: Rulebook, found: Assessment) -> list[str]:
    """Plain sentences: what ends a listing, when records stop counting, the next grade."""
    notes: list[str] = []
    for listing in found.lists:
        lst = rulebook.lists.get(listing.list)
        until = f" on {listing.until}" if listing.until else ""
        notes.append(f"the {listing.list} listing ends{until}")
        if lst is not None and lst.exit_items:
            notes.append(
                f"it ends earlier with a record of {', '.join(lst.exit_items)} "
                "(e.g. the obligation performed)"
            )
    if found.score is not None and found.grade is not None and rulebook.score is not None:
        bands = [b for b in rulebook.score.grades if b.min is not None]
        higher = [b for b in bands if b.min is not None and b.min > found.score]
        if higher:
            nxt = min(higher, key=lambda b: b.min or 0)
            notes.append(
                f"{(nxt.min or 0) - found.score} more points would reach grade {nxt.grade}"
            )
    for reason in found.reasons:
        if reason.points < 0:
            notes.append(
                f"record #{reason.seq} ({reason.item}, {reason.points} points) stops counting "
                "when its publicity ends, or if it is corrected, withdrawn or repaired"
            )
    return notes


def subject_file(service: Service, subject: str) -> dict[str, Any]:
    """Everything the registry holds and concludes about `subject`, and who asked."""
    from credence.service import rulebooks

    head = service.ledger_head()
    live = service.live()
    held_disputes = disputes_of_subject(service, subject)
    by_record = {d["record_seq"]: d for d in held_disputes}  # the latest dispute per record
    rows = _records(service, subject)
    assessments = []
    for rulebook, is_live in rulebooks.assessed_rulebooks(service.registry):
        found = service.assess(subject, rulebook, head)
        assessments.append(
            {
                "rulebook": rulebook.ref,
                "live": is_live,
                "assessment": found.to_dict(),
                "what_would_change": what_would_change(rulebook, found),
            }
        )
    return {
        "subject": subject,
        "as_of": service.today().isoformat(),
        "ledger": head,
        "records": [_record_view(service, r, live, by_record) for r in rows],
        "assessments": assessments,
        "disputes": held_disputes,
        "repairs": repairs_of_subject(service, subject),
        "inquiries": inquiries_about(service.engine, subject),
        "matches": matches_of_subject(service, subject),
    }
