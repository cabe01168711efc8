"""Monthly range partitions for append-only tables: the SQL functions, and the Python side that calls them.

Every time-partitioned table of guildbase (the event trail of migration 0013,
the command log of 0006, security events, permission checks, runtime
metrics; ``db.partitions`` lists them all) is partitioned one UTC month
per partition, named ``<table>_pYYYYMM``. Two generic SQL functions, created
once by migration 0013, serve every such table, so a new partitioned table
needs no functions of its own (its migration only creates its first months):

- ``partition_ensure(parent regclass, month date) → text`` creates the month's
  partition if missing; idempotent and safe to race (two processes creating
  the same month both succeed);
- ``partition_drop_before(parent regclass, cutoff date) → text[]`` drops every
  partition that ends on or before ``cutoff`` (retention: whole partitions go,
  never rows, so there is no ``DELETE`` and no vacuum debt).

``copy_into`` is the write path: one binary ``COPY`` of a batch; a row in a
month that has no partition yet makes it create the missing months and retry
once, so a late or early row is never lost for want of a partition.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from guildbase.db.fast import translating

__all__ = [
    "add_months",
    "copy_into",
    "drop_before",
    "ensure_months",
    "is_missing_partition",
    "maintain",
    "month_of",
    "partitions_of",
]

_CHECK_VIOLATION = "23514"
_PARTITIONS_SQL = (
    "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = $1::regclass ORDER BY c.relname"
)


def add_months(month: date, offset: int) -> date:
    """The first day of the month ``offset`` months from ``month``'s (negative goes back)."""
    index = month.year * 12 + month.month - 1 + offset
    return date(index // 12, index % 12 + 1, 1)


def month_of(moment: datetime) -> date:
    """The first day of ``moment``'s UTC month: the partition it belongs to."""
    return moment.astimezone(UTC).date().replace(day=1)


def is_missing_partition(error: BaseException) -> bool:
    """Whether ``error`` is PostgreSQL refusing a row that no partition accepts."""
    return getattr(error, "sqlstate", None) == _CHECK_VIOLATION and "no partition" in str(error)


async def ensure_months(connection: asyncpg.Connection, table: str, months: Sequence[date]) -> list[str]:
    """Create the partitions of ``table`` for ``months`` (first days); returns their names."""
    return [await connection.fetchval("SELECT partition_ensure($1::regclass, $2)", table, m) for m in months]


async def drop_before(connection: asyncpg.Connection, table: str, cutoff: date) -> list[str]:
    """Drop every partition of ``table`` that ends on or before ``cutoff``; returns their names."""
    return list(await connection.fetchval("SELECT partition_drop_before($1::regclass, $2)", table, cutoff) or [])


async def partitions_of(connection: asyncpg.Connection, table: str) -> list[str]:
    """The partitions of ``table``, oldest first."""
    return [row["relname"] for row in await connection.fetch(_PARTITIONS_SQL, table)]


async def maintain(
    connection: asyncpg.Connection, table: str, current: date, *, months_ahead: int, keep_months: int
) -> tuple[list[str], list[str]]:
    """Create ``current``'s month and ``months_ahead`` more; drop months ending ``keep_months`` before it.

    The one policy of every time-partitioned table (``db.partitions.maintain``
    and each domain's ``maintain_partitions`` call it): returns the partitions
    created now (those that already existed are not listed) and dropped.
    """
    months = [add_months(current, offset) for offset in range(months_ahead + 1)]
    before = set(await partitions_of(connection, table))
    ensured = await ensure_months(connection, table, months)
    dropped = await drop_before(connection, table, add_months(current, -keep_months))
    return [name for name in ensured if name not in before], dropped


Connect = Callable[[], Any]
"""Opens a unit on the driver path (``Controller._fast``): an async context manager yielding ``DriverUnit``."""
AlsoRun = Callable[[asyncpg.Connection], Awaitable[None]]


async def copy_into(
    connect: Connect,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    time_index: int = 0,
    also: AlsoRun | None = None,
) -> None:
    """Binary ``COPY`` of ``rows`` into ``table`` (and ``also(connection)``) in one transaction.

    A row outside every partition creates the missing months (from the row's
    ``time_index`` column), then the batch is retried once; the failed attempt
    rolled back, so nothing is written twice.
    """

    async def attempt() -> None:
        async with connect() as unit:
            await unit.connection.copy_records_to_table(table, records=rows, columns=list(columns))
            if also is not None:
                await also(unit.connection)

    try:
        await attempt()
    except asyncpg.PostgresError as error:
        if not is_missing_partition(error):
            with translating():
                raise
        async with connect() as unit:
            await ensure_months(unit.connection, table, sorted({month_of(row[time_index]) for row in rows}))
        await attempt()
