"""Logs domain: the command log (append-only, partitioned by month) and its daily rollup; the error log.

Design decisions:

- ``command_log`` is range-partitioned by ``created_at``, one partition per UTC
  month (``command_log_pYYYYMM``), created ahead by the SQL function
  ``command_log_ensure_partition(month)`` (migration 0006; ``db.logs.ensure_partitions``)
  and on demand by the writer when a row falls outside every partition.
  Retention drops whole partitions (``db.logs.drop_partitions_before``): no
  ``DELETE``, no vacuum debt.
- No foreign keys: rows arrive by binary COPY in batches, and a log row must
  outlive (and never block the deletion of) the guild or user it names.
- The primary key is ``(log_id, created_at)``: PostgreSQL requires the partition
  key in every unique constraint of a partitioned table.
- Reports read ``command_stat_daily``, maintained in the same transaction as each
  COPY, so "commands per day per command" over 30 days reads a few thousand
  rollup rows instead of scanning millions of log rows.
- Errors group by fingerprint (a hash of the exception type and its stack's
  file and function names, never line numbers or addresses), so one bug is one
  ``error_group`` row however often it fires. Its ``count``, first and last
  seen are kept by upsert; ``error_group_daily`` counts per day for reports;
  ``error_log`` keeps only the newest few samples of each group (bounded,
  whatever the error rate), with their context. Migration 0010.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, Identity, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.record_rows import RecordRow
from guildbase.db.types import (
    READ_ONLY,
    Snowflake,
    UTCDateTimeType,
    optional_guild_field,
    orm_identity,
    snowflake_field,
)
from guildbase.privacy.policy import Erase, anonymise, personal_data

COMMAND_MAX_LENGTH = 100
ERROR_MAX_LENGTH = 2000
MAX_DURATION_MS = 86_400_000
ALL_GUILDS = 0
"""``command_stat_daily.guild_id`` of the rows that count every guild and DMs together."""


class CommandLog(SQLModel, table=True):
    """One executed command: who, where, what, how it went and how long it took."""

    __tablename__ = "command_log"
    __table_args__ = (
        CheckConstraint(f"char_length(command) BETWEEN 1 AND {COMMAND_MAX_LENGTH}", name="command_length"),
        CheckConstraint(f"duration_ms BETWEEN 0 AND {MAX_DURATION_MS}", name="duration_ms_range"),
        # A guild's (or a user's) recent commands, newest first, inside each monthly partition.
        Index("ix_command_log_guild_id_created_at", "guild_id", "created_at"),
        Index("ix_command_log_user_id_created_at", "user_id", "created_at"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    __mapper_args__ = orm_identity("log_id", "created_at")

    log_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    created_at: datetime = Field(
        primary_key=True, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()")}
    )
    user_id: Snowflake = snowflake_field()
    guild_id: Snowflake | None = optional_guild_field(primary_key=True)
    """None for a command run in DMs (stored as guild 0, ``db.types.GuildKeyType``)."""
    channel_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    command: str = Field(sa_type=Text)
    params: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb")}
    )
    is_success: bool
    error: str | None = Field(default=None, sa_type=Text)
    duration_ms: int = Field(sa_type=Integer)


personal_data(
    CommandLog,
    "Every command run: who, where, with what arguments, and the outcome (usage statistics, abuse review).",
    retention="the command log's retention (monthly partitions dropped by the retention job)",
    personal={"params": "the command's arguments (may name other users)", "error": "the failure message"},
    user_id=Erase.DELETE,
    params=Erase.ANONYMISE,
    error=anonymise(),
)


class CommandLogDeadLetter(SQLModel, table=True):
    """A command-log row PostgreSQL refused, kept for a person to look at instead of retried forever.

    ``record_command`` validates every field, so a row lands here only when it
    reached the writer another way or broke a rule validation does not know.
    ``row`` is the row's ``ascii()`` text, storable whatever it held (NUL,
    lone surrogates); ``user_id`` is copied out when it was a valid ID so a
    privacy erase finds the row. No partitioning: it stays tiny or something
    is badly wrong.
    """

    __tablename__ = "command_log_dead_letter"

    dead_letter_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    failed_at: datetime = Field(sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()")})
    user_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    error: str = Field(sa_type=Text)
    row: str = Field(sa_type=Text)


personal_data(
    CommandLogDeadLetter,
    "Command log rows that could not be written, kept to be replayed or inspected.",
    retention="until an operator replays or clears them",
    user_id=Erase.DELETE,
    row=Erase.DELETE,
)


class CommandLogRead(SQLModel):
    model_config = READ_ONLY

    log_id: int
    created_at: datetime
    user_id: Snowflake
    guild_id: Snowflake | None
    channel_id: Snowflake | None
    command: str
    params: dict[str, Any]
    is_success: bool
    error: str | None
    duration_ms: int


class CommandStatDaily(SQLModel, table=True):
    """Uses, failures and total duration per UTC day, guild (0 = all) and command."""

    __tablename__ = "command_stat_daily"
    __table_args__ = (
        CheckConstraint("guild_id >= 0", name="guild_id_not_negative"),
        CheckConstraint("uses >= 0 AND failures >= 0 AND failures <= uses", name="counts_consistent"),
    )

    guild_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    day: date = Field(primary_key=True, sa_type=Date)
    command: str = Field(primary_key=True, sa_type=Text)
    uses: int = Field(default=0, sa_type=BigInteger)
    failures: int = Field(default=0, sa_type=BigInteger)
    duration_ms_total: int = Field(default=0, sa_type=BigInteger)


class CommandStat(RecordRow):
    """One row of a usage report: a command's uses on one day.

    A report is thousands of these (a row per day and command), so each is the decoded
    row itself (``db.record_rows``): typed attributes and ``model_dump`` like a
    read model, at no cost beyond the query.
    """

    day: date
    command: str
    uses: int
    failures: int
    average_duration_ms: float


class CommandUserStat(SQLModel):
    """One row of a per-member usage report: how often a member ran commands over a period."""

    user_id: Snowflake
    uses: int
    failures: int
    average_duration_ms: float


# -- error log ---------------------------------------------------------------------------
ERROR_TYPE_MAX_LENGTH = 200
ERROR_MESSAGE_MAX_LENGTH = 2000
TRACEBACK_MAX_LENGTH = 16_000
ERROR_ID_MAX_LENGTH = 64
FINGERPRINT_LENGTH = 32


class ErrorGroup(SQLModel, table=True):
    """One kind of error: every occurrence with the same fingerprint (type + normalised stack).

    Kept by upsert from each batch of the error writer: ``count`` and
    ``last_seen_at`` grow in SQL, so concurrent writers never lose an occurrence.
    """

    __tablename__ = "error_group"
    __table_args__ = (
        CheckConstraint(f"char_length(fingerprint) = {FINGERPRINT_LENGTH}", name="fingerprint_length"),
        CheckConstraint("count > 0", name="count_positive"),
        # The groups seen last (the dashboard's error page, newest first).
        Index("ix_error_group_last_seen_at", "last_seen_at"),
    )

    fingerprint: str = Field(primary_key=True, sa_type=Text)
    type: str = Field(sa_type=Text)
    message: str = Field(sa_type=Text)
    location: str = Field(sa_type=Text)
    first_seen_at: datetime = Field(sa_type=UTCDateTimeType)
    last_seen_at: datetime = Field(sa_type=UTCDateTimeType)
    count: int = Field(sa_type=BigInteger)


class ErrorGroupDaily(SQLModel, table=True):
    """Occurrences per group per UTC day: what "top errors over a period" sums, never the samples."""

    __tablename__ = "error_group_daily"
    __table_args__ = (CheckConstraint("count > 0", name="count_positive"),)

    fingerprint: str = Field(primary_key=True, sa_type=Text, foreign_key="error_group.fingerprint", ondelete="CASCADE")
    day: date = Field(primary_key=True, sa_type=Date)
    count: int = Field(sa_type=BigInteger)


class ErrorLog(SQLModel, table=True):
    """One sample occurrence of an error group, with its context; the newest few per group are kept.

    No foreign key to ``guild``: like the command log, an error record outlives
    (and never blocks the deletion of) the guild it happened in.
    """

    __tablename__ = "error_log"
    __table_args__ = (
        # A group's samples, newest first; also what the trim of old samples walks.
        Index("ix_error_log_fingerprint_error_log_id", "fingerprint", "error_log_id"),
        Index("ix_error_log_guild_id_created_at", "guild_id", "created_at"),
        Index("ix_error_log_command_created_at", "command", "created_at"),
    )

    error_log_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    fingerprint: str = Field(sa_type=Text, foreign_key="error_group.fingerprint", ondelete="CASCADE")
    created_at: datetime = Field(sa_type=UTCDateTimeType)
    error_id: str | None = Field(default=None, sa_type=Text)
    type: str = Field(sa_type=Text)
    message: str = Field(sa_type=Text)
    traceback: str = Field(sa_type=Text)
    process: str = Field(sa_type=Text)
    shard_id: int | None = Field(default=None, sa_type=Integer)
    guild_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    channel_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    user_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    command: str | None = Field(default=None, sa_type=Text)
    context: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb")}
    )


personal_data(
    ErrorLog,
    "Errors the bot raised, with the user whose command failed (debugging).",
    retention="the error log's retention",
    personal={"message": "the exception's message", "traceback": "the stack trace"},
    user_id=Erase.NULL,
    context=Erase.ANONYMISE,
    message=Erase.ANONYMISE,
    traceback=Erase.ANONYMISE,
)


class ErrorLogRead(SQLModel):
    """A stored sample of an error, as ``db.logs.recent_errors`` returns it."""

    model_config = READ_ONLY

    error_log_id: int
    fingerprint: str
    created_at: datetime
    error_id: str | None
    type: str
    message: str
    traceback: str
    process: str
    shard_id: int | None
    guild_id: Snowflake | None
    channel_id: Snowflake | None
    user_id: Snowflake | None
    command: str | None
    context: dict[str, Any]


class ErrorGroupStat(SQLModel):
    """One row of the top-errors report: a group and how often it happened in the period."""

    model_config = READ_ONLY

    fingerprint: str
    type: str
    message: str
    location: str
    first_seen_at: datetime
    last_seen_at: datetime
    total: int
    in_period: int
