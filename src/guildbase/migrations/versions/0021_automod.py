"""Automod (R15.2, R15.4): autoresponders, message filters, channel settings (slowmode, lockdowns).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 15:00:00.000000

Three guild-leading tables (see ``guildbase/models/autoresponders.py``,
``filters.py`` and ``channel_settings.py``), four enum types of their own,
and the audit labels of their writes. The downgrade drops the tables and
types, deletes the audit rows that carry the new labels and rebuilds the
audit types without them (PostgreSQL cannot drop an enum label), as 0012 does.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from alembic_postgresql_enum import TableReference
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_LABELS = {
    "audit_action": (
        "autoresponder_create",
        "autoresponder_update",
        "autoresponder_delete",
        "filter_create",
        "filter_update",
        "filter_delete",
        "channel_slowmode",
        "channel_lock",
        "channel_unlock",
    ),
    "audit_entity": ("autoresponder", "message_filter", "channel"),
}
AUDIT_COLUMNS = {"audit_action": "action", "audit_entity": "entity_type"}
TYPES = ("autoresponder_match", "autoresponder_cooldown", "filter_kind", "filter_action")


def upgrade() -> None:
    for type_name, labels in AUDIT_LABELS.items():
        for label in labels:
            op.execute(f"ALTER TYPE {type_name} ADD VALUE IF NOT EXISTS '{label}'")
    sa.Enum("delete", "warn", "timeout", "log", name="filter_action").create(op.get_bind())
    sa.Enum("words", "regex", "invites", "domains", "mentions", "caps", name="filter_kind").create(op.get_bind())
    sa.Enum("user", "channel", name="autoresponder_cooldown").create(op.get_bind())
    sa.Enum("exact", "contains", "starts_with", "word", "regex", name="autoresponder_match").create(op.get_bind())
    op.create_table(
        "autoresponder",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("autoresponder_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("pattern", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "match_type",
            postgresql.ENUM(
                "exact", "contains", "starts_with", "word", "regex", name="autoresponder_match", create_type=False
            ),
            nullable=False,
        ),
        sa.Column("is_case_sensitive", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("responses", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("channel_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("role_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("exempt_role_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("cooldown_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "cooldown_scope",
            postgresql.ENUM("user", "channel", name="autoresponder_cooldown", create_type=False),
            server_default="user",
            nullable=False,
        ),
        sa.Column("is_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("hits", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("cardinality(responses) BETWEEN 1 AND 10", name=op.f("ck_autoresponder_responses_count")),
        sa.CheckConstraint("char_length(pattern) BETWEEN 1 AND 300", name=op.f("ck_autoresponder_pattern_length")),
        sa.CheckConstraint("cooldown_seconds BETWEEN 0 AND 604800", name=op.f("ck_autoresponder_cooldown_range")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_autoresponder_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_autoresponder_guild_id_positive")),
        sa.CheckConstraint("hits >= 0", name=op.f("ck_autoresponder_hits_not_negative")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_autoresponder_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_autoresponder_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("autoresponder_id", name=op.f("pk_autoresponder")),
        sa.UniqueConstraint(
            "guild_id",
            "match_type",
            "is_case_sensitive",
            "pattern",
            name=op.f("uq_autoresponder_guild_id_match_type_is_case_sensitive_pattern"),
        ),
    )
    op.create_table(
        "channel_setting",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("channel_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("slowmode_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lock_ends_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lock_reason", sa.Text(), nullable=True),
        sa.Column("saved_overwrites", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "(locked_at IS NULL) = (saved_overwrites IS NULL)", name=op.f("ck_channel_setting_lock_saves_overwrites")
        ),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_channel_setting_channel_id_positive")),
        sa.CheckConstraint("char_length(lock_reason) <= 512", name=op.f("ck_channel_setting_lock_reason_length")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_channel_setting_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_channel_setting_guild_id_positive")),
        sa.CheckConstraint(
            "lock_ends_at IS NULL OR locked_at IS NOT NULL", name=op.f("ck_channel_setting_lock_end_needs_lock")
        ),
        sa.CheckConstraint(
            "slowmode_seconds > 0 OR locked_at IS NOT NULL", name=op.f("ck_channel_setting_says_something")
        ),
        sa.CheckConstraint("slowmode_seconds BETWEEN 0 AND 21600", name=op.f("ck_channel_setting_slowmode_range")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_channel_setting_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_channel_setting_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "channel_id", name=op.f("pk_channel_setting")),
    )
    op.create_table(
        "message_filter",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("filter_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            postgresql.ENUM(
                "words", "regex", "invites", "domains", "mentions", "caps", name="filter_kind", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "action",
            postgresql.ENUM("delete", "warn", "timeout", "log", name="filter_action", create_type=False),
            nullable=False,
        ),
        sa.Column("pattern", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("is_case_sensitive", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("words", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("is_allowlist", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=True),
        sa.Column("allowed_guild_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("exempt_channel_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("exempt_role_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("is_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("hits", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "(action = 'timeout') = (timeout_seconds IS NOT NULL) AND timeout_seconds BETWEEN 1 AND 2419200",
            name=op.f("ck_message_filter_timeout_for_timeouts"),
        ),
        sa.CheckConstraint(
            "(kind = 'regex') = (pattern IS NOT NULL) AND char_length(pattern) <= 300",
            name=op.f("ck_message_filter_pattern_for_regex"),
        ),
        sa.CheckConstraint(
            "(kind IN ('mentions', 'caps')) = (threshold IS NOT NULL)",
            name=op.f("ck_message_filter_threshold_for_counts"),
        ),
        sa.CheckConstraint(
            "(kind IN ('words', 'domains')) = (cardinality(words) > 0)", name=op.f("ck_message_filter_words_for_lists")
        ),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_message_filter_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_message_filter_guild_id_positive")),
        sa.CheckConstraint("hits >= 0", name=op.f("ck_message_filter_hits_not_negative")),
        sa.CheckConstraint("threshold BETWEEN 1 AND 100", name=op.f("ck_message_filter_threshold_range")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_message_filter_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_message_filter_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("filter_id", name=op.f("pk_message_filter")),
    )
    op.create_index("ix_message_filter_guild_id", "message_filter", ["guild_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_message_filter_guild_id", table_name="message_filter")
    op.drop_table("message_filter")
    op.drop_table("channel_setting")
    op.drop_table("autoresponder")
    for type_name in TYPES:
        sa.Enum(name=type_name).drop(op.get_bind())
    bind = op.get_bind()
    for type_name, dropped in AUDIT_LABELS.items():
        column = AUDIT_COLUMNS[type_name]
        delete = f"DELETE FROM audit_log WHERE {column}::text = ANY(:labels)"  # noqa: S608 - our own column names
        bind.execute(sa.text(delete), {"labels": list(dropped)})
        labels = bind.execute(sa.text(f"SELECT unnest(enum_range(NULL::{type_name}))::text")).scalars().all()
        op.sync_enum_values(  # type: ignore[attr-defined]  # alembic-postgresql-enum's operation
            enum_schema="public",
            enum_name=type_name,
            new_values=[label for label in labels if label not in dropped],
            affected_columns=[TableReference(table_schema="public", table_name="audit_log", column_name=column)],
            enum_values_to_rename=[],
        )
