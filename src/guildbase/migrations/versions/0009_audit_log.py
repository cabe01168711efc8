"""Audit log: one trail for every domain; ``moderation_change`` folds into it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:30:00.000000

The upgrade creates ``audit_log`` (and its enums ``audit_source``,
``audit_action``, ``audit_entity``), moves every ``moderation_change`` row into
it (a case change becomes entity ``case`` with the ``case_id``, a note change
entity ``note`` with the ``note_id``; the action labels are the same), then
drops ``moderation_change`` and its enum. The downgrade recreates the old
table and moves the case and note changes it can hold back (those of cases and
notes that still exist, as its foreign keys require), then drops the audit log.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCES = ("bot", "dashboard", "cli", "job", "api_key")
ACTIONS = (
    "guild_join",
    "guild_leave",
    "guild_delete",
    "config_update",
    "prefix_add",
    "prefix_remove",
    "feature_set",
    "blacklist_add",
    "blacklist_remove",
    "member_blacklist",
    "case_create",
    "case_reason",
    "case_void",
    "case_expire",
    "case_processed",
    "case_mod_log",
    "note_create",
    "note_edit",
    "note_delete",
    "level_config",
    "level_role_set",
    "level_role_remove",
    "level_multiplier_set",
    "level_multiplier_remove",
    "xp_set",
    "xp_reset",
    "xp_blacklist",
    "xp_unblacklist",
    "starboard_config",
)
ENTITIES = (
    "guild",
    "guild_config",
    "guild_feature",
    "global_blacklist",
    "member",
    "case",
    "note",
    "member_level",
    "level_config",
    "level_role",
    "level_multiplier",
    "starboard",
)
OLD_ACTIONS = ("case_reason", "case_void", "case_expire", "note_edit", "note_delete")


def upgrade() -> None:
    bind = op.get_bind()
    sa.Enum(*SOURCES, name="audit_source").create(bind)
    sa.Enum(*ACTIONS, name="audit_action").create(bind)
    sa.Enum(*ENTITIES, name="audit_entity").create(bind)
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("source", postgresql.ENUM(*SOURCES, name="audit_source", create_type=False), nullable=True),
        sa.Column("action", postgresql.ENUM(*ACTIONS, name="audit_action", create_type=False), nullable=False),
        sa.Column("entity_type", postgresql.ENUM(*ENTITIES, name="audit_entity", create_type=False), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column(
            "before", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column(
            "after", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.CheckConstraint("actor_id > 0", name=op.f("ck_audit_log_actor_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_audit_log_guild_id_positive")),
        sa.CheckConstraint("char_length(entity_id) BETWEEN 1 AND 100", name=op.f("ck_audit_log_entity_id_length")),
        sa.CheckConstraint("char_length(reason) <= 512", name=op.f("ck_audit_log_reason_length")),
        sa.CheckConstraint(
            "char_length(correlation_id) BETWEEN 1 AND 64", name=op.f("ck_audit_log_correlation_id_length")
        ),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity_type", "entity_id", "audit_id"], unique=False)
    op.create_index(
        "ix_audit_log_actor_id_created_at",
        "audit_log",
        ["actor_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("actor_id IS NOT NULL"),
    )
    op.create_index("ix_audit_log_guild_id_created_at", "audit_log", ["guild_id", "created_at"], unique=False)
    op.execute("""
        INSERT INTO audit_log (created_at, guild_id, actor_id, action, entity_type, entity_id, before, after)
        SELECT created_at, guild_id, actor_id, action::text::audit_action,
               CASE WHEN case_id IS NOT NULL THEN 'case' ELSE 'note' END::audit_entity,
               coalesce(case_id, note_id)::text, before, after
        FROM moderation_change
        ORDER BY change_id
    """)
    op.drop_index(
        "ix_moderation_change_note_id", table_name="moderation_change", postgresql_where=sa.text("note_id IS NOT NULL")
    )
    op.drop_index("ix_moderation_change_guild_id_created_at", table_name="moderation_change")
    op.drop_index(
        "ix_moderation_change_case_id", table_name="moderation_change", postgresql_where=sa.text("case_id IS NOT NULL")
    )
    op.drop_table("moderation_change")
    sa.Enum(*OLD_ACTIONS, name="moderation_change_action").drop(bind)


def downgrade() -> None:
    bind = op.get_bind()
    sa.Enum(*OLD_ACTIONS, name="moderation_change_action").create(bind)
    op.create_table(
        "moderation_change",
        sa.Column("change_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.Column("note_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "action",
            postgresql.ENUM(*OLD_ACTIONS, name="moderation_change_action", create_type=False),
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
    op.execute("""
        INSERT INTO moderation_change (guild_id, case_id, note_id, action, actor_id, before, after, created_at)
        SELECT a.guild_id, c.case_id, n.note_id, a.action::text::moderation_change_action,
               a.actor_id, a.before, a.after, a.created_at
        FROM audit_log AS a
        LEFT JOIN mod_case AS c ON a.entity_type = 'case' AND c.case_id::text = a.entity_id
        LEFT JOIN note AS n ON a.entity_type = 'note' AND n.note_id::text = a.entity_id
        WHERE a.action::text IN ('case_reason', 'case_void', 'case_expire', 'note_edit', 'note_delete')
          AND num_nonnulls(c.case_id, n.note_id) = 1
          AND coalesce(c.guild_id, n.guild_id) = a.guild_id
        ORDER BY a.audit_id
    """)
    op.drop_index("ix_audit_log_guild_id_created_at", table_name="audit_log")
    op.drop_index(
        "ix_audit_log_actor_id_created_at", table_name="audit_log", postgresql_where=sa.text("actor_id IS NOT NULL")
    )
    op.drop_index("ix_audit_log_entity", table_name="audit_log")
    op.drop_table("audit_log")
    sa.Enum(*ENTITIES, name="audit_entity").drop(bind)
    sa.Enum(*ACTIONS, name="audit_action").drop(bind)
    sa.Enum(*SOURCES, name="audit_source").drop(bind)
