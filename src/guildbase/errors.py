"""One exception hierarchy for everything guildbase raises on purpose.

Callers catch ``GuildbaseError`` (or a subclass) and can show ``str(error)``
to a person: every message says what was wrong and what to do about it.
Driver errors never leave the library raw: constraint violations are
translated where statements run (``db.errors.translate``, ``db.fast.translating``).

The whole tree::

    GuildbaseError
    ├── ConfigurationError        a setting is missing or malformed (start-up, before any I/O)
    ├── ValidationError           input broke a rule; ``.errors`` lists each ``FieldError``
    │                             (also a ``ValueError``); raised before anything is written
    ├── NotFoundError             the thing asked for does not exist (also a ``LookupError``)
    ├── ConflictError             the write collides with existing data or a concurrent change
    ├── PermissionDeniedError     the acting user may not do this
    ├── SchemaNotAtHeadError      the schema is older or newer than the code
    ├── DatabaseUnavailableError  PostgreSQL could not be reached or started (nothing was written)
    │   ├── ConnectionLostError   the connection died mid-call; nothing was committed, safe to retry
    │   │   └── OutcomeUnknownError   it died while committing: the write may or may not be applied
    │   └── PoolExhaustedError    no connection became free within GUILDBASE_POOL_TIMEOUT; ``.pool``
    ├── NotConnectedError         a facade was used before ``connect()`` or after ``close()``
    ├── WriterClosedError         (``db.bulk``) a buffered writer was closed; rows are refused
    └── RowsLostError             (``db.bulk``) ``close`` could not write buffered rows; ``.rows`` holds them
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic_core import ErrorDetails

SHOWN_MAX = 40
"""How many characters of a bad value a message echoes (the rest becomes ``…``)."""


def shown(value: object) -> str:
    """``repr(value)`` cut to ``SHOWN_MAX`` characters, for echoing bad input in a message."""
    text = repr(value)
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule on one field, e.g. ``prefix: must be 1-10 characters, got 0``."""

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class GuildbaseError(Exception):
    """Base class of every error guildbase raises deliberately."""


class ConfigurationError(GuildbaseError):
    """A setting is missing or malformed; raised at start-up, before any I/O."""


class ValidationError(GuildbaseError, ValueError):
    """Input broke a rule; raised before anything is written."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(error) for error in errors))

    @classmethod
    def single(cls, field: str, rule: str, message: str) -> "ValidationError":
        """Build the common case of one broken rule."""
        return cls([FieldError(field, rule, message)])

    @classmethod
    def from_pydantic(cls, error: pydantic.ValidationError) -> "ValidationError":
        """Translate pydantic's error list into guildbase's ``<field>: must be …, got …`` messages."""
        return cls(
            [FieldError(_location(detail), detail["type"], pydantic_message(detail)) for detail in error.errors()]
        )

    @property
    def fields(self) -> list[str]:
        """The names of the fields that broke a rule, in order."""
        return [error.field for error in self.errors]


class NotFoundError(GuildbaseError, LookupError):
    """The thing asked for does not exist (or is hidden by a soft delete)."""


class ConflictError(GuildbaseError):
    """The write collides with existing data (a unique key, a state change race)."""


class PermissionDeniedError(GuildbaseError):
    """The acting user may not do this."""


class FeatureDisabledError(GuildbaseError):
    """A member used a feature the guild turned off (``db.guild_config.set_feature``).

    ``feature`` names the toggle (a ``Feature`` value) and ``guild_id`` the
    guild; nothing was written. Configuration and admin calls never raise it.
    """

    def __init__(self, feature: str, guild_id: int) -> None:
        self.feature = feature
        self.guild_id = guild_id
        super().__init__(
            f"feature: {feature} is turned off in guild {guild_id}; "
            f"turn it on with db.guild_config.set_feature({guild_id}, {feature!r}, enabled=True)"
        )


class PremiumRequiredError(GuildbaseError):
    """A premium feature was used without a tier that includes it (``db.premium.require``).

    ``feature`` names the feature and ``tier_id`` the lowest-ranked tier that
    includes it (None when no tier does), so the reply can say what to buy.
    """

    def __init__(self, feature: str, tier_id: str | None, tier_name: str | None = None) -> None:
        self.feature = feature
        self.tier_id = tier_id
        self.tier_name = tier_name
        needed = "no tier includes it" if tier_id is None else f"it needs the {tier_name or tier_id} tier ({tier_id})"
        super().__init__(f"feature: {feature} is a premium feature; {needed}")


class TransitionRefusedError(ConflictError):
    """A subscription status change the state machine does not allow (``models.premium.TRANSITIONS``)."""

    def __init__(self, subscription_id: int, before: str, after: str) -> None:
        self.subscription_id = subscription_id
        self.before = before
        self.after = after
        super().__init__(f"status: subscription {subscription_id} cannot go from {before} to {after}")


class SchemaNotAtHeadError(GuildbaseError):
    """The database schema is older or newer than the code expects."""


class MigrationError(GuildbaseError):
    """A migration failed; it was rolled back, so the schema stays at the last revision that succeeded."""


class DatabaseUnavailableError(GuildbaseError):
    """PostgreSQL could not be reached or started; raw driver errors never leave the library (``db.connection``)."""


class ConnectionLostError(DatabaseUnavailableError):
    """The connection died during the call; nothing it did was committed, so retrying is safe."""


class OutcomeUnknownError(ConnectionLostError):
    """The connection died while committing: the write may or may not have been applied; read it back first."""


class PoolExhaustedError(DatabaseUnavailableError):
    """No pooled connection became free in time; ``pool`` holds the pool's counts when it gave up."""

    def __init__(self, message: str, pool: dict[str, int]) -> None:
        self.pool = pool
        super().__init__(message)


class NotConnectedError(GuildbaseError):
    """``Database`` / ``SyncDatabase`` used before ``connect()`` (or after ``close()``)."""


def _location(detail: ErrorDetails) -> str:
    return ".".join(str(part) for part in detail["loc"]) or "value"


def _bounds(ctx: dict[str, Any]) -> str:
    """``at least 1`` / ``at most 10`` from pydantic's constraint context."""
    for key, words in (("ge", "at least"), ("gt", "greater than"), ("le", "at most"), ("lt", "less than")):
        if key in ctx:
            return f"{words} {ctx[key]}"
    return "in range"


def _length(detail: ErrorDetails, ctx: dict[str, Any]) -> str:
    unit = "characters" if detail["type"].startswith("string") else "items"
    bound = f"at least {ctx['min_length']}" if "min_length" in ctx else f"at most {ctx.get('max_length')}"
    given = detail.get("input")
    size = len(given) if isinstance(given, str | list | tuple | set | frozenset | dict) else shown(given)
    return f"must be {bound} {unit}, got {size}"


def _custom(detail: ErrorDetails, ctx: dict[str, Any]) -> str:
    message = str(ctx.get("error", detail["msg"]))
    return message if "got " in message else f"{message}, got {shown(detail.get('input'))}"


def _with_input(rule: str) -> Callable[[ErrorDetails, dict[str, Any]], str]:
    return lambda detail, ctx: f"must be {rule.format(**ctx)}, got {shown(detail.get('input'))}"


_BY_TYPE: dict[str, Callable[[ErrorDetails, dict[str, Any]], str]] = {
    "missing": lambda _detail, _ctx: "is required",
    "extra_forbidden": lambda detail, _ctx: f"must not be given (not a known field), got {shown(detail.get('input'))}",
    "value_error": _custom,
    "assertion_error": _custom,
    "string_too_short": _length,
    "string_too_long": _length,
    "too_short": _length,
    "too_long": _length,
    "enum": lambda detail, ctx: _with_input("one of " + str(ctx.get("expected", "")).replace("'", ""))(detail, {}),
    "literal_error": _with_input("{expected}"),
    "timezone_aware": _with_input("a timezone-aware datetime"),
    "finite_number": _with_input("a finite number"),
    "multiple_of": _with_input("a multiple of {multiple_of}"),
    **{
        kind: lambda detail, ctx: _with_input(_bounds(ctx))(detail, {})
        for kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
    },
}

_TYPES = {
    "int": "an integer",
    "float": "a number",
    "bool": "True or False",
    "string": "a string",
    "list": "a list",
    "tuple": "a tuple",
    "set": "a set",
    "dict": "a mapping",
    "datetime": "a datetime",
    "date": "a date",
    "timedelta": "a duration",
    "json": "JSON",
}


def pydantic_message(detail: ErrorDetails) -> str:
    """One pydantic error as ``must be …, got …`` (the echoed value cut by ``shown``)."""
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    kind = detail["type"]
    if kind in _BY_TYPE:
        return _BY_TYPE[kind](detail, ctx)
    base = kind.split("_")[0]
    rule = _TYPES.get(base, f"valid ({detail['msg']})")
    return f"must be {rule}, got {shown(detail.get('input'))}"
