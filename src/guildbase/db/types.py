"""Column and field types shared by every model: snowflakes and UTC time.

Each type is checked twice on purpose: in Python (pydantic, so a bad value is
rejected before any write with a message naming the field) and in PostgreSQL
(a named CHECK, so no other writer can store one either).
"""

import enum
import time
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, PlainValidator
from sqlalchemy import BigInteger, CheckConstraint, Column, Table, event, text
from sqlalchemy.sql.elements import conv
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field
from sqlmodel._compat import SQLModelConfig
from sqlmodel.sql.sqltypes import UTCDateTime as UTCDateTimeType

from guildbase.errors import shown

__all__ = [
    "DISCORD_EPOCH_MS",
    "DURATION_UNITS",
    "NO_GUILD",
    "READ_ONLY",
    "GuildKeyType",
    "Snowflake",
    "SnowflakeType",
    "UTCDateTime",
    "UTCDateTimeType",
    "any_case",
    "cached_snowflake_ceiling",
    "coerce_snowflake",
    "enum_spellings",
    "format_duration",
    "make_snowflake",
    "optional_guild_field",
    "orm_identity",
    "snowflake_ceiling",
    "snowflake_field",
    "snowflake_time",
    "utcnow",
    "validate_snowflake",
]

DISCORD_EPOCH_MS = 1_420_070_400_000
"""2015-01-01T00:00:00Z, the zero point of Discord snowflake timestamps."""

READ_ONLY = SQLModelConfig(frozen=True)
"""The ``model_config`` of every ``…Read`` model: what a controller returns (and a cache shares) cannot be changed."""

_MAX_SNOWFLAKE = 2**63 - 1
_MAX_FUTURE_MS = 366 * 24 * 3600 * 1000


DURATION_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
"""The units a duration is written in (``1w 2d``, ``1h30m``), largest first, in seconds."""


def format_duration(delta: timedelta) -> str:
    """``timedelta(hours=1, minutes=30)`` → ``"1h 30m"`` (the largest units, no zero parts).

    Shared by the bot's replies and the data layer's automatic case reasons, so a
    duration reads the same wherever it is shown.
    """
    remaining = int(delta.total_seconds())
    parts = []
    for unit, size in DURATION_UNITS.items():
        amount, remaining = divmod(remaining, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts) or "0s"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the only kind guildbase stores)."""
    return datetime.now(UTC)


def snowflake_time(snowflake: int) -> datetime:
    """When Discord created the object behind ``snowflake``."""
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


def validate_snowflake(value: int) -> int:
    """Reject anything Discord could not have issued.

    A snowflake is a positive 63-bit integer whose top 42 bits are milliseconds
    since the Discord epoch; a timestamp far in the future means the number is
    not a real ID (often a row number or a typo).
    """
    if type(value) is not int:
        msg = f"must be a Discord snowflake (a positive integer), got {shown(value)}"
        raise ValueError(msg)
    if not 0 < value <= _MAX_SNOWFLAKE:
        msg = f"must be a Discord snowflake between 1 and 2**63-1, got {shown(value)}"
        raise ValueError(msg)
    if (value >> 22) + DISCORD_EPOCH_MS > time.time() * 1000 + _MAX_FUTURE_MS:  # time.time(): cheapest clock read
        msg = f"must be a Discord snowflake (its timestamp is after next year), got {value}"
        raise ValueError(msg)
    return value


def snowflake_ceiling() -> int:
    """One above the largest snowflake ``validate_snowflake`` accepts now: an ``int`` passes iff ``0 < v < ceiling``.

    The hot paths (``db.events``) check a whole event's IDs inline with it
    (``type(v) is int and 0 < v < ceiling``), one clock read for all of them;
    anything else goes through ``validate_snowflake``, which gives the message.
    Exact: ``(v >> 22) + epoch <= t`` holds iff ``(v >> 22) <= floor(t) - epoch``.
    """
    latest = int(time.time() * 1000 + _MAX_FUTURE_MS) - DISCORD_EPOCH_MS  # the largest timestamp part allowed
    return min((latest + 1) << 22, _MAX_SNOWFLAKE + 1)


def cached_snowflake_ceiling() -> int:
    """``snowflake_ceiling`` a day lower: a value to keep and reuse, never above the exact one.

    The exact ceiling only grows with the clock, so one taken now and kept is
    stricter later, never looser (the day covers a clock set back by hours).
    A hot path that keeps it sends an ID above it through the full check,
    which accepts it if it is valid; keeping it costs nothing but that.
    """
    return snowflake_ceiling() - (86_400_000 << 22)


def coerce_snowflake(value: object) -> int:
    r"""A Discord ID from an ``int`` or the string form JSON and Discord's API use, validated.

    Only ASCII digits are taken from a string: pydantic's lax int parsing would
    also take ``" 12"``, ``"1\x85"`` (a trailing Unicode space) or ``"1_0"``; an
    ID with stray characters is a bug upstream, so it is refused instead of
    silently cleaned. ``bool`` and ``float`` are refused too (``True`` is not
    guild 1). The one rule for IDs, used by the ``Snowflake`` field type and by
    ``db.validation.snowflake`` alike.
    """
    if type(value) is int:
        return validate_snowflake(value)
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            msg = f"must be a Discord snowflake written as decimal digits, got {shown(value)}"
            raise ValueError(msg)
        return validate_snowflake(int(value))
    msg = f"must be a Discord snowflake (a positive integer), got {shown(value)}"
    raise ValueError(msg)


@cache
def enum_spellings(enum_cls: type[enum.Enum]) -> dict[str, enum.Enum]:
    """Every spelling of ``enum_cls``'s members guildbase accepts: value and name, lower-cased.

    The one enum rule, shared by ``db.validation.validate_enum`` (arguments)
    and ``any_case`` (schema fields).
    """
    lookup: dict[str, enum.Enum] = {}
    for member in enum_cls:
        lookup.setdefault(member.name.lower(), member)
        lookup.setdefault(str(member.value).lower(), member)
    return lookup


def any_case(enum_cls: type[enum.Enum]) -> BeforeValidator:
    """A schema field's validator applying the one enum rule: a member, or its value or name in any case."""

    def convert(value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, enum_cls):
            return enum_spellings(enum_cls).get(value.lower(), value)
        return value

    return BeforeValidator(convert)


def _ensure_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = "must be timezone-aware (use datetime.now(UTC)); naive datetimes are ambiguous"
        raise ValueError(msg)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 at +05:00, year 9999 at -05:00: no such time in UTC
        msg = "must be a time that exists in UTC (years 1-9999 after applying the offset)"
        raise ValueError(msg) from None


Snowflake = Annotated[
    int,
    PlainValidator(coerce_snowflake, json_schema_input_type=int | str),
    PlainSerializer(str, return_type=str, when_used="json"),
]
"""A Discord ID: validated in Python, serialized to JSON as a string (JS loses precision)."""

UTCDateTime = Annotated[datetime, AfterValidator(_ensure_utc)]
"""An aware datetime, normalized to UTC; naive values are rejected."""


class SnowflakeType(TypeDecorator[int]):
    """BIGINT that also gets a ``CHECK (col > 0)`` on every table using it."""

    impl = BigInteger
    cache_ok = True

    def __repr__(self) -> str:
        return "BigInteger()"


NO_GUILD = 0
"""The ``guild_id`` stored for a row of no guild (a DM, a bot-wide change): guild 0, a shard of its own."""


class GuildKeyType(SnowflakeType):
    """The ``guild_id`` of a table whose rows may belong to no guild: NOT NULL, ``None`` stored as 0.

    A table distributed by ``guild_id`` needs it on every row (``guildbase.scaleout``),
    so the rows of no guild are stored under guild 0 (``NO_GUILD``, a shard of its
    own) while Python keeps meaning ``None``: a bound ``None`` becomes 0 and a
    stored 0 is read back as ``None``. Statements that bypass the type (raw SQL,
    ``COPY``) map it themselves (``NULLIF(guild_id, 0)``). Its check is
    ``CHECK (col >= 0)``, named ``ck_<table>_<column>_not_negative``.
    """

    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Any) -> int:  # noqa: ARG002 - the TypeDecorator hook
        return NO_GUILD if value is None else value

    def process_result_value(self, value: int | None, dialect: Any) -> int | None:  # noqa: ARG002
        return None if value == NO_GUILD else value


def optional_guild_field(**kwargs: Any) -> Any:
    """A SQLModel ``Field`` for the ``guild_id`` of a row that may have no guild (``GuildKeyType``, default 0)."""
    column = {"server_default": text("0"), "autoincrement": False}
    return Field(default=None, sa_type=GuildKeyType, nullable=False, sa_column_kwargs=column, **kwargs)


def orm_identity(*attributes: str) -> Any:
    """``__mapper_args__`` keeping a model's ORM identity when its primary key gained ``guild_id``.

    A table distributed by guild has ``guild_id`` in its primary key
    (``guildbase.scaleout``); the ORM keeps identifying a row by what was unique
    before (its identity column, with the partition key of a partitioned table),
    so ``session.get(Model, id)`` and the identity map work as they did.
    """
    return {"primary_key": list(attributes)}


def snowflake_field(**kwargs: Any) -> Any:
    """A SQLModel ``Field`` stored as a positive BIGINT snowflake (never auto-incremented)."""
    if kwargs.get("primary_key"):
        kwargs["sa_column_kwargs"] = {"autoincrement": False, **kwargs.get("sa_column_kwargs", {})}
    return Field(sa_type=SnowflakeType, **kwargs)


@event.listens_for(Column, "after_parent_attach")
def _add_snowflake_check(column: Column[Any], table: Any) -> None:
    """Give every snowflake column its named ``ck_<table>_<column>_positive`` check (``_not_negative``: guild 0)."""
    if not isinstance(table, Table) or not isinstance(column.type, SnowflakeType):
        return
    shard_key = isinstance(column.type, GuildKeyType)
    name = f"ck_{table.name}_{column.name}_{'not_negative' if shard_key else 'positive'}"
    if any(constraint.name == name for constraint in table.constraints):
        return  # declarative attaches copied mixin columns more than once
    table.append_constraint(CheckConstraint(column >= 0 if shard_key else column > 0, name=conv(name)))


def pg_enum(enum_cls: type[Any], name: str) -> Any:
    """A native PostgreSQL enum whose labels are the members' *values*.

    guildbase stores values (``"active"``, ``"BAN"``), never Python member
    names, so renaming a Python member does not change stored data.
    alembic-postgresql-enum tracks these types in migrations.
    """
    from sqlalchemy import Enum  # noqa: PLC0415 - keep the module's import surface small

    return Enum(enum_cls, name=name, values_callable=lambda members: [member.value for member in members])


def make_snowflake(when: datetime, sequence: int = 0) -> int:
    """A syntactically valid snowflake for ``when`` (seeding, tests, legacy imports)."""
    millis = int(when.timestamp() * 1000) - DISCORD_EPOCH_MS
    return (millis << 22) | (sequence & 0x3FFFFF)
