"""Coarser message and voice rollups (W8b): per (guild, day, member) and per (guild, day, channel).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 20:00:00.000000

Four tables (``guildbase/models/event_stats.py``) that the reports read
instead of the per-(day, channel, member) rollups, kept by the same
transactions. The upgrade fills them from the rollups already there, so they
start equal to their source.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, source, key column, counter)
COARSE = (
    ("message_stat_user_daily", "message_stat_daily", "user_id", "messages"),
    ("message_stat_channel_daily", "message_stat_daily", "channel_id", "messages"),
    ("voice_stat_user_daily", "voice_stat_daily", "user_id", "seconds"),
    ("voice_stat_channel_daily", "voice_stat_daily", "channel_id", "seconds"),
)
_RULES = {"messages": "messages_not_negative", "seconds": "seconds_not_negative"}


def upgrade() -> None:
    for table, source, key, counter in COARSE:
        op.create_table(
            table,
            sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column(key, sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column(counter, sa.BigInteger(), nullable=False),
            sa.CheckConstraint("guild_id > 0", name=op.f(f"ck_{table}_guild_id_positive")),
            sa.CheckConstraint(f"{key} > 0", name=op.f(f"ck_{table}_{key}_positive")),
            sa.CheckConstraint(f"{counter} >= 0", name=op.f(f"ck_{table}_{_RULES[counter]}")),
            sa.PrimaryKeyConstraint("guild_id", "day", key, name=op.f(f"pk_{table}")),
        )
        op.execute(
            f"INSERT INTO {table} (guild_id, day, {key}, {counter}) "  # noqa: S608 - constants above
            f"SELECT guild_id, day, {key}, sum({counter}) FROM {source} GROUP BY guild_id, day, {key}"
        )


def downgrade() -> None:
    for table, *_ in reversed(COARSE):
        op.drop_table(table)
