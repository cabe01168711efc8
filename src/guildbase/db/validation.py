"""Every argument check, in one place: IDs, page limits, counts, times, enums, flags and text.

Controllers call these on their arguments before any I/O, so a bad value is a
``ValidationError`` naming the argument, never a driver error after a round
trip. Each check returns the value in the exact type the controller uses next
(``int``, an aware UTC ``datetime``, the enum member …), so ``mypy`` sees what
was checked. The rules, once for the whole library:

- A snowflake is an ``int`` (never a ``bool``: ``True`` is not guild 1) or the
  decimal string Discord's API uses; see ``db.types.validate_snowflake``.
- Integers (limits, counts, numbers) are ``int`` and never ``bool``.
- Times are aware ``datetime``s, returned in UTC; naive ones are refused.
- Enums accept the member, or its value or name in any letter case.
- Text never holds a NUL character or a lone surrogate (PostgreSQL cannot
  store either); ``validate`` applies the same rule to every string it is given.
- Messages read ``<field>: must be …, got …`` and echo at most a short excerpt
  of the bad value (``errors.shown``).
"""

import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeVar

import pydantic

from guildbase.db.types import coerce_snowflake, utcnow
from guildbase.errors import ValidationError, shown

__all__ = [
    "BIGINT_MAX",
    "aware",
    "clean_text",
    "duration",
    "flag",
    "integer",
    "moment",
    "optional_aware",
    "optional_snowflake",
    "optional_text",
    "page_limit",
    "positive",
    "snowflake",
    "snowflakes",
    "text",
    "validate",
    "validate_enum",
]

M = TypeVar("M", bound=pydantic.BaseModel)
E = TypeVar("E", bound=enum.Enum)

BIGINT_MAX = 2**63 - 1
"""The largest value a PostgreSQL ``BIGINT`` holds; row numbers and IDs stay at or below it."""


def snowflake(field: str, value: object) -> int:
    """A Discord ID argument: an ``int`` (not ``bool``) or a decimal string, within snowflake range."""
    try:
        return coerce_snowflake(value)
    except ValueError as error:
        raise ValidationError.single(field, "snowflake", str(error)) from None


def optional_snowflake(field: str, value: object) -> int | None:
    """``snowflake`` for an ID that may be absent (``None``)."""
    return None if value is None else snowflake(field, value)


def snowflakes(field: str, values: object, *, max_items: int) -> list[int]:
    """A sequence of IDs (not a string, not a mapping), each checked and named ``field.<index>``."""
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise ValidationError.single(field, "list", f"must be a list of Discord IDs, got {shown(values)}")
    items = list(values)
    if len(items) > max_items:
        raise ValidationError.single(field, "max_items", f"must hold at most {max_items} IDs, got {len(items)}")
    return [snowflake(f"{field}.{index}", item) for index, item in enumerate(items)]


def integer(field: str, value: object, *, minimum: int, maximum: int) -> int:
    """An ``int`` (never ``bool``) within ``minimum``..``maximum``."""
    if type(value) is not int or not minimum <= value <= maximum:
        shown_max = "2**63-1" if maximum == BIGINT_MAX else str(maximum)
        msg = f"must be an integer from {minimum} to {shown_max}, got {shown(value)}"
        raise ValidationError.single(field, "range", msg)
    return value


def positive(field: str, value: object) -> int:
    """A positive row number (case, note, reminder, job …) that fits a ``BIGINT``."""
    return integer(field, value, minimum=1, maximum=BIGINT_MAX)


def page_limit(value: object, maximum: int, *, field: str = "limit") -> int:
    """How many rows a page or a batch may hold: an integer from 1 to ``maximum``."""
    return integer(field, value, minimum=1, maximum=maximum)


def aware(field: str, value: object) -> datetime:
    """A timezone-aware ``datetime``, converted to UTC (the only kind guildbase stores)."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        msg = f"must be a timezone-aware datetime (e.g. datetime.now(UTC)), got {shown(value)}"
        raise ValidationError.single(field, "timezone", msg)
    return value.astimezone(UTC)


def optional_aware(field: str, value: object) -> datetime | None:
    """``aware`` for a time that may be absent (``None``)."""
    return None if value is None else aware(field, value)


def moment(field: str, value: object) -> datetime:
    """The time an operation happens at: ``value`` if given (aware), else the current time."""
    return utcnow() if value is None else aware(field, value)


def duration(field: str, value: object, *, minimum: timedelta = timedelta(0)) -> timedelta:
    """A ``timedelta`` of at least ``minimum``."""
    if not isinstance(value, timedelta) or value < minimum:
        raise ValidationError.single(field, "duration", f"must be a duration of at least {minimum}, got {shown(value)}")
    return value


def flag(field: str, value: object) -> bool:
    """A real ``bool``: ``'yes'``, ``1`` or ``None`` are refused rather than guessed at."""
    if not isinstance(value, bool):
        raise ValidationError.single(field, "bool", f"must be True or False, got {shown(value)}")
    return value


@cache
def _members(enum_cls: type[enum.Enum]) -> dict[str, enum.Enum]:
    """Every spelling ``validate_enum`` accepts: each member's value and name, lower-cased."""
    lookup: dict[str, enum.Enum] = {}
    for member in enum_cls:
        lookup.setdefault(member.name.lower(), member)
        lookup.setdefault(str(member.value).lower(), member)
    return lookup


def validate_enum(field: str, enum_cls: type[E], value: object) -> E:
    """A member of ``enum_cls``: the member itself, or its value or name in any letter case."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        found = _members(enum_cls).get(value.lower())
        if found is not None:
            return found  # type: ignore[return-value]  # _members maps to enum_cls members only
    allowed = ", ".join(str(member.value) for member in enum_cls)
    raise ValidationError.single(field, "enum", f"must be one of {allowed}, got {shown(value)}")


def clean_text(field: str, value: str) -> str:
    r"""Refuse what PostgreSQL cannot store in ``text``: ``\x00`` and unpaired surrogates."""
    if "\x00" in value:
        raise ValidationError.single(field, "nul", f"must not contain NUL characters (\\x00), got {shown(value)}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            msg = f"must be valid Unicode text (no lone surrogates), got {shown(value)}"
            raise ValidationError.single(field, "unicode", msg) from None
    return value


def text(field: str, value: object, *, max_length: int, min_length: int = 0) -> str:
    """A ``str`` of ``min_length``..``max_length`` characters that PostgreSQL can store."""
    if not isinstance(value, str):
        raise ValidationError.single(field, "string", f"must be a string, got {shown(value)}")
    if not min_length <= len(value) <= max_length:
        msg = f"must be {min_length}-{max_length} characters, got {len(value)}"
        raise ValidationError.single(field, "length", msg)
    return clean_text(field, value)


def optional_text(field: str, value: object, *, max_length: int) -> str | None:
    """``text`` for a string that may be absent (``None``)."""
    return None if value is None else text(field, value, max_length=max_length)


def _scan_text(field: str, value: object) -> None:
    """Apply ``clean_text`` to every string inside ``value`` (nested mappings and lists too)."""
    if isinstance(value, str):
        clean_text(field, value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                clean_text(field, key)
            _scan_text(f"{field}.{key}", item)
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            _scan_text(f"{field}.{index}", item)


def validate(schema: type[M], data: Mapping[str, Any] | pydantic.BaseModel) -> M:
    """``schema.model_validate(data)``, with errors that name the field and the rule.

    Every string in ``data`` also passes ``clean_text`` first, so no schema can
    let a NUL character reach the database.
    """
    if isinstance(data, pydantic.BaseModel):
        data = data.model_dump(exclude_unset=True)
    elif not isinstance(data, Mapping):
        raise ValidationError.single("changes", "mapping", f"must be a mapping of field names, got {shown(data)}")
    for key, value in data.items():
        _scan_text(str(key), value)
    try:
        return schema.model_validate(data)
    except pydantic.ValidationError as error:
        raise ValidationError.from_pydantic(error) from None
