"""Command-log dead letter: rows PostgreSQL refused, kept once instead of retried forever.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "command_log_dead_letter",
        sa.Column("dead_letter_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("row", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("dead_letter_id", name=op.f("pk_command_log_dead_letter")),
    )


def downgrade() -> None:
    op.drop_table("command_log_dead_letter")
