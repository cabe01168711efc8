"""Premium (R16): tiers and SKUs, subscriptions, trials, payment transactions and redeemable keys.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 15:10:00.000000

Six tables (see ``guildbase/models/premium.py``) and four enum types; premium
writes are audited (R6.3), so ``audit_action`` and ``audit_entity`` get their
labels, which the downgrade removes again with the audit rows that use them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from alembic_postgresql_enum import TableReference
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_LABELS = {
    "audit_action": (
        "premium_tier_set",
        "premium_sku_set",
        "subscription_create",
        "subscription_status",
        "subscription_sync",
        "trial_start",
        "payment_record",
        "payment_refund",
        "premium_key_create",
        "premium_key_redeem",
    ),
    "audit_entity": ("premium_tier", "premium_sku", "subscription", "payment", "premium_key"),
}
COLUMNS = {"audit_action": "action", "audit_entity": "entity_type"}


def upgrade() -> None:
    for type_name, labels in AUDIT_LABELS.items():
        for label in labels:
            op.execute(f"ALTER TYPE {type_name} ADD VALUE IF NOT EXISTS '{label}'")
    sa.Enum("pending", "succeeded", "failed", "refunded", "partially_refunded", name="payment_status").create(
        op.get_bind()
    )
    sa.Enum("trialing", "active", "grace", "canceled", "expired", name="subscription_status").create(op.get_bind())
    sa.Enum("discord", "manual", "key", "external", name="subscription_source").create(op.get_bind())
    sa.Enum("user", "guild", name="premium_owner_type").create(op.get_bind())
    op.create_table(
        "premium_tier",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column(
            "features", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column(
            "limits", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("grace_seconds", sa.BigInteger(), server_default=sa.text("259200"), nullable=False),
        sa.Column("tier_id", sa.Text(), nullable=False),
        sa.CheckConstraint("tier_id ~ '^[a-z][a-z0-9_-]{0,31}$'", name=op.f("ck_premium_tier_tier_id_pattern")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_premium_tier_created_by_positive")),
        sa.CheckConstraint("grace_seconds BETWEEN 0 AND 7776000", name=op.f("ck_premium_tier_grace_range")),
        sa.CheckConstraint("rank BETWEEN 1 AND 1000", name=op.f("ck_premium_tier_rank_range")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_premium_tier_updated_by_positive")),
        sa.PrimaryKeyConstraint("tier_id", name=op.f("pk_premium_tier")),
        sa.UniqueConstraint("rank", name="uq_premium_tier_rank"),
    )
    op.create_table(
        "premium_sku",
        sa.Column("sku_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tier_id", sa.Text(), nullable=False),
        sa.CheckConstraint("sku_id > 0", name=op.f("ck_premium_sku_sku_id_positive")),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["premium_tier.tier_id"], name=op.f("fk_premium_sku_tier_id_premium_tier"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sku_id", name=op.f("pk_premium_sku")),
    )
    op.create_index(op.f("ix_premium_sku_tier_id"), "premium_sku", ["tier_id"], unique=False)
    op.create_table(
        "subscription",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "owner_type", postgresql.ENUM("user", "guild", name="premium_owner_type", create_type=False), nullable=False
        ),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("tier_id", sa.Text(), nullable=False),
        sa.Column(
            "source",
            postgresql.ENUM("discord", "manual", "key", "external", name="subscription_source", create_type=False),
            nullable=False,
        ),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column(
            "status",
            postgresql.ENUM(
                "trialing", "active", "grace", "canceled", "expired", name="subscription_status", create_type=False
            ),
            nullable=False,
        ),
        sa.Column("period_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("period_end", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("grace_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("canceled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("trial_end", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("event_phase", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("event_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status <> 'canceled' OR canceled_at IS NOT NULL", name=op.f("ck_subscription_canceled_has_time")
        ),
        sa.CheckConstraint("status <> 'grace' OR grace_until IS NOT NULL", name=op.f("ck_subscription_grace_has_end")),
        sa.CheckConstraint("status <> 'trialing' OR trial_end IS NOT NULL", name=op.f("ck_subscription_trial_has_end")),
        sa.CheckConstraint(
            "char_length(external_id) BETWEEN 1 AND 200", name=op.f("ck_subscription_external_id_length")
        ),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_subscription_created_by_positive")),
        sa.CheckConstraint("event_phase BETWEEN 0 AND 2", name=op.f("ck_subscription_event_phase_range")),
        sa.CheckConstraint("owner_id > 0", name=op.f("ck_subscription_owner_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_subscription_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["tier_id"],
            ["premium_tier.tier_id"],
            name=op.f("fk_subscription_tier_id_premium_tier"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_subscription")),
        sa.UniqueConstraint("source", "external_id", name="uq_subscription_source_external_id"),
    )
    op.create_index("ix_subscription_owner", "subscription", ["owner_type", "owner_id", "created_at"], unique=False)
    op.create_index(
        "ix_subscription_owner_granting",
        "subscription",
        ["owner_type", "owner_id"],
        unique=False,
        postgresql_where=sa.text("status IN ('active', 'grace', 'trialing')"),
    )
    op.create_table(
        "payment_transaction",
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "owner_type", postgresql.ENUM("user", "guild", name="premium_owner_type", create_type=False), nullable=False
        ),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("provider_ref", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM(
                "pending",
                "succeeded",
                "failed",
                "refunded",
                "partially_refunded",
                name="payment_status",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("refunded_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payment_transaction_currency_code")),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_payment_transaction_amount_not_negative")),
        sa.CheckConstraint(
            "char_length(provider) BETWEEN 1 AND 40", name=op.f("ck_payment_transaction_provider_length")
        ),
        sa.CheckConstraint(
            "char_length(provider_ref) BETWEEN 1 AND 200", name=op.f("ck_payment_transaction_ref_length")
        ),
        sa.CheckConstraint("owner_id > 0", name=op.f("ck_payment_transaction_owner_id_positive")),
        sa.CheckConstraint(
            "refunded_minor BETWEEN 0 AND amount_minor", name=op.f("ck_payment_transaction_refund_within_amount")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.subscription_id"],
            name=op.f("fk_payment_transaction_subscription_id_subscription"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_payment_transaction")),
        sa.UniqueConstraint("provider", "provider_ref", name="uq_payment_transaction_provider_ref"),
    )
    op.create_index(
        "ix_payment_transaction_owner", "payment_transaction", ["owner_type", "owner_id", "created_at"], unique=False
    )
    op.create_table(
        "premium_key",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("key_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("tier_id", sa.Text(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("redeemed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("subscription_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("code_hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_premium_key_code_hash_hex")),
        sa.CheckConstraint(
            "(redeemed_at IS NULL) = (subscription_id IS NULL)", name=op.f("ck_premium_key_redeemed_together")
        ),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_premium_key_created_by_positive")),
        sa.CheckConstraint("days BETWEEN 1 AND 3660", name=op.f("ck_premium_key_days_range")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_premium_key_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.subscription_id"],
            name=op.f("fk_premium_key_subscription_id_subscription"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["premium_tier.tier_id"], name=op.f("fk_premium_key_tier_id_premium_tier"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_premium_key")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_premium_key_code_hash")),
    )
    op.create_table(
        "premium_trial",
        sa.Column(
            "owner_type", postgresql.ENUM("user", "guild", name="premium_owner_type", create_type=False), nullable=False
        ),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("tier_id", sa.Text(), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("converted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("owner_id > 0", name=op.f("ck_premium_trial_owner_id_positive")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.subscription_id"],
            name=op.f("fk_premium_trial_subscription_id_subscription"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"],
            ["premium_tier.tier_id"],
            name=op.f("fk_premium_trial_tier_id_premium_tier"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner_type", "owner_id", "tier_id", name=op.f("pk_premium_trial")),
    )


def downgrade() -> None:
    op.drop_table("premium_trial")
    op.drop_table("premium_key")
    op.drop_index("ix_payment_transaction_owner", table_name="payment_transaction")
    op.drop_table("payment_transaction")
    op.drop_index(
        "ix_subscription_owner_granting",
        table_name="subscription",
        postgresql_where=sa.text("status IN ('active', 'grace', 'trialing')"),
    )
    op.drop_index("ix_subscription_owner", table_name="subscription")
    op.drop_table("subscription")
    op.drop_index(op.f("ix_premium_sku_tier_id"), table_name="premium_sku")
    op.drop_table("premium_sku")
    op.drop_table("premium_tier")
    sa.Enum("user", "guild", name="premium_owner_type").drop(op.get_bind())
    sa.Enum("discord", "manual", "key", "external", name="subscription_source").drop(op.get_bind())
    sa.Enum("trialing", "active", "grace", "canceled", "expired", name="subscription_status").drop(op.get_bind())
    sa.Enum("pending", "succeeded", "failed", "refunded", "partially_refunded", name="payment_status").drop(
        op.get_bind()
    )
    # PostgreSQL cannot drop an enum label: the trail of premium writes goes, then each type is rebuilt without it.
    bind = op.get_bind()
    for type_name, labels in AUDIT_LABELS.items():
        column = COLUMNS[type_name]
        delete = f"DELETE FROM audit_log WHERE {column}::text = ANY(:labels)"  # noqa: S608 - our own column names
        bind.execute(sa.text(delete), {"labels": list(labels)})
        present = bind.execute(sa.text(f"SELECT unnest(enum_range(NULL::{type_name}))::text")).scalars().all()
        op.sync_enum_values(  # type: ignore[attr-defined]  # alembic-postgresql-enum's operation
            enum_schema="public",
            enum_name=type_name,
            new_values=[label for label in present if label not in labels],
            affected_columns=[TableReference(table_schema="public", table_name="audit_log", column_name=column)],
            enum_values_to_rename=[],
        )
