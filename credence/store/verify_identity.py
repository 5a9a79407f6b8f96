"""`credence verify` for identity resolution: the `unidentified` table against the ledger.

Every step of a record that came without a valid ID (received, proposed,
confirmed, rejected, disputed) is a `match` ledger entry (credence.service.matches),
and the table holds the state those steps lead to. A state changed behind
the system's back matters: an auditor's queue, a person's file and, through
a confirmation, what counts all read it. So each row must be the one its
entries describe, step by step:

- its first step is `received`, whose salted hash commits to the row's name,
  birth date, region, item and reference; nothing stands in the table
  without it, and no case is in the ledger without its row;
- the steps follow the only order the service takes them in
  (received, proposed, then confirmed / rejected / disputed as a review
  allows), the row's status is the one the last step leads to, and
  `last_entry` is that step;
- a proposed match's subject and evidence are the ones its `proposed` entry
  commits to;
- a confirmed match points to the record its latest `confirmed` entry names
  (`record:<seq>`), and that record is in `records` under the row's source,
  subject and item (as is every record a `confirmed` entry names); a record
  appended for a match is named by one of its `confirmed` entries, or is the
  revocation of a confirmed match later disputed; a confirmation cut short
  (its record appended, the step not) is reported so it is confirmed again.

It runs after the log walk has proved every entry against its leaf hash and
the signed heads, so the entries read here are the signed ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from credence.core.catalogue import REVOCATION
from credence.ledger.entries import MATCH, Entry, EntryError, parse_entry, salted_hash
from credence.store.schema import entries, erased, ingest_runs, records, unidentified

# The status each step leaves a row in, and the steps that may follow each status.
_LEADS_TO = {
    "proposed": "pending",
    "confirmed": "confirmed",
    "rejected": "rejected",
    "disputed": "disputed",
}
_NEXT = {
    "unmatched": {"proposed"},
    "pending": {"confirmed", "rejected", "disputed"},
    "confirmed": {"disputed"},
    "disputed": {"confirmed", "rejected"},
    "rejected": set(),
}
_RUN = "identity:match-"  # the ingest run a match's records are appended under


class IdentityFinding(Exception):
    """The first thing found wrong with the identity tables."""


def check_identity(engine: sa.Engine) -> list[str]:
    """The first problem with `unidentified` against the `match` entries, or none."""
    with engine.connect() as conn:
        try:
            _check(conn)
        except IdentityFinding as finding:
            return [str(finding)]
    return []


def _steps(conn: sa.Connection) -> dict[int, list[Entry]]:
    """Every `match` entry by case, in log order (parsed from the body, not the kind column)."""
    by_case: dict[int, list[Entry]] = {}
    query = sa.select(entries.c.seq, entries.c.body).order_by(entries.c.seq)
    for seq, body in conn.execute(query):
        try:
            entry = parse_entry(int(seq), bytes(body))
        except EntryError:  # the walk reports it; nothing to add here
            continue
        if entry.kind == MATCH:
            by_case.setdefault(int(entry.body["case"]), []).append(entry)
    return by_case


def _check(conn: sa.Connection) -> None:
    steps = _steps(conn)
    seen: set[int] = set()
    named: dict[int, tuple[set[int], bool]] = {}  # case -> (records confirmed, ever revoked)
    for row in conn.execute(sa.select(unidentified).order_by(unidentified.c.id)):
        m = row._mapping
        case = int(m["id"])
        seen.add(case)
        named[case] = _check_row(conn, m, steps.get(case, []))
    missing = set(steps) - seen
    if missing:
        raise IdentityFinding(f"match {min(missing)} is in the ledger but not in the store")
    for seq, file, item in _match_records(conn):
        number = file.removeprefix(_RUN)
        confirmed, revoked = named.get(int(number) if number.isdigit() else -1, (set(), False))
        if seq not in confirmed and not (item == REVOCATION and revoked):
            raise IdentityFinding(
                f"record #{seq} was appended for {file.removeprefix('identity:')}, but no "
                "`confirmed` entry names it (a confirmation cut short: confirm it again)"
            )


def _check_row(conn: sa.Connection, m: Any, steps: list[Entry]) -> tuple[set[int], bool]:
    """One row against its steps; the records its confirmations name, and whether a
    confirmed match was ever disputed (its revocation appended)."""
    case = int(m["id"])
    where = f"unidentified record {case}"
    if not steps or steps[0].body["action"] != "received":
        raise IdentityFinding(f"{where} is in the store without its `received` ledger entry")
    received = {
        "name": m["name"],
        "birth_date": m["birth_date"],
        "region": m["region"],
        "item": m["item"],
        "reference": m["reference"],
    }
    if salted_hash(bytes(m["salt"]), received) != steps[0].body["detail"]:
        raise IdentityFinding(
            f"{where}: its name, birth date, region, item or reference differ from what "
            f"ledger entry #{steps[0].seq} received (changed behind the system's back)"
        )
    status, record_seq, confirmed, revoked = "unmatched", None, set(), False
    for entry in steps[1:]:
        action = entry.body["action"]
        if action not in _NEXT[status]:
            raise IdentityFinding(
                f"ledger entry #{entry.seq}: match {case} is {action} after being {status}, "
                "which the service never does"
            )
        if action == "proposed":
            _check_proposal(m, entry, where)
        elif action == "confirmed":
            record_seq = _confirmed_record(entry, where)
            _check_record(conn, m, record_seq, None)
            confirmed.add(record_seq)
        revoked = revoked or (status, action) == ("confirmed", "disputed")
        status = _LEADS_TO[action]
    stored = m["status"]
    if stored != status and not (status == "unmatched" and stored == "ambiguous"):
        raise IdentityFinding(
            f"match {case} is {stored} in the store, but ledger entry #{steps[-1].seq} says "
            f"{status} (changed behind the system's back)"
        )
    if m["last_entry"] != steps[-1].seq:
        raise IdentityFinding(
            f"{where}: its last step is ledger entry #{steps[-1].seq}, the store says "
            f"#{m['last_entry']}"
        )
    if status == "unmatched" and (m["subject"] is not None or m["evidence"] is not None):
        raise IdentityFinding(f"{where} names a subject, but no `proposed` entry does")
    if m["record_seq"] != record_seq:
        raise IdentityFinding(
            f"match {case} points to record #{m['record_seq']}, but its `confirmed` entries "
            f"name {'#' + str(record_seq) if record_seq is not None else 'none'}"
        )
    if m["revoked_seq"] is not None:
        if not revoked:
            raise IdentityFinding(
                f"{where} has a revocation, but was never disputed once confirmed"
            )
        _check_record(conn, m, int(m["revoked_seq"]), REVOCATION)
    return confirmed, revoked


def _check_proposal(m: Any, entry: Entry, where: str) -> None:
    evidence = json.loads(m["evidence"]) if m["evidence"] else None
    committed = {"evidence": evidence, "subject": m["subject"]}
    if salted_hash(bytes(m["salt"]), committed) != entry.body["detail"]:
        raise IdentityFinding(
            f"{where}: its matched subject or evidence differ from what ledger entry "
            f"#{entry.seq} proposed (changed behind the system's back)"
        )


def _confirmed_record(entry: Entry, where: str) -> int:
    detail = str(entry.body["detail"])
    number = detail.removeprefix("record:")
    if not detail.startswith("record:") or not number.isdigit() or int(number) >= entry.seq:
        raise IdentityFinding(f"ledger entry #{entry.seq} confirms {where} with {detail!r}")
    return int(number)


def _check_record(conn: sa.Connection, m: Any, seq: int, item: str | None) -> None:
    """The record a match appended: stored (or erased) under the row's source and subject."""
    got = conn.execute(
        sa.select(records.c.source_id, records.c.subject, records.c.item).where(
            records.c.seq == seq
        )
    ).first()
    if got is None:
        if conn.execute(sa.select(erased.c.seq).where(erased.c.seq == seq)).first() is None:
            raise IdentityFinding(f"match {m['id']} points to record #{seq}, which is not stored")
        return
    want = (m["source_id"], m["subject"], item or m["item"])
    if tuple(got) != want:
        raise IdentityFinding(
            f"match {m['id']} points to record #{seq}, which is not its source's record of "
            "its subject and item"
        )


def _match_records(conn: sa.Connection) -> Iterator[tuple[int, str, str]]:
    """(seq, run, item) of every record appended for a match (its run names the match).

    `records.run_id` has no index, so finding them reads every record: only done when
    there is a match's run at all (the runs are few; a large log without matches would
    otherwise spend seconds here, after the parallel walk).
    """
    runs = sa.select(ingest_runs.c.id).where(ingest_runs.c.file.like(_RUN + "%"))
    if conn.execute(runs.limit(1)).first() is None:
        return
    query = (
        sa.select(records.c.seq, ingest_runs.c.file, records.c.item)
        .join(ingest_runs, ingest_runs.c.id == records.c.run_id)
        .where(ingest_runs.c.file.like(_RUN + "%"))
        .order_by(records.c.seq)
    )
    for seq, file, item in conn.execute(query):
        yield int(seq), str(file), str(item)
