"""Legacy import (R3.5): checkpoints and the issues of ``guildbase import-legacy``.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 19:50:00.000000

Two bookkeeping tables (``guildbase/models/legacy_import.py``); no enum and no
audit label: the import writes its audit rows with the existing actions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legacy_import_checkpoint",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("last_key", sa.Text(), nullable=True),
        sa.Column("is_done", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_merged", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_skipped", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source", "table_name", name=op.f("pk_legacy_import_checkpoint")),
    )
    op.create_table(
        "legacy_import_issue",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("legacy_key", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("original", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source", "table_name", "legacy_key", "reason", name=op.f("pk_legacy_import_issue")),
    )


def downgrade() -> None:
    op.drop_table("legacy_import_issue")
    op.drop_table("legacy_import_checkpoint")
