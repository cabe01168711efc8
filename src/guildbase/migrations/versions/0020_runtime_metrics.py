"""Runtime metrics: ``runtime_metric_sample``, each process's sampled figures, partitioned by month.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 15:20:00.000000

Drafted by autogenerate, then finished by hand: the table is range-partitioned
on ``sampled_at`` and served by the generic partition functions of 0013
(``partition_ensure`` / ``partition_drop_before``); last month, this month and
the next three get partitions now, the writer creates other months on demand.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runtime_metric_sample",
        sa.Column("sample_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("process", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.CheckConstraint("char_length(label) <= 200", name=op.f("ck_runtime_metric_sample_label_length")),
        sa.CheckConstraint("char_length(metric) BETWEEN 1 AND 64", name=op.f("ck_runtime_metric_sample_metric_length")),
        sa.CheckConstraint(
            "char_length(process) BETWEEN 1 AND 200", name=op.f("ck_runtime_metric_sample_process_length")
        ),
        sa.PrimaryKeyConstraint("sample_id", "sampled_at", name=op.f("pk_runtime_metric_sample")),
        postgresql_partition_by="RANGE (sampled_at)",
    )
    op.create_index(
        "ix_runtime_metric_sample_metric_sampled_at", "runtime_metric_sample", ["metric", "sampled_at"], unique=False
    )
    op.execute(
        "SELECT partition_ensure('runtime_metric_sample'::regclass, "
        "(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date) "
        "FROM generate_series(-1, 3) AS m"
    )


def downgrade() -> None:
    op.drop_index("ix_runtime_metric_sample_metric_sampled_at", table_name="runtime_metric_sample")
    op.drop_table("runtime_metric_sample")  # its partitions go with it
