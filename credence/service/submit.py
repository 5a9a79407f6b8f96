"""Submitting records over the API: the file ingest's validation, one batch, receipts.

A request is one batch and all or nothing: every record is validated as a
submitted file's rows are (same reasons, same fields), and if any record is
refused, by validation or by the ledger (a reused reference, a bad
correction), nothing is written and every refusal is listed. Records the
ledger already holds unchanged are duplicates (a retry never duplicates).

Each accepted record gets a receipt: its seq, its leaf hash, and an
inclusion proof in the signed checkpoint that sealed its batch, built from
the frontier and the batch alone (credence.ledger.batch_proofs).
"""

from __future__ import annotations

import base64
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from credence.core.records import RECORD_FIELDS, Rejection, RowValidator
from credence.ingest.checking import check_batch
from credence.ledger.batch_proofs import BatchProver
from credence.service.errors import Invalid
from credence.store.appender import Appender, BatchRefused
from credence.store.trust import make_checkpoint

if TYPE_CHECKING:
    from credence.service.keys import Party
    from credence.service.state import Service

MAX_RECORDS = 10_000  # per request; larger loads go through `credence ingest`


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass
class _Writers:
    """One ingest run (and appender) per source per process: the API's runs."""

    lock: threading.RLock
    appenders: dict[int, Appender]


_WRITERS = _Writers(threading.RLock(), {})


def _appender_locked(service: Service, party: Party) -> Appender:
    """The source's appender (one ingest run per source per process); hold _WRITERS.lock."""
    assert party.source_id is not None
    found = _WRITERS.appenders.get(party.source_id)
    if found is None or found.engine is not service.engine:
        source = service.registry.source(str(party.source))
        found = service.registry.start_run(source, f"api:{os.getpid()}")
        _WRITERS.appenders[party.source_id] = found
    return found


def _validator(service: Service, party: Party) -> RowValidator:
    """The source's validator for today, kept across requests: its caches of subjects
    and dates (the costly checks) then serve every batch, as in a file's ingest."""
    source = service.registry.source(str(party.source))
    key = ("validator", source.name, tuple(sorted(source.items)), service.today())
    found = service.cached(key)
    if found is None:
        found = RowValidator(
            service.registry.catalogue, source.name, set(source.items), service.today()
        )
        service.remember(key, found)
    return found  # type: ignore[no-any-return]


def _rows(body: Any) -> list[Any]:
    if isinstance(body, dict) and "records" in body:
        rows = body["records"]
        if not isinstance(rows, list):
            raise Invalid("must be a list of records", field="records")
        if set(body) - {"records"}:
            raise Invalid("the body has only 'records' (a batch) or a record's fields", "records")
        return rows
    if isinstance(body, dict):
        return [body]
    raise Invalid("the body must be a record (JSON object) or {'records': [...]}", field="body")


def _shape(index: int, row: Any) -> Rejection | None:
    if not isinstance(row, dict):
        return Rejection("record", "each record must be a JSON object")
    extra = sorted(k for k in row if k not in RECORD_FIELDS)
    if extra:
        return Rejection(extra[0], f"field(s) {', '.join(extra)} are not allowed")
    return None


def refusal(index: int, rejection: Rejection, many: bool) -> dict[str, Any]:
    where = f"records[{index}].{rejection.field}" if many else rejection.field
    return {"index": index, "field": where, "reason": rejection.reason}


def submit(service: Service, party: Party, body: Any) -> dict[str, Any]:
    """Validate and append a record or a batch for `party`'s source; return the receipts."""
    rows = _rows(body)
    many = isinstance(body, dict) and "records" in body
    if not rows:
        raise Invalid("the batch is empty", field="records")
    if len(rows) > MAX_RECORDS:
        raise Invalid(f"at most {MAX_RECORDS:,} records per request", field="records")
    validator = _validator(service, party)
    refused: list[dict[str, Any]] = []
    batch: list[tuple[int, Any]] = []
    for index, row in enumerate(rows):
        shape = _shape(index, row)
        if shape is not None:
            refused.append(refusal(index, shape, many))
        else:
            batch.append((index, row))
    checked = check_batch(validator, batch)
    refused += [refusal(n, r, many) for n, r, _ in checked.rejected]
    if refused:
        raise _refused(refused)
    try:
        # One writer at a time in this process: waiting threads queue here in order,
        # instead of sleeping and retrying on SQLite's busy lock (a 1.4 s p99 at 4
        # concurrent single submits without it).
        with _WRITERS.lock:
            appender = _appender_locked(service, party)
            outcome = appender.append(checked.sealed, strict=True)
    except BatchRefused as exc:
        raise _refused([refusal(n, r, many) for n, r in exc.outcome.rejections]) from None
    service.touch()
    receipts: list[dict[str, Any]] = []
    checkpoint = None
    if outcome.head is not None and outcome.before is not None:
        head = outcome.head
        checkpoint = make_checkpoint(service.registry, head.size, head.root)
        prover = BatchProver(outcome.before, [leaf for _, _, leaf in outcome.placed])
        proofs = prover.proof_texts(b64)  # in seq order, as `placed` is
        for (index, seq, leaf), proof in zip(outcome.placed, proofs, strict=True):
            receipts.append(
                {
                    "index": index,
                    "status": "accepted",
                    "seq": seq,
                    "leaf_hash": b64(leaf),
                    "tree_size": head.size,
                    "inclusion_proof": proof,
                }
            )
    for index, seq in outcome.repeats:
        receipts.append(
            {"index": index, "status": "duplicate", "seq": seq, "receipt": f"/v1/receipts/{seq}"}
        )
    receipts.sort(key=lambda r: r["index"])
    return {
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "checkpoint": checkpoint,
        "receipts": receipts,
    }


def _refused(refused: list[dict[str, Any]]) -> Invalid:
    refused.sort(key=lambda r: r["index"])
    first = refused[0]
    return Invalid(
        f"{len(refused)} record(s) refused; nothing was written. First: {first['field']}: "
        f"{first['reason']}",
        field=first["field"],
        errors=refused,
    )


def receipt(service: Service, party: Party, seq: int) -> dict[str, Any]:
    """A receipt for record #seq of `party`'s source, proved in the latest checkpoint."""
    import sqlalchemy as sa

    from credence.service.errors import NotFound
    from credence.store.proofs import inclusion
    from credence.store.schema import records

    with service.engine.connect() as conn:
        row = conn.execute(
            sa.select(records.c.leaf_hash).where(
                records.c.seq == seq, records.c.source_id == party.source_id
            )
        ).first()
    if row is None:
        raise NotFound(f"your source has no record #{seq}", field="seq")
    head = service.registry.latest_tree_head()
    assert head is not None
    proof = inclusion(service.engine, seq, head.size)
    return {
        "seq": seq,
        "status": "accepted",
        "leaf_hash": b64(bytes(row[0])),
        "tree_size": head.size,
        "inclusion_proof": [b64(h) for h in proof],
        "checkpoint": make_checkpoint(service.registry, head.size, head.root),
    }
