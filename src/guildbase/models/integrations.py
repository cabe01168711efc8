"""Integrations (R15.5): per-guild feeds (RSS/Atom, GitHub releases) posted to a channel or a webhook.

Two guild-leading tables:

- ``integration``: what to fetch (``source`` and ``url``), where new items go
  (a channel, a Discord webhook or any JSON webhook), how often, and the fetch
  state that makes polling cheap and repeat-free: the ETag and Last-Modified
  of the last answer (sent back as ``If-None-Match`` / ``If-Modified-Since``,
  so an unchanged feed costs a 304), the newest item seen, and the back-off
  after failures (``failure_count``, ``retry_after``, ``last_error``).
  ``webhook_url`` (its token is in it) and ``token`` (a GitHub token, for
  private repositories and a higher rate limit) must not leak: they are
  ``EncryptedText`` (MultiFernet, rotated by ``guildbase keys rotate``), and
  read models show only whether they are set.
- ``integration_item``: every item ever seen, keyed by (integration, item ID, guild).
  An item is posted only by the fetch whose ``INSERT … ON CONFLICT DO NOTHING``
  returned it, so two processes fetching the same feed at once never post an
  item twice.

A fetch runs as a recurring job (``INTEGRATION_FETCH``, one per integration,
enqueued with it); the fetcher is ``controllers/integration_fetch.py``.
"""

import enum
import re
from datetime import datetime
from typing import Annotated

import pydantic
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.encryption import EncryptedText
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, any_case, orm_identity, pg_enum, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.models.jobs import JobKind
from guildbase.privacy.policy import STAMPS, personal_data

NAME_MAX_LENGTH = 50
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
"""What a feed name may be, after lower-casing (a word a command can take)."""
URL_MAX_LENGTH = 2000
SECRET_MAX_LENGTH = 500
ERROR_MAX_LENGTH = 500
ITEM_ID_MAX_LENGTH = 500
TITLE_MAX_LENGTH = 300
MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 7 * 86_400
DEFAULT_INTERVAL_SECONDS = 900
MAX_PER_GUILD = 25
MAX_BACKOFF_SECONDS = 6 * 3600
"""Longest pause after repeated failures: a feed that is down is asked again at least this often."""


class IntegrationSource(enum.StrEnum):
    """What is fetched: a feed URL (RSS 2.0 or Atom, told apart by the parser) or a GitHub repository's releases."""

    FEED = "feed"
    GITHUB_RELEASES = "github_releases"


class IntegrationDelivery(enum.StrEnum):
    """Where new items go: a channel (the bot posts), a Discord webhook, or any webhook (a JSON POST)."""

    CHANNEL = "channel"
    DISCORD_WEBHOOK = "discord_webhook"
    WEBHOOK = "webhook"


SourceInput = Annotated[IntegrationSource, any_case(IntegrationSource)]
DeliveryInput = Annotated[IntegrationDelivery, any_case(IntegrationDelivery)]


class IntegrationFields(SQLModel):
    # Part of the table's key (integration_id, guild_id); ignored by the models that are not tables.
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH, sa_type=Text)
    source: SourceInput = Field(sa_type=pg_enum(IntegrationSource, "integration_source"))
    url: str = Field(min_length=1, max_length=URL_MAX_LENGTH, sa_type=Text)
    """The feed URL, or ``owner/repo`` for GitHub releases."""
    delivery: DeliveryInput = Field(
        default=IntegrationDelivery.CHANNEL, sa_type=pg_enum(IntegrationDelivery, "integration_delivery")
    )
    channel_id: Snowflake | None = snowflake_field(default=None)
    interval_seconds: int = Field(
        default=DEFAULT_INTERVAL_SECONDS,
        ge=MIN_INTERVAL_SECONDS,
        le=MAX_INTERVAL_SECONDS,
        sa_type=Integer,
        sa_column_kwargs={"server_default": str(DEFAULT_INTERVAL_SECONDS)},
    )
    is_enabled: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})


class Integration(IntegrationFields, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """One feed of one guild, with its fetch state."""

    __tablename__ = "integration"
    __table_args__ = (
        # guild_id in every key (co-location by guild: ``guildbase.scaleout``); the id first serves lookups by id.
        PrimaryKeyConstraint("integration_id", "guild_id"),
        CheckConstraint(
            f"interval_seconds BETWEEN {MIN_INTERVAL_SECONDS} AND {MAX_INTERVAL_SECONDS}", name="interval_range"
        ),
        CheckConstraint("name ~ '^[a-z0-9][a-z0-9_-]*$'", name="name_format"),
        CheckConstraint("(delivery = 'channel') = (channel_id IS NOT NULL)", name="channel_iff_channel_delivery"),
        CheckConstraint("(delivery = 'channel') = (webhook_url IS NULL)", name="webhook_url_iff_webhook_delivery"),
        CheckConstraint("source = 'github_releases' OR github_token IS NULL", name="github_token_only_for_github"),
        CheckConstraint("failure_count >= 0", name="failure_count_not_negative"),
        UniqueConstraint("guild_id", "name"),
    )
    __mapper_args__ = orm_identity("integration_id")

    integration_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    webhook_url: str | None = Field(default=None, max_length=SECRET_MAX_LENGTH, sa_type=EncryptedText)
    """Where a webhook delivery posts; encrypted at rest, never shown in a read model."""
    github_token: str | None = Field(default=None, max_length=SECRET_MAX_LENGTH, sa_type=EncryptedText)
    """A GitHub token for a releases source; encrypted at rest, never shown in a read model."""
    etag: str | None = Field(default=None, sa_type=Text)
    last_modified: str | None = Field(default=None, sa_type=Text)
    last_item_id: str | None = Field(default=None, sa_type=Text)
    last_fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    failure_count: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": text("0")})
    retry_after: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    last_error: str | None = Field(default=None, sa_type=Text)


class IntegrationCreate(IntegrationFields):
    """Input of ``db.integrations.create``."""

    model_config = {"extra": "forbid"}

    webhook_url: str | None = Field(default=None, min_length=1, max_length=SECRET_MAX_LENGTH)
    github_token: str | None = Field(default=None, min_length=1, max_length=SECRET_MAX_LENGTH)


class IntegrationUpdate(SQLModel):
    """What ``db.integrations.update`` may change; the source and URL are fixed (create another instead)."""

    model_config = {"extra": "forbid"}

    channel_id: Snowflake | None = None
    interval_seconds: int | None = Field(default=None, ge=MIN_INTERVAL_SECONDS, le=MAX_INTERVAL_SECONDS)
    is_enabled: bool | None = None
    webhook_url: str | None = Field(default=None, min_length=1, max_length=SECRET_MAX_LENGTH)
    github_token: str | None = Field(default=None, min_length=1, max_length=SECRET_MAX_LENGTH)


class IntegrationRead(IntegrationFields):
    """An integration as callers see it: the fetch state, never the secret."""

    model_config = READ_ONLY

    integration_id: int
    has_webhook_url: bool
    has_github_token: bool
    etag: str | None
    last_modified: str | None
    last_item_id: str | None
    last_fetched_at: datetime | None
    failure_count: int
    retry_after: datetime | None
    last_error: str | None


class IntegrationItem(SQLModel, table=True):
    """One item an integration has seen; its existence is the claim that it is (being) posted once."""

    __tablename__ = "integration_item"
    __table_args__ = (
        PrimaryKeyConstraint("integration_id", "item_id", "guild_id"),
        # Guild-leading: an item lives with its integration (and in its guild).
        ForeignKeyConstraint(
            ["guild_id", "integration_id"],
            ["integration.guild_id", "integration.integration_id"],
            ondelete="CASCADE",
        ),
        Index("ix_integration_item_guild_id", "guild_id"),
    )
    __mapper_args__ = orm_identity("integration_id", "item_id")

    integration_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    item_id: str = Field(primary_key=True, max_length=ITEM_ID_MAX_LENGTH, sa_type=Text)
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    title: str = Field(default="", sa_type=Text)
    url: str | None = Field(default=None, sa_type=Text)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    seen_at: datetime = Field(sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()")})


class FeedItem(pydantic.BaseModel):
    """One item of a fetched feed or release list, as the fetcher hands it to a delivery."""

    model_config = pydantic.ConfigDict(frozen=True)

    item_id: str
    title: str
    url: str | None = None
    published_at: datetime | None = None
    summary: str = ""


class FetchOutcome(pydantic.BaseModel):
    """What one fetch did: how the server answered and what was posted."""

    model_config = pydantic.ConfigDict(frozen=True)

    integration_id: int
    status: str
    """``posted``, ``not_modified``, ``first_fetch`` (items recorded, none posted), ``skipped`` or ``failed``."""
    posted: list[FeedItem] = []
    seen: int = 0
    error: str | None = None


class IntegrationFetchPayload(pydantic.BaseModel):
    """What an integration's recurring fetch job carries."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    guild_id: int = pydantic.Field(ge=1)
    integration_id: int = pydantic.Field(ge=1)


INTEGRATION_FETCH = JobKind("integration.fetch", IntegrationFetchPayload)
"""Fetches one integration every ``interval_seconds`` (recurring, deduplicated by the integration's ID)."""


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(Integration, "Who set up a feed.", retention="until removed", **STAMPS)

personal_data(
    IntegrationItem, "Items a feed has seen.", retention="with the feed", not_user={"integration_id": "the feed"}
)
