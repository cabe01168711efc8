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
    ├── DatabaseUnavailableError  PostgreSQL could not be reached or started
    ├── NotConnectedError         a facade was used before ``connect()`` or after ``close()``
    └── WriterClosedError         (``db.bulk``) a buffered writer was closed; rows are refused
"""

from dataclasses import dataclass

import pydantic


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
        """Translate pydantic's error list into field-named messages."""
        errors = []
        for detail in error.errors(include_url=False):
            field = ".".join(str(part) for part in detail["loc"]) or "value"
            message = detail["msg"]
            message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
            if "input" in detail and detail["type"] != "missing" and "got " not in message:
                message = f"{message}, got {detail['input']!r}"
            errors.append(FieldError(field, detail["type"], message))
        return cls(errors)

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


class SchemaNotAtHeadError(GuildbaseError):
    """The database schema is older or newer than the code expects."""


class DatabaseUnavailableError(GuildbaseError):
    """PostgreSQL could not be reached or started."""


class NotConnectedError(GuildbaseError):
    """``Database`` / ``SyncDatabase`` used before ``connect()`` (or after ``close()``)."""
