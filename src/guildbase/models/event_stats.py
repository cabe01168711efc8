"""Daily rollups of the event trail, kept by upsert as events arrive, so that reports never scan raw rows.

Each table holds one row per UTC day and key, incremented in SQL
(``ON CONFLICT … DO UPDATE SET n = n + excluded.n``) in the same transaction
that writes the events it counts (or, for messages, in the batch that counts
them: message content is never stored, only how many). Like the command
log's rollup they carry no foreign keys: statistics outlive the guild, member
and channel they count.

- ``message_stat_daily``: messages per (guild, day, channel, member).
- ``member_stat_daily``: joins and leaves per (guild, day).
- ``voice_stat_daily``: seconds in voice per (guild, day, channel, member),
  split at UTC midnight when a session spans days.
- ``role_stat_daily``: members given and losing a role per (guild, day, role).

Coarser copies of the message and voice rollups, written by the same
statement batch in the same transaction (``controllers.event_rollups``), so
that a report reads a row per day and member or per day and channel instead
of one per day, channel and member (a hundred times fewer at 10 channels and
200 members):

- ``message_stat_user_daily`` / ``message_stat_channel_daily``: messages per
  (guild, day, member) / (guild, day, channel);
- ``voice_stat_user_daily`` / ``voice_stat_channel_daily``: voice seconds per
  (guild, day, member) / (guild, day, channel).
"""

import enum
from datetime import date

from sqlalchemy import BigInteger, CheckConstraint, Date
from sqlmodel import Field, SQLModel

from guildbase.db.types import READ_ONLY, Snowflake, snowflake_field
from guildbase.privacy.policy import anonymise, personal_data

MAX_REPORT_DAYS = 3660
MAX_TOP = 1000


def _count() -> int:
    return Field(default=0, sa_type=BigInteger)  # type: ignore[no-any-return]


class MessageStatDaily(SQLModel, table=True):
    __tablename__ = "message_stat_daily"
    __table_args__ = (CheckConstraint("messages >= 0", name="messages_not_negative"),)

    guild_id: Snowflake = snowflake_field(primary_key=True)
    day: date = Field(primary_key=True, sa_type=Date)
    channel_id: Snowflake = snowflake_field(primary_key=True)
    user_id: Snowflake = snowflake_field(primary_key=True)
    messages: int = _count()


personal_data(
    MessageStatDaily,
    "Messages per member, channel and day: the guild's activity reports.",
    retention="as long as the guild keeps its reports",
    user_id=anonymise(fold=("messages",)),
)


class MemberStatDaily(SQLModel, table=True):
    __tablename__ = "member_stat_daily"
    __table_args__ = (CheckConstraint("joins >= 0 AND leaves >= 0", name="counts_not_negative"),)

    guild_id: Snowflake = snowflake_field(primary_key=True)
    day: date = Field(primary_key=True, sa_type=Date)
    joins: int = _count()
    leaves: int = _count()


class VoiceStatDaily(SQLModel, table=True):
    __tablename__ = "voice_stat_daily"
    __table_args__ = (CheckConstraint("seconds >= 0", name="seconds_not_negative"),)

    guild_id: Snowflake = snowflake_field(primary_key=True)
    day: date = Field(primary_key=True, sa_type=Date)
    channel_id: Snowflake = snowflake_field(primary_key=True)
    user_id: Snowflake = snowflake_field(primary_key=True)
    seconds: int = _count()


personal_data(
    VoiceStatDaily,
    "Voice time per member, channel and day: the guild's activity reports.",
    retention="as long as the guild keeps its reports",
    user_id=anonymise(fold=("seconds",)),
)


class MessageStatUserDaily(SQLModel, table=True):
    __tablename__ = "message_stat_user_daily"
    __table_args__ = (CheckConstraint("messages >= 0", name="messages_not_negative"),)

    guild_id: Snowflake = snowflake_field(primary_key=True)
    day: date = Field(primary_key=True, sa_type=Date)
    user_id: Snowflake = snowflake_field(primary_key=True)
    messages: int = _count()


personal_data(
    MessageStatUserDaily,
    "Messages per member and day (message_stat_daily summed over channels): the guild's top members.",
    retention="as long as the guild keeps its reports",
    user_id=anonymise(fold=("messages",)),
)


class MessageStatChannelDaily(SQLModel, table=True):
    __tablename__ = "message_stat_channel_daily"
    __table_args__ = (CheckConstraint("messages >= 0", name="messages_not_negative"),)

    guild_id: Snowflake = snowflake_field(primary_key=True)
    day: date = Field(primary_key=True, sa_type=Date)
    channel_id: Snowflake = snowflake_field(primary_key=True)
    messages: int = _count()


class VoiceStatUserDaily(SQLModel, table=True):
    __tablename__ = "voice_stat_user_daily"
    __table_args__ = (CheckConstraint("seconds >= 0", name="seconds_not_negative"),)

    guild_id: Snowflake = snowflake_field(primary_key=True)
    day: date = Field(primary_key=True, sa_type=Date)
    user_id: Snowflake = snowflake_field(primary_key=True)
    seconds: int = _count()


personal_data(
    VoiceStatUserDaily,
    "Voice time per member and day (voice_stat_daily summed over channels): the guild's voice leaders.",
    retention="as long as the guild keeps its reports",
    user_id=anonymise(fold=("seconds",)),
)


class VoiceStatChannelDaily(SQLModel, table=True):
    __tablename__ = "voice_stat_channel_daily"
    __table_args__ = (CheckConstraint("seconds >= 0", name="seconds_not_negative"),)

    guild_id: Snowflake = snowflake_field(primary_key=True)
    day: date = Field(primary_key=True, sa_type=Date)
    channel_id: Snowflake = snowflake_field(primary_key=True)
    seconds: int = _count()


class RoleStatDaily(SQLModel, table=True):
    __tablename__ = "role_stat_daily"
    __table_args__ = (CheckConstraint("added >= 0 AND removed >= 0", name="counts_not_negative"),)

    guild_id: Snowflake = snowflake_field(primary_key=True)
    day: date = Field(primary_key=True, sa_type=Date)
    role_id: Snowflake = snowflake_field(primary_key=True)
    added: int = _count()
    removed: int = _count()


class Metric(enum.StrEnum):
    """What a report counts."""

    MESSAGES = "messages"
    VOICE_MINUTES = "voice_minutes"
    JOINS = "joins"
    LEAVES = "leaves"
    ROLES_ADDED = "roles_added"
    ROLES_REMOVED = "roles_removed"


class GroupBy(enum.StrEnum):
    """What a report's rows are: one per day (in order), or the top members, channels or roles."""

    DAY = "day"
    USER = "user"
    CHANNEL = "channel"
    ROLE = "role"


class ExportFormat(enum.StrEnum):
    """How an export is written: CSV with a header row, or one JSON object per line."""

    CSV = "csv"
    JSONL = "jsonl"


class StatRow(SQLModel):
    """One row of a report: a day or an ID, and its total (minutes for voice, rounded down)."""

    model_config = READ_ONLY

    day: date | None = None
    key: Snowflake | None = None
    value: int
