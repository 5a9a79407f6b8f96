"""Due process: disputes and credit repair, each step a ledger entry, deadlines enforced.

A subject disputes a record in their file: it is marked disputed at once
(checks answer `review` where it is the only basis of a restriction). The
record's source confirms it, corrects it or withdraws it (a correction or
revocation record the source submitted); if the source has not answered by
the deadline, the record is suppressed and no longer counts. After an
item's minimum publicity the subject may apply for credit repair; when the
source confirms rectification, publicity ends early (the record is
suppressed). The ledger commits to the texts people write by their hash.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from credence.core.catalogue import REVOCATION, Polarity, Severity
from credence.core.periods import Period
from credence.ledger.entries import dispute_entry, repair_entry, text_hash
from credence.service.errors import Conflict, Invalid, NotFound
from credence.store.database import write_transaction
from credence.store.schema import disputes, records, repairs, sources, suppressions
from credence.store.sealing import append_entries

if TYPE_CHECKING:
    from credence.service.keys import Party
    from credence.service.state import Service

# Minimum publicity before credit repair may be applied for, by the item's severity, as in
# the NDRC's 2021 credit-repair measures (3 months for minor and ordinary, 1 year serious).
MIN_PUBLICITY = {
    Severity.MINOR: Period(3, "month"),
    Severity.ORDINARY: Period(3, "month"),
    Severity.SERIOUS: Period(1, "year"),
}
_TEXT = re.compile(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]{10,2000}$")


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not _TEXT.match(value.strip()):
        raise Invalid("must be text of 10 to 2,000 printable characters", field=field)
    return value.strip()


def _seq(value: object, field: str = "seq") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Invalid("must be a ledger sequence number (a non-negative integer)", field=field)
    return value


def _own_record(conn: sa.Connection, subject: str, seq: int) -> sa.Row[Any]:
    """Record #seq if it is about `subject`; the same NotFound whether or not it exists."""
    row = conn.execute(
        sa.select(records).where(records.c.seq == seq, records.c.subject == subject)
    ).first()
    if row is None:
        raise NotFound(f"there is no record #{seq} in your file", field="seq")
    return row


def _counts(conn: sa.Connection, seq: int) -> bool:
    """Whether record #seq still stands (not corrected, revoked or suppressed)."""
    replaced = conn.execute(sa.select(records.c.seq).where(records.c.corrects_seq == seq)).first()
    gone = conn.execute(
        sa.select(suppressions.c.seq).where(suppressions.c.record_seq == seq)
    ).first()
    return replaced is None and gone is None


def _signing(service: Service) -> Any:
    return service.registry.signing_key()


def file_dispute(service: Service, party: Party, seq: object, reason: object) -> dict[str, Any]:
    """The subject contests record #seq of their file."""
    number = _seq(seq)
    text = _text(reason, "reason")
    assert party.subject is not None
    today = service.today()
    deadline = today + dt.timedelta(days=service.settings.dispute_days)
    key = _signing(service)
    with write_transaction(service.engine) as conn:
        row = _own_record(conn, party.subject, number)
        if row.item == REVOCATION:
            raise Invalid("a revocation withdraws a record; dispute the record itself", field="seq")
        if not _counts(conn, number):
            raise Conflict(f"record #{number} no longer counts: it was corrected or suppressed")
        open_one = _pending(conn, disputes, number, "open")
        if open_one is not None:
            raise Conflict(f"record #{number} is already under dispute (dispute {open_one})")
        made = _open_case(
            conn,
            key,
            disputes,
            {"reason": text, "filed_on": today.isoformat(), "deadline": deadline.isoformat()},
            row,
            party,
            lambda s, case: dispute_entry(s, "filed", case, number, text_hash(text)),
        )
    service.touch()
    return dispute_view(service, made)


def _pending(conn: sa.Connection, table: sa.Table, record: int, status: str) -> int | None:
    """The case about `record` still in `status` (open dispute, pending repair), if any."""
    found = conn.execute(
        sa.select(table.c.id).where(table.c.record_seq == record, table.c.status == status)
    ).scalar()
    return None if found is None else int(found)


def _open_case(
    conn: sa.Connection,
    key: Any,
    table: sa.Table,
    values: dict[str, Any],
    record: sa.Row[Any],
    party: Party,
    entry: Callable[[int, int], bytes],
) -> int:
    """Insert a dispute or repair row and its ledger entry (which names the row's id)."""
    status = _OPEN[table.name]
    inserted = conn.execute(
        sa.insert(table).values(
            record_seq=record.seq,
            subject=party.subject,
            source_id=record.source_id,
            status=status,
            filed_entry=-1,
            **values,
        )
    ).inserted_primary_key
    assert inserted is not None
    case = int(inserted[0])
    (seq,), _ = append_entries(conn, key, [lambda s: entry(s, case)])
    conn.execute(sa.update(table).where(table.c.id == case).values(filed_entry=seq))
    return case


_OPEN = {"disputes": "open", "repairs": "pending"}


def answer_dispute(
    service: Service,
    party: Party,
    dispute_id: int,
    outcome: object,
    answer: object,
    by: object = None,
) -> dict[str, Any]:
    """The source's answer: confirmed, corrected (by record #by) or withdrawn (by #by)."""
    if outcome not in ("confirmed", "corrected", "withdrawn"):
        raise Invalid("must be confirmed, corrected or withdrawn", field="outcome")
    text = _text(answer, "answer")
    today = service.today().isoformat()
    key = _signing(service)
    with write_transaction(service.engine) as conn:
        row = conn.execute(
            sa.select(disputes).where(
                disputes.c.id == dispute_id, disputes.c.source_id == party.source_id
            )
        ).first()
        if row is None:
            raise NotFound(f"your source has no dispute {dispute_id}", field="id")
        if row.status != "open":
            raise Conflict(f"dispute {dispute_id} is already {row.status}")
        correction: int | None = None
        detail = text_hash(text)
        if outcome != "confirmed":
            correction = _seq(by, "by")
            fix = conn.execute(
                sa.select(records.c.item, records.c.corrects_seq, records.c.source_id).where(
                    records.c.seq == correction
                )
            ).first()
            if fix is None or fix.corrects_seq != row.record_seq or fix.source_id != row.source_id:
                raise Invalid(
                    f"must be your record that corrects or revokes #{row.record_seq}: submit it "
                    "first (with corrects = the disputed record's reference)",
                    field="by",
                )
            if (fix.item == REVOCATION) != (outcome == "withdrawn"):
                raise Invalid(
                    "a withdrawal is a revocation record; a correction is a corrected record",
                    field="by",
                )
            detail = f"by:{correction}:{detail}"
        (entry,), _ = append_entries(
            conn,
            key,
            [lambda s: dispute_entry(s, str(outcome), dispute_id, row.record_seq, detail)],
        )
        conn.execute(
            sa.update(disputes)
            .where(disputes.c.id == dispute_id)
            .values(
                status=outcome,
                answered_on=today,
                answer=text,
                correction_seq=correction,
                outcome_entry=entry,
            )
        )
    service.touch()
    return dispute_view(service, dispute_id)


def lapse_overdue(service: Service, subject: str | None = None) -> int:
    """Suppress the records of every open dispute past its deadline; return how many."""
    today = service.today().isoformat()
    key = _signing(service)
    with write_transaction(service.engine) as conn:
        query = sa.select(disputes.c.id, disputes.c.record_seq).where(
            disputes.c.status == "open", disputes.c.deadline < today
        )
        if subject is not None:
            query = query.where(disputes.c.subject == subject)
        overdue = conn.execute(query.order_by(disputes.c.id)).all()
        if not overdue:
            return 0
        detail = text_hash(f"no answer by the deadline, lapsed on {today}")
        makers = [
            (lambda s, d=int(d), r=int(r): dispute_entry(s, "lapsed", d, r, detail))
            for d, r in overdue
        ]
        seqs, _ = append_entries(conn, key, makers)  # type: ignore[arg-type]
        for (dispute_id, record_seq), entry in zip(overdue, seqs, strict=True):
            conn.execute(
                sa.update(disputes)
                .where(disputes.c.id == dispute_id)
                .values(status="lapsed", answered_on=today, outcome_entry=entry)
            )
            if _counts(conn, int(record_seq)):
                conn.execute(
                    sa.insert(suppressions).values(seq=entry, record_seq=record_seq, cause="lapsed")
                )
    service.touch()
    return len(overdue)


def repair_possible_from(service: Service, item: str, start: str) -> dt.date:
    """The first day credit repair may be applied for, for a record of `item` from `start`."""
    severity = service.registry.catalogue[item].severity
    return MIN_PUBLICITY[severity].add_to(dt.date.fromisoformat(start))


def apply_repair(service: Service, party: Party, seq: object, statement: object) -> dict[str, Any]:
    """The subject applies for credit repair of record #seq (after its minimum publicity)."""
    number = _seq(seq)
    text = _text(statement, "statement")
    assert party.subject is not None
    today = service.today()
    key = _signing(service)
    with write_transaction(service.engine) as conn:
        row = _own_record(conn, party.subject, number)
        if row.item == REVOCATION or service.registry.catalogue[row.item].polarity != (
            Polarity.NEGATIVE
        ):
            raise Invalid("only a negative record (a penalty, a default) can be repaired", "seq")
        if not _counts(conn, number):
            raise Conflict(f"record #{number} no longer counts: there is nothing to repair")
        start = row.decided_on or row.occurred_on
        first_day = repair_possible_from(service, row.item, start)
        if today < first_day:
            raise Invalid(
                f"repair of record #{number} may be applied for from {first_day.isoformat()}, "
                "after the item's minimum publicity",
                field="seq",
            )
        pending = _pending(conn, repairs, number, "pending")
        if pending is not None:
            raise Conflict(f"a repair of record #{number} is already pending (repair {pending})")
        made = _open_case(
            conn,
            key,
            repairs,
            {"statement": text, "applied_on": today.isoformat()},
            row,
            party,
            lambda s, case: repair_entry(s, "applied", case, number, text_hash(text)),
        )
    service.touch()
    return repair_view(service, made)


def answer_repair(
    service: Service, party: Party, repair_id: int, outcome: object, answer: object
) -> dict[str, Any]:
    """The source confirms rectification (publicity ends now) or refuses, with its reason."""
    if outcome not in ("rectified", "refused"):
        raise Invalid("must be rectified or refused", field="outcome")
    text = _text(answer, "answer")
    today = service.today().isoformat()
    key = _signing(service)
    with write_transaction(service.engine) as conn:
        row = conn.execute(
            sa.select(repairs).where(
                repairs.c.id == repair_id, repairs.c.source_id == party.source_id
            )
        ).first()
        if row is None:
            raise NotFound(f"your source has no repair application {repair_id}", field="id")
        if row.status != "pending":
            raise Conflict(f"repair application {repair_id} is already {row.status}")
        (entry,), _ = append_entries(
            conn,
            key,
            [lambda s: repair_entry(s, str(outcome), repair_id, row.record_seq, text_hash(text))],
        )
        conn.execute(
            sa.update(repairs)
            .where(repairs.c.id == repair_id)
            .values(status=outcome, answered_on=today, answer=text, outcome_entry=entry)
        )
        if outcome == "rectified" and _counts(conn, row.record_seq):
            conn.execute(
                sa.insert(suppressions).values(
                    seq=entry, record_seq=row.record_seq, cause="repaired"
                )
            )
    service.touch()
    return repair_view(service, repair_id)


# --- views -------------------------------------------------------------------------------

_DISPUTE_FIELDS = (
    "id",
    "record_seq",
    "reason",
    "filed_on",
    "deadline",
    "status",
    "answered_on",
    "answer",
    "correction_seq",
    "filed_entry",
    "outcome_entry",
)
_REPAIR_FIELDS = (
    "id",
    "record_seq",
    "statement",
    "applied_on",
    "status",
    "answered_on",
    "answer",
    "filed_entry",
    "outcome_entry",
)


def _view(row: sa.Row[Any], names: tuple[str, ...]) -> dict[str, Any]:
    data = {name: row._mapping[name] for name in names}
    data["source"] = row._mapping.get("source_name")
    return data


def dispute_view(service: Service, dispute_id: int) -> dict[str, Any]:
    return _disputes(service, disputes.c.id == dispute_id)[0]


def repair_view(service: Service, repair_id: int) -> dict[str, Any]:
    return _repairs(service, repairs.c.id == repair_id)[0]


def _disputes(service: Service, where: Any) -> list[dict[str, Any]]:
    query = (
        sa.select(disputes, sources.c.name.label("source_name"))
        .join(sources, sources.c.id == disputes.c.source_id)
        .where(where)
        .order_by(disputes.c.id)
    )
    with service.engine.connect() as conn:
        return [_view(row, _DISPUTE_FIELDS) for row in conn.execute(query)]


def _repairs(service: Service, where: Any) -> list[dict[str, Any]]:
    query = (
        sa.select(repairs, sources.c.name.label("source_name"))
        .join(sources, sources.c.id == repairs.c.source_id)
        .where(where)
        .order_by(repairs.c.id)
    )
    with service.engine.connect() as conn:
        return [_view(row, _REPAIR_FIELDS) for row in conn.execute(query)]


def disputes_of_subject(service: Service, subject: str) -> list[dict[str, Any]]:
    return _disputes(service, disputes.c.subject == subject)


def repairs_of_subject(service: Service, subject: str) -> list[dict[str, Any]]:
    return _repairs(service, repairs.c.subject == subject)


def disputes_for_source(
    service: Service, party: Party, status: str | None = None
) -> list[dict[str, Any]]:
    """A source's disputes (its records only), with the subject so it can investigate."""
    where = disputes.c.source_id == party.source_id
    if status:
        where = sa.and_(where, disputes.c.status == status)
    found = _disputes(service, where)
    subjects = _subjects(service, disputes, [d["id"] for d in found])
    for d in found:
        d["subject"] = subjects.get(d["id"])
    return found


def repairs_for_source(
    service: Service, party: Party, status: str | None = None
) -> list[dict[str, Any]]:
    where = repairs.c.source_id == party.source_id
    if status:
        where = sa.and_(where, repairs.c.status == status)
    found = _repairs(service, where)
    subjects = _subjects(service, repairs, [d["id"] for d in found])
    for d in found:
        d["subject"] = subjects.get(d["id"])
    return found


def _subjects(service: Service, table: sa.Table, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    with service.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.subject).where(table.c.id.in_(ids)))
        return {int(a): str(b) for a, b in rows}
