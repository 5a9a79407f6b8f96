"""The reference identities a record without a valid ID is matched against.

Persons: the latest standing `administrative.resident-registration` record of
each resident (the public security bureau's name and residence region), with
the birth date and the region of registration that the resident ID encodes
(GB 11643-1999). Organisations: the latest standing
`administrative.business-registration` record (registered name, Latin name,
region). Nothing else about a subject is read: the match needs no more.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from credence.identity.keys import Identity
from credence.store.schema import records, suppressions

PERSON_ITEM = "administrative.resident-registration"
ORGANISATION_ITEM = "administrative.business-registration"


def _latest(conn: sa.Connection, item: str) -> list[tuple[str, dict[str, Any]]]:
    """(subject, attributes) of each subject's latest standing record of `item`."""
    replaced = sa.select(records.c.corrects_seq).where(records.c.corrects_seq.isnot(None))
    gone = sa.select(suppressions.c.record_seq)
    rows = conn.execute(
        sa.select(records.c.subject, records.c.attributes)
        .where(
            records.c.item == item,
            records.c.seq.not_in(replaced),
            records.c.seq.not_in(gone),
        )
        .order_by(records.c.seq)
    )
    latest: dict[str, dict[str, Any]] = {}
    for subject, attributes in rows:
        latest[str(subject)] = json.loads(attributes or "{}")
    return sorted(latest.items())


def person_references(conn: sa.Connection) -> list[Identity]:
    """Every registered resident, once per name form (Chinese, Latin)."""
    out = []
    for subject, attrs in _latest(conn, PERSON_ITEM):
        number = subject.split(":", 1)[1]
        born = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
        regions = (str(attrs["region"]), number[:6])
        names = [attrs.get("name"), attrs.get("name_latin")]
        for i, name in enumerate(n for n in names if n):
            out.append(Identity(f"{subject}#{i}", str(name), born, regions))
    return out


def organisation_references(conn: sa.Connection) -> list[Identity]:
    """Every registered organisation with a region, once per name form."""
    out = []
    for subject, attrs in _latest(conn, ORGANISATION_ITEM):
        if not attrs.get("region"):
            continue  # no region, no agreement beyond the name: never matched
        names = [attrs.get("name"), attrs.get("name_latin")]
        for i, name in enumerate(n for n in names if n):
            out.append(Identity(f"{subject}#{i}", str(name), None, (str(attrs["region"]),)))
    return out
