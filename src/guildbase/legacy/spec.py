"""What every legacy table's import provides to the runner, and the staging helper the writers share.

A ``TableSpec`` names its legacy table, the key the runner pages by and
checkpoints, the query that reads it (a read-only ``SELECT``), how one row
maps into a ``Batch`` and how a batch is written. Writes go through a
temporary staging table filled by binary ``COPY`` and one
``INSERT … SELECT … ON CONFLICT DO NOTHING`` per target, so a batch costs a
few statements whatever its size, and writing a row twice writes it once.
Cases, the bulk of a legacy database, are COPYed straight into ``mod_case``
when none of them is there yet (``ImportContext.direct``).
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import asyncpg

from guildbase.legacy.batch import Batch
from guildbase.legacy.detect import LegacySource

__all__ = ["ImportContext", "TableSpec", "stage"]


@dataclass
class ImportContext:
    """What the mappers share for one run: the source, each guild's level curve, how cases are written.

    ``direct``: a batch of cases is first COPYed straight into ``mod_case`` (in
    a savepoint); only if that hits a case guildbase already has is it undone
    and written the checked way (staging, ``ON CONFLICT DO NOTHING``), and the
    batch's guilds (``conflicted``) take the checked way for the rest of the
    run. Both ways write the same rows; ``direct=False`` always checks.
    """

    source: LegacySource
    curves: dict[int, str] = field(default_factory=dict)
    direct: bool = True
    conflicted: set[int] = field(default_factory=set)


class TableSpec(ABC):
    """One legacy table (or a table and its companion, read together) and its mapping into guildbase."""

    name: ClassVar[str]
    reports: ClassVar[tuple[str, ...]]
    keys: ClassVar[tuple[str, ...]]
    group: ClassVar[int] = 0
    """How many leading key columns a batch never splits (a guild's snippets resolve together)."""
    not_kept: ClassVar[dict[str, str]] = {}
    """Legacy columns guildbase does not store, with the reason (listed in the report)."""

    def available(self, source: LegacySource) -> bool:
        return self.name in source.tables

    @abstractmethod
    def query(self, source: LegacySource) -> str:
        """The SELECT that reads this table from ``source``, ordered by ``keys`` (checkpoints resume on them)."""

    @abstractmethod
    def map(self, row: asyncpg.Record, batch: Batch, context: ImportContext) -> None:
        """Turn one legacy row into the batch's rows, or record in the batch why it was not kept."""

    @abstractmethod
    async def write(self, connection: asyncpg.Connection, batch: Batch, context: ImportContext) -> None:
        """Write the batch's rows (COPY into staging, then one INSERT … ON CONFLICT DO NOTHING per table)."""

    def finish(self, batch: Batch, context: ImportContext) -> None:
        """Called once per batch after every row was mapped (snippets resolve their namespace here)."""
        del batch, context  # most tables have nothing to resolve across their rows


async def stage(
    connection: asyncpg.Connection, name: str, columns: Sequence[tuple[str, str]], records: list[tuple[Any, ...]]
) -> None:
    """Fill the temporary table ``name`` (created on first use, emptied at commit) with ``records`` by COPY."""
    ddl = ", ".join(f"{column} {kind}" for column, kind in columns)
    await connection.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({ddl}) ON COMMIT DELETE ROWS")
    await connection.copy_records_to_table(name, records=records, columns=[column for column, _ in columns])
