"""Tickets (R12): panels, numbered tickets, participants, the event trail, transcripts and daily rollups.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 15:00:00.000000

Seven tables (see ``guildbase/models/tickets.py``) and five enum types; ticket
numbers use the ``guild_counter`` row of kind ``ticket``, a label 0001 already
created, so no counter label is added. Ticket writes are audited: six action
labels and two entity labels more, removed again by the downgrade as 0012 does.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from alembic_postgresql_enum import TableReference
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTION_LABELS = ("ticket_panel", "ticket_open", "ticket_change", "ticket_close", "ticket_reopen", "ticket_rate")
ENTITY_LABELS = ("ticket", "ticket_panel")


def upgrade() -> None:
    for label in ACTION_LABELS:
        op.execute(f"ALTER TYPE audit_action ADD VALUE IF NOT EXISTS '{label}'")
    for label in ENTITY_LABELS:
        op.execute(f"ALTER TYPE audit_entity ADD VALUE IF NOT EXISTS '{label}'")
    sa.Enum("first_response", "resolution", name="ticket_duration_metric").create(op.get_bind())
    sa.Enum(
        "opened",
        "claimed",
        "unclaimed",
        "transferred",
        "renamed",
        "participant_added",
        "participant_removed",
        "first_response",
        "close_requested",
        "close_cancelled",
        "closed",
        "reopened",
        "rated",
        "access_denied",
        name="ticket_event_kind",
    ).create(op.get_bind())
    sa.Enum("open", "claimed", "pending", "closed", name="ticket_status").create(op.get_bind())
    sa.Enum("low", "normal", "high", "urgent", name="ticket_priority").create(op.get_bind())
    sa.Enum("thread", "channel", name="ticket_mode").create(op.get_bind())
    op.create_table(
        "ticket_daily",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("panel_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("staff_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("opened", sa.Integer(), server_default="0", nullable=False),
        sa.Column("closed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reopened", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_responses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ratings", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating_sum", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_ticket_daily_guild_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_ticket_daily_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "day", "panel_id", "staff_id", name=op.f("pk_ticket_daily")),
    )
    op.create_table(
        "ticket_daily_duration",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("panel_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "metric",
            postgresql.ENUM("first_response", "resolution", name="ticket_duration_metric", create_type=False),
            nullable=False,
        ),
        sa.Column("bucket", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_ticket_daily_duration_guild_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_ticket_daily_duration_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "guild_id", "day", "panel_id", "metric", "bucket", name=op.f("pk_ticket_daily_duration")
        ),
    )
    op.create_table(
        "ticket_panel",
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "mode",
            postgresql.ENUM("thread", "channel", name="ticket_mode", create_type=False),
            server_default="thread",
            nullable=False,
        ),
        sa.Column("category_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "naming_scheme",
            sqlmodel.sql.sqltypes.AutoString(length=80),
            server_default="ticket-{number}",
            nullable=False,
        ),
        sa.Column("staff_role_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("ping_role_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("required_role_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("open_limit", sa.Integer(), server_default="1", nullable=False),
        sa.Column("cooldown_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "questions", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("is_close_confirmed", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("transcript_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("inactivity_seconds", sa.Integer(), nullable=True),
        sa.Column("close_on_leave", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("close_delay_seconds", sa.Integer(), server_default="86400", nullable=False),
        sa.Column("working_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("panel_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.CheckConstraint("cardinality(staff_role_ids) <= 25", name=op.f("ck_ticket_panel_staff_roles_max")),
        sa.CheckConstraint("category_id > 0", name=op.f("ck_ticket_panel_category_id_positive")),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_ticket_panel_channel_id_positive")),
        sa.CheckConstraint("close_delay_seconds > 0", name=op.f("ck_ticket_panel_close_delay_positive")),
        sa.CheckConstraint("cooldown_seconds >= 0", name=op.f("ck_ticket_panel_cooldown_positive")),
        sa.CheckConstraint("created_by > 0", name=op.f("ck_ticket_panel_created_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_ticket_panel_guild_id_positive")),
        sa.CheckConstraint("inactivity_seconds >= 60", name=op.f("ck_ticket_panel_inactivity_min")),
        sa.CheckConstraint("message_id > 0", name=op.f("ck_ticket_panel_message_id_positive")),
        sa.CheckConstraint("open_limit BETWEEN 1 AND 50", name=op.f("ck_ticket_panel_open_limit_range")),
        sa.CheckConstraint("transcript_channel_id > 0", name=op.f("ck_ticket_panel_transcript_channel_id_positive")),
        sa.CheckConstraint("updated_by > 0", name=op.f("ck_ticket_panel_updated_by_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_ticket_panel_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("panel_id", name=op.f("pk_ticket_panel")),
        sa.UniqueConstraint("guild_id", "label", name=op.f("uq_ticket_panel_guild_id_label")),
    )
    op.create_table(
        "ticket",
        sa.Column("ticket_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("panel_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("opener_id", sa.BigInteger(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column(
            "priority",
            postgresql.ENUM("low", "normal", "high", "urgent", name="ticket_priority", create_type=False),
            server_default="normal",
            nullable=False,
        ),
        sa.Column(
            "status",
            postgresql.ENUM("open", "claimed", "pending", "closed", name="ticket_status", create_type=False),
            server_default="open",
            nullable=False,
        ),
        sa.Column(
            "answers", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("claimed_by", sa.BigInteger(), nullable=True),
        sa.Column("assignee_id", sa.BigInteger(), nullable=True),
        sa.Column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("first_response_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_message_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("message_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("staff_message_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("close_requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("close_requested_by", sa.BigInteger(), nullable=True),
        sa.Column("close_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("closed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.BigInteger(), nullable=True),
        sa.Column("close_reason", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("rating_comment", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("rated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name=op.f("ck_ticket_closed_at_matches_status")
        ),
        sa.CheckConstraint("assignee_id > 0", name=op.f("ck_ticket_assignee_id_positive")),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_ticket_channel_id_positive")),
        sa.CheckConstraint("claimed_by > 0", name=op.f("ck_ticket_claimed_by_positive")),
        sa.CheckConstraint("close_requested_by > 0", name=op.f("ck_ticket_close_requested_by_positive")),
        sa.CheckConstraint("closed_by > 0", name=op.f("ck_ticket_closed_by_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_ticket_guild_id_positive")),
        sa.CheckConstraint("number > 0", name=op.f("ck_ticket_number_positive")),
        sa.CheckConstraint("opener_id > 0", name=op.f("ck_ticket_opener_id_positive")),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_ticket_rating_range")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_ticket_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["panel_id"], ["ticket_panel.panel_id"], name=op.f("fk_ticket_panel_id_ticket_panel"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket")),
        sa.UniqueConstraint("guild_id", "number", name=op.f("uq_ticket_guild_id_number")),
    )
    op.create_index("ix_ticket_guild_id_opener_id_status", "ticket", ["guild_id", "opener_id", "status"], unique=False)
    op.create_index(
        "ix_ticket_guild_id_status",
        "ticket",
        ["guild_id", "status"],
        unique=False,
        postgresql_where=sa.text("status <> 'closed'"),
    )
    op.create_index("uq_ticket_channel_id", "ticket", ["channel_id"], unique=True)
    op.create_table(
        "ticket_event",
        sa.Column("event_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            postgresql.ENUM(
                "opened",
                "claimed",
                "unclaimed",
                "transferred",
                "renamed",
                "participant_added",
                "participant_removed",
                "first_response",
                "close_requested",
                "close_cancelled",
                "closed",
                "reopened",
                "rated",
                "access_denied",
                name="ticket_event_kind",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "details", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("actor_id > 0", name=op.f("ck_ticket_event_actor_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_ticket_event_guild_id_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guild.guild_id"], name=op.f("fk_ticket_event_guild_id_guild"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.ticket_id"], name=op.f("fk_ticket_event_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_ticket_event")),
    )
    op.create_index("ix_ticket_event_ticket_id_event_id", "ticket_event", ["ticket_id", "event_id"], unique=False)
    op.create_table(
        "ticket_message",
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("attachment_urls", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("is_staff", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "edits", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.Column("edited_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("author_id > 0", name=op.f("ck_ticket_message_author_id_positive")),
        sa.CheckConstraint("message_id > 0", name=op.f("ck_ticket_message_message_id_positive")),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.ticket_id"], name=op.f("fk_ticket_message_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_ticket_message")),
    )
    op.create_index(
        "ix_ticket_message_ticket_id_message_id", "ticket_message", ["ticket_id", "message_id"], unique=False
    )
    op.create_table(
        "ticket_participant",
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("added_by", sa.BigInteger(), nullable=True),
        sa.Column("added_at", sqlmodel.sql.sqltypes.UTCDateTime(), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("added_by > 0", name=op.f("ck_ticket_participant_added_by_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_ticket_participant_user_id_positive")),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.ticket_id"], name=op.f("fk_ticket_participant_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ticket_id", "user_id", name=op.f("pk_ticket_participant")),
    )


def downgrade() -> None:
    op.drop_table("ticket_participant")
    op.drop_index("ix_ticket_message_ticket_id_message_id", table_name="ticket_message")
    op.drop_table("ticket_message")
    op.drop_index("ix_ticket_event_ticket_id_event_id", table_name="ticket_event")
    op.drop_table("ticket_event")
    op.drop_index("uq_ticket_channel_id", table_name="ticket")
    op.drop_index("ix_ticket_guild_id_status", table_name="ticket", postgresql_where=sa.text("status <> 'closed'"))
    op.drop_index("ix_ticket_guild_id_opener_id_status", table_name="ticket")
    op.drop_table("ticket")
    op.drop_table("ticket_panel")
    op.drop_table("ticket_daily_duration")
    op.drop_table("ticket_daily")
    sa.Enum("thread", "channel", name="ticket_mode").drop(op.get_bind())
    sa.Enum("low", "normal", "high", "urgent", name="ticket_priority").drop(op.get_bind())
    sa.Enum("open", "claimed", "pending", "closed", name="ticket_status").drop(op.get_bind())
    sa.Enum(
        "opened",
        "claimed",
        "unclaimed",
        "transferred",
        "renamed",
        "participant_added",
        "participant_removed",
        "first_response",
        "close_requested",
        "close_cancelled",
        "closed",
        "reopened",
        "rated",
        "access_denied",
        name="ticket_event_kind",
    ).drop(op.get_bind())
    sa.Enum("first_response", "resolution", name="ticket_duration_metric").drop(op.get_bind())
    # PostgreSQL cannot drop an enum label: the trail of ticket writes goes, then each type is rebuilt without them.
    bind = op.get_bind()
    bind.execute(
        sa.text("DELETE FROM audit_log WHERE action::text = ANY(:actions) OR entity_type::text = ANY(:entities)"),
        {"actions": list(ACTION_LABELS), "entities": list(ENTITY_LABELS)},
    )
    for type_name, column, dropped in (
        ("audit_action", "action", ACTION_LABELS),
        ("audit_entity", "entity_type", ENTITY_LABELS),
    ):
        labels = bind.execute(sa.text(f"SELECT unnest(enum_range(NULL::{type_name}))::text")).scalars().all()
        op.sync_enum_values(  # type: ignore[attr-defined]  # alembic-postgresql-enum's operation
            enum_schema="public",
            enum_name=type_name,
            new_values=[label for label in labels if label not in dropped],
            affected_columns=[TableReference(table_schema="public", table_name="audit_log", column_name=column)],
            enum_values_to_rename=[],
        )
