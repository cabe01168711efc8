"""Hot-path SQL on the pool's own asyncpg connections, compiled once, prepared per connection.

A message or a command runs a handful of statements; at that rate the client's
CPU (ORM unit of work, statement compilation, result processing) costs more
than PostgreSQL does. The per-message paths therefore keep their SQL as
SQLAlchemy statements (one source of truth, reviewable, EXPLAIN-able by the
tests), compile each one ONCE for asyncpg's ``$n`` placeholders, and run it on
the driver connection checked out from the same SQLAlchemy pool, where
asyncpg's statement cache keeps it prepared. Connections, pool limits and
settings (``statement_timeout``, ``timezone``, PgBouncer mode) are the
engine's: nothing here opens a second pool.

Only types asyncpg encodes natively may be bound (ints, str, float, bool,
datetime, date, lists of those, JSON as ``str``); the result is plain
``asyncpg.Record`` rows, which the controllers turn into read models.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from guildbase.db.errors import translate
from guildbase.errors import GuildbaseError

DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
"""The dialect every prepared statement is compiled for (bind processing must use the same one)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A statement compiled for asyncpg: its SQL text and the parameter names in ``$n`` order."""

    sql: str
    names: tuple[str, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """Positional arguments for ``sql`` from named ``params``."""
        return [params[name] for name in self.names]

    async def fetch(
        self, connection: asyncpg.Connection, params: Mapping[str, Any], *, record_class: type[Any] | None = None
    ) -> list[Any]:
        """All rows (as ``record_class``, a ``db.record_rows.RecordRow``, if given); errors as ``translating``."""
        with translating():
            return await connection.fetch(self.sql, *self.args(params), record_class=record_class)  # type: ignore[no-any-return]

    async def fetchrow(self, connection: asyncpg.Connection, params: Mapping[str, Any]) -> asyncpg.Record | None:
        """The first row, or None; a constraint violation leaves as the guildbase error naming the column."""
        with translating():
            return await connection.fetchrow(self.sql, *self.args(params))


def prepare(statement: ClauseElement) -> Prepared:
    """Compile ``statement`` once for asyncpg (module import time, never per call)."""
    compiled = statement.compile(dialect=DIALECT)
    assert isinstance(compiled, SQLCompiler)  # noqa: S101 - statements compile with SQLCompiler
    names = tuple(compiled.positiontup or ())
    return Prepared(compiled.string, names)


def driver_error(error: asyncpg.PostgresError) -> GuildbaseError | asyncpg.PostgresError:
    """The guildbase error for a constraint violation raised by asyncpg directly.

    Same translation as the ORM path (``db.errors.translate``), so a bad guild ID
    names ``guild_id`` whichever path wrote it. Anything else is returned as is.
    """
    if not isinstance(error, asyncpg.IntegrityConstraintViolationError):
        return error
    wrapper = Exception(str(error))
    wrapper.__cause__ = error
    return translate(IntegrityError("", {}, wrapper))


@contextmanager
def translating() -> Iterator[None]:
    """Re-raise a constraint violation from asyncpg as the guildbase error naming the column."""
    try:
        yield
    except asyncpg.PostgresError as error:
        translated = driver_error(error)
        if translated is error:
            raise
        raise translated from error
