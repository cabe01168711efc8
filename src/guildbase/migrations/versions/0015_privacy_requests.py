"""Privacy requests (R10.2): the record of every GDPR export and erase, and their audit labels.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 15:10:00.000000

One new table (see ``guildbase/models/privacy.py``) with its two enums, and
three audit labels (``privacy_export`` / ``privacy_erase`` actions, the
``privacy_request`` entity). The erase policies themselves live in the
models: they change no schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from alembic_postgresql_enum import TableReference
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIONS = ("privacy_export", "privacy_erase")
ENTITY = "privacy_request"


def upgrade() -> None:
    for label in ACTIONS:
        op.execute(f"ALTER TYPE audit_action ADD VALUE IF NOT EXISTS '{label}'")
    op.execute(f"ALTER TYPE audit_entity ADD VALUE IF NOT EXISTS '{ENTITY}'")
    sa.Enum("export", "erase", name="privacy_request_kind").create(op.get_bind())
    sa.Enum("pending", "erased", "done", "failed", name="privacy_request_status").create(op.get_bind())
    op.create_table(
        "privacy_request",
        sa.Column("request_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "kind", postgresql.ENUM("export", "erase", name="privacy_request_kind", create_type=False), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM("pending", "erased", "done", "failed", name="privacy_request_status", create_type=False),
            server_default="pending",
            nullable=False,
        ),
        sa.Column(
            "counts", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("requested_by > 0", name=op.f("ck_privacy_request_requested_by_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_privacy_request_user_id_positive")),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_privacy_request")),
    )
    op.create_index("ix_privacy_request_user_id_requested_at", "privacy_request", ["user_id", "requested_at"])


def downgrade() -> None:
    op.drop_index("ix_privacy_request_user_id_requested_at", table_name="privacy_request")
    op.drop_table("privacy_request")
    sa.Enum(name="privacy_request_status").drop(op.get_bind())
    sa.Enum(name="privacy_request_kind").drop(op.get_bind())
    # PostgreSQL cannot drop an enum label: the trail of privacy requests goes, then each type is rebuilt without it.
    bind = op.get_bind()
    labels_gone = (*ACTIONS, ENTITY)
    bind.execute(
        sa.text("DELETE FROM audit_log WHERE action::text = ANY(:labels) OR entity_type::text = ANY(:labels)"),
        {"labels": list(labels_gone)},
    )
    for type_name, column in (("audit_action", "action"), ("audit_entity", "entity_type")):
        labels = bind.execute(sa.text(f"SELECT unnest(enum_range(NULL::{type_name}))::text")).scalars().all()
        op.sync_enum_values(  # type: ignore[attr-defined]  # alembic-postgresql-enum's operation
            enum_schema="public",
            enum_name=type_name,
            new_values=[label for label in labels if label not in labels_gone],
            affected_columns=[TableReference(table_schema="public", table_name="audit_log", column_name=column)],
            enum_values_to_rename=[],
        )
