"""Schema 2: the ledger store as it was before Alembic (records, heads, entries, erasures).

A store made by credence before Alembic with `meta.schema` = 2 is stamped
at this revision by `credence migrate` and upgraded from here. The tables
are written out, not imported from `credence.store.schema`, so that this
revision keeps meaning what it meant when later revisions change the schema.

Revision ID: 0001_schema_2
Revises:
Create Date: 2026-01-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_schema_2"
down_revision = None
branch_labels = None
depends_on = None

# A 64-bit sequence number that is SQLite's rowid (INTEGER PRIMARY KEY).
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Sorted bytewise on PostgreSQL, as the engines' merge in Python expects.
Subject = sa.String(160).with_variant(sa.String(160, collation="C"), "postgresql")


def upgrade() -> None:
    _registry()
    _ledger()
    _keys_state_and_runs()
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")


def _registry() -> None:
    """Meta, sources and records with their indexes."""
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("patterns", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("seq", Seq, primary_key=True, autoincrement=False),
        sa.Column("source_id", sa.Integer, nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("subject", Subject, nullable=False),
        sa.Column("occurred_on", sa.String(10), nullable=False),
        sa.Column("decided_on", sa.String(10)),
        sa.Column("attributes", sa.Text),
        sa.Column("corrects", sa.String(128)),
        sa.Column("corrects_seq", sa.BigInteger),
        sa.Column("salt", sa.LargeBinary(16), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.UniqueConstraint("source_id", "reference", name="uq_records_source_reference"),
    )
    op.create_index("ix_records_subject", "records", ["subject"])
    where = sa.text("corrects_seq IS NOT NULL")
    op.create_index(
        "ix_records_corrects",
        "records",
        ["corrects_seq"],
        sqlite_where=where,
        postgresql_where=where,
    )


def _ledger() -> None:
    """Tree heads, non-record entries and erased records."""
    op.create_table(
        "tree_heads",
        sa.Column("size", Seq, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.Column("prev_size", sa.BigInteger),
        sa.Column("chain_signature", sa.LargeBinary(64)),
    )
    op.create_table(
        "entries",
        sa.Column("seq", Seq, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "erased",
        sa.Column("seq", Seq, primary_key=True, autoincrement=False),
        sa.Column("source_id", sa.Integer, nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("erased_by", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("source_id", "reference", name="uq_erased_source_reference"),
    )


def _keys_state_and_runs() -> None:
    """Signing keys (unread since schema 2), the Merkle frontier and ingest runs."""
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "ledger_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.Integer, nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32)),
        sa.Column("accepted", sa.BigInteger, nullable=False),
        sa.Column("duplicates", sa.BigInteger, nullable=False),
        sa.Column("rejected", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "ingest_runs",
        "ledger_state",
        "signing_keys",
        "erased",
        "entries",
        "tree_heads",
        "records",
        "sources",
        "meta",
    ):
        op.drop_table(table)
