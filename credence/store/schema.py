"""The relational schema (SQLAlchemy Core), portable across SQLite and PostgreSQL.

Records are never updated: corrections and revocations are new rows that
point at the old one (`corrects_seq`). Each ledger entry is a row keyed by
its sequence number that carries its leaf hash; records are the first kind
of entry, and later kinds (dispute outcomes, list changes) get tables of the
same shape, so the log is the union of them in `seq` order. Keeping the leaf
hash beside the record costs one insert per record, not two, and erasing a
record's content later keeps the row, its `seq` and `leaf_hash`.
"""

from __future__ import annotations

import sqlalchemy as sa

from credence.core.records import FIELD_MAX_LENGTHS as WIDTH

SCHEMA_VERSION = 4
# The Alembic revision that makes this schema (credence/store/migrations/versions/):
# checked on every open without importing Alembic; a test keeps it equal to the head.
SCHEMA_REVISION = "0003_schema_4"

metadata = sa.MetaData()

# A 64-bit sequence number that is SQLite's rowid (INTEGER PRIMARY KEY), so the
# table is stored in sequence order with no second index to maintain.
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Engines return rows in subject order and merge them in Python, which compares code points:
# on PostgreSQL the subject column sorts bytewise ("C") whatever the database's locale.
Subject = sa.String(WIDTH["subject"]).with_variant(
    sa.String(WIDTH["subject"], collation="C"), "postgresql"
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("patterns", sa.Text, nullable=False),  # JSON list of glob patterns
    sa.Column("created_at", sa.String(32), nullable=False),
)

records = sa.Table(
    "records",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=False),
    sa.Column("source_id", sa.Integer, nullable=False),
    sa.Column("reference", sa.String(WIDTH["reference"]), nullable=False),
    sa.Column("item", sa.String(WIDTH["item"]), nullable=False),
    sa.Column("subject", Subject, nullable=False),
    sa.Column(
        "occurred_on", sa.String(WIDTH["occurred_on"]), nullable=False
    ),  # ISO date: exact, sortable
    sa.Column("decided_on", sa.String(WIDTH["decided_on"])),
    sa.Column("attributes", sa.Text),  # canonical JSON object
    sa.Column("corrects", sa.String(WIDTH["corrects"])),  # the source's reference, as submitted
    sa.Column("corrects_seq", sa.BigInteger),  # the record it replaces, resolved
    sa.Column("salt", sa.LargeBinary(16), nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),  # SHA-256(0x00 || leaf bytes)
    sa.UniqueConstraint("source_id", "reference", name="uq_records_source_reference"),
)
sa.Index("ix_records_subject", records.c.subject)
# Only corrections have a target: a partial index keeps plain inserts cheap.
sa.Index(
    "ix_records_corrects",
    records.c.corrects_seq,
    sqlite_where=records.c.corrects_seq.isnot(None),
    postgresql_where=records.c.corrects_seq.isnot(None),
)

tree_heads = sa.Table(
    "tree_heads",
    metadata,
    sa.Column("size", Seq, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.LargeBinary(64), nullable=False),
    # Chain to the previous head (schema 2): deleting a head breaks the next one's chain.
    sa.Column("prev_size", sa.BigInteger),
    sa.Column("chain_signature", sa.LargeBinary(64)),
)

# Ledger entries that are not records: governance (sources, keys) and erasures.
# Their leaf bytes hold no personal data, so the bytes themselves are stored.
entries = sa.Table(
    "entries",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),  # the leaf bytes (RFC 8785 JSON)
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
)

# Records whose content and salt were erased: what stays is the leaf hash (still in the
# tree), the public leaf fields and the reference, so a resubmission is not taken as new.
erased = sa.Table(
    "erased",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=False),
    sa.Column("source_id", sa.Integer, nullable=False),
    sa.Column("reference", sa.String(128), nullable=False),
    sa.Column("item", sa.String(64), nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("erased_by", sa.BigInteger, nullable=False),  # seq of the erasure entry
    sa.UniqueConstraint("source_id", "reference", name="uq_erased_source_reference"),
)

# Schema 1 kept public keys here; schema 2 keeps them in the ledger (key entries) and
# `verify` trusts only a key it is given, so this table is no longer read.
signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("public_key_pem", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)

# The Merkle frontier at the latest size, so appends need not re-read the log.
ledger_state = sa.Table(
    "ledger_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("frontier", sa.LargeBinary, nullable=False),  # concatenated 32-byte hashes
)

ingest_runs = sa.Table(
    "ingest_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_id", sa.Integer, nullable=False),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("started_at", sa.String(32), nullable=False),
    sa.Column("finished_at", sa.String(32)),
    sa.Column("accepted", sa.BigInteger, nullable=False, default=0),
    sa.Column("duplicates", sa.BigInteger, nullable=False, default=0),
    sa.Column("rejected", sa.BigInteger, nullable=False, default=0),
)

# --- the service (schema 3): parties' keys, inquiries, due process, publications ---

# Keys of the parties that reach the API. Only a hash of each key is kept: the key is shown
# once when issued. `prefix` (the first characters) names a key in lists and logs.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("prefix", sa.String(24), nullable=False),
    sa.Column("key_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("purposes", sa.Text, nullable=False),  # JSON list (relying parties)
    sa.Column("subject", sa.String(WIDTH["subject"])),  # subject keys: whose file
    sa.Column("source_id", sa.Integer),  # source keys: which source
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("revoked_at", sa.String(32)),
    sa.Column("entry_seq", sa.BigInteger),  # the ledger entry that issued it
)

# Every look at a person: checks (answered or refused) and reads of their file by others.
# Written (durably) before the answer leaves; shown to the person in their file.
inquiries = sa.Table(
    "inquiries",
    metadata,
    sa.Column("id", Seq, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(32), nullable=False),  # UTC, ISO 8601 with milliseconds
    sa.Column("subject", sa.String(WIDTH["subject"]), nullable=False),
    sa.Column("key_id", sa.Integer, nullable=False),
    sa.Column("party", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # check | read
    sa.Column("purpose", sa.String(64)),
    sa.Column("decision", sa.String(16), nullable=False),  # allow | deny | review | refused | read
    sa.Column("rulebook", sa.String(64)),
    sa.Column("ledger_size", sa.BigInteger),
)
sa.Index("ix_inquiries_subject", inquiries.c.subject, inquiries.c.id)

# Requests refused for want of a key, role or permission (no personal data: the route
# template, not the path).
access_denials = sa.Table(
    "access_denials",
    metadata,
    sa.Column("id", Seq, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("key_prefix", sa.String(24)),
    sa.Column("role", sa.String(16)),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("route", sa.String(128), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
)

# A subject contests a record; its source confirms, corrects or withdraws it by the
# deadline, or the record is suppressed. Each step is a ledger entry (`*_entry`).
disputes = sa.Table(
    "disputes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_seq", sa.BigInteger, nullable=False),
    sa.Column("subject", sa.String(WIDTH["subject"]), nullable=False),
    sa.Column("source_id", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("filed_on", sa.String(10), nullable=False),  # the service's day
    sa.Column("deadline", sa.String(10), nullable=False),  # last day for the source's answer
    sa.Column("status", sa.String(16), nullable=False),  # open|confirmed|corrected|withdrawn|lapsed
    sa.Column("answered_on", sa.String(10)),
    sa.Column("answer", sa.Text),  # the source's explanation
    sa.Column("correction_seq", sa.BigInteger),  # the record that corrected or withdrew it
    sa.Column("filed_entry", sa.BigInteger, nullable=False),
    sa.Column("outcome_entry", sa.BigInteger),
)
sa.Index("ix_disputes_subject", disputes.c.subject)
sa.Index("ix_disputes_source", disputes.c.source_id, disputes.c.status)
sa.Index("ix_disputes_record", disputes.c.record_seq)

# Credit repair: after an item's minimum publicity the subject applies; once the source
# confirms rectification, publicity ends early (the record is suppressed).
repairs = sa.Table(
    "repairs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_seq", sa.BigInteger, nullable=False),
    sa.Column("subject", sa.String(WIDTH["subject"]), nullable=False),
    sa.Column("source_id", sa.Integer, nullable=False),
    sa.Column("statement", sa.Text, nullable=False),
    sa.Column("applied_on", sa.String(10), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | rectified | refused
    sa.Column("answered_on", sa.String(10)),
    sa.Column("answer", sa.Text),
    sa.Column("filed_entry", sa.BigInteger, nullable=False),
    sa.Column("outcome_entry", sa.BigInteger),
)
sa.Index("ix_repairs_subject", repairs.c.subject)
sa.Index("ix_repairs_source", repairs.c.source_id, repairs.c.status)

# Records that stopped counting by due process (a lapsed dispute, a granted repair): the
# scoring engines read this beside corrections, so a suppressed record counts nowhere.
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=False),  # the ledger entry
    sa.Column("record_seq", sa.BigInteger, nullable=False, unique=True),
    sa.Column("cause", sa.String(16), nullable=False),  # lapsed | repaired
)

# Rulebooks an admin published; the latest is live (gov-default until the first).
publications = sa.Table(
    "publications",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=False),  # the ledger entry
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the rulebook's YAML as published
    sa.Column("published_at", sa.String(32), nullable=False),
)

# Idempotency-Key (IETF httpapi draft): the first answer to (key, Idempotency-Key) is kept.
idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("key_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idem_key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("state", sa.String(8), nullable=False),  # running | done
    sa.Column("status", sa.Integer),
    sa.Column("response", sa.LargeBinary),
    sa.Column("created_at", sa.String(32), nullable=False),
)

# --- identity resolution (schema 4): records that came without a valid ID -------------

# A source's record that names its subject by name, birth date and region instead of an ID
# (credence.identity). It counts for nothing here: only when an auditor confirms the match
# is it appended to `records` (record_seq), as a record of the matched subject. Each step
# is a `match` ledger entry that commits to the personal fields by a salted hash.
unidentified = sa.Table(
    "unidentified",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_id", sa.Integer, nullable=False),
    sa.Column("reference", sa.String(WIDTH["reference"]), nullable=False),
    sa.Column("item", sa.String(WIDTH["item"]), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # person | organisation
    sa.Column("occurred_on", sa.String(WIDTH["occurred_on"]), nullable=False),
    sa.Column("decided_on", sa.String(WIDTH["decided_on"])),
    sa.Column("attributes", sa.Text),  # canonical JSON object
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("birth_date", sa.String(10)),  # persons only
    sa.Column("region", sa.String(6), nullable=False),  # GB/T 2260 code of the address
    sa.Column("salt", sa.LargeBinary(16), nullable=False),
    sa.Column("received_on", sa.String(10), nullable=False),
    # unmatched | ambiguous | pending | confirmed | rejected | disputed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(WIDTH["subject"])),  # the matched subject
    sa.Column("evidence", sa.Text),  # JSON: fields that agreed, levels, weight, probability
    sa.Column("record_seq", sa.BigInteger),  # the record appended on confirmation
    sa.Column("revoked_seq", sa.BigInteger),  # the revocation appended when disputed
    sa.Column("last_entry", sa.BigInteger, nullable=False),  # the latest `match` entry
    sa.UniqueConstraint("source_id", "reference", name="uq_unidentified_source_reference"),
)
sa.Index("ix_unidentified_status", unidentified.c.status)
sa.Index("ix_unidentified_subject", unidentified.c.subject)
