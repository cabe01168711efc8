"""Security (R10): encrypted OAuth tokens, API keys, and the append-only security event trail.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 15:00:56.877347

Drafted by autogenerate, then finished by hand:

- ``oauth_token``'s token columns are plain ``TEXT`` here: they hold Fernet
  tokens, and no key is (or could be) written into this file;
- ``security_event`` is partitioned by month through the generic
  ``partition_ensure`` of 0013 (last month, this month and the next three now;
  ``db.security.maintain_partitions`` and the writer create the others), and
  a row trigger refuses ``UPDATE`` and ``DELETE`` on it and on every partition
  (retention drops whole partitions, which no row trigger sees);
- API key creation and revocation are audited: one action label each and one
  entity label.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from alembic_postgresql_enum import TableReference
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTION_LABELS = ("api_key_create", "api_key_revoke")
ENTITY_LABELS = ("api_key",)
EVENT_KINDS = (
    "login",
    "logout",
    "login_failed",
    "access_denied",
    "dashboard_permission_denied",
    "api_key_created",
    "api_key_revoked",
    "api_key_used",
    "api_key_refused",
    "key_rotation",
    "privacy_request",
)

APPEND_ONLY = """
CREATE FUNCTION security_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'security_event is append-only: % refused (retention drops whole partitions)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
APPEND_ONLY_TRIGGER = (
    "CREATE TRIGGER security_event_append_only BEFORE UPDATE OR DELETE ON security_event "
    "FOR EACH ROW EXECUTE FUNCTION security_event_append_only()"
)


def upgrade() -> None:
    for label in ACTION_LABELS:
        op.execute(f"ALTER TYPE audit_action ADD VALUE IF NOT EXISTS '{label}'")
    for label in ENTITY_LABELS:
        op.execute(f"ALTER TYPE audit_entity ADD VALUE IF NOT EXISTS '{label}'")
    sa.Enum(*EVENT_KINDS, name="security_event_kind").create(op.get_bind())
    utc = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "api_key",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", utc(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", utc(), server_default=sa.text("now()"), nullable=False),
        sa.Column("key_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("guild_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("actions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("expires_at", utc(), nullable=True),
        sa.Column("revoked_at", utc(), nullable=True),
        sa.Column("revoked_by", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", utc(), nullable=True),
        sa.CheckConstraint("cardinality(actions) > 0", name=op.f("ck_api_key_actions_not_empty")),
        sa.CheckConstraint("cardinality(guild_ids) > 0", name=op.f("ck_api_key_guild_ids_not_empty")),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 100", name=op.f("ck_api_key_name_length")),
        sa.CheckConstraint("char_length(prefix) = 12", name=op.f("ck_api_key_prefix_length")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_api_key_created_by_positive")),
        sa.CheckConstraint("octet_length(secret_hash) = 32", name=op.f("ck_api_key_secret_hash_is_sha256")),
        sa.CheckConstraint("revoked_by > 0", name=op.f("ck_api_key_revoked_by_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_api_key_updated_by_positive")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    op.create_table(
        "security_event",
        sa.Column("event_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("occurred_at", utc(), server_default=sa.text("now()"), nullable=False),
        sa.Column("kind", postgresql.ENUM(*EVENT_KINDS, name="security_event_kind", create_type=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("ip", postgresql.INET(), nullable=True),
        sa.Column("api_key_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "detail", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_security_event_guild_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_security_event_user_id_positive")),
        sa.PrimaryKeyConstraint("event_id", "occurred_at", name=op.f("pk_security_event")),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    for column in ("guild_id", "ip", "user_id"):
        op.create_index(
            f"ix_security_event_{column}_occurred_at",
            "security_event",
            [column, "occurred_at"],
            unique=False,
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
    op.create_index("ix_security_event_occurred_at", "security_event", ["occurred_at"], unique=False)
    op.execute(APPEND_ONLY)
    op.execute(APPEND_ONLY_TRIGGER)
    op.execute(
        "SELECT partition_ensure('security_event'::regclass, "
        "(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date) "
        "FROM generate_series(-1, 3) AS m"
    )
    op.create_table(
        "oauth_token",
        sa.Column("created_at", utc(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", utc(), server_default=sa.text("now()"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("token_type", sa.Text(), server_default=sa.text("'Bearer'"), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        sa.CheckConstraint("char_length(token_type) BETWEEN 1 AND 32", name=op.f("ck_oauth_token_token_type_length")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_oauth_token_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["discord_user.user_id"],
            name=op.f("fk_oauth_token_user_id_discord_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_oauth_token")),
    )


def downgrade() -> None:
    op.drop_table("oauth_token")
    op.drop_table("security_event")  # its partitions and its trigger go with it
    op.execute("DROP FUNCTION security_event_append_only()")
    op.drop_table("api_key")
    sa.Enum(*EVENT_KINDS, name="security_event_kind").drop(op.get_bind())
    # PostgreSQL cannot drop an enum label: the trail of key writes goes, then each type is rebuilt without them.
    bind = op.get_bind()
    gone = [*ACTION_LABELS, *ENTITY_LABELS]
    bind.execute(
        sa.text("DELETE FROM audit_log WHERE action::text = ANY(:labels) OR entity_type::text = ANY(:labels)"),
        {"labels": gone},
    )
    for type_name, column in (("audit_action", "action"), ("audit_entity", "entity_type")):
        labels = bind.execute(sa.text(f"SELECT unnest(enum_range(NULL::{type_name}))::text")).scalars().all()
        op.sync_enum_values(  # type: ignore[attr-defined]  # alembic-postgresql-enum's operation
            enum_schema="public",
            enum_name=type_name,
            new_values=[label for label in labels if label not in gone],
            affected_columns=[TableReference(table_schema="public", table_name="audit_log", column_name=column)],
            enum_values_to_rename=[],
        )
