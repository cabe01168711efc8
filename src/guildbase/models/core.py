"""Core domain: guilds, their configuration and features, users, members, counters, blacklist."""

import enum
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import field_validator
from sqlalchemy import BigInteger, Identity, Index, Text, event, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, SoftDeleteMixin, TimestampMixin
from guildbase.db.session import GuildbaseSession
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTime, UTCDateTimeType, any_case, pg_enum, snowflake_field
from guildbase.errors import shown
from guildbase.privacy.policy import STAMPS, Erase, keep, personal_data

PREFIX_MAX_LENGTH = 10
MAX_EXTRA_PREFIXES = 5
WELCOME_MESSAGE_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 512
GUILD_FK = "guild.guild_id"


_LOCALE = re.compile(r"[a-z]{2}(-[A-Z]{2})?")


class Feature(enum.StrEnum):
    """Per-guild toggles; a guild without a row for a feature gets its default."""

    LEVELS = "levels"
    STARBOARD = "starboard"
    SNIPPETS = "snippets"
    AFK = "afk"
    REMINDERS = "reminders"
    TICKETS = "tickets"
    WELCOME = "welcome"
    AUTOMOD = "automod"
    LOGGING = "logging"
    BOOKMARKS = "bookmarks"
    POLLS = "polls"
    CUSTOM_COMMANDS = "custom_commands"


DEFAULT_FEATURES: dict[Feature, bool] = {
    Feature.LEVELS: True,
    Feature.STARBOARD: False,
    Feature.SNIPPETS: True,
    Feature.AFK: True,
    Feature.REMINDERS: True,
    Feature.TICKETS: False,
    Feature.WELCOME: False,
    Feature.AUTOMOD: False,
    Feature.LOGGING: True,
    Feature.BOOKMARKS: True,
    Feature.POLLS: True,
    Feature.CUSTOM_COMMANDS: True,
}


class CounterKind(enum.StrEnum):
    """Per-guild sequences (case numbers, note numbers, ticket numbers)."""

    CASE = "case"
    NOTE = "note"
    TICKET = "ticket"
    POLL = "poll"


class BlacklistTarget(enum.StrEnum):
    """What a global blacklist entry blocks: a user everywhere, or a whole guild."""

    USER = "user"
    GUILD = "guild"


def _check_prefix(value: str) -> str:
    if not 1 <= len(value) <= PREFIX_MAX_LENGTH:
        msg = f"must be 1-{PREFIX_MAX_LENGTH} characters, got {len(value)}"
        raise ValueError(msg)
    if any(character.isspace() for character in value):
        msg = "must not contain whitespace"
        raise ValueError(msg)
    return value


# -- guild --------------------------------------------------------------------
class GuildBase(SQLModel):
    guild_id: Snowflake = snowflake_field(primary_key=True)
    name: str | None = Field(default=None, max_length=100)


class Guild(GuildBase, CRUDMixin, TimestampMixin, table=True):
    """A Discord server the bot is (or was) in; every guild-scoped row hangs off it."""

    joined_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


class GuildRead(GuildBase):
    model_config = READ_ONLY

    joined_at: datetime
    left_at: datetime | None
    created_at: datetime
    updated_at: datetime


# -- guild_config ---------------------------------------------------------------
class GuildConfigFields(SQLModel):
    """Every configurable value; shared by the table and the update schema."""

    prefix: str = Field(default="$", max_length=PREFIX_MAX_LENGTH)
    extra_prefixes: list[str] = Field(
        default_factory=list, sa_type=ARRAY(Text), sa_column_kwargs={"server_default": "{}", "default": None}
    )
    locale: str = Field(default="en-US", max_length=10)
    mod_log_channel_id: Snowflake | None = snowflake_field(default=None)
    audit_log_channel_id: Snowflake | None = snowflake_field(default=None)
    join_log_channel_id: Snowflake | None = snowflake_field(default=None)
    private_log_channel_id: Snowflake | None = snowflake_field(default=None)
    report_log_channel_id: Snowflake | None = snowflake_field(default=None)
    dev_log_channel_id: Snowflake | None = snowflake_field(default=None)
    jail_channel_id: Snowflake | None = snowflake_field(default=None)
    general_channel_id: Snowflake | None = snowflake_field(default=None)
    welcome_channel_id: Snowflake | None = snowflake_field(default=None)
    welcome_message: str | None = Field(default=None, max_length=WELCOME_MESSAGE_MAX_LENGTH)
    jail_role_id: Snowflake | None = snowflake_field(default=None)
    quarantine_role_id: Snowflake | None = snowflake_field(default=None)
    base_staff_role_id: Snowflake | None = snowflake_field(default=None)
    base_member_role_id: Snowflake | None = snowflake_field(default=None)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _check_prefix(value)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if not _LOCALE.fullmatch(value):
            msg = f"must be a Discord locale such as en-US or fr, got {shown(value)}"
            raise ValueError(msg)
        return value

    @field_validator("extra_prefixes")
    @classmethod
    def _extra_prefixes(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_EXTRA_PREFIXES:
            msg = f"at most {MAX_EXTRA_PREFIXES} extra prefixes, got {len(value)}"
            raise ValueError(msg)
        if len(set(value)) != len(value):
            msg = "must not repeat a prefix"
            raise ValueError(msg)
        return [_check_prefix(prefix) for prefix in value]


class GuildConfig(GuildConfigFields, CRUDMixin, TimestampMixin, AuditMixin, table=True):
    """One row per guild, created with the guild; the bot reads it on every command."""

    __tablename__ = "guild_config"

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")


personal_data(
    GuildConfig, "Who set or last changed the guild's settings.", retention="while the guild's settings exist", **STAMPS
)


@event.listens_for(GuildbaseSession, "before_flush")
def _every_guild_has_a_config(session: Session, _context: Any, _instances: Any) -> None:
    """A guild created through the ORM (``Guild.create`` in a script) gets its config row too.

    ``db.guilds.join`` inserts both in one statement pair; this is the same
    rule for every other path, so no guild ever exists without a configuration.
    """
    configured = {row.guild_id for row in session.new if isinstance(row, GuildConfig)}
    for row in list(session.new):
        if isinstance(row, Guild) and row.guild_id not in configured:
            session.add(GuildConfig(guild_id=row.guild_id))


class GuildConfigUpdate(GuildConfigFields):
    """A partial change: only the fields that are set are written."""

    model_config = {"extra": "forbid"}


class GuildConfigRead(GuildConfigFields):
    model_config = READ_ONLY

    guild_id: Snowflake
    updated_at: datetime
    updated_by: int | None = None

    @property
    def prefixes(self) -> list[str]:
        """The primary prefix followed by the extra ones, in match order."""
        return [self.prefix, *self.extra_prefixes]


# -- guild_feature --------------------------------------------------------------
class GuildFeature(CRUDMixin, TimestampMixin, AuditMixin, table=True):
    """An explicit per-guild toggle; absent rows fall back to ``DEFAULT_FEATURES``."""

    __tablename__ = "guild_feature"

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    feature: Annotated[Feature, any_case(Feature)] = Field(
        primary_key=True, sa_type=pg_enum(Feature, "guild_feature_name")
    )
    is_enabled: bool


personal_data(GuildFeature, "Who last switched a feature on or off.", retention="while the toggle exists", **STAMPS)


# -- discord_user / member ----------------------------------------------------------
class DiscordUser(CRUDMixin, TimestampMixin, table=True):
    """A Discord account seen by the bot. Holds only the ID: names are fetched live."""

    __tablename__ = "discord_user"

    user_id: Snowflake = snowflake_field(primary_key=True)
    is_bot: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})


personal_data(
    DiscordUser,
    "The account the bot has seen: its ID and whether it is a bot, the anchor of its memberships.",
    retention="until the user is erased (a guild's deletion does not remove the account)",
    user_id=Erase.DELETE,
)


class MemberBase(SQLModel):
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    user_id: Snowflake = snowflake_field(primary_key=True, foreign_key="discord_user.user_id", ondelete="CASCADE")
    is_blacklisted: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    blacklist_reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)


class Member(MemberBase, CRUDMixin, TimestampMixin, table=True):
    """A user in a guild: the anchor for per-guild data such as levels and AFK."""

    __table_args__ = (
        # Blacklisted members are few; the bot checks "is this author blocked here" per message.
        Index("ix_member_guild_id_blacklisted", "guild_id", "user_id", postgresql_where=text("is_blacklisted")),
        Index("ix_member_user_id", "user_id"),
    )

    joined_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


personal_data(
    Member,
    "Membership of a guild: when the user joined and left, and a guild-level block with its reason.",
    retention="while the guild exists; a member who left keeps their row (left_at) until erased",
    personal={"blacklist_reason": "why staff blocked the member from the bot in this guild"},
    user_id=Erase.DELETE,
)


class MemberRead(MemberBase):
    model_config = READ_ONLY

    joined_at: datetime
    left_at: datetime | None


# -- guild_counter --------------------------------------------------------------
class GuildCounter(SQLModel, table=True):
    """The last number handed out per guild and kind; advanced in one atomic statement."""

    __tablename__ = "guild_counter"

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    kind: Annotated[CounterKind, any_case(CounterKind)] = Field(
        primary_key=True, sa_type=pg_enum(CounterKind, "guild_counter_kind")
    )
    last_value: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})


# -- global_blacklist -------------------------------------------------------------
class BlacklistEntryBase(SQLModel):
    target: Annotated[BlacklistTarget, any_case(BlacklistTarget)] = Field(
        sa_type=pg_enum(BlacklistTarget, "blacklist_target")
    )
    target_id: Snowflake = snowflake_field()
    reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)
    author_id: Snowflake | None = snowflake_field(default=None)
    expires_at: UTCDateTime | None = Field(default=None, sa_type=UTCDateTimeType)


class GlobalBlacklist(BlacklistEntryBase, CRUDMixin, TimestampMixin, SoftDeleteMixin, table=True):
    """Users or guilds the bot ignores everywhere. Removal is a soft delete: history stays."""

    __tablename__ = "global_blacklist"
    __table_args__ = (
        # Only one live entry per target; removed (soft-deleted) entries are history.
        Index(
            "uq_global_blacklist_target_live",
            "target",
            "target_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    entry_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])


personal_data(
    GlobalBlacklist,
    "Users (or guilds) the bot ignores everywhere, who blocked them and why.",
    retention="until the entry expires or is lifted; lifted entries stay as history",
    personal={"reason": "why the user was blocked"},
    target_id=keep(
        "legitimate interest in preventing abuse (GDPR Art. 6(1)(f)): erasing the entry would lift the block, "
        "and a block overrides an objection (Art. 17(1)(c), 21(1)); a guild's entry holds a guild ID"
    ),
    author_id=Erase.ANONYMISE,
    deleted_by=Erase.ANONYMISE,
)


class BlacklistEntryCreate(BlacklistEntryBase):
    pass


class BlacklistEntryRead(BlacklistEntryBase):
    """One entry; ``deleted_at`` / ``deleted_by`` say when and by whom it was lifted (None while live)."""

    model_config = READ_ONLY

    entry_id: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    deleted_by: int | None = None
