"""Engagement schema: levels, AFK, starboard, reminders, bookmarks, and the level curve functions.

``level_total_xp`` / ``level_for_xp`` are SQL functions (autogenerate does not
see them, so they are written here by hand): the per-message XP statement
recomputes the level with them. Their Python twins live in
``guildbase.models.levels`` and the tests check that both agree.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 07:21:45.213570
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVEL_TOTAL_XP = """
CREATE FUNCTION level_total_xp(level integer, curve level_curve) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE curve
        WHEN 'mee6' THEN (10 * level::bigint * level * level + 135 * level::bigint * level + 455 * level::bigint) / 6
        WHEN 'linear' THEN 50 * level::bigint * (level + 1)
        ELSE 1000 * level::bigint
    END
$$
"""
# Start from the curve's closed-form estimate, then step to the exact level
# (a few iterations at most), so a level-1000 member costs no more than a new one.
LEVEL_FOR_XP = """
CREATE FUNCTION level_for_xp(xp bigint, curve level_curve) RETURNS integer
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    lvl integer := CASE curve
        WHEN 'mee6' THEN floor(cbrt(greatest(xp, 0) * 0.6))
        WHEN 'linear' THEN floor(sqrt(greatest(xp, 0) / 50.0))
        ELSE greatest(xp, 0) / 1000
    END;
BEGIN
    WHILE lvl > 0 AND level_total_xp(lvl, curve) > xp LOOP
        lvl := lvl - 1;
    END LOOP;
    WHILE level_total_xp(lvl + 1, curve) <= xp LOOP
        lvl := lvl + 1;
    END LOOP;
    RETURN lvl;
END
$$
"""


def upgrade() -> None:
    sa.Enum("pending", "sent", "failed", "cancelled", name="reminder_status").create(op.get_bind())
    sa.Enum("role", "channel", name="level_multiplier_kind").create(op.get_bind())
    sa.Enum("stack", "replace", name="level_role_mode").create(op.get_bind())
    sa.Enum("mee6", "linear", "flat", name="level_curve").create(op.get_bind())
    op.execute(LEVEL_TOTAL_XP)
    op.execute(LEVEL_FOR_XP)
    op.create_table(
        "afk",
        sa.Column("nickname", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("is_enforced", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_permanent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("since", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("NOT (is_permanent AND until IS NOT NULL)", name=op.f("ck_afk_permanent_without_until")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_afk_guild_id_positive")),
        sa.CheckConstraint("until IS NULL OR until > since", name=op.f("ck_afk_until_after_since")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_afk_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_afk_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_afk")),
    )
    op.create_index("ix_afk_until", "afk", ["until"], unique=False, postgresql_where=sa.text("until IS NOT NULL"))
    op.create_table(
        "bookmark",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("author_id > 0", name=op.f("ck_bookmark_author_id_positive")),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_bookmark_channel_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_bookmark_guild_id_positive")),
        sa.CheckConstraint("message_id > 0", name=op.f("ck_bookmark_message_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_bookmark_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_bookmark_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "user_id", "message_id", name=op.f("pk_bookmark")),
    )
    op.create_index(
        "ix_bookmark_user_id_created_at_message_id", "bookmark", ["user_id", "created_at", "message_id"], unique=False
    )
    op.create_table(
        "level_config",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("xp_min", sa.Integer(), server_default="15", nullable=False),
        sa.Column("xp_max", sa.Integer(), server_default="25", nullable=False),
        sa.Column("cooldown_seconds", sa.Integer(), server_default="60", nullable=False),
        sa.Column(
            "curve",
            postgresql.ENUM("mee6", "linear", "flat", name="level_curve", create_type=False),
            server_default="mee6",
            nullable=False,
        ),
        sa.Column(
            "role_mode",
            postgresql.ENUM("stack", "replace", name="level_role_mode", create_type=False),
            server_default="stack",
            nullable=False,
        ),
        sa.Column("ignored_channel_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_level_config_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_level_config_guild_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_level_config_updated_by_positive")),
        sa.CheckConstraint("xp_min >= 0 AND xp_max >= xp_min", name=op.f("ck_level_config_xp_range")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_level_config_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_level_config")),
    )
    op.create_table(
        "level_multiplier",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "kind", postgresql.ENUM("role", "channel", name="level_multiplier_kind", create_type=False), nullable=False
        ),
        sa.Column("target_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("multiplier", sa.Float(), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_level_multiplier_guild_id_positive")),
        sa.CheckConstraint("multiplier >= 0 AND multiplier <= 10.0", name=op.f("ck_level_multiplier_multiplier_range")),
        sa.CheckConstraint("target_id > 0", name=op.f("ck_level_multiplier_target_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_level_multiplier_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "kind", "target_id", name=op.f("pk_level_multiplier")),
    )
    op.create_table(
        "level_role",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_level_role_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_level_role_guild_id_positive")),
        sa.CheckConstraint("level >= 1", name=op.f("ck_level_role_level_positive")),
        sa.CheckConstraint("role_id > 0", name=op.f("ck_level_role_role_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_level_role_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_level_role_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "level", name=op.f("pk_level_role")),
        sa.UniqueConstraint("guild_id", "role_id", name=op.f("uq_level_role_guild_id_role_id")),
    )
    op.create_table(
        "member_level",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("xp", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("level", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("message_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_message_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("is_blacklisted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_member_level_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_member_level_guild_id_positive")),
        sa.CheckConstraint("level >= 0", name=op.f("ck_member_level_level_not_negative")),
        sa.CheckConstraint("message_count >= 0", name=op.f("ck_member_level_message_count_not_negative")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_member_level_updated_by_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_member_level_user_id_positive")),
        sa.CheckConstraint("xp >= 0", name=op.f("ck_member_level_xp_not_negative")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_member_level_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_member_level")),
    )
    op.create_index(
        "ix_member_level_leaderboard",
        "member_level",
        ["guild_id", "xp", "user_id"],
        unique=False,
        postgresql_where=sa.text("NOT is_blacklisted"),
    )
    op.create_index("ix_member_level_user_id", "member_level", ["user_id"], unique=False)
    op.create_table(
        "reminder",
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("remind_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column("reminder_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM("pending", "sent", "failed", "cancelled", name="reminder_status", create_type=False),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("claimed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "attempts >= 0 AND attempts <= max_attempts", name=op.f("ck_reminder_attempts_within_budget")
        ),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_reminder_channel_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_reminder_guild_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_reminder_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_reminder_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("reminder_id", name=op.f("pk_reminder")),
    )
    op.create_index(
        "ix_reminder_due", "reminder", ["remind_at"], unique=False, postgresql_where=sa.text("status = 'pending'")
    )
    op.create_index(
        "ix_reminder_guild_id", "reminder", ["guild_id"], unique=False, postgresql_where=sa.text("guild_id IS NOT NULL")
    )
    op.create_index("ix_reminder_user_id_remind_at", "reminder", ["user_id", "remind_at"], unique=False)
    op.create_table(
        "starboard",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("emoji", sqlmodel.sql.sqltypes.AutoString(length=64), server_default="⭐", nullable=False),
        sa.Column("threshold", sa.Integer(), server_default="3", nullable=False),
        sa.Column("is_self_star_allowed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("ignored_channel_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_starboard_channel_id_positive")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_starboard_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_starboard_guild_id_positive")),
        sa.CheckConstraint("threshold >= 1", name=op.f("ck_starboard_threshold_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_starboard_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_starboard_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_starboard")),
    )
    op.create_table(
        "starboard_entry",
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("star_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("posted_message_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("author_id > 0", name=op.f("ck_starboard_entry_author_id_positive")),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_starboard_entry_channel_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_starboard_entry_guild_id_positive")),
        sa.CheckConstraint("message_id > 0", name=op.f("ck_starboard_entry_message_id_positive")),
        sa.CheckConstraint("posted_message_id > 0", name=op.f("ck_starboard_entry_posted_message_id_positive")),
        sa.CheckConstraint("star_count >= 0", name=op.f("ck_starboard_entry_star_count_not_negative")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_starboard_entry_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "message_id", name=op.f("pk_starboard_entry")),
    )
    op.create_table(
        "starboard_star",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_starboard_star_guild_id_positive")),
        sa.CheckConstraint("message_id > 0", name=op.f("ck_starboard_star_message_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_starboard_star_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id", "message_id"],
            ["starboard_entry.guild_id", "starboard_entry.message_id"],
            name=op.f("fk_starboard_star_guild_id_message_id_starboard_entry"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_starboard_star_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "message_id", "user_id", name=op.f("pk_starboard_star")),
    )
    op.create_index("ix_starboard_star_user_id", "starboard_star", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_starboard_star_user_id", table_name="starboard_star")
    op.drop_table("starboard_star")
    op.drop_table("starboard_entry")
    op.drop_table("starboard")
    op.drop_index("ix_reminder_user_id_remind_at", table_name="reminder")
    op.drop_index("ix_reminder_guild_id", table_name="reminder", postgresql_where=sa.text("guild_id IS NOT NULL"))
    op.drop_index("ix_reminder_due", table_name="reminder", postgresql_where=sa.text("status = 'pending'"))
    op.drop_table("reminder")
    op.drop_index("ix_member_level_user_id", table_name="member_level")
    op.drop_index(
        "ix_member_level_leaderboard", table_name="member_level", postgresql_where=sa.text("NOT is_blacklisted")
    )
    op.drop_table("member_level")
    op.drop_table("level_role")
    op.drop_table("level_multiplier")
    op.drop_table("level_config")
    op.drop_index("ix_bookmark_user_id_created_at_message_id", table_name="bookmark")
    op.drop_table("bookmark")
    op.drop_index("ix_afk_until", table_name="afk", postgresql_where=sa.text("until IS NOT NULL"))
    op.drop_table("afk")
    op.execute("DROP FUNCTION level_for_xp(bigint, level_curve)")
    op.execute("DROP FUNCTION level_total_xp(integer, level_curve)")
    sa.Enum("mee6", "linear", "flat", name="level_curve").drop(op.get_bind())
    sa.Enum("stack", "replace", name="level_role_mode").drop(op.get_bind())
    sa.Enum("role", "channel", name="level_multiplier_kind").drop(op.get_bind())
    sa.Enum("pending", "sent", "failed", "cancelled", name="reminder_status").drop(op.get_bind())
