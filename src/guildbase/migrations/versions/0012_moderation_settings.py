"""Moderation settings (R4.3): per-guild switches, per-type durations and log channels, warn escalation rules.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:00:00.000000

Three new guild-leading tables (see ``guildbase/models/mod_settings.py``); the
case type columns reuse the existing ``mod_case_type`` enum, so the upgrade
creates no type and the downgrade drops none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from alembic_postgresql_enum import TableReference
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Settings writes are audited (R6.3): one action and one entity label more.
AUDIT_LABEL = "mod_settings"


def upgrade() -> None:
    op.execute(f"ALTER TYPE audit_action ADD VALUE IF NOT EXISTS '{AUDIT_LABEL}'")
    op.execute(f"ALTER TYPE audit_entity ADD VALUE IF NOT EXISTS '{AUDIT_LABEL}'")
    op.create_table(
        "mod_action_config",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "type",
            postgresql.ENUM(
                "BAN",
                "UNBAN",
                "HACKBAN",
                "TEMPBAN",
                "KICK",
                "SNIPPETBAN",
                "TIMEOUT",
                "UNTIMEOUT",
                "WARN",
                "JAIL",
                "UNJAIL",
                "SNIPPETUNBAN",
                "UNTEMPBAN",
                "POLLBAN",
                "POLLUNBAN",
                name="mod_case_type",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("default_duration_seconds", sa.BigInteger(), nullable=True),
        sa.Column("log_channel_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "default_duration_seconds IS NULL OR type IN ('JAIL', 'TEMPBAN', 'TIMEOUT')",
            name=op.f("ck_mod_action_config_duration_allowed"),
        ),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_mod_action_config_created_by_positive")),
        sa.CheckConstraint("default_duration_seconds > 0", name=op.f("ck_mod_action_config_duration_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_mod_action_config_guild_id_positive")),
        sa.CheckConstraint("log_channel_id > 0", name=op.f("ck_mod_action_config_log_channel_id_positive")),
        sa.CheckConstraint(
            "num_nonnulls(default_duration_seconds, log_channel_id) > 0",
            name=op.f("ck_mod_action_config_says_something"),
        ),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_mod_action_config_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_mod_action_config_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "type", name=op.f("pk_mod_action_config")),
    )
    op.create_table(
        "mod_config",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("is_user_notified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_reason_required", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_mod_config_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_mod_config_guild_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_mod_config_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_mod_config_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_mod_config")),
    )
    op.create_table(
        "mod_escalation_rule",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("warn_count", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("window_seconds", sa.BigInteger(), nullable=False),
        sa.Column(
            "action",
            postgresql.ENUM(
                "BAN",
                "UNBAN",
                "HACKBAN",
                "TEMPBAN",
                "KICK",
                "SNIPPETBAN",
                "TIMEOUT",
                "UNTIMEOUT",
                "WARN",
                "JAIL",
                "UNJAIL",
                "SNIPPETUNBAN",
                "UNTEMPBAN",
                "POLLBAN",
                "POLLUNBAN",
                name="mod_case_type",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("duration_seconds", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "(action IN ('TEMPBAN', 'TIMEOUT')) = (duration_seconds IS NOT NULL)",
            name=op.f("ck_mod_escalation_rule_duration_matches_action"),
        ),
        sa.CheckConstraint(
            "action IN ('BAN', 'KICK', 'TEMPBAN', 'TIMEOUT')", name=op.f("ck_mod_escalation_rule_action_allowed")
        ),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_mod_escalation_rule_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_mod_escalation_rule_guild_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_mod_escalation_rule_updated_by_positive")),
        sa.CheckConstraint("warn_count >= 2", name=op.f("ck_mod_escalation_rule_warn_count_range")),
        sa.CheckConstraint("window_seconds > 0", name=op.f("ck_mod_escalation_rule_window_positive")),
        sa.CheckConstraint("duration_seconds > 0", name=op.f("ck_mod_escalation_rule_duration_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_mod_escalation_rule_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "warn_count", name=op.f("pk_mod_escalation_rule")),
    )


def downgrade() -> None:
    op.drop_table("mod_escalation_rule")
    op.drop_table("mod_config")
    op.drop_table("mod_action_config")
    # PostgreSQL cannot drop an enum label: the trail of settings writes goes, then each type is rebuilt without it.
    bind = op.get_bind()
    bind.execute(
        sa.text("DELETE FROM audit_log WHERE action::text = :label OR entity_type::text = :label"),
        {"label": AUDIT_LABEL},
    )
    for type_name, column in (("audit_action", "action"), ("audit_entity", "entity_type")):
        labels = bind.execute(sa.text(f"SELECT unnest(enum_range(NULL::{type_name}))::text")).scalars().all()
        op.sync_enum_values(  # type: ignore[attr-defined]  # alembic-postgresql-enum's operation
            enum_schema="public",
            enum_name=type_name,
            new_values=[label for label in labels if label != AUDIT_LABEL],
            affected_columns=[TableReference(table_schema="public", table_name="audit_log", column_name=column)],
            enum_values_to_rename=[],
        )
