"""Events domain: the Discord event trail (guild, reaction, voice, invite) and the invite tracker's state.

Design decisions:

- The trail tables (``guild_event``, ``reaction_event``, ``voice_event``,
  ``voice_session``, ``invite_use``) are range-partitioned by their time column,
  one UTC month per partition (``<table>_pYYYYMM``), created and dropped by the
  generic functions of ``db.partitions``. Retention is per table
  (``RETENTION_MONTHS``); the ``events.retention`` job drops whole partitions
  past it and creates the next months ahead of need.
- No foreign keys anywhere in the domain: rows arrive by binary COPY in batches
  from gateway listeners, in whatever order Discord delivers events (an invite
  can arrive before the guild row exists), and a trail must outlive the guild
  or member it names.
- Only IDs are stored, never names: a member update records *that* the
  nickname changed (``{"nick": true}``), not the nickname (R10.3).
- ``before`` / ``after`` hold the changed fields only.
- Primary keys carry the partition key, as PostgreSQL requires.
- Voice is kept twice: ``voice_event`` logs every transition (append-only, by
  COPY); ``voice_session`` holds one row per stint in one channel, opened on
  join or move and closed on leave, move, disconnect or restart with the reason
  and a duration, plus how long the member was muted, deafened and streaming.
- Invites: ``invite`` is the tracker's state per code (uses seen, uses not yet
  matched to a join); ``invite_tally.owed`` counts joins already reported as
  uncertain against uses still unmatched. Each join's match lands in
  ``invite_use`` with a ``confidence``.
"""

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Boolean, CheckConstraint, Identity, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, orm_identity, pg_enum, snowflake_field
from guildbase.models.jobs import JobKind
from guildbase.privacy.policy import Erase, personal_data

EMOJI_MAX_LENGTH = 100
REASON_MAX_LENGTH = 512
INVITE_CODE_MAX_LENGTH = 32
MAX_CANDIDATES = 50

RETENTION_MONTHS: dict[str, int] = {
    "guild_event": 12,
    "reaction_event": 3,
    "voice_event": 6,
    "voice_session": 12,
    "invite_use": 24,
}
"""How many whole months of each trail table are kept (the current month not counted)."""
TRAIL_TABLES = tuple(RETENTION_MONTHS)


class GuildEventKind(enum.StrEnum):
    """What happened in a guild."""

    BOT_JOIN = "bot_join"
    BOT_LEAVE = "bot_leave"
    MEMBER_JOIN = "member_join"
    MEMBER_LEAVE = "member_leave"
    MEMBER_UPDATE = "member_update"
    ROLE_CREATE = "role_create"
    ROLE_UPDATE = "role_update"
    ROLE_DELETE = "role_delete"
    EMOJI_CREATE = "emoji_create"
    EMOJI_UPDATE = "emoji_update"
    EMOJI_DELETE = "emoji_delete"
    STICKER_CREATE = "sticker_create"
    STICKER_UPDATE = "sticker_update"
    STICKER_DELETE = "sticker_delete"
    CHANNEL_CREATE = "channel_create"
    CHANNEL_UPDATE = "channel_update"
    CHANNEL_DELETE = "channel_delete"
    INVITE_CREATE = "invite_create"
    INVITE_DELETE = "invite_delete"


class VoiceEventKind(enum.StrEnum):
    """One voice state transition."""

    JOIN = "join"
    LEAVE = "leave"
    MOVE = "move"
    MUTE = "mute"
    UNMUTE = "unmute"
    DEAFEN = "deafen"
    UNDEAFEN = "undeafen"
    STREAM_START = "stream_start"
    STREAM_END = "stream_end"


class VoiceEndReason(enum.StrEnum):
    """Why a voice session ended: the member's own doing, or the bot lost sight of it."""

    LEFT = "left"
    MOVED = "moved"
    DISCONNECT = "disconnect"
    """The bot's gateway connection dropped: what happened after is unknown."""
    RESTART = "restart"
    """Found open when the guild became available again (the process restarted or resumed)."""


class InviteConfidence(enum.StrEnum):
    """How sure the invite match of a join is."""

    EXACT = "exact"
    """Only one invite's use count had risen: it was this one."""
    UNCERTAIN = "uncertain"
    """Several invites had risen (joins close together): one of ``candidates``."""
    UNKNOWN = "unknown"
    """No count had risen (vanity URL, discovery, a missed invite)."""


def _event_id() -> Any:
    return Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])


def _at(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()")}, **kwargs)


def _json() -> Any:
    return Field(default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb")})


class GuildEvent(SQLModel, table=True):
    """A guild-level event: joins and leaves, member, role, emoji, sticker, channel and invite changes."""

    __tablename__ = "guild_event"
    __table_args__ = (
        # A guild's trail over a period, and one member's (or role's, channel's) history inside it.
        Index("ix_guild_event_guild_id_occurred_at", "guild_id", "occurred_at"),
        Index("ix_guild_event_guild_id_user_id_occurred_at", "guild_id", "user_id", "occurred_at"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    __mapper_args__ = orm_identity("event_id", "occurred_at")

    event_id: int | None = _event_id()
    occurred_at: datetime = _at(primary_key=True)
    guild_id: Snowflake = snowflake_field(primary_key=True)
    kind: GuildEventKind = Field(sa_type=pg_enum(GuildEventKind, "guild_event_kind"))
    user_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    """The member concerned (joins, leaves, updates), if any."""
    target_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    """The role, channel, emoji, sticker or invite channel concerned, if any."""
    executor_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    """Who did it, from Discord's audit log; None when unknown."""
    before: dict[str, Any] = _json()
    after: dict[str, Any] = _json()
    reason: str | None = Field(default=None, sa_type=Text)


personal_data(
    GuildEvent,
    "The guild's event trail: joins, leaves, bans, role and nickname changes, who did them.",
    retention="the trail's retention (partitions older than it are dropped by the retention job)",
    not_user={"target_id": "the role, channel, emoji, sticker or invite channel concerned"},
    personal={"reason": "the reason given on Discord"},
    user_id=Erase.DELETE,
    executor_id=Erase.ANONYMISE,
    before=Erase.ANONYMISE,
    after=Erase.ANONYMISE,
)


class ReactionEvent(SQLModel, table=True):
    """A reaction added or removed (the starboard and polls read the current state elsewhere)."""

    __tablename__ = "reaction_event"
    __table_args__ = (
        CheckConstraint(f"char_length(emoji) BETWEEN 1 AND {EMOJI_MAX_LENGTH}", name="emoji_length"),
        # One message's reactions, and a guild's over a period.
        Index("ix_reaction_event_guild_id_message_id", "guild_id", "message_id"),
        Index("ix_reaction_event_guild_id_occurred_at", "guild_id", "occurred_at"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    __mapper_args__ = orm_identity("event_id", "occurred_at")

    event_id: int | None = _event_id()
    occurred_at: datetime = _at(primary_key=True)
    guild_id: Snowflake = snowflake_field(primary_key=True)
    channel_id: Snowflake = snowflake_field()
    message_id: Snowflake = snowflake_field()
    user_id: Snowflake = snowflake_field()
    emoji: str = Field(sa_type=Text)
    is_added: bool = Field(sa_type=Boolean)


personal_data(
    ReactionEvent,
    "Reactions added and removed: the guild's engagement reports.",
    retention="the trail's retention",
    user_id=Erase.DELETE,
)


class VoiceEvent(SQLModel, table=True):
    """One voice state transition; ``from_channel_id`` is set for moves and leaves."""

    __tablename__ = "voice_event"
    __table_args__ = (
        Index("ix_voice_event_guild_id_occurred_at", "guild_id", "occurred_at"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    __mapper_args__ = orm_identity("event_id", "occurred_at")

    event_id: int | None = _event_id()
    occurred_at: datetime = _at(primary_key=True)
    guild_id: Snowflake = snowflake_field(primary_key=True)
    user_id: Snowflake = snowflake_field()
    kind: VoiceEventKind = Field(sa_type=pg_enum(VoiceEventKind, "voice_event_kind"))
    channel_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    from_channel_id: Snowflake | None = snowflake_field(default=None, nullable=True)


personal_data(
    VoiceEvent,
    "Voice joins, moves, leaves and state changes.",
    retention="the trail's retention",
    user_id=Erase.DELETE,
)


class VoiceSession(SQLModel, table=True):
    """One stint of a member in one voice channel, with how long it lasted and why it ended."""

    __tablename__ = "voice_session"
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        CheckConstraint(
            "(ended_at IS NULL) = (end_reason IS NULL) AND (ended_at IS NULL) = (duration_ms IS NULL)",
            name="closed_consistently",
        ),
        # Partial: only open sessions are looked up by member (each voice update closes or changes one).
        Index("ix_voice_session_open", "guild_id", "user_id", postgresql_where=text("ended_at IS NULL")),
        Index("ix_voice_session_guild_id_started_at", "guild_id", "started_at"),
        {"postgresql_partition_by": "RANGE (started_at)"},
    )

    __mapper_args__ = orm_identity("session_id", "started_at")

    session_id: int | None = _event_id()
    started_at: datetime = _at(primary_key=True)
    guild_id: Snowflake = snowflake_field(primary_key=True)
    user_id: Snowflake = snowflake_field()
    channel_id: Snowflake = snowflake_field()
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    end_reason: VoiceEndReason | None = Field(default=None, sa_type=pg_enum(VoiceEndReason, "voice_end_reason"))
    duration_ms: int | None = Field(default=None, sa_type=BigInteger)
    is_muted: bool = Field(default=False, sa_type=Boolean, sa_column_kwargs={"server_default": text("false")})
    is_deafened: bool = Field(default=False, sa_type=Boolean, sa_column_kwargs={"server_default": text("false")})
    is_streaming: bool = Field(default=False, sa_type=Boolean, sa_column_kwargs={"server_default": text("false")})
    state_at: datetime = Field(sa_type=UTCDateTimeType)
    """When the mute/deafen/stream flags last changed (the ``*_ms`` totals run up to it)."""
    muted_ms: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    deafened_ms: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    streaming_ms: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})


personal_data(
    VoiceSession,
    "One stay in a voice channel, from join to leave, and its totals.",
    retention="the trail's retention",
    user_id=Erase.DELETE,
)


class Invite(SQLModel, table=True):
    """The tracker's view of one invite: uses seen, and uses not yet matched to a join."""

    __tablename__ = "invite"
    __table_args__ = (
        CheckConstraint(f"char_length(code) BETWEEN 1 AND {INVITE_CODE_MAX_LENGTH}", name="code_length"),
        CheckConstraint("uses >= 0 AND unclaimed >= 0 AND max_uses >= 0", name="counts_not_negative"),
    )

    guild_id: Snowflake = snowflake_field(primary_key=True)
    code: str = Field(primary_key=True, sa_type=Text)
    channel_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    inviter_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    uses: int = Field(default=0, sa_type=Integer)
    unclaimed: int = Field(default=0, sa_type=Integer)
    max_uses: int = Field(default=0, sa_type=Integer)
    """0 means unlimited; an invite at ``max_uses - 1`` that vanishes was used up by a join."""
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    created_at: datetime = _at()
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


personal_data(
    Invite,
    "The guild's invites and who created them (invite tracking).",
    retention="while the invite exists on Discord, then as history",
    inviter_id=Erase.NULL,
)


class InviteTally(SQLModel, table=True):
    """Per guild: joins already reported as uncertain against uses that are still unclaimed."""

    __tablename__ = "invite_tally"
    __table_args__ = (CheckConstraint("owed >= 0", name="owed_not_negative"),)

    guild_id: Snowflake = snowflake_field(primary_key=True)
    owed: int = Field(default=0, sa_type=Integer)


class InviteUse(SQLModel, table=True):
    """The invite a member joined with, and how sure that is."""

    __tablename__ = "invite_use"
    __table_args__ = (
        Index("ix_invite_use_guild_id_joined_at", "guild_id", "joined_at"),
        Index("ix_invite_use_guild_id_code", "guild_id", "code"),
        {"postgresql_partition_by": "RANGE (joined_at)"},
    )

    __mapper_args__ = orm_identity("use_id", "joined_at")

    use_id: int | None = _event_id()
    joined_at: datetime = _at(primary_key=True)
    guild_id: Snowflake = snowflake_field(primary_key=True)
    user_id: Snowflake = snowflake_field()
    code: str | None = Field(default=None, sa_type=Text)
    """The invite, when ``confidence`` is exact; None otherwise."""
    inviter_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    confidence: InviteConfidence = Field(sa_type=pg_enum(InviteConfidence, "invite_confidence"))
    candidates: list[str] = Field(
        default_factory=list, sa_type=ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'::text[]")}
    )
    """The invites that may have been used (several when uncertain)."""


personal_data(
    InviteUse,
    "Which invite a member joined through, and whose it was.",
    retention="the trail's retention",
    user_id=Erase.DELETE,
    inviter_id=Erase.NULL,
)


# -- inputs and read models -------------------------------------------------------------------


class InviteState(BaseModel):
    """One invite as the bot sees it now (``guild.invites()``), the input of the tracker."""

    model_config = {"frozen": True}

    code: str = PydanticField(min_length=1, max_length=INVITE_CODE_MAX_LENGTH, pattern=r"^[A-Za-z0-9-]+$")
    uses: int = PydanticField(ge=0, le=2**31 - 1)
    max_uses: int = PydanticField(default=0, ge=0, le=2**31 - 1)
    channel_id: Snowflake | None = None
    inviter_id: Snowflake | None = None
    expires_at: datetime | None = None


class VoiceState(BaseModel):
    """A member's voice state as the bot sees it (``resync_voice`` takes a guild's list of them)."""

    model_config = {"frozen": True}

    user_id: Snowflake
    channel_id: Snowflake
    muted: bool = False
    deafened: bool = False
    streaming: bool = False


class InviteUseRead(SQLModel):
    model_config = READ_ONLY

    joined_at: datetime
    guild_id: Snowflake
    user_id: Snowflake
    code: str | None
    inviter_id: Snowflake | None
    confidence: InviteConfidence
    candidates: list[str]


class VoiceSessionRead(SQLModel):
    model_config = READ_ONLY

    session_id: int
    guild_id: Snowflake
    user_id: Snowflake
    channel_id: Snowflake
    started_at: datetime
    ended_at: datetime | None
    end_reason: VoiceEndReason | None
    duration_ms: int | None
    is_muted: bool
    is_deafened: bool
    is_streaming: bool
    muted_ms: int
    deafened_ms: int
    streaming_ms: int


class GuildEventRead(SQLModel):
    model_config = READ_ONLY

    event_id: int
    occurred_at: datetime
    guild_id: Snowflake
    kind: GuildEventKind
    user_id: Snowflake | None
    target_id: Snowflake | None
    executor_id: Snowflake | None
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str | None


class ReactionEventRead(SQLModel):
    model_config = READ_ONLY

    event_id: int
    occurred_at: datetime
    guild_id: Snowflake
    channel_id: Snowflake
    message_id: Snowflake
    user_id: Snowflake
    emoji: str
    is_added: bool


class RetentionPayload(BaseModel):
    """The ``events.retention`` job: how many months to create ahead of need."""

    months_ahead: int = PydanticField(default=3, ge=0, le=24)


EVENT_RETENTION = JobKind("events.retention", RetentionPayload)
"""Drops trail partitions past their retention and creates the next months (``jobs.handlers.register_maintenance``)."""
