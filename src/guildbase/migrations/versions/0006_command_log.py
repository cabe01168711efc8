"""Command log, range-partitioned by month, with its partition functions and daily rollup.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 08:10:00.000000

Written by hand: autogenerate does not know partitioned tables. Partitions are
named ``command_log_pYYYYMM`` (env.py keeps them out of ``alembic check``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Idempotent and safe to race: two processes creating the same month both succeed.
ENSURE_PARTITION = """
CREATE FUNCTION command_log_ensure_partition(month date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := 'command_log_p' || to_char(first, 'YYYYMM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF command_log FOR VALUES FROM (%L) TO (%L)',
                name,
                first::timestamp AT TIME ZONE 'UTC',
                (first + interval '1 month')::timestamp AT TIME ZONE 'UTC'
            );
        EXCEPTION WHEN duplicate_table THEN
            NULL;
        END;
    END IF;
    RETURN name;
END
$$
"""

# Retention: whole partitions go, never rows (no DELETE, no vacuum debt).
DROP_PARTITIONS = """
CREATE FUNCTION command_log_drop_partitions_before(cutoff date) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    dropped text[] := '{}';
BEGIN
    FOR part IN
        SELECT c.relname
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'command_log'::regclass AND c.relname ~ '^command_log_p[0-9]{6}$'
        ORDER BY c.relname
    LOOP
        IF (to_date(right(part.relname, 6), 'YYYYMM') + interval '1 month')::date <= cutoff THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped || part.relname::text;
        END IF;
    END LOOP;
    RETURN dropped;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "command_log",
        sa.Column("log_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column(
            "params", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("is_success", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.CheckConstraint("char_length(command) BETWEEN 1 AND 100", name=op.f("ck_command_log_command_length")),
        sa.CheckConstraint("duration_ms BETWEEN 0 AND 86400000", name=op.f("ck_command_log_duration_ms_range")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_command_log_user_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_command_log_guild_id_positive")),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_command_log_channel_id_positive")),
        sa.PrimaryKeyConstraint("log_id", "created_at", name=op.f("pk_command_log")),
        postgresql_partition_by="RANGE (created_at)",
    )
    op.create_index("ix_command_log_guild_id_created_at", "command_log", ["guild_id", "created_at"], unique=False)
    op.create_index("ix_command_log_user_id_created_at", "command_log", ["user_id", "created_at"], unique=False)
    op.execute(ENSURE_PARTITION)
    op.execute(DROP_PARTITIONS)
    # Last month (late rows), this month and the next three; the writer creates others on demand.
    op.execute(
        "SELECT command_log_ensure_partition((date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date) "
        "FROM generate_series(-1, 3) AS m"
    )
    op.create_table(
        "command_stat_daily",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("uses", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms_total", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("guild_id >= 0", name=op.f("ck_command_stat_daily_guild_id_not_negative")),
        sa.CheckConstraint(
            "uses >= 0 AND failures >= 0 AND failures <= uses", name=op.f("ck_command_stat_daily_counts_consistent")
        ),
        sa.PrimaryKeyConstraint("guild_id", "day", "command", name=op.f("pk_command_stat_daily")),
    )


def downgrade() -> None:
    op.drop_table("command_stat_daily")
    op.execute("DROP FUNCTION command_log_drop_partitions_before(date)")
    op.execute("DROP FUNCTION command_log_ensure_partition(date)")
    op.drop_index("ix_command_log_user_id_created_at", table_name="command_log")
    op.drop_index("ix_command_log_guild_id_created_at", table_name="command_log")
    op.drop_table("command_log")
