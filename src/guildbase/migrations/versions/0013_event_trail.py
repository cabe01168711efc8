"""The Discord event trail: guild, reaction, voice and invite events, partitioned by month, and daily rollups.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:12:15.586210

Drafted by autogenerate, then finished by hand: the generic partition functions
(``partition_ensure`` / ``partition_drop_before``, from ``guildbase.db.partitions``)
serve every trail table, and last month, this month and the next three get
partitions now (the writers create other months on demand). The SQL is copied
here, not imported, so this revision keeps meaning what it meant when written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TRAIL_TABLES = ("guild_event", "reaction_event", "voice_event", "voice_session", "invite_use")

# Idempotent and safe to race: two processes creating the same month both succeed.
ENSURE_PARTITION = """
CREATE FUNCTION partition_ensure(parent regclass, month date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    base text := (SELECT c.relname FROM pg_class AS c WHERE c.oid = parent);
    name text := base || '_p' || to_char(first, 'YYYYMM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                name,
                base,
                first::timestamp AT TIME ZONE 'UTC',
                (first + interval '1 month')::timestamp AT TIME ZONE 'UTC'
            );
        EXCEPTION WHEN duplicate_table THEN
            NULL;
        END;
    END IF;
    RETURN name;
END
$$
"""

# Retention: whole partitions go, never rows (no DELETE, no vacuum debt).
DROP_PARTITIONS = """
CREATE FUNCTION partition_drop_before(parent regclass, cutoff date) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    base text := (SELECT c.relname FROM pg_class AS c WHERE c.oid = parent);
    part record;
    dropped text[] := '{}';
BEGIN
    FOR part IN
        SELECT c.relname
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent AND c.relname = base || '_p' || right(c.relname, 6)
          AND right(c.relname, 6) ~ '^[0-9]{6}$'
        ORDER BY c.relname
    LOOP
        IF (to_date(right(part.relname, 6), 'YYYYMM') + interval '1 month')::date <= cutoff THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped || part.relname::text;
        END IF;
    END LOOP;
    RETURN dropped;
END
$$
"""


def upgrade() -> None:
    sa.Enum("exact", "uncertain", "unknown", name="invite_confidence").create(op.get_bind())
    sa.Enum("left", "moved", "disconnect", "restart", name="voice_end_reason").create(op.get_bind())
    sa.Enum(
        "join",
        "leave",
        "move",
        "mute",
        "unmute",
        "deafen",
        "undeafen",
        "stream_start",
        "stream_end",
        name="voice_event_kind",
    ).create(op.get_bind())
    sa.Enum(
        "bot_join",
        "bot_leave",
        "member_join",
        "member_leave",
        "member_update",
        "role_create",
        "role_update",
        "role_delete",
        "emoji_create",
        "emoji_update",
        "emoji_delete",
        "sticker_create",
        "sticker_update",
        "sticker_delete",
        "channel_create",
        "channel_update",
        "channel_delete",
        "invite_create",
        "invite_delete",
        name="guild_event_kind",
    ).create(op.get_bind())
    op.create_table(
        "guild_event",
        sa.Column("event_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            postgresql.ENUM(
                "bot_join",
                "bot_leave",
                "member_join",
                "member_leave",
                "member_update",
                "role_create",
                "role_update",
                "role_delete",
                "emoji_create",
                "emoji_update",
                "emoji_delete",
                "sticker_create",
                "sticker_update",
                "sticker_delete",
                "channel_create",
                "channel_update",
                "channel_delete",
                "invite_create",
                "invite_delete",
                name="guild_event_kind",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("executor_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "before", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column(
            "after", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("executor_id > 0", name=op.f("ck_guild_event_executor_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_guild_event_guild_id_positive")),
        sa.CheckConstraint("target_id > 0", name=op.f("ck_guild_event_target_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_guild_event_user_id_positive")),
        sa.PrimaryKeyConstraint("event_id", "occurred_at", name=op.f("pk_guild_event")),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.create_index("ix_guild_event_guild_id_occurred_at", "guild_event", ["guild_id", "occurred_at"], unique=False)
    op.create_index(
        "ix_guild_event_guild_id_user_id_occurred_at",
        "guild_event",
        ["guild_id", "user_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "invite",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("inviter_id", sa.BigInteger(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("unclaimed", sa.Integer(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_invite_channel_id_positive")),
        sa.CheckConstraint("char_length(code) BETWEEN 1 AND 32", name=op.f("ck_invite_code_length")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_invite_guild_id_positive")),
        sa.CheckConstraint("inviter_id > 0", name=op.f("ck_invite_inviter_id_positive")),
        sa.CheckConstraint(
            "uses >= 0 AND unclaimed >= 0 AND max_uses >= 0", name=op.f("ck_invite_counts_not_negative")
        ),
        sa.PrimaryKeyConstraint("guild_id", "code", name=op.f("pk_invite")),
    )
    op.create_table(
        "invite_tally",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owed", sa.Integer(), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_invite_tally_guild_id_positive")),
        sa.CheckConstraint("owed >= 0", name=op.f("ck_invite_tally_owed_not_negative")),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_invite_tally")),
    )
    op.create_table(
        "invite_use",
        sa.Column("use_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("inviter_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "confidence",
            postgresql.ENUM("exact", "uncertain", "unknown", name="invite_confidence", create_type=False),
            nullable=False,
        ),
        sa.Column("candidates", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_invite_use_guild_id_positive")),
        sa.CheckConstraint("inviter_id > 0", name=op.f("ck_invite_use_inviter_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_invite_use_user_id_positive")),
        sa.PrimaryKeyConstraint("use_id", "joined_at", name=op.f("pk_invite_use")),
        postgresql_partition_by="RANGE (joined_at)",
    )
    op.create_index("ix_invite_use_guild_id_code", "invite_use", ["guild_id", "code"], unique=False)
    op.create_index("ix_invite_use_guild_id_joined_at", "invite_use", ["guild_id", "joined_at"], unique=False)
    op.create_table(
        "member_stat_daily",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("joins", sa.BigInteger(), nullable=False),
        sa.Column("leaves", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_member_stat_daily_guild_id_positive")),
        sa.CheckConstraint("joins >= 0 AND leaves >= 0", name=op.f("ck_member_stat_daily_counts_not_negative")),
        sa.PrimaryKeyConstraint("guild_id", "day", name=op.f("pk_member_stat_daily")),
    )
    op.create_table(
        "message_stat_daily",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_message_stat_daily_channel_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_message_stat_daily_guild_id_positive")),
        sa.CheckConstraint("messages >= 0", name=op.f("ck_message_stat_daily_messages_not_negative")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_message_stat_daily_user_id_positive")),
        sa.PrimaryKeyConstraint("guild_id", "day", "channel_id", "user_id", name=op.f("pk_message_stat_daily")),
    )
    op.create_table(
        "reaction_event",
        sa.Column("event_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("emoji", sa.Text(), nullable=False),
        sa.Column("is_added", sa.Boolean(), nullable=False),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_reaction_event_channel_id_positive")),
        sa.CheckConstraint("char_length(emoji) BETWEEN 1 AND 100", name=op.f("ck_reaction_event_emoji_length")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_reaction_event_guild_id_positive")),
        sa.CheckConstraint("message_id > 0", name=op.f("ck_reaction_event_message_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_reaction_event_user_id_positive")),
        sa.PrimaryKeyConstraint("event_id", "occurred_at", name=op.f("pk_reaction_event")),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.create_index("ix_reaction_event_guild_id_message_id", "reaction_event", ["guild_id", "message_id"], unique=False)
    op.create_index(
        "ix_reaction_event_guild_id_occurred_at", "reaction_event", ["guild_id", "occurred_at"], unique=False
    )
    op.create_table(
        "role_stat_daily",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("role_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("removed", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("added >= 0 AND removed >= 0", name=op.f("ck_role_stat_daily_counts_not_negative")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_role_stat_daily_guild_id_positive")),
        sa.CheckConstraint("role_id > 0", name=op.f("ck_role_stat_daily_role_id_positive")),
        sa.PrimaryKeyConstraint("guild_id", "day", "role_id", name=op.f("pk_role_stat_daily")),
    )
    op.create_table(
        "voice_event",
        sa.Column("event_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            postgresql.ENUM(
                "join",
                "leave",
                "move",
                "mute",
                "unmute",
                "deafen",
                "undeafen",
                "stream_start",
                "stream_end",
                name="voice_event_kind",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("from_channel_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_voice_event_channel_id_positive")),
        sa.CheckConstraint("from_channel_id > 0", name=op.f("ck_voice_event_from_channel_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_voice_event_guild_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_voice_event_user_id_positive")),
        sa.PrimaryKeyConstraint("event_id", "occurred_at", name=op.f("pk_voice_event")),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.create_index("ix_voice_event_guild_id_occurred_at", "voice_event", ["guild_id", "occurred_at"], unique=False)
    op.create_table(
        "voice_session",
        sa.Column("session_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "end_reason",
            postgresql.ENUM("left", "moved", "disconnect", "restart", name="voice_end_reason", create_type=False),
            nullable=True,
        ),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("is_muted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_deafened", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_streaming", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("muted_ms", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("deafened_ms", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("streaming_ms", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "(ended_at IS NULL) = (end_reason IS NULL) AND (ended_at IS NULL) = (duration_ms IS NULL)",
            name=op.f("ck_voice_session_closed_consistently"),
        ),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_voice_session_channel_id_positive")),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at", name=op.f("ck_voice_session_ends_after_start")
        ),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_voice_session_guild_id_positive")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_voice_session_user_id_positive")),
        sa.PrimaryKeyConstraint("session_id", "started_at", name=op.f("pk_voice_session")),
        postgresql_partition_by="RANGE (started_at)",
    )
    op.create_index("ix_voice_session_guild_id_started_at", "voice_session", ["guild_id", "started_at"], unique=False)
    op.create_index(
        "ix_voice_session_open",
        "voice_session",
        ["guild_id", "user_id"],
        unique=False,
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.execute(ENSURE_PARTITION)
    op.execute(DROP_PARTITIONS)
    for table in TRAIL_TABLES:
        op.execute(
            f"SELECT partition_ensure('{table}'::regclass, "  # noqa: S608 - our own constant table names
            "(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date) "
            "FROM generate_series(-1, 3) AS m"
        )
    op.create_table(
        "voice_stat_daily",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seconds", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("channel_id > 0", name=op.f("ck_voice_stat_daily_channel_id_positive")),
        sa.CheckConstraint("guild_id > 0", name=op.f("ck_voice_stat_daily_guild_id_positive")),
        sa.CheckConstraint("seconds >= 0", name=op.f("ck_voice_stat_daily_seconds_not_negative")),
        sa.CheckConstraint("user_id > 0", name=op.f("ck_voice_stat_daily_user_id_positive")),
        sa.PrimaryKeyConstraint("guild_id", "day", "channel_id", "user_id", name=op.f("pk_voice_stat_daily")),
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION partition_drop_before(regclass, date)")
    op.execute("DROP FUNCTION partition_ensure(regclass, date)")
    op.drop_table("voice_stat_daily")
    op.drop_index("ix_voice_session_open", table_name="voice_session", postgresql_where=sa.text("ended_at IS NULL"))
    op.drop_index("ix_voice_session_guild_id_started_at", table_name="voice_session")
    op.drop_table("voice_session")
    op.drop_index("ix_voice_event_guild_id_occurred_at", table_name="voice_event")
    op.drop_table("voice_event")
    op.drop_table("role_stat_daily")
    op.drop_index("ix_reaction_event_guild_id_occurred_at", table_name="reaction_event")
    op.drop_index("ix_reaction_event_guild_id_message_id", table_name="reaction_event")
    op.drop_table("reaction_event")
    op.drop_table("message_stat_daily")
    op.drop_table("member_stat_daily")
    op.drop_index("ix_invite_use_guild_id_joined_at", table_name="invite_use")
    op.drop_index("ix_invite_use_guild_id_code", table_name="invite_use")
    op.drop_table("invite_use")
    op.drop_table("invite_tally")
    op.drop_table("invite")
    op.drop_index("ix_guild_event_guild_id_user_id_occurred_at", table_name="guild_event")
    op.drop_index("ix_guild_event_guild_id_occurred_at", table_name="guild_event")
    op.drop_table("guild_event")
    sa.Enum(
        "bot_join",
        "bot_leave",
        "member_join",
        "member_leave",
        "member_update",
        "role_create",
        "role_update",
        "role_delete",
        "emoji_create",
        "emoji_update",
        "emoji_delete",
        "sticker_create",
        "sticker_update",
        "sticker_delete",
        "channel_create",
        "channel_update",
        "channel_delete",
        "invite_create",
        "invite_delete",
        name="guild_event_kind",
    ).drop(op.get_bind())
    sa.Enum(
        "join",
        "leave",
        "move",
        "mute",
        "unmute",
        "deafen",
        "undeafen",
        "stream_start",
        "stream_end",
        name="voice_event_kind",
    ).drop(op.get_bind())
    sa.Enum("left", "moved", "disconnect", "restart", name="voice_end_reason").drop(op.get_bind())
    sa.Enum("exact", "uncertain", "unknown", name="invite_confidence").drop(op.get_bind())
