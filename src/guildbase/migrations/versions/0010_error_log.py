"""Error log: groups by fingerprint (upserted counts), a daily count per group, bounded samples.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 13:00:00.000000

``error_group`` is one row per fingerprint; ``error_group_daily`` counts
occurrences per UTC day for reports; ``error_log`` holds the newest samples of
each group (the writer trims the rest). No table references ``guild``: an error
record outlives the guild it happened in. The downgrade drops all three.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "error_group",
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("char_length(fingerprint) = 32", name=op.f("ck_error_group_fingerprint_length")),
        sa.CheckConstraint("count > 0", name=op.f("ck_error_group_count_positive")),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_error_group")),
    )
    op.create_index("ix_error_group_last_seen_at", "error_group", ["last_seen_at"], unique=False)
    op.create_table(
        "error_group_daily",
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("count > 0", name=op.f("ck_error_group_daily_count_positive")),
        sa.ForeignKeyConstraint(
            ["fingerprint"],
            ["error_group.fingerprint"],
            name=op.f("fk_error_group_daily_fingerprint_error_group"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fingerprint", "day", name=op.f("pk_error_group_daily")),
    )
    op.create_table(
        "error_log",
        sa.Column("error_log_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("error_id", sa.Text(), nullable=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=False),
        sa.Column("process", sa.Text(), nullable=False),
        sa.Column("shard_id", sa.Integer(), nullable=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column(
            "context", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_error_log_channel_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_error_log_guild_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_error_log_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["fingerprint"],
            ["error_group.fingerprint"],
            name=op.f("fk_error_log_fingerprint_error_group"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("error_log_id", name=op.f("pk_error_log")),
    )
    op.create_index("ix_error_log_command_created_at", "error_log", ["command", "created_at"], unique=False)
    op.create_index("ix_error_log_fingerprint_error_log_id", "error_log", ["fingerprint", "error_log_id"], unique=False)
    op.create_index("ix_error_log_guild_id_created_at", "error_log", ["guild_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_error_log_guild_id_created_at", table_name="error_log")
    op.drop_index("ix_error_log_fingerprint_error_log_id", table_name="error_log")
    op.drop_index("ix_error_log_command_created_at", table_name="error_log")
    op.drop_table("error_log")
    op.drop_table("error_group_daily")
    op.drop_index("ix_error_group_last_seen_at", table_name="error_group")
    op.drop_table("error_group")
