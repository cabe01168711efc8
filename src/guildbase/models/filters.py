"""Message filters (R15.4): what a rule catches, what the bot does, and who is exempt.

Design decisions:

- One table for every kind of rule (``filter_kind``: words, regex, invites,
  domains, mentions, caps); each kind uses the columns it needs, and CHECKs
  say which: a regex rule has a ``pattern``, a word or domain rule has
  ``words``, a mentions or caps rule a ``threshold``. One table means one
  guild-leading read compiles all of a guild's rules (``matching.FilterMatcher``).
- Actions are an enum (``filter_action``): delete, warn (a WARN case through
  ``db.cases``), timeout (a TIMEOUT case for ``timeout_seconds``), log only.
- Exemptions are two ``BIGINT[]`` columns (channels, roles).
- ``allowed_guild_ids`` is the invite rule's allowlist: invites to these
  guilds (and to the guild itself) pass.
- ``hits`` is batched like the autoresponders' (one ``UPDATE … FROM unnest``).
"""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, Integer, PrimaryKeyConstraint, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, orm_identity, pg_enum, snowflake_field
from guildbase.matching.filters import FilterAction, FilterKind
from guildbase.matching.patterns import MAX_PATTERN_LENGTH
from guildbase.models.core import GUILD_FK
from guildbase.privacy.policy import STAMPS, personal_data

__all__ = [
    "MAX_FILTERS",
    "MAX_FILTER_WORDS",
    "MAX_TIMEOUT_SECONDS",
    "WORD_MAX_LENGTH",
    "FilterAction",
    "FilterKind",
    "MessageFilter",
    "MessageFilterRead",
]

MAX_FILTERS = 500
MAX_FILTER_WORDS = 500
WORD_MAX_LENGTH = 100
MAX_EXEMPT_IDS = 100
MAX_ALLOWED_GUILDS = 100
MAX_TIMEOUT_SECONDS = 28 * 86_400  # Discord's limit on a member timeout
EMPTY_ARRAY = {"server_default": "{}"}
_LISTS = "'words', 'domains'"
_COUNTED = "'mentions', 'caps'"


class MessageFilter(TimestampMixin, AuditMixin, CRUDMixin, SQLModel, table=True):
    """One filter rule of a guild."""

    __tablename__ = "message_filter"
    __table_args__ = (
        # guild_id in every key (co-location by guild: ``guildbase.scaleout``); the id first serves lookups by id.
        PrimaryKeyConstraint("filter_id", "guild_id"),
        Index("ix_message_filter_guild_id", "guild_id"),
        CheckConstraint(
            f"(kind = 'regex') = (pattern IS NOT NULL) AND char_length(pattern) <= {MAX_PATTERN_LENGTH}",
            name="pattern_for_regex",
        ),
        CheckConstraint(f"(kind IN ({_LISTS})) = (cardinality(words) > 0)", name="words_for_lists"),
        CheckConstraint(f"(kind IN ({_COUNTED})) = (threshold IS NOT NULL)", name="threshold_for_counts"),
        CheckConstraint(
            "(action = 'timeout') = (timeout_seconds IS NOT NULL)"
            f" AND timeout_seconds BETWEEN 1 AND {MAX_TIMEOUT_SECONDS}",
            name="timeout_for_timeouts",
        ),
        CheckConstraint("threshold BETWEEN 1 AND 100", name="threshold_range"),
        CheckConstraint("hits >= 0", name="hits_not_negative"),
    )
    __mapper_args__ = orm_identity("filter_id")

    filter_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    kind: FilterKind = Field(sa_type=pg_enum(FilterKind, "filter_kind"))
    action: FilterAction = Field(sa_type=pg_enum(FilterAction, "filter_action"))
    pattern: str | None = None
    is_case_sensitive: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    words: list[str] = Field(default_factory=list, sa_type=ARRAY(Text), sa_column_kwargs=EMPTY_ARRAY)
    is_allowlist: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    threshold: int | None = Field(default=None, sa_type=Integer)
    allowed_guild_ids: list[int] = Field(default_factory=list, sa_type=ARRAY(BigInteger), sa_column_kwargs=EMPTY_ARRAY)
    timeout_seconds: int | None = Field(default=None, sa_type=Integer)
    exempt_channel_ids: list[int] = Field(default_factory=list, sa_type=ARRAY(BigInteger), sa_column_kwargs=EMPTY_ARRAY)
    exempt_role_ids: list[int] = Field(default_factory=list, sa_type=ARRAY(BigInteger), sa_column_kwargs=EMPTY_ARRAY)
    is_enabled: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})
    hits: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})


class MessageFilterRead(SQLModel):
    """A filter rule as the controller returns it (and the cache holds it)."""

    model_config = READ_ONLY

    filter_id: int
    guild_id: int
    kind: FilterKind
    action: FilterAction
    pattern: str | None
    is_case_sensitive: bool
    words: list[str]
    is_allowlist: bool
    threshold: int | None
    allowed_guild_ids: list[int]
    timeout_seconds: int | None
    exempt_channel_ids: list[int]
    exempt_role_ids: list[int]
    is_enabled: bool
    hits: int
    created_at: datetime
    updated_at: datetime
    created_by: int | None = None
    updated_by: int | None = None


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(
    MessageFilter,
    "Who set up a message filter.",
    retention="until deleted",
    not_user={"allowed_guild_ids": "servers whose invites pass, not people"},
    **STAMPS,
)
