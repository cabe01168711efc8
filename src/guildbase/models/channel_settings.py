"""Channel settings (R15.4): slowmode, and lockdowns that give back exactly what they took.

Design decisions:

- One row per (guild, channel) that has a setting: ``slowmode_seconds`` as
  last set through the bot, and the lockdown, if any. A row with neither is
  deleted, so a row always says something.
- A lockdown saves the channel's permission overwrites as Discord returned
  them (``saved_overwrites``: ``[{id, type, allow, deny}]``, JSONB) before the
  bot denies ``send_messages`` to ``@everyone``; ending it writes that list
  back as the channel's whole overwrite list (``PATCH permission_overwrites``),
  so the channel ends exactly as it was, overwrites added or removed by the
  lockdown and all. Locking a locked channel keeps the first saved list: the
  locked overwrites are never saved as "previous".
- ``lock_ends_at`` schedules a ``LOCKDOWN_END`` job in the same transaction;
  the job carries ``locked_at``, so a lock ended and set again meanwhile (a
  new ``locked_at``) is not ended by the old job.
"""

from datetime import datetime
from typing import Any

import pydantic
from sqlalchemy import CheckConstraint, Integer, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTime, UTCDateTimeType, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.models.jobs import JobKind
from guildbase.privacy.policy import STAMPS, Erase, personal_data

__all__ = [
    "LOCKDOWN_END",
    "MAX_OVERWRITES",
    "MAX_SLOWMODE_SECONDS",
    "ChannelSetting",
    "ChannelSettingRead",
    "LockdownEndPayload",
    "Overwrite",
]

MAX_SLOWMODE_SECONDS = 21_600  # Discord's limit: 6 hours
MAX_OVERWRITES = 500
LOCK_REASON_MAX_LENGTH = 512
PERMISSIONS_MAX = 2**53  # Discord permission bit sets are sent as decimal strings; well below this


class Overwrite(pydantic.BaseModel):
    """One permission overwrite as Discord's API has it: a role (type 0) or member (type 1) and its bits."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    id: int = pydantic.Field(gt=0, lt=2**63)
    type: int = pydantic.Field(ge=0, le=1)
    allow: int = pydantic.Field(ge=0, lt=PERMISSIONS_MAX)
    deny: int = pydantic.Field(ge=0, lt=PERMISSIONS_MAX)

    def api(self) -> dict[str, Any]:
        """The overwrite in the form ``PATCH /channels/{id}`` takes."""
        return {"id": str(self.id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


class ChannelSetting(TimestampMixin, AuditMixin, CRUDMixin, SQLModel, table=True):
    """A channel's slowmode and lockdown state."""

    __tablename__ = "channel_setting"
    __table_args__ = (
        CheckConstraint(f"slowmode_seconds BETWEEN 0 AND {MAX_SLOWMODE_SECONDS}", name="slowmode_range"),
        CheckConstraint("(locked_at IS NULL) = (saved_overwrites IS NULL)", name="lock_saves_overwrites"),
        CheckConstraint("lock_ends_at IS NULL OR locked_at IS NOT NULL", name="lock_end_needs_lock"),
        CheckConstraint("slowmode_seconds > 0 OR locked_at IS NOT NULL", name="says_something"),
        CheckConstraint(f"char_length(lock_reason) <= {LOCK_REASON_MAX_LENGTH}", name="lock_reason_length"),
    )

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    channel_id: Snowflake = snowflake_field(primary_key=True)
    slowmode_seconds: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    locked_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    lock_ends_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    lock_reason: str | None = Field(default=None, sa_type=Text)
    saved_overwrites: list[dict[str, Any]] | None = Field(default=None, sa_type=JSONB)


class ChannelSettingRead(SQLModel):
    """A channel's settings as the controller returns them."""

    model_config = READ_ONLY

    guild_id: int
    channel_id: int
    slowmode_seconds: int
    locked_at: datetime | None
    lock_ends_at: datetime | None
    lock_reason: str | None
    saved_overwrites: list[Overwrite] | None

    @property
    def is_locked(self) -> bool:
        """Whether the channel is in a lockdown."""
        return self.locked_at is not None


class LockdownEndPayload(pydantic.BaseModel):
    """What a lockdown's end job carries: the channel and the ``locked_at`` of the lock it ends."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    guild_id: int = pydantic.Field(gt=0, lt=2**63)
    channel_id: int = pydantic.Field(gt=0, lt=2**63)
    locked_at: UTCDateTime


LOCKDOWN_END = JobKind("channel.lockdown_end", LockdownEndPayload)
"""Ends a timed lockdown at its ``lock_ends_at``: the bot writes the saved overwrites back."""


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(
    ChannelSetting,
    "Slowmode and lockdowns, with the overwrites a lockdown saved (member overwrites name members).",
    retention="until the lockdown ends",
    saved_overwrites=Erase.ANONYMISE,
    **STAMPS,
)
