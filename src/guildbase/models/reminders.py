"""Reminders domain: a message to deliver to a user at a time.

Delivery is the job runner's (``REMINDER_DELIVERY``, enqueued with the
reminder in one transaction): its lease, fence and retry budget apply, and
``attempts`` / ``last_error`` / ``sent_at`` record the outcome here. There is
no second delivery loop to keep in step with it.

``guild_id`` is optional (reminders set in DMs have none); a reminder set in
a guild disappears with it. ``channel_id`` None means "DM the user".

A DM reminder is stored under guild 0 (``db.types.GuildKeyType``: ``None`` in
Python), so the table can be distributed by ``guild_id`` (migration 0027,
``guildbase.scaleout``). There is no guild row 0, so the table has no foreign
key to ``guild``; the controllers keep what it did: ``reminders.create`` locks
the guild row (``FOR KEY SHARE``, as the key's check did) and refuses an
unknown guild naming ``guild_id``, and ``guilds.delete`` deletes the guild's
reminders in its transaction (their delivery jobs go by ``job``'s own cascade).
"""

import enum
from datetime import datetime
from typing import Annotated

import pydantic
from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, Integer, PrimaryKeyConstraint, Text, text
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import TimestampMixin
from guildbase.db.types import (
    READ_ONLY,
    Snowflake,
    UTCDateTime,
    UTCDateTimeType,
    any_case,
    optional_guild_field,
    orm_identity,
    pg_enum,
    snowflake_field,
)
from guildbase.models.jobs import JobKind
from guildbase.privacy.policy import Erase, personal_data

CONTENT_MAX_LENGTH = 2000
ERROR_MAX_LENGTH = 2000
DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 20


class ReminderStatus(enum.StrEnum):
    """Where a reminder is in its life; only ``pending`` ones are ever claimed."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ReminderFields(SQLModel):
    user_id: Snowflake = snowflake_field()
    guild_id: Snowflake | None = optional_guild_field(primary_key=True)  # the table's key: (reminder_id, guild_id)
    channel_id: Snowflake | None = snowflake_field(default=None)
    content: str = Field(min_length=1, max_length=CONTENT_MAX_LENGTH, sa_type=Text)
    remind_at: UTCDateTime = Field(sa_type=UTCDateTimeType)
    max_attempts: int = Field(
        default=DEFAULT_MAX_ATTEMPTS,
        ge=1,
        le=MAX_ATTEMPTS_LIMIT,
        sa_column_kwargs={"server_default": str(DEFAULT_MAX_ATTEMPTS)},
    )


class Reminder(ReminderFields, TimestampMixin, CRUDMixin, table=True):
    """One reminder; rows stay after delivery as the user's history."""

    __tablename__ = "reminder"
    __table_args__ = (
        CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name="attempts_within_budget"),
        Index("ix_reminder_user_id_remind_at", "user_id", "remind_at"),
        # Guild deletion deletes here (``guilds.delete``); most reminders are DMs (guild 0).
        Index("ix_reminder_guild_id", "guild_id", postgresql_where=text("guild_id <> 0")),
        PrimaryKeyConstraint("reminder_id", "guild_id"),  # the id first: it serves lookups by id
    )
    __mapper_args__ = orm_identity("reminder_id")

    reminder_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    status: Annotated[ReminderStatus, any_case(ReminderStatus)] = Field(
        default=ReminderStatus.PENDING,
        sa_type=pg_enum(ReminderStatus, "reminder_status"),
        sa_column_kwargs={"server_default": ReminderStatus.PENDING.value},
    )
    attempts: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": text("0")})
    last_error: str | None = Field(default=None, sa_type=Text)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


personal_data(
    Reminder,
    "Reminders the user set, delivered to them at the time they chose.",
    retention="pending until delivered; delivered ones stay as the user's history",
    personal={"content": "what the user asked to be reminded of"},
    # The pending delivery jobs go first: they name the reminder, not the user.
    run_first=(
        "DELETE FROM job WHERE kind = 'reminder_delivery' AND status IN ('pending', 'running') "
        "AND dedupe_key IN (SELECT reminder_id::text FROM reminder WHERE user_id = :user_id)"
    ),
    user_id=Erase.DELETE,
)


class ReminderCreate(ReminderFields):
    """Input of ``db.reminders.create``."""


class ReminderRead(ReminderFields):
    model_config = READ_ONLY

    reminder_id: int
    status: ReminderStatus
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime


class ReminderDeliveryPayload(pydantic.BaseModel):
    """What a reminder's delivery job carries."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    reminder_id: int = pydantic.Field(ge=1)


REMINDER_DELIVERY = JobKind("reminder_delivery", ReminderDeliveryPayload)
"""Delivers a pending reminder at ``remind_at``; its budget is the reminder's ``max_attempts``."""
