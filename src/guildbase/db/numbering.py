"""Numbered inserts: the guild's next number and the row it numbers, in ONE statement.

Case numbers, note numbers and ticket numbers are per-guild timelines that must
stay 1..N with no gap and no duplicate, across processes. ``numbered_insert``
builds, from the table's own columns, the one statement that does it::

    WITH counter AS (
        INSERT INTO guild_counter (guild_id, kind, last_value) VALUES (:guild_id, '<kind>', 1)
        ON CONFLICT (guild_id, kind) DO UPDATE SET last_value = guild_counter.last_value + 1
        RETURNING guild_counter.last_value
    )
    INSERT INTO <table> (<every column but the identity key and the number>, <number>)
    SELECT CAST(:col AS <type>), …, counter.last_value FROM counter
    RETURNING <every column>

Guarantees:

- Every column of the table is written: the column list is read from the
  table when the builder runs (import time), never typed by hand, so a column
  added to the model is in the statement the moment it exists. Only the
  identity key (the database numbers it) and the number (the counter does) are
  not bound. A column with a server default takes that default when its value
  is None (``COALESCE``), exactly as an ORM insert that leaves it unset.
- The counter row is locked only while the statement (or the caller's
  transaction) runs, and a failed insert (bad guild, CHECK) rolls the number
  back with it.
- One statement, two ways in that cannot drift: ``fetchrow`` runs it on a pool
  connection through asyncpg's prepared-statement cache (compiled once, here),
  ``execute_in`` runs the same statement object inside a caller's session.
  The unique key ``(guild_id, number)`` stays the backstop.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import (
    Column,
    ColumnElement,
    Enum,
    Insert,
    String,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import DefaultClause, Identity, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from guildbase.db.fast import DIALECT, Prepared, prepare
from guildbase.models.core import CounterKind, GuildCounter

__all__ = ["NumberedInsert", "numbered_insert"]


def _is_generated(column: Column[Any]) -> bool:
    """Whether PostgreSQL alone fills the column (identity key or computed value)."""
    return isinstance(column.identity, Identity) or column.computed is not None


def _default(column: Column[Any]) -> ColumnElement[Any] | None:
    """The column's server default as a SQL expression, or None when it has none."""
    default = column.server_default
    if not isinstance(default, DefaultClause):
        return None
    arg = default.arg
    if isinstance(arg, str):
        return cast(literal_column("'" + arg.replace("'", "''") + "'"), column.type)
    return arg  # type: ignore[return-value]  # a ClauseElement (func.now(), text(…))


def _bound(column: Column[Any]) -> ColumnElement[Any]:
    """``CAST(:name AS type)``, falling back to the server default when the value is None.

    The cast is needed: in ``INSERT … SELECT`` PostgreSQL does not infer a
    parameter's type from the target column (an enum or JSONB would arrive as
    text). Text is left uncast: it is assigned to the column as text, and a
    cast to ``VARCHAR(n)`` would cut a long value instead of rejecting it.
    """
    value: ColumnElement[Any] = bindparam(column.key, type_=column.type)
    base = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
    if not isinstance(base, String) or isinstance(base, Enum):  # a cast to VARCHAR(n) would cut silently
        value = cast(value, column.type)
    default = _default(column)
    return value if default is None else func.coalesce(value, default)


@dataclass(frozen=True)
class NumberedInsert:
    """The numbered insert of one table, built once; see the module docstring."""

    table: Table
    number: str
    columns: tuple[str, ...]
    """The columns given as parameters: every column but the identity key and the number."""
    statement: Insert
    prepared: Prepared
    _processors: dict[str, Any] = field(repr=False)

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Bind values for every column; absent ones are None (NULL, or the server default).

        Raises:
            KeyError: ``values`` names something that is not a bound column (a
                programming error: the number and identity key are never given).
        """
        unknown = sorted(set(values) - set(self.columns))
        if unknown:
            msg = f"{self.table.name}: {', '.join(unknown)} cannot be given to a numbered insert"
            raise KeyError(msg)
        return {name: values.get(name) for name in self.columns}

    def driver_args(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` converted for asyncpg with each column type's own bind processing (JSON, enums…)."""
        params = self.params(values)
        for name, process in self._processors.items():
            if params[name] is not None:
                params[name] = process(params[name])
        return params

    async def fetchrow(self, connection: asyncpg.Connection, values: Mapping[str, Any]) -> dict[str, Any]:
        """Number and insert on a driver connection (one statement, so it needs no transaction)."""
        row = await self.prepared.fetchrow(connection, self.driver_args(values))
        assert row is not None  # noqa: S101 - INSERT … SELECT FROM counter always returns the row
        return dict(row)

    async def execute_in(self, session: AsyncSession, values: Mapping[str, Any]) -> dict[str, Any]:
        """Number and insert inside the caller's transaction (the number is given back on rollback)."""
        await session.flush()
        result = await session.execute(self.statement, self.params(values))
        return dict(result.mappings().one())


def numbered_insert(model: type[SQLModel], kind: CounterKind, *, number: str = "number") -> NumberedInsert:
    """Build the numbered insert of ``model``'s table for the ``kind`` counter (call once, at import).

    The table must have ``guild_id`` and the ``number`` column; every other
    column that PostgreSQL does not generate becomes a parameter.
    """
    table: Table = model.__table__  # type: ignore[attr-defined]
    kind_type = GuildCounter.__table__.c.kind.type  # type: ignore[attr-defined]
    counter_table = GuildCounter.__table__  # type: ignore[attr-defined]
    counter = (
        pg_insert(counter_table)
        .values(
            guild_id=bindparam("guild_id", type_=table.c.guild_id.type),
            kind=cast(literal_column(f"'{kind.value}'"), kind_type),
            last_value=literal_column("1"),
        )
        .on_conflict_do_update(
            index_elements=["guild_id", "kind"], set_={"last_value": counter_table.c.last_value + literal_column("1")}
        )
        .returning(counter_table.c.last_value)
        .cte("counter")
    )
    bound = [column for column in table.c if not _is_generated(column) and column.key != number]
    source = select(*(_bound(column) for column in bound), counter.c.last_value)
    statement = (
        insert(table)
        .add_cte(counter)
        .from_select([*(column.key for column in bound), number], source)
        .returning(*table.c)
    )
    processors = {}
    for column in bound:
        process = column.type.dialect_impl(DIALECT).bind_processor(DIALECT)
        if process is not None:
            processors[column.key] = process
    return NumberedInsert(
        table=table,
        number=number,
        columns=tuple(column.key for column in bound),
        statement=statement,
        prepared=prepare(statement),
        _processors=processors,
    )
