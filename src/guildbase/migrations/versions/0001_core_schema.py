"""Core schema: guilds, config, features, users, members, counters, global blacklist.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 07:13:18.615419
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sa.Enum("user", "guild", name="blacklist_target").create(op.get_bind())
    sa.Enum("case", "note", "ticket", name="guild_counter_kind").create(op.get_bind())
    sa.Enum(
        "levels",
        "starboard",
        "snippets",
        "afk",
        "reminders",
        "tickets",
        "welcome",
        "automod",
        "logging",
        "bookmarks",
        name="guild_feature_name",
    ).create(op.get_bind())
    op.create_table(
        "discord_user",
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("is_bot", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_discord_user_user_id_positive")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_discord_user")),
    )
    op.create_table(
        "global_blacklist",
        sa.Column("deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "target", postgresql.ENUM("user", "guild", name="blacklist_target", create_type=False), nullable=False
        ),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.CheckConstraint("author_id > 0", name=op.f("ck_global_blacklist_author_id_positive")),
        sa.CheckConstraint("deleted_by > 0", name=op.f("ck_global_blacklist_deleted_by_positive")),
        sa.CheckConstraint("target_id > 0", name=op.f("ck_global_blacklist_target_id_positive")),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_global_blacklist")),
    )
    op.create_index(
        "uq_global_blacklist_target_live",
        "global_blacklist",
        ["target", "target_id"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "guild",
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("joined_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("left_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_guild_guild_id_positive")),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_guild")),
    )
    op.create_table(
        "guild_config",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("extra_prefixes", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("mod_log_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("audit_log_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("join_log_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("private_log_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("report_log_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("dev_log_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("jail_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("general_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("welcome_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("welcome_message", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("jail_role_id", sa.BigInteger(), nullable=True),
        sa.Column("quarantine_role_id", sa.BigInteger(), nullable=True),
        sa.Column("base_staff_role_id", sa.BigInteger(), nullable=True),
        sa.Column("base_member_role_id", sa.BigInteger(), nullable=True),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.CheckConstraint("audit_log_channel_id > 0", name=op.f("ck_guild_config_audit_log_channel_id_positive")),
        sa.CheckConstraint("base_member_role_id > 0", name=op.f("ck_guild_config_base_member_role_id_positive")),
        sa.CheckConstraint("base_staff_role_id > 0", name=op.f("ck_guild_config_base_staff_role_id_positive")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_guild_config_created_by_positive")),
        sa.CheckConstraint("dev_log_channel_id > 0", name=op.f("ck_guild_config_dev_log_channel_id_positive")),
        sa.CheckConstraint("general_channel_id > 0", name=op.f("ck_guild_config_general_channel_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_guild_config_guild_id_positive")),
        sa.CheckConstraint("jail_channel_id > 0", name=op.f("ck_guild_config_jail_channel_id_positive")),
        sa.CheckConstraint("jail_role_id > 0", name=op.f("ck_guild_config_jail_role_id_positive")),
        sa.CheckConstraint("join_log_channel_id > 0", name=op.f("ck_guild_config_join_log_channel_id_positive")),
        sa.CheckConstraint("mod_log_channel_id > 0", name=op.f("ck_guild_config_mod_log_channel_id_positive")),
        sa.CheckConstraint("private_log_channel_id > 0", name=op.f("ck_guild_config_private_log_channel_id_positive")),
        sa.CheckConstraint("quarantine_role_id > 0", name=op.f("ck_guild_config_quarantine_role_id_positive")),
        sa.CheckConstraint("report_log_channel_id > 0", name=op.f("ck_guild_config_report_log_channel_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_guild_config_updated_by_positive")),
        sa.CheckConstraint("welcome_channel_id > 0", name=op.f("ck_guild_config_welcome_channel_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_guild_config_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_guild_config")),
    )
    op.create_table(
        "guild_counter",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "kind",
            postgresql.ENUM("case", "note", "ticket", name="guild_counter_kind", create_type=False),
            nullable=False,
        ),
        sa.Column("last_value", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_guild_counter_guild_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_guild_counter_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "kind", name=op.f("pk_guild_counter")),
    )
    op.create_table(
        "guild_feature",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "feature",
            postgresql.ENUM(
                "levels",
                "starboard",
                "snippets",
                "afk",
                "reminders",
                "tickets",
                "welcome",
                "automod",
                "logging",
                "bookmarks",
                name="guild_feature_name",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_guild_feature_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_guild_feature_guild_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_guild_feature_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_guild_feature_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "feature", name=op.f("pk_guild_feature")),
    )
    op.create_table(
        "member",
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("is_blacklisted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("blacklist_reason", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("joined_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("left_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_member_guild_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_member_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_member_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["discord_user.user_id"], name=op.f("fk_member_user_id_discord_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_member")),
    )
    op.create_index(
        "ix_member_guild_id_blacklisted",
        "member",
        ["guild_id", "user_id"],
        unique=False,
        postgresql_where=sa.text("is_blacklisted"),
    )
    op.create_index("ix_member_user_id", "member", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_member_user_id", table_name="member")
    op.drop_index("ix_member_guild_id_blacklisted", table_name="member", postgresql_where=sa.text("is_blacklisted"))
    op.drop_table("member")
    op.drop_table("guild_feature")
    op.drop_table("guild_counter")
    op.drop_table("guild_config")
    op.drop_table("guild")
    op.drop_index(
        "uq_global_blacklist_target_live", table_name="global_blacklist", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_table("global_blacklist")
    op.drop_table("discord_user")
    sa.Enum(
        "levels",
        "starboard",
        "snippets",
        "afk",
        "reminders",
        "tickets",
        "welcome",
        "automod",
        "logging",
        "bookmarks",
        name="guild_feature_name",
    ).drop(op.get_bind())
    sa.Enum("case", "note", "ticket", name="guild_counter_kind").drop(op.get_bind())
    sa.Enum("user", "guild", name="blacklist_target").drop(op.get_bind())
