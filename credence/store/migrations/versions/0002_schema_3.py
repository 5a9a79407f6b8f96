"""Schema 3: the service's tables (API keys, inquiries, due process, publications).

All of them are new, so upgrading touches no existing row: the records,
their leaves and every signed head stay as they were.

Revision ID: 0002_schema_3
Revises: 0001_schema_2
Create Date: 2026-01-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_schema_3"
down_revision = "0001_schema_2"
branch_labels = None
depends_on = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _parties_and_inquiries()
    _due_process()
    _publications_and_idempotency()
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")


def _parties_and_inquiries() -> None:
    """API keys, the inquiry log and refused requests."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("prefix", sa.String(24), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("purposes", sa.Text, nullable=False),
        sa.Column("subject", sa.String(160)),
        sa.Column("source_id", sa.Integer),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32)),
        sa.Column("entry_seq", sa.BigInteger),
    )
    op.create_table(
        "inquiries",
        sa.Column("id", Seq, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(160), nullable=False),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(64)),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("rulebook", sa.String(64)),
        sa.Column("ledger_size", sa.BigInteger),
    )
    op.create_index("ix_inquiries_subject", "inquiries", ["subject", "id"])
    op.create_table(
        "access_denials",
        sa.Column("id", Seq, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("key_prefix", sa.String(24)),
        sa.Column("role", sa.String(16)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("route", sa.String(128), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )


def _due_process() -> None:
    """Disputes and credit-repair applications."""
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_seq", sa.BigInteger, nullable=False),
        sa.Column("subject", sa.String(160), nullable=False),
        sa.Column("source_id", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("filed_on", sa.String(10), nullable=False),
        sa.Column("deadline", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answered_on", sa.String(10)),
        sa.Column("answer", sa.Text),
        sa.Column("correction_seq", sa.BigInteger),
        sa.Column("filed_entry", sa.BigInteger, nullable=False),
        sa.Column("outcome_entry", sa.BigInteger),
    )
    op.create_index("ix_disputes_subject", "disputes", ["subject"])
    op.create_index("ix_disputes_source", "disputes", ["source_id", "status"])
    op.create_index("ix_disputes_record", "disputes", ["record_seq"])
    op.create_table(
        "repairs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_seq", sa.BigInteger, nullable=False),
        sa.Column("subject", sa.String(160), nullable=False),
        sa.Column("source_id", sa.Integer, nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("applied_on", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answered_on", sa.String(10)),
        sa.Column("answer", sa.Text),
        sa.Column("filed_entry", sa.BigInteger, nullable=False),
        sa.Column("outcome_entry", sa.BigInteger),
    )
    op.create_index("ix_repairs_subject", "repairs", ["subject"])
    op.create_index("ix_repairs_source", "repairs", ["source_id", "status"])


def _publications_and_idempotency() -> None:
    """Suppressions, rulebook publications and Idempotency-Key answers."""
    op.create_table(
        "suppressions",
        sa.Column("seq", Seq, primary_key=True, autoincrement=False),
        sa.Column("record_seq", sa.BigInteger, nullable=False, unique=True),
        sa.Column("cause", sa.String(16), nullable=False),
    )
    op.create_table(
        "publications",
        sa.Column("seq", Seq, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("published_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "idempotency",
        sa.Column("key_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idem_key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("response", sa.LargeBinary),
        sa.Column("created_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "idempotency",
        "publications",
        "suppressions",
        "repairs",
        "disputes",
        "access_denials",
        "inquiries",
        "api_keys",
    ):
        op.drop_table(table)
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
