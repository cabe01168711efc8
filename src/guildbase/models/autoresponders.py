"""Autoresponders (R15.2): a trigger, how it matches, where it applies, and what the bot answers.

Design decisions:

- One row per trigger, guild-leading (its unique key starts with ``guild_id``): a guild's
  rows are read together to compile its matcher (``matching.TriggerMatcher``),
  never one by one on the message path.
- The match type is an enum (``autoresponder_match``); a regex trigger is
  checked by RE2 before it is stored (``matching.check_regex``), so a stored
  pattern always compiles within the memory bound.
- Scope is three ``BIGINT[]`` columns (channels, required roles, exempt roles),
  empty meaning "no restriction": small, read only by the compiler.
- ``responses`` is ``TEXT[]`` (1-10, one picked at random per answer) with the
  templates ``{user}``, ``{channel}``, ``{guild}``.
- The cooldown lives in Redis (``SET NX PX``: one key per trigger and user or
  channel), never in SQL: it is written on every answer.
- ``hits`` is a counter kept by the batched ``UPDATE … FROM unnest`` of the
  controller's buffer, not by one write per message.
- A trigger is unique per guild by (match type, case, pattern): the same
  trigger twice would answer twice.
"""

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Identity,
    Integer,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, orm_identity, pg_enum, snowflake_field
from guildbase.matching.patterns import MAX_PATTERN_LENGTH
from guildbase.matching.triggers import MatchType
from guildbase.models.core import GUILD_FK
from guildbase.privacy.policy import STAMPS, personal_data

__all__ = [
    "MAX_AUTORESPONDERS",
    "MAX_COOLDOWN_SECONDS",
    "MAX_RESPONSES",
    "MAX_SCOPE_IDS",
    "RESPONSE_MAX_LENGTH",
    "Autoresponder",
    "AutoresponderRead",
    "CooldownScope",
    "MatchType",
]

MAX_AUTORESPONDERS = 1000
"""Triggers per guild; the compiled matcher of 1,000 triggers still answers in microseconds."""
MAX_RESPONSES = 10
RESPONSE_MAX_LENGTH = 2000  # a Discord message
MAX_SCOPE_IDS = 100
MAX_COOLDOWN_SECONDS = 7 * 86_400
EMPTY_ARRAY = {"server_default": "{}"}


class CooldownScope(enum.StrEnum):
    """Whom a trigger's cooldown holds back: the user who fired it, or the whole channel."""

    USER = "user"
    CHANNEL = "channel"


class Autoresponder(TimestampMixin, AuditMixin, CRUDMixin, SQLModel, table=True):
    """One trigger of a guild and its responses."""

    __tablename__ = "autoresponder"
    __table_args__ = (
        PrimaryKeyConstraint("autoresponder_id", "guild_id"),  # guild_id in every key (guildbase.scaleout)
        # Also the index a guild's triggers are read by (guild_id leads).
        UniqueConstraint("guild_id", "match_type", "is_case_sensitive", "pattern"),
        CheckConstraint(f"char_length(pattern) BETWEEN 1 AND {MAX_PATTERN_LENGTH}", name="pattern_length"),
        CheckConstraint(f"cardinality(responses) BETWEEN 1 AND {MAX_RESPONSES}", name="responses_count"),
        CheckConstraint(f"cooldown_seconds BETWEEN 0 AND {MAX_COOLDOWN_SECONDS}", name="cooldown_range"),
        CheckConstraint("hits >= 0", name="hits_not_negative"),
    )
    __mapper_args__ = orm_identity("autoresponder_id")

    autoresponder_id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()]
    )
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    pattern: str
    match_type: MatchType = Field(sa_type=pg_enum(MatchType, "autoresponder_match"))
    is_case_sensitive: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    responses: list[str] = Field(sa_type=ARRAY(Text))
    channel_ids: list[int] = Field(default_factory=list, sa_type=ARRAY(BigInteger), sa_column_kwargs=EMPTY_ARRAY)
    role_ids: list[int] = Field(default_factory=list, sa_type=ARRAY(BigInteger), sa_column_kwargs=EMPTY_ARRAY)
    exempt_role_ids: list[int] = Field(default_factory=list, sa_type=ARRAY(BigInteger), sa_column_kwargs=EMPTY_ARRAY)
    cooldown_seconds: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    cooldown_scope: CooldownScope = Field(
        default=CooldownScope.USER,
        sa_type=pg_enum(CooldownScope, "autoresponder_cooldown"),
        sa_column_kwargs={"server_default": CooldownScope.USER.value},
    )
    is_enabled: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})
    hits: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})


class AutoresponderRead(SQLModel):
    """A trigger as the controller returns it (and the cache holds it)."""

    model_config = READ_ONLY

    autoresponder_id: int
    guild_id: int
    pattern: str
    match_type: MatchType
    is_case_sensitive: bool
    responses: list[str]
    channel_ids: list[int]
    role_ids: list[int]
    exempt_role_ids: list[int]
    cooldown_seconds: int
    cooldown_scope: CooldownScope
    is_enabled: bool
    hits: int
    created_at: datetime
    updated_at: datetime
    created_by: int | None = None
    updated_by: int | None = None


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(Autoresponder, "Who set up an autoresponder.", retention="until deleted", **STAMPS)
