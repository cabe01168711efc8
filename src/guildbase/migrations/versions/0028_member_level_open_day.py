"""The member's open day in ``member_level``: day, week and month XP kept by the award's own upsert.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 23:40:00.000000

The award statement used to add every award to ``member_xp_daily`` and sum the
earlier days of the week and month on every message. Now ``member_level``
keeps the member's open day (the UTC day of their latest award) and its day,
ISO-week and month totals, and ``member_xp_daily`` holds the days the member
has moved on from (``guildbase/models/levels.py``).

The upgrade moves each member's latest ``member_xp_daily`` row into the new
columns (it is their open day) and computes its week and month totals from
their rows; the other days stay where they are. The downgrade adds the open
day back to ``member_xp_daily``. Nothing is lost either way: a period's XP is
the same sum before and after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECK = "day_xp >= 0 AND week_xp >= day_xp AND month_xp >= day_xp"


def upgrade() -> None:
    op.add_column("member_level", sa.Column("open_day", sa.Date(), nullable=True))
    for name in ("day_xp", "week_xp", "month_xp"):
        op.add_column("member_level", sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False))
    op.add_column("member_level", sa.Column("closed_day", sa.Date(), nullable=True))
    op.add_column("member_level", sa.Column("closed_day_xp", sa.BigInteger(), nullable=True))
    # Each member's latest day becomes their open day, with its week's and month's totals.
    op.execute("""
        WITH latest AS (
            SELECT DISTINCT ON (guild_id, user_id) guild_id, user_id, day, xp
            FROM member_xp_daily
            ORDER BY guild_id, user_id, day DESC
        ), totals AS (
            SELECT l.guild_id, l.user_id, l.day, l.xp,
                   sum(d.xp) FILTER (WHERE d.day >= date_trunc('week', l.day)::date) AS week_xp,
                   sum(d.xp) FILTER (WHERE d.day >= date_trunc('month', l.day)::date) AS month_xp
            FROM latest AS l
            JOIN member_xp_daily AS d ON d.guild_id = l.guild_id AND d.user_id = l.user_id
             AND d.day >= least(date_trunc('week', l.day)::date, date_trunc('month', l.day)::date)
            GROUP BY l.guild_id, l.user_id, l.day, l.xp
        )
        UPDATE member_level AS m
        SET open_day = t.day, day_xp = t.xp, week_xp = t.week_xp, month_xp = t.month_xp
        FROM totals AS t
        WHERE m.guild_id = t.guild_id AND m.user_id = t.user_id
    """)
    # The open day now lives in member_level: its member_xp_daily row would count twice.
    op.execute("""
        DELETE FROM member_xp_daily AS d
        USING member_level AS m
        WHERE m.guild_id = d.guild_id AND m.user_id = d.user_id AND m.open_day = d.day
    """)
    op.create_check_constraint(op.f("ck_member_level_period_xp_consistent"), "member_level", _CHECK)


def downgrade() -> None:
    op.execute("""
        INSERT INTO member_xp_daily AS d (guild_id, user_id, day, xp)
        SELECT guild_id, user_id, open_day, day_xp FROM member_level WHERE open_day IS NOT NULL
        ON CONFLICT (guild_id, user_id, day) DO UPDATE SET xp = d.xp + excluded.xp
    """)
    op.drop_constraint(op.f("ck_member_level_period_xp_consistent"), "member_level", type_="check")
    for name in ("closed_day_xp", "closed_day", "month_xp", "week_xp", "day_xp", "open_day"):
        op.drop_column("member_level", name)
