"""Per-day XP per member, the source the period leaderboards are rebuilt from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 07:47:32.634609
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_xp_daily",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("xp", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_member_xp_daily_guild_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_member_xp_daily_user_id_positive")),
        sa.CheckConstraint("xp >= 0", name=op.f("ck_member_xp_daily_xp_not_negative")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_member_xp_daily_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "user_id", "day", name=op.f("pk_member_xp_daily")),
    )
    op.create_index("ix_member_xp_daily_guild_id_day", "member_xp_daily", ["guild_id", "day"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_member_xp_daily_guild_id_day", table_name="member_xp_daily")
    op.drop_table("member_xp_daily")
