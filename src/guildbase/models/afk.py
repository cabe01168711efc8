"""AFK domain: who is away in a guild, since when, until when, and the nickname to restore.

The bot checks a message's author and every mention against this table on
each message, so the lookup is one primary-key query (``guild_id``,
``user_id = ANY(…)``); expiry sweeps use a partial index over the few rows
that have an ``until``.
"""

from datetime import datetime

import pydantic
from pydantic import ValidationInfo, field_validator
from sqlalchemy import CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTime, UTCDateTimeType, snowflake_field
from guildbase.models.core import GUILD_FK, REASON_MAX_LENGTH
from guildbase.models.jobs import JobKind
from guildbase.privacy.policy import Erase, personal_data

NICKNAME_MAX_LENGTH = 32  # Discord's limit
DEFAULT_REASON = "No reason given"
MAX_AFK_LOOKUP = 101  # an author plus Discord's 100-mention ceiling


class AFKFields(SQLModel):
    nickname: str | None = Field(default=None, min_length=1, max_length=NICKNAME_MAX_LENGTH)
    """The member's nickname before going AFK, restored when they come back."""
    reason: str = Field(default=DEFAULT_REASON, min_length=1, max_length=REASON_MAX_LENGTH)
    until: UTCDateTime | None = Field(default=None, sa_type=UTCDateTimeType)
    is_enforced: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    """Enforced AFK is not cleared by the member's own messages (a moderator set it)."""
    is_permanent: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})

    @field_validator("is_permanent")
    @classmethod
    def _permanent_has_no_end(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("until") is not None:
            msg = "a permanent AFK cannot have an end time; drop until or is_permanent"
            raise ValueError(msg)
        return value


class AFK(AFKFields, CRUDMixin, table=True):
    """One member's AFK status in one guild."""

    __tablename__ = "afk"
    __table_args__ = (
        CheckConstraint("NOT (is_permanent AND until IS NOT NULL)", name="permanent_without_until"),
        CheckConstraint("until IS NULL OR until > since", name="until_after_since"),
        # Only temporary AFKs expire, so the expiry sweep scans just those rows.
        Index("ix_afk_until", "until", postgresql_where=text("until IS NOT NULL")),
    )

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    user_id: Snowflake = snowflake_field(primary_key=True)
    since: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )


personal_data(
    AFK,
    "A member's away status, shown to whoever mentions them, and the nickname to restore.",
    retention="until the member returns or the AFK expires",
    personal={"reason": "the away message the member wrote", "nickname": "the nickname the bot must restore"},
    user_id=Erase.DELETE,
)


class AFKSet(AFKFields):
    """Input of ``db.afk.set``."""

    guild_id: Snowflake
    user_id: Snowflake
    since: UTCDateTime


class AFKRead(AFKFields):
    model_config = READ_ONLY

    guild_id: Snowflake
    user_id: Snowflake
    since: datetime


class AFKExpiryPayload(pydantic.BaseModel):
    """What a timed AFK's expiry job carries: the member and the ``until`` it ends (a later AFK differs)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    guild_id: int = pydantic.Field(gt=0, lt=2**63)
    user_id: int = pydantic.Field(gt=0, lt=2**63)
    until: UTCDateTime


AFK_EXPIRY = JobKind("afk_expiry", AFKExpiryPayload)
"""Ends a timed AFK at its ``until``."""
