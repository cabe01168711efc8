"""Moderation schema: cases, notes and the moderation change trail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 07:17:13.287500
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sa.Enum(
        "case_reason", "case_void", "case_expire", "note_edit", "note_delete", name="moderation_change_action"
    ).create(op.get_bind())
    sa.Enum("active", "expired", "voided", name="mod_case_status").create(op.get_bind())
    sa.Enum(
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
    ).create(op.get_bind())
    op.create_table(
        "mod_case",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
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
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("moderator_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("role_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("mod_log_message_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "details", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("case_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM("active", "expired", "voided", name="mod_case_status", create_type=False),
            server_default="active",
            nullable=False,
        ),
        sa.Column("processed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "expires_at IS NULL OR type IN ('JAIL', 'TEMPBAN', 'TIMEOUT')", name=op.f("ck_mod_case_expiry_allowed")
        ),
        sa.CheckConstraint(
            "type NOT IN ('TEMPBAN', 'TIMEOUT') OR expires_at IS NOT NULL", name=op.f("ck_mod_case_expiry_required")
        ),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_mod_case_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_mod_case_guild_id_positive")),
        sa.CheckConstraint("mod_log_message_id > 0", name=op.f("ck_mod_case_mod_log_message_id_positive")),
        sa.CheckConstraint("moderator_id > 0", name=op.f("ck_mod_case_moderator_id_positive")),
        sa.CheckConstraint("number > 0", name=op.f("ck_mod_case_number_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_mod_case_updated_by_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_mod_case_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_mod_case_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_mod_case")),
        sa.UniqueConstraint("guild_id", "number", name=op.f("uq_mod_case_guild_id_number")),
    )
    op.create_index(
        "ix_mod_case_due",
        "mod_case",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'active' AND processed_at IS NULL AND expires_at IS NOT NULL"),
    )
    op.create_index("ix_mod_case_guild_id_created_at", "mod_case", ["guild_id", "created_at", "case_id"], unique=False)
    op.create_index(
        "ix_mod_case_guild_id_moderator_id_number", "mod_case", ["guild_id", "moderator_id", "number"], unique=False
    )
    op.create_index("ix_mod_case_guild_id_type_number", "mod_case", ["guild_id", "type", "number"], unique=False)
    op.create_index("ix_mod_case_guild_id_user_id_number", "mod_case", ["guild_id", "user_id", "number"], unique=False)
    op.create_index(
        "ix_mod_case_guild_id_user_id_pair",
        "mod_case",
        ["guild_id", "user_id", "number"],
        unique=False,
        postgresql_where=sa.text("type IN ('JAIL', 'POLLBAN', 'POLLUNBAN', 'SNIPPETBAN', 'SNIPPETUNBAN', 'UNJAIL')"),
    )
    op.create_table(
        "note",
        sa.Column("deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("moderator_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("note_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_note_created_by_positive")),
        sa.CheckConstraint("deleted_by > 0", name=op.f("ck_note_deleted_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_note_guild_id_positive")),
        sa.CheckConstraint("moderator_id > 0", name=op.f("ck_note_moderator_id_positive")),
        sa.CheckConstraint("number > 0", name=op.f("ck_note_number_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_note_updated_by_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_note_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_note_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("note_id", name=op.f("pk_note")),
        sa.UniqueConstraint("guild_id", "number", name=op.f("uq_note_guild_id_number")),
    )
    op.create_index("ix_note_guild_id_user_id_number", "note", ["guild_id", "user_id", "number"], unique=False)
    op.create_table(
        "moderation_change",
        sa.Column("change_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.Column("note_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "action",
            postgresql.ENUM(
                "case_reason",
                "case_void",
                "case_expire",
                "note_edit",
                "note_delete",
                name="moderation_change_action",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("actor_id > 0", name=op.f("ck_moderation_change_actor_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_moderation_change_guild_id_positive")),
        sa.CheckConstraint("num_nonnulls(case_id, note_id) = 1", name=op.f("ck_moderation_change_one_target")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mod_case.case_id"], name=op.f("fk_moderation_change_case_id_mod_case"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_moderation_change_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["note_id"], ["note.note_id"], name=op.f("fk_moderation_change_note_id_note"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("change_id", name=op.f("pk_moderation_change")),
    )
    op.create_index(
        "ix_moderation_change_case_id",
        "moderation_change",
        ["case_id", "change_id"],
        unique=False,
        postgresql_where=sa.text("case_id IS NOT NULL"),
    )
    op.create_index(
        "ix_moderation_change_guild_id_created_at", "moderation_change", ["guild_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_moderation_change_note_id",
        "moderation_change",
        ["note_id", "change_id"],
        unique=False,
        postgresql_where=sa.text("note_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_moderation_change_note_id", table_name="moderation_change", postgresql_where=sa.text("note_id IS NOT NULL")
    )
    op.drop_index("ix_moderation_change_guild_id_created_at", table_name="moderation_change")
    op.drop_index(
        "ix_moderation_change_case_id", table_name="moderation_change", postgresql_where=sa.text("case_id IS NOT NULL")
    )
    op.drop_table("moderation_change")
    op.drop_index("ix_note_guild_id_user_id_number", table_name="note")
    op.drop_table("note")
    op.drop_index(
        "ix_mod_case_guild_id_user_id_pair",
        table_name="mod_case",
        postgresql_where=sa.text("type IN ('JAIL', 'POLLBAN', 'POLLUNBAN', 'SNIPPETBAN', 'SNIPPETUNBAN', 'UNJAIL')"),
    )
    op.drop_index("ix_mod_case_guild_id_user_id_number", table_name="mod_case")
    op.drop_index("ix_mod_case_guild_id_type_number", table_name="mod_case")
    op.drop_index("ix_mod_case_guild_id_moderator_id_number", table_name="mod_case")
    op.drop_index("ix_mod_case_guild_id_created_at", table_name="mod_case")
    op.drop_index(
        "ix_mod_case_due",
        table_name="mod_case",
        postgresql_where=sa.text("status = 'active' AND processed_at IS NULL AND expires_at IS NOT NULL"),
    )
    op.drop_table("mod_case")
    sa.Enum(
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
    ).drop(op.get_bind())
    sa.Enum("active", "expired", "voided", name="mod_case_status").drop(op.get_bind())
    sa.Enum(
        "case_reason", "case_void", "case_expire", "note_edit", "note_delete", name="moderation_change_action"
    ).drop(op.get_bind())
