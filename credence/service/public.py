"""What anyone may read without a key: organisations' public records and outcomes, and
aggregate statistics. Nothing about a person is public: a resident ID here is not found,
exactly as an unknown organisation is.
"""

from __future__ import annotations

import datetime as dt
from statistics import median
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from credence.core.catalogue import REVOCATION, Visibility
from credence.service.checks import canonical_subject
from credence.service.errors import NotFound
from credence.service.files import _records
from credence.store.schema import disputes, inquiries, records, repairs, sources

if TYPE_CHECKING:
    from credence.service.state import Service


def organisation(service: Service, code: str) -> dict[str, Any]:
    """An organisation's grade, lists and public records within their publicity period."""
    text = code if ":" in code else f"uscc:{code}"
    subject = canonical_subject(text, field="uscc")
    if not subject.startswith("uscc:"):
        raise NotFound("no organisation with this code", field="uscc")
    head = service.ledger_head()
    live = service.live()
    today = service.today()
    shown = []
    for row in _records(service, subject):
        item = row["item"]
        if item == REVOCATION or row["replaced_by"] is not None or row["suppressed"]:
            continue
        entry = service.registry.catalogue[item]
        if entry.visibility != Visibility.PUBLIC:
            continue
        start = dt.date.fromisoformat(row["decided_on"] or row["occurred_on"])
        period = live.publicity.get(item)
        until = period.add_to(start) if period else None
        if until is not None and until <= today:
            continue
        shown.append(
            {
                "seq": row["seq"],
                "source": row["source"],
                "item": item,
                "title": entry.title,
                "legal_basis": entry.legal_basis,
                "occurred_on": row["occurred_on"],
                "decided_on": row["decided_on"],
                "public_until": until.isoformat() if until else None,
            }
        )
    if not shown:
        with service.engine.connect() as conn:
            held = conn.execute(
                sa.select(records.c.seq).where(records.c.subject == subject).limit(1)
            ).first()
        if held is None:
            raise NotFound("no organisation with this code", field="uscc")
    found = service.assess(subject, live, head)
    registered = service.names().get(subject)
    return {
        "subject": subject,
        "name": registered.name if registered else None,
        "name_latin": registered.name_latin if registered else None,
        "region": registered.region if registered else None,
        "as_of": today.isoformat(),
        "assessment": found.to_dict(),
        "public_records": shown,
    }


def statistics(service: Service) -> dict[str, Any]:
    """Records and corrections per source; disputes filed, upheld, lapsed and the median days
    a source took to answer; repairs; inquiries per party."""
    with service.engine.connect() as conn:
        per_source: dict[str, dict[str, Any]] = {
            name: {"records": int(n)}
            for name, n in conn.execute(
                sa.select(sources.c.name, sa.func.count(records.c.seq))
                .select_from(sources.outerjoin(records, records.c.source_id == sources.c.id))
                .group_by(sources.c.name)
            )
        }
        for name, status, n in conn.execute(
            sa.select(sources.c.name, disputes.c.status, sa.func.count())
            .join(sources, sources.c.id == disputes.c.source_id)
            .group_by(sources.c.name, disputes.c.status)
        ):
            per_source.setdefault(name, {"records": 0}).setdefault("disputes", {})[status] = int(n)
        for name, status, n in conn.execute(
            sa.select(sources.c.name, repairs.c.status, sa.func.count())
            .join(sources, sources.c.id == repairs.c.source_id)
            .group_by(sources.c.name, repairs.c.status)
        ):
            per_source.setdefault(name, {"records": 0}).setdefault("repairs", {})[status] = int(n)
        for name, n in conn.execute(
            sa.select(sources.c.name, sa.func.count())
            .join(sources, sources.c.id == records.c.source_id)
            .where(records.c.corrects_seq.is_not(None))
            .group_by(sources.c.name)
        ):
            per_source.setdefault(name, {"records": 0})["corrections"] = int(n)
        waits: dict[str, list[int]] = {}
        for name, filed, answered in conn.execute(
            sa.select(sources.c.name, disputes.c.filed_on, disputes.c.answered_on)
            .join(sources, sources.c.id == disputes.c.source_id)
            .where(disputes.c.answered_on.is_not(None))
        ):
            waited = (dt.date.fromisoformat(answered) - dt.date.fromisoformat(filed)).days
            waits.setdefault(name, []).append(waited)
        for name, taken in waits.items():
            per_source.setdefault(name, {"records": 0})["dispute_days_median"] = median(taken)
        per_party: dict[str, dict[str, int]] = {}
        for party, decision, n in conn.execute(
            sa.select(inquiries.c.party, inquiries.c.decision, sa.func.count()).group_by(
                inquiries.c.party, inquiries.c.decision
            )
        ):
            per_party.setdefault(party, {})[decision] = int(n)
    return {"sources": per_source, "inquiries": per_party}


def find_organisations(service: Service, query: str) -> dict[str, Any]:
    """Organisations whose registered name (Chinese or Latin) contains `query`, spacing and
    case ignored; at most MAX_RESULTS, and whether there were more."""
    from credence.service.names import MAX_RESULTS

    hits, more = service.names().search(query)
    return {
        "query": query,
        "organisations": [
            {
                "uscc": reg.subject.removeprefix("uscc:"),
                "name": reg.name,
                "name_latin": reg.name_latin,
                "region": reg.region,
            }
            for reg in hits
        ],
        "more": more,
        "limit": MAX_RESULTS,
    }
