"""Permissions (R3.3, R4.5, R22): ranks, role and command ranks, access rules, known commands, the check log.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 15:01:00.995129

Drafted by autogenerate, then finished by hand: ``permission_check`` is
range-partitioned by month and gets its first partitions here through the
generic ``partition_ensure`` of 0013 (the writer creates later months on
demand). Three enum types are created and dropped; the audit labels are
added, and removed on downgrade with the rows that use them (as in 0012).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from alembic_postgresql_enum import TableReference
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rank and rule writes are audited (R22.5): four actions and two entities more.
AUDIT_LABELS = {
    "audit_action": ("permission_ranks", "permission_rule_add", "permission_rule_remove", "permission_rule_expire"),
    "audit_entity": ("permission_ranks", "permission_rule"),
}


def upgrade() -> None:
    sa.Enum("allow", "deny", name="permission_effect").create(op.get_bind())
    sa.Enum("member", "role", "channel", "category", "guild", name="permission_subject").create(op.get_bind())
    sa.Enum("command", "module", "feature", "all", name="permission_target").create(op.get_bind())
    op.create_table(
        "bot_command",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("module", sa.Text(), nullable=True),
        sa.Column(
            "registered_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 100", name=op.f("ck_bot_command_name_length")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_bot_command")),
    )
    op.create_table(
        "permission_check",
        sa.Column("check_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("is_allowed", sa.Boolean(), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=True),
        sa.Column("required_rank", sa.Integer(), nullable=True),
        sa.Column("member_rank", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "decided_by IN ('owner', 'rule', 'whitelist', 'rank', 'default')",
            name=op.f("ck_permission_check_decided_by_allowed"),
        ),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_permission_check_channel_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_permission_check_guild_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_permission_check_user_id_positive")),
        sa.PrimaryKeyConstraint("check_id", "checked_at", name=op.f("pk_permission_check")),
        postgresql_partition_by="RANGE (checked_at)",
    )
    op.create_index(
        "ix_permission_check_guild_id_checked_at", "permission_check", ["guild_id", "checked_at"], unique=False
    )
    op.create_table(
        "permission_command_rank",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "kind",
            postgresql.ENUM("command", "module", "feature", "all", name="permission_target", create_type=False),
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('command', 'module')", name=op.f("ck_permission_command_rank_kind_allowed")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_permission_command_rank_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_permission_command_rank_guild_id_positive")),
        sa.CheckConstraint("rank BETWEEN 0 AND 10", name=op.f("ck_permission_command_rank_rank_range")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_permission_command_rank_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_permission_command_rank_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "kind", "name", name=op.f("pk_permission_command_rank")),
    )
    op.create_table(
        "permission_config",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("is_unconfigured_allowed", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_permission_config_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_permission_config_guild_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_permission_config_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_permission_config_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_permission_config")),
    )
    op.create_table(
        "permission_rank",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("rank", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 50", name=op.f("ck_permission_rank_name_length")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_permission_rank_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_permission_rank_guild_id_positive")),
        sa.CheckConstraint("rank BETWEEN 0 AND 10", name=op.f("ck_permission_rank_rank_range")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_permission_rank_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_permission_rank_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "rank", name=op.f("pk_permission_rank")),
    )
    op.create_table(
        "permission_role_rank",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("role_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_permission_role_rank_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_permission_role_rank_guild_id_positive")),
        sa.CheckConstraint("rank BETWEEN 0 AND 10", name=op.f("ck_permission_role_rank_rank_range")),
        sa.CheckConstraint("role_id > 0", name=op.f("ck_permission_role_rank_role_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_permission_role_rank_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_permission_role_rank_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "role_id", name=op.f("pk_permission_role_rank")),
    )
    op.create_table(
        "permission_rule",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "subject_kind",
            postgresql.ENUM(
                "member", "role", "channel", "category", "guild", name="permission_subject", create_type=False
            ),
            nullable=False,
        ),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "target_kind",
            postgresql.ENUM("command", "module", "feature", "all", name="permission_target", create_type=False),
            nullable=False,
        ),
        sa.Column("target_name", sa.Text(), nullable=False),
        sa.Column(
            "effect", postgresql.ENUM("allow", "deny", name="permission_effect", create_type=False), nullable=False
        ),
        sa.Column("is_whitelist", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "(subject_kind = 'guild') = (subject_id = guild_id)",
            name=op.f("ck_permission_rule_guild_subject_is_the_guild"),
        ),
        sa.CheckConstraint(
            "(target_kind = 'all') = (target_name = '*')", name=op.f("ck_permission_rule_all_target_is_star")
        ),
        sa.CheckConstraint(
            "NOT is_whitelist OR (effect = 'allow' AND subject_kind <> 'guild')",
            name=op.f("ck_permission_rule_whitelist_allows_an_entity"),
        ),
        sa.CheckConstraint("author_id > 0", name=op.f("ck_permission_rule_author_id_positive")),
        sa.CheckConstraint("char_length(reason) <= 512", name=op.f("ck_permission_rule_reason_length")),
        sa.CheckConstraint(
            "char_length(target_name) BETWEEN 1 AND 100", name=op.f("ck_permission_rule_target_name_length")
        ),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_permission_rule_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_permission_rule_guild_id_positive")),
        sa.CheckConstraint("subject_id > 0", name=op.f("ck_permission_rule_subject_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_permission_rule_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_permission_rule_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_permission_rule")),
    )
    op.create_index(
        "uq_permission_rule_subject_target",
        "permission_rule",
        ["guild_id", "subject_kind", "subject_id", "target_kind", "target_name"],
        unique=True,
    )
    for type_name, labels in AUDIT_LABELS.items():
        for label in labels:
            op.execute(f"ALTER TYPE {type_name} ADD VALUE IF NOT EXISTS '{label}'")
    op.execute(
        "SELECT partition_ensure('permission_check'::regclass, "
        "(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date) "
        "FROM generate_series(-1, 3) AS m"
    )


def downgrade() -> None:
    # PostgreSQL cannot drop an enum label: the trail of permission writes goes, then each type is rebuilt without it.
    bind = op.get_bind()
    for type_name, column in (("audit_action", "action"), ("audit_entity", "entity_type")):
        gone = AUDIT_LABELS[type_name]
        bind.execute(sa.text(f"DELETE FROM audit_log WHERE {column}::text = ANY(:labels)"), {"labels": list(gone)})  # noqa: S608 - our own column names
        labels = bind.execute(sa.text(f"SELECT unnest(enum_range(NULL::{type_name}))::text")).scalars().all()
        op.sync_enum_values(  # type: ignore[attr-defined]  # alembic-postgresql-enum's operation
            enum_schema="public",
            enum_name=type_name,
            new_values=[label for label in labels if label not in gone],
            affected_columns=[TableReference(table_schema="public", table_name="audit_log", column_name=column)],
            enum_values_to_rename=[],
        )
    op.drop_index("uq_permission_rule_subject_target", table_name="permission_rule")
    op.drop_table("permission_rule")
    op.drop_table("permission_role_rank")
    op.drop_table("permission_rank")
    op.drop_table("permission_config")
    op.drop_table("permission_command_rank")
    op.drop_index("ix_permission_check_guild_id_checked_at", table_name="permission_check")
    op.drop_table("permission_check")
    op.drop_table("bot_command")
    sa.Enum("command", "module", "feature", "all", name="permission_target").drop(op.get_bind())
    sa.Enum("member", "role", "channel", "category", "guild", name="permission_subject").drop(op.get_bind())
    sa.Enum("allow", "deny", name="permission_effect").drop(op.get_bind())
