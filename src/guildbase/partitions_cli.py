"""``guildbase db partitions``: the monthly partitions of every time-partitioned table, as a Rich table."""

from rich.table import Table

from guildbase.cli_support import console
from guildbase.config import Settings
from guildbase.controllers.partitions import PartitionRead
from guildbase.database import Database

__all__ = ["partition_table", "show_partitions"]


def partition_table(rows: list[PartitionRead]) -> Table:
    """One row per partition: its table, name, UTC month range, size and the table's retention."""
    table = Table(title="Time-partitioned tables (one UTC month per partition)")
    for column in ("table", "partition", "from", "to", "rows (est.)", "size", "keeps"):
        table.add_column(column, justify="right" if column in {"rows (est.)", "size"} else "left")
    for row in rows:
        table.add_row(
            row.table,
            row.name,
            str(row.starts) if row.starts else row.bound,
            str(row.ends) if row.ends else "",
            "?" if row.estimated_rows is None else f"{row.estimated_rows:,}",
            f"{row.bytes / 1024:,.0f} KiB",
            f"{row.retention_months} months",
        )
    return table


async def show_partitions(settings: Settings, table: str | None) -> None:
    """Connect, list (``db.partitions.list``) and print."""
    async with Database(settings) as db:
        rows = await db.partitions.list(table)
    console.print(partition_table(rows))
