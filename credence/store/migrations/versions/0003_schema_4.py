"""Schema 4: records that came without a valid ID, and their probabilistic matches.

One new table, so upgrading touches no existing row.

Revision ID: 0003_schema_4
Revises: 0002_schema_3
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_schema_4"
down_revision = "0002_schema_3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unidentified",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.Integer, nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_on", sa.String(10), nullable=False),
        sa.Column("decided_on", sa.String(10)),
        sa.Column("attributes", sa.Text),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("birth_date", sa.String(10)),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("salt", sa.LargeBinary(16), nullable=False),
        sa.Column("received_on", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(160)),
        sa.Column("evidence", sa.Text),
        sa.Column("record_seq", sa.BigInteger),
        sa.Column("revoked_seq", sa.BigInteger),
        sa.Column("last_entry", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("source_id", "reference", name="uq_unidentified_source_reference"),
    )
    op.create_index("ix_unidentified_status", "unidentified", ["status"])
    op.create_index("ix_unidentified_subject", "unidentified", ["subject"])
    op.execute("UPDATE meta SET value = '4' WHERE key = 'schema'")


def downgrade() -> None:
    op.drop_table("unidentified")
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")
