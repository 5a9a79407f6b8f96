"""Records without a valid ID: intake, resolution, review by an auditor, disputes.

A source sends a record that names its subject by name, birth date and the
region of an address (a person) or by name and region (an organisation).
It waits in `unidentified`, counting for nothing. `resolve` links it to a
subject when the Splink model and the hard rules allow (credence.identity):
the link is a *probabilistic match*, pending. Only an auditor's confirmation
appends the record to `records` as a record of the matched subject, so no
engine, list or measure ever sees an unconfirmed match: structurally, not by
a filter each engine must remember. The subject sees the match and its
evidence in their file and may dispute it: a disputed match stops counting
at once (a confirmed one is revoked by a revocation record) and goes back
to the auditors' queue. Every step is a `match` ledger entry.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from credence.core.catalogue import REVOCATION
from credence.ingest.checking import check_batch
from credence.ledger.entries import match_entry, salted_hash, text_hash
from credence.service.errors import Conflict, Invalid, NotFound
from credence.store.database import write_transaction
from credence.store.schema import sources, unidentified
from credence.store.sealing import append_entries

if TYPE_CHECKING:
    from credence.service.keys import Party
    from credence.service.state import Service

# Valid keys of each kind, used only to validate a record's other fields at intake.
_PLACEHOLDER = {"person": "ric:11010519491231002X", "organisation": "uscc:91110000600037341L"}
_FIELDS = ("item", "reference", "occurred_on", "decided_on", "attributes")
_IDENTITY = ("name", "birth_date", "region")
REVIEW = ("pending", "disputed")  # the auditors' queue
MAX_RECORDS = 10_000


def _identity(index: int, row: Any) -> tuple[str, dict[str, Any]]:
    """The kind and identifying fields of one submitted row, or Invalid naming the field."""
    where = f"records[{index}]"
    if not isinstance(row, dict):
        raise Invalid("each record must be a JSON object", field=where)
    extra = sorted(set(row) - set(_FIELDS) - set(_IDENTITY))
    if extra:
        raise Invalid(f"field(s) {', '.join(extra)} are not allowed", field=f"{where}.{extra[0]}")
    name = row.get("name")
    if not isinstance(name, str) or not 2 <= len(name.strip()) <= 200:
        raise Invalid("must be a name of 2 to 200 characters", field=f"{where}.name")
    region = row.get("region")
    if not isinstance(region, str) or len(region) != 6 or not region.isdigit():
        raise Invalid("must be the 6-digit GB/T 2260 code of the address", f"{where}.region")
    born = row.get("birth_date")
    if born is not None and not _is_date(born):
        raise Invalid("must be an ISO date (YYYY-MM-DD)", field=f"{where}.birth_date")
    kind = "person" if born is not None else "organisation"
    return kind, {"name": name.strip(), "birth_date": born, "region": region}


def _is_date(value: object) -> bool:
    import datetime as dt

    try:
        return isinstance(value, str) and dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def receive(service: Service, party: Party, body: Any) -> dict[str, Any]:
    """Take a source's batch of records without a valid ID; all or nothing."""
    from credence.service.submit import _validator

    rows = body.get("records") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows or len(rows) > MAX_RECORDS:
        raise Invalid(f"must be a list of 1 to {MAX_RECORDS:,} records", field="records")
    validator = _validator(service, party)
    staged = []
    for index, row in enumerate(rows):
        kind, ident = _identity(index, row)
        fields = {k: row[k] for k in _FIELDS if k in row}
        checked = check_batch(validator, [(index, {**fields, "subject": _PLACEHOLDER[kind]})])
        if checked.rejected:
            _, why, _ = checked.rejected[0]
            raise Invalid(why.reason, field=f"records[{index}].{why.field}")
        rec = checked.sealed[0][1]
        staged.append((kind, ident, rec))
    today = service.today().isoformat()
    with write_transaction(service.engine) as conn:
        steps = [_insert(conn, party, kind, ident, rec, today) for kind, ident, rec in staged]
        _steps(conn, service, steps)
    ids = [case for case, *_ in steps]
    service.touch()
    return {"received": len(ids), "ids": ids}


Step = tuple[int, str, str, dict[str, Any]]  # (case, action, detail, column values)


def _insert(conn: sa.Connection, party: Party, kind: str, ident: Any, rec: Any, day: str) -> Step:
    """Store one received record; its `received` step, to be written with the batch's."""
    taken = conn.execute(
        sa.select(unidentified.c.id).where(
            unidentified.c.source_id == party.source_id,
            unidentified.c.reference == rec.reference,
        )
    ).first()
    if taken is not None:
        raise Conflict(f"reference {rec.reference!r} was already received (case {taken[0]})")
    salt = os.urandom(16)
    new = conn.execute(
        sa.insert(unidentified).values(
            source_id=party.source_id,
            reference=rec.reference,
            item=rec.item,
            kind=kind,
            occurred_on=rec.occurred_on,
            decided_on=rec.decided_on,
            attributes=rec.attributes_json,
            salt=salt,
            received_on=day,
            status="unmatched",
            last_entry=-1,
            **ident,
        )
    ).inserted_primary_key
    assert new is not None
    case = int(new[0])
    detail = salted_hash(salt, {**ident, "item": rec.item, "reference": rec.reference})
    return (case, "received", detail, {})


def _step(
    conn: sa.Connection, service: Service, case: int, action: str, detail: str, values: Any
) -> int:
    return _steps(conn, service, [(case, action, detail, values)])[0]


def _steps(conn: sa.Connection, service: Service, steps: list[Step]) -> list[int]:
    """Append one `match` entry per step under one signed head, and update their rows."""
    if not steps:
        return []
    makers = [
        (lambda s, c=case, a=action, d=detail: match_entry(s, a, c, d))
        for case, action, detail, _ in steps
    ]
    seqs, _ = append_entries(conn, service.registry.signing_key(), makers)  # type: ignore[arg-type]
    for (case, _, _, values), seq in zip(steps, seqs, strict=True):
        conn.execute(
            sa.update(unidentified)
            .where(unidentified.c.id == case)
            .values(last_entry=seq, **values)
        )
    return seqs


# --- resolution ------------------------------------------------------------------------


def resolve(service: Service, engine: str = "duckdb") -> dict[str, int]:
    """Match every unmatched (or ambiguous) record; links become pending matches.

    `engine` runs the Splink model on DuckDB (in process) or on Spark
    (CREDENCE_SPARK_MASTER, local[*] by default); the links are the same.
    """
    from credence.identity.keys import Identity
    from credence.identity.model import score_pairs
    from credence.identity.references import organisation_references, person_references
    from credence.identity.rules import decide

    counts = {"considered": 0, "pairs": 0, "matched": 0, "ambiguous": 0}
    with service.engine.connect() as conn:
        waiting = conn.execute(
            sa.select(unidentified).where(unidentified.c.status.in_(("unmatched", "ambiguous")))
        ).all()
        refs = {"person": person_references(conn), "organisation": organisation_references(conn)}
    rows = {str(r.id): r for r in waiting}
    counts["considered"] = len(rows)
    spark = None
    if engine == "spark" and rows:
        from credence.identity.spark import spark_session

        spark = spark_session(service.settings.spark_master, service.settings.spark_driver_memory)
    for kind, references in refs.items():
        side = [
            Identity(str(r.id), r.name, r.birth_date, (r.region,))
            for r in waiting
            if r.kind == kind
        ]
        pairs = score_pairs(side, references, kind == "person", engine, spark)
        counts["pairs"] += len(pairs)
        links, ambiguous = decide(pairs, kind == "person")
        with write_transaction(service.engine) as conn:
            steps: list[Step] = []
            for link in links:
                row = rows[link.record]
                evidence = link.evidence()
                detail = salted_hash(row.salt, {"evidence": evidence, "subject": link.subject})
                values = {
                    "status": "pending",
                    "subject": link.subject,
                    "evidence": json.dumps(evidence, sort_keys=True),
                }
                steps.append((row.id, "proposed", detail, values))
            _steps(conn, service, steps)
            for record in sorted(ambiguous):
                conn.execute(
                    sa.update(unidentified)
                    .where(unidentified.c.id == int(record))
                    .values(status="ambiguous")
                )
        counts["matched"] += len(links)
        counts["ambiguous"] += len(ambiguous)
    if counts["matched"]:
        service.touch()
    return counts


# --- review (auditors) and disputes (subjects) -----------------------------------------


def _case(conn: sa.Connection, case: int) -> sa.Row[Any]:
    row = conn.execute(sa.select(unidentified).where(unidentified.c.id == case)).first()
    if row is None:
        raise NotFound(f"there is no match {case}", field="id")
    return row


def confirm(service: Service, party: Party, case: int) -> dict[str, Any]:
    """An auditor confirms a pending (or disputed) match: the record joins the subject's file."""
    with service.engine.connect() as conn:
        row = _case(conn, case)
    if row.status not in REVIEW:
        raise Conflict(
            f"match {case} is {row.status}: only a pending or disputed match is confirmed"
        )
    reference = _upheld_reference(service, row)
    seq = _append(
        service,
        row,
        {
            "item": row.item,
            "subject": row.subject,
            "reference": reference,
            "occurred_on": row.occurred_on,
            **({"decided_on": row.decided_on} if row.decided_on else {}),
            **({"attributes": json.loads(row.attributes)} if row.attributes else {}),
        },
    )
    with write_transaction(service.engine) as conn:
        _step(
            conn,
            service,
            case,
            "confirmed",
            f"record:{seq}",
            {"status": "confirmed", "record_seq": seq},
        )
    service.touch()
    return match_view(service, case)


def reject(service: Service, party: Party, case: int, reason: object) -> dict[str, Any]:
    """An auditor rejects a pending or disputed match: the record never counts for anyone."""
    text = _reason(reason)
    with write_transaction(service.engine) as conn:
        row = _case(conn, case)
        if row.status not in REVIEW:
            raise Conflict(
                f"match {case} is {row.status}: only a pending or disputed match is rejected"
            )
        _step(conn, service, case, "rejected", text_hash(text), {"status": "rejected"})
    service.touch()
    return match_view(service, case)


def dispute(service: Service, party: Party, case: int, reason: object) -> dict[str, Any]:
    """The subject disputes a match about them: it stops counting and goes back to review."""
    text = _reason(reason)
    with service.engine.connect() as conn:
        row = _case(conn, case)
    if row.subject != party.subject or row.status not in ("pending", "confirmed"):
        if row.subject != party.subject:
            raise NotFound(f"there is no match {case} in your file", field="id")
        raise Conflict(f"match {case} is {row.status}: only a pending or confirmed one is disputed")
    values: dict[str, Any] = {"status": "disputed"}
    if row.status == "confirmed":
        values["revoked_seq"] = _append(
            service,
            row,
            {
                "item": REVOCATION,
                "subject": row.subject,
                "reference": f"match-{case}-disputed"
                + ("" if row.revoked_seq is None else f"-{row.record_seq}"),
                "occurred_on": service.today().isoformat(),
                "corrects": _current_reference(service, row),
            },
        )
    with write_transaction(service.engine) as conn:
        _step(conn, service, case, "disputed", text_hash(text), values)
    service.touch()
    return match_view(service, case)


def _upheld_reference(service: Service, row: Any) -> str:
    """The reference of the record a confirmation appends, new in each round of review.

    The first confirmation appends the record under the source's reference; an
    auditor upholding it after a dispute appends it again as `match-<id>-upheld`,
    and after a later dispute as `match-<id>-upheld-<the revocation's seq>`
    (a reference is used once per source). It depends only on the row, so a
    confirmation cut short and repeated appends the same record.
    """
    if row.record_seq is None:
        return str(row.reference)
    first = _current_reference(service, row) == row.reference
    return f"match-{row.id}-upheld" + ("" if first else f"-{row.revoked_seq}")


def _current_reference(service: Service, row: Any) -> str:
    """The reference of the record that stands for this match now (first or upheld)."""
    from credence.store.schema import records

    with service.engine.connect() as conn:
        found = conn.execute(
            sa.select(records.c.reference).where(records.c.seq == row.record_seq)
        ).scalar()
    return str(found)


def _reason(value: object) -> str:
    if not isinstance(value, str) or not 10 <= len(value.strip()) <= 2000:
        raise Invalid("must be text of 10 to 2,000 characters", field="reason")
    return value.strip()


def _append(service: Service, row: Any, fields: dict[str, Any]) -> int:
    """Append one record for the case's source, through the single writer; its seq."""
    from credence.core.records import RowValidator
    from credence.service.submit import _WRITERS
    from credence.store.appender import BatchRefused

    with service.engine.connect() as conn:
        name = conn.execute(sa.select(sources.c.name).where(sources.c.id == row.source_id)).scalar()
    source = service.registry.source(str(name))
    validator = RowValidator(
        service.registry.catalogue, source.name, set(source.items), service.today()
    )
    checked = check_batch(validator, [(0, fields)])
    if checked.rejected:
        _, why, _ = checked.rejected[0]
        raise Conflict(f"the record can no longer be appended: {why.field}: {why.reason}")
    with _WRITERS.lock:
        appender = service.registry.start_run(source, f"identity:match-{row.id}")
        try:
            outcome = appender.append(checked.sealed, strict=True)
        except BatchRefused as exc:
            _, why = exc.outcome.rejections[0]
            raise Conflict(f"the ledger refused the record: {why.field}: {why.reason}") from None
    # A duplicate is this very record appended by an earlier confirmation that stopped
    # before its `confirmed` step was written: confirming again completes it.
    return outcome.placed[0][1] if outcome.placed else outcome.repeats[0][1]


# --- views -----------------------------------------------------------------------------

_VIEW = (
    "id",
    "item",
    "kind",
    "reference",
    "received_on",
    "status",
    "subject",
    "record_seq",
    "revoked_seq",
    "last_entry",
)


def _view(row: Any, source: str, personal: bool) -> dict[str, Any]:
    out = {k: row._mapping[k] for k in _VIEW}
    out["source"] = source
    out["evidence"] = json.loads(row.evidence) if row.evidence else None
    out["probabilistic"] = True
    if personal:  # what the record said about the person: shown to them and to auditors
        out["as_received"] = {"name": row.name, "birth_date": row.birth_date, "region": row.region}
    return out


def _select(where: Any) -> Any:
    return (
        sa.select(unidentified, sources.c.name.label("source_name"))
        .join(sources, sources.c.id == unidentified.c.source_id)
        .where(where)
        .order_by(unidentified.c.id)
    )


def match_view(service: Service, case: int) -> dict[str, Any]:
    with service.engine.connect() as conn:
        row = conn.execute(_select(unidentified.c.id == case)).first()
    assert row is not None
    return _view(row, row.source_name, personal=True)


def matches_of_subject(service: Service, subject: str) -> list[dict[str, Any]]:
    """The matches about `subject` (any status but unmatched), with their evidence."""
    with service.engine.connect() as conn:
        rows = conn.execute(_select(unidentified.c.subject == subject)).all()
    return [_view(r, r.source_name, personal=True) for r in rows]


def review_queue(service: Service, party: Party) -> list[dict[str, Any]]:
    """Pending and disputed matches, for auditors; each read of a person is logged."""
    with service.engine.connect() as conn:
        rows = conn.execute(_select(unidentified.c.status.in_(REVIEW))).all()
    for subject in sorted({str(r.subject) for r in rows}):
        service.log.record(
            subject=subject,
            key_id=party.id,
            party=party.name,
            role=party.role,
            action="read",
            purpose="match-review",
            decision="read",
            rulebook=None,
            ledger_size=None,
        )
    return [_view(r, r.source_name, personal=True) for r in rows]
