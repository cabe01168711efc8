"""Turn database constraint violations into guildbase errors that name the field.

Validation catches almost everything before SQL runs; what only the database
can know (a guild that does not exist, a unique key taken by a concurrent
writer) arrives here as an ``IntegrityError`` and leaves as a
``ValidationError`` or ``ConflictError`` a person can act on.
"""

import re
from dataclasses import dataclass

from sqlalchemy import CheckConstraint
from sqlalchemy.exc import IntegrityError

from guildbase.errors import ConflictError, FieldError, GuildbaseError, ValidationError

FOREIGN_KEY_VIOLATION = "23503"
UNIQUE_VIOLATION = "23505"
CHECK_VIOLATION = "23514"
NOT_NULL_VIOLATION = "23502"

_KEY_DETAIL = re.compile(r"Key \((?P<columns>[^)]*)\)=\((?P<values>[^)]*)\)")


@dataclass(frozen=True, slots=True)
class Violation:
    """What the driver reported, whichever driver it was (asyncpg or psycopg)."""

    sqlstate: str | None
    constraint: str | None
    column: str | None
    table: str | None
    detail: str | None


def describe(error: IntegrityError) -> Violation:
    """Pull sqlstate, constraint, column and detail out of either driver's exception."""
    orig = error.orig
    cause = getattr(orig, "__cause__", None)  # asyncpg's own exception behind SQLAlchemy's adapter
    diag = getattr(orig, "diag", None)  # psycopg
    sqlstate = getattr(cause, "sqlstate", None) or getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    constraint = getattr(cause, "constraint_name", None) or getattr(diag, "constraint_name", None)
    column = getattr(cause, "column_name", None) or getattr(diag, "column_name", None)
    table = getattr(cause, "table_name", None) or getattr(diag, "table_name", None)
    detail = getattr(cause, "detail", None) or getattr(diag, "message_detail", None)
    return Violation(sqlstate, constraint, column, table, detail)


def translate(error: IntegrityError) -> GuildbaseError:
    """The guildbase error to raise instead of ``error``."""
    violation = describe(error)
    match = _KEY_DETAIL.search(violation.detail or "")
    columns = match.group("columns") if match else (violation.column or "value")
    values = match.group("values") if match else None
    names = [name.strip() for name in columns.split(",")]
    field = names[0]
    if violation.sqlstate == FOREIGN_KEY_VIOLATION:
        # A guild-scoped key (guild_id, panel_id) names a panel: the field to fix is the panel's, not the guild.
        field = next((name for name in names if name != "guild_id"), field)
        target = "guild (call db.guilds.join first)" if field == "guild_id" else "referenced row"
        return ValidationError([FieldError(field, "foreign_key", f"{values} does not exist as a {target}")])
    if violation.sqlstate == UNIQUE_VIOLATION:
        return ConflictError(f"{columns}: {values} is already taken ({violation.constraint})")
    if violation.sqlstate == CHECK_VIOLATION:
        constraint = violation.constraint or "check"
        return ValidationError(
            [FieldError(_checked_column(constraint, violation.table), "check", f"violates {constraint}")]
        )
    if violation.sqlstate == NOT_NULL_VIOLATION:
        return ValidationError([FieldError(field, "missing", "is required")])
    return ConflictError(f"the write was rejected by the database: {violation.detail or error.orig}")


def _checked_column(constraint: str, table: str | None) -> str:
    """The column a named CHECK constrains, read from the models' metadata.

    PostgreSQL reports only the constraint's name; the metadata knows its
    expression, and the first column in it is the field a person must fix.
    """
    from guildbase.models import metadata  # noqa: PLC0415 - models import db, not the other way round

    for candidate in metadata.tables.values():
        if table is not None and candidate.name != table:
            continue
        for check in candidate.constraints:
            if check.name == constraint and isinstance(check, CheckConstraint):
                sql = str(check.sqltext)
                found = {m.start(): c.name for c in candidate.columns if (m := re.search(rf"\b{c.name}\b", sql))}
                if found:
                    return found[min(found)]
    return constraint
