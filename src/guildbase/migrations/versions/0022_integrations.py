"""Integrations (R15.5): per-guild feeds (RSS/Atom, GitHub releases) with their fetch state and seen items.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 15:10:00.000000

Two guild-leading tables (``guildbase/models/integrations.py``) and two enum
types; the audit log gains the three integration actions and the entity.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from alembic_postgresql_enum import TableReference
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIONS = ("integration_create", "integration_update", "integration_delete")
ENTITY = "integration"


def upgrade() -> None:
    for label in ACTIONS:
        op.execute(f"ALTER TYPE audit_action ADD VALUE IF NOT EXISTS '{label}'")
    op.execute(f"ALTER TYPE audit_entity ADD VALUE IF NOT EXISTS '{ENTITY}'")
    sa.Enum("channel", "discord_webhook", "webhook", name="integration_delivery").create(op.get_bind())
    sa.Enum("feed", "github_releases", name="integration_source").create(op.get_bind())
    op.create_table(
        "integration",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "source",
            postgresql.ENUM("feed", "github_releases", name="integration_source", create_type=False),
            nullable=False,
        ),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column(
            "delivery",
            postgresql.ENUM("channel", "discord_webhook", "webhook", name="integration_delivery", create_type=False),
            nullable=False,
        ),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), server_default="900", nullable=False),
        sa.Column("is_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("integration_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("github_token", sa.Text(), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("last_item_id", sa.Text(), nullable=True),
        sa.Column("last_fetched_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("failure_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("retry_after", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(delivery = 'channel') = (channel_id IS NOT NULL)",
            name=op.f("ck_integration_channel_iff_channel_delivery"),
        ),
        sa.CheckConstraint(
            "(delivery = 'channel') = (webhook_url IS NULL)",
            name=op.f("ck_integration_webhook_url_iff_webhook_delivery"),
        ),
        sa.CheckConstraint(
            "source = 'github_releases' OR github_token IS NULL",
            name=op.f("ck_integration_github_token_only_for_github"),
        ),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_integration_channel_id_positive")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_integration_created_by_positive")),
        sa.CheckConstraint("failure_count >= 0", name=op.f("ck_integration_failure_count_not_negative")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_integration_guild_id_positive")),
        sa.CheckConstraint("interval_seconds BETWEEN 60 AND 604800", name=op.f("ck_integration_interval_range")),
        sa.CheckConstraint("name ~ '^[a-z0-9][a-z0-9_-]*$'", name=op.f("ck_integration_name_format")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_integration_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_integration_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("integration_id", name=op.f("pk_integration")),
        sa.UniqueConstraint("guild_id", "name", name=op.f("uq_integration_guild_id_name")),
    )
    op.create_table(
        "integration_item",
        sa.Column("integration_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("published_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_integration_item_guild_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_integration_item_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["integration_id"], ["integration.integration_id"], name="fk_integration_item_owner", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("integration_id", "item_id", name=op.f("pk_integration_item")),
    )
    op.create_index("ix_integration_item_guild_id", "integration_item", ["guild_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_integration_item_guild_id", table_name="integration_item")
    op.drop_table("integration_item")
    op.drop_table("integration")
    sa.Enum(name="integration_source").drop(op.get_bind())
    sa.Enum(name="integration_delivery").drop(op.get_bind())
    # PostgreSQL cannot drop an enum label: the trail of integration writes goes, then each type is rebuilt without it.
    bind = op.get_bind()
    bind.execute(
        sa.text("DELETE FROM audit_log WHERE action::text = ANY(:actions) OR entity_type::text = :entity"),
        {"actions": list(ACTIONS), "entity": ENTITY},
    )
    for type_name, column, gone in (("audit_action", "action", ACTIONS), ("audit_entity", "entity_type", (ENTITY,))):
        labels = bind.execute(sa.text(f"SELECT unnest(enum_range(NULL::{type_name}))::text")).scalars().all()
        op.sync_enum_values(  # type: ignore[attr-defined]  # alembic-postgresql-enum's operation
            enum_schema="public",
            enum_name=type_name,
            new_values=[label for label in labels if label not in gone],
            affected_columns=[TableReference(table_schema="public", table_name="audit_log", column_name=column)],
            enum_values_to_rename=[],
        )
