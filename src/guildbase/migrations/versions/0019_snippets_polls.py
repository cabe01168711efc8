"""Snippets with aliases, custom commands and polls (R7.3, R14.2, R15.1, R15.2), and pg_trgm for "did you mean".

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 15:00:00.000000

Seven guild-leading tables (``guildbase/models/snippets.py``,
``custom_commands.py``, ``polls.py``), two enum types (``poll_kind``,
``poll_status``), and labels added to existing enums: the ``polls`` and
``custom_commands`` feature toggles, the ``poll`` counter, and the audit
actions and entities of the three domains.

``pg_trgm``: the upgrade runs ``CREATE EXTENSION IF NOT EXISTS pg_trgm``
(trusted since PostgreSQL 13, so the schema owner may create it). The
downgrade does NOT drop it: an extension is database-wide, other schemas,
applications or a later migration may use its functions and operator classes,
and dropping an extension that was there before this migration (``IF NOT
EXISTS`` cannot tell) would break them. Leaving it installed costs nothing
and holds no data of ours.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from alembic_postgresql_enum import TableReference
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEATURES = ("polls", "custom_commands")
COUNTER_KINDS = ("poll",)
AUDIT_ACTIONS = (
    "snippet_create",
    "snippet_edit",
    "snippet_delete",
    "snippet_alias",
    "custom_command_create",
    "custom_command_edit",
    "custom_command_delete",
    "poll_create",
    "poll_close",
    "poll_delete",
)
AUDIT_ENTITIES = ("snippet", "custom_command", "poll")
LABELS = (
    ("guild_feature_name", "guild_feature", "feature", FEATURES),
    ("guild_counter_kind", "guild_counter", "kind", COUNTER_KINDS),
    ("audit_action", "audit_log", "action", AUDIT_ACTIONS),
    ("audit_entity", "audit_log", "entity_type", AUDIT_ENTITIES),
)
"""(enum type, the table and column holding it, the labels this migration adds)."""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for type_name, _table, _column, labels in LABELS:
        for label in labels:
            op.execute(f"ALTER TYPE {type_name} ADD VALUE IF NOT EXISTS '{label}'")
    sa.Enum("open", "closed", name="poll_status").create(op.get_bind())
    sa.Enum("reaction", "button", name="poll_kind").create(op.get_bind())
    op.create_table(
        "custom_command",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("required_rank", sa.Integer(), nullable=True),
        sa.Column("cooldown_seconds", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("command_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("arg_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("uses", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("name !~ '[[:space:]@<>#`]'", name=op.f("ck_custom_command_name_characters")),
        sa.CheckConstraint("author_id > 0", name=op.f("ck_custom_command_author_id_positive")),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 32", name=op.f("ck_custom_command_name_length")),
        sa.CheckConstraint("cooldown_seconds BETWEEN 0 AND 604800", name=op.f("ck_custom_command_cooldown_range")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_custom_command_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_custom_command_guild_id_positive")),
        sa.CheckConstraint("required_rank BETWEEN 0 AND 100", name=op.f("ck_custom_command_rank_range")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_custom_command_updated_by_positive")),
        sa.CheckConstraint("uses >= 0", name=op.f("ck_custom_command_uses_not_negative")),
        sa.CheckConstraint("arg_count BETWEEN 0 AND 9", name=op.f("ck_custom_command_arg_count_range")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_custom_command_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("command_id", name=op.f("pk_custom_command")),
    )
    op.create_index(
        "ix_custom_command_guild_id_lower_name",
        "custom_command",
        ["guild_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "poll",
        sa.Column("deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("kind", postgresql.ENUM("reaction", "button", name="poll_kind", create_type=False), nullable=False),
        sa.Column("ends_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("poll_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM("open", "closed", name="poll_status", create_type=False),
            server_default="open",
            nullable=False,
        ),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("author_id > 0", name=op.f("ck_poll_author_id_positive")),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_poll_channel_id_positive")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_poll_created_by_positive")),
        sa.CheckConstraint("deleted_by > 0", name=op.f("ck_poll_deleted_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_poll_guild_id_positive")),
        sa.CheckConstraint("message_id > 0", name=op.f("ck_poll_message_id_positive")),
        sa.CheckConstraint("number > 0", name=op.f("ck_poll_number_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_poll_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_poll_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("poll_id", name=op.f("pk_poll")),
        sa.UniqueConstraint("guild_id", "number", name=op.f("uq_poll_guild_id_number")),
    )
    op.create_table(
        "snippet",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("snippet_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("uses", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("is_locked", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("author_id > 0", name=op.f("ck_snippet_author_id_positive")),
        sa.CheckConstraint("char_length(content) BETWEEN 1 AND 2000", name=op.f("ck_snippet_content_length")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_snippet_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_snippet_guild_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_snippet_updated_by_positive")),
        sa.CheckConstraint("uses >= 0", name=op.f("ck_snippet_uses_not_negative")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_snippet_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("snippet_id", name=op.f("pk_snippet")),
        sa.UniqueConstraint("guild_id", "snippet_id", name=op.f("uq_snippet_guild_id_snippet_id")),
    )
    op.create_table(
        "custom_command_use",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("command_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_used_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_custom_command_use_guild_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_custom_command_use_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["command_id"], ["custom_command.command_id"], name="fk_custom_command_use_command_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_custom_command_use_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "command_id", "user_id", name=op.f("pk_custom_command_use")),
    )
    op.create_table(
        "poll_option",
        sa.Column("option_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("poll_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("emoji", sa.Text(), nullable=False),
        sa.Column("votes", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_poll_option_guild_id_positive")),
        sa.CheckConstraint("position BETWEEN 1 AND 10", name=op.f("ck_poll_option_position_range")),
        sa.CheckConstraint("votes >= 0", name=op.f("ck_poll_option_votes_not_negative")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_poll_option_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.poll_id"], name="fk_poll_option_poll_id_poll", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("option_id", name=op.f("pk_poll_option")),
        sa.UniqueConstraint("poll_id", "position", name=op.f("uq_poll_option_poll_id_position")),
    )
    op.create_table(
        "snippet_name",
        sa.Column("name_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("snippet_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("is_alias", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("name !~ '[[:space:]@<>#`]'", name=op.f("ck_snippet_name_name_characters")),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 32", name=op.f("ck_snippet_name_name_length")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_snippet_name_guild_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id", "snippet_id"],
            ["snippet.guild_id", "snippet.snippet_id"],
            name="fk_snippet_name_guild_id_snippet_id_snippet",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_snippet_name_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("name_id", name=op.f("pk_snippet_name")),
    )
    op.create_index(
        "ix_snippet_name_guild_id_lower_name",
        "snippet_name",
        ["guild_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_index("ix_snippet_name_guild_id_snippet_id", "snippet_name", ["guild_id", "snippet_id"], unique=False)
    op.create_index(
        "ix_snippet_name_snippet_id_own",
        "snippet_name",
        ["snippet_id"],
        unique=True,
        postgresql_where=sa.text("NOT is_alias"),
    )
    op.create_table(
        "poll_vote",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("poll_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("option_id", sa.BigInteger(), nullable=False),
        sa.Column("previous_option_id", sa.BigInteger(), nullable=True),
        sa.Column("voted_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_poll_vote_guild_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_poll_vote_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_poll_vote_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["option_id"], ["poll_option.option_id"], name="fk_poll_vote_option_id_poll_option", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.poll_id"], name="fk_poll_vote_poll_id_poll", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("guild_id", "poll_id", "user_id", name=op.f("pk_poll_vote")),
    )
    op.create_index("ix_poll_vote_option_id", "poll_vote", ["option_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_poll_vote_option_id", table_name="poll_vote")
    op.drop_table("poll_vote")
    op.drop_index("ix_snippet_name_snippet_id_own", table_name="snippet_name", postgresql_where=sa.text("NOT is_alias"))
    op.drop_index("ix_snippet_name_guild_id_snippet_id", table_name="snippet_name")
    op.drop_index("ix_snippet_name_guild_id_lower_name", table_name="snippet_name")
    op.drop_table("snippet_name")
    op.drop_table("poll_option")
    op.drop_table("custom_command_use")
    op.drop_table("snippet")
    op.drop_table("poll")
    op.drop_index("ix_custom_command_guild_id_lower_name", table_name="custom_command")
    op.drop_table("custom_command")
    sa.Enum("reaction", "button", name="poll_kind").drop(op.get_bind())
    sa.Enum("open", "closed", name="poll_status").drop(op.get_bind())
    # PostgreSQL cannot drop an enum label: the rows holding ours go, then each type is rebuilt without them
    # (read from the database, so labels other migrations added stay).
    bind = op.get_bind()
    for type_name, table, column, labels in LABELS:
        delete = f"DELETE FROM {table} WHERE {column}::text = ANY(:labels)"  # noqa: S608 - our own table names
        bind.execute(sa.text(delete), {"labels": list(labels)})
        current = bind.execute(sa.text(f"SELECT unnest(enum_range(NULL::{type_name}))::text")).scalars().all()
        op.sync_enum_values(  # type: ignore[attr-defined]  # alembic-postgresql-enum's operation
            enum_schema="public",
            enum_name=type_name,
            new_values=[label for label in current if label not in labels],
            affected_columns=[TableReference(table_schema="public", table_name=table, column_name=column)],
            enum_values_to_rename=[],
        )
    # pg_trgm stays installed on purpose (see the module docstring).
