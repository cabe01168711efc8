"""``db.partitions``: the one partition manager of every time-partitioned table.

Each append-only table is range-partitioned one UTC month per partition
(``db.partitions`` the module: ``<table>_pYYYYMM``, created by the generic
``partition_ensure``). ``PARTITIONED`` names every such table with how many
whole months before the current one it keeps; a test checks it against the
catalog, so a new partitioned table cannot be left out. ``maintain`` creates
the current month and ``months_ahead`` more, and drops whole partitions past
retention (no ``DELETE``, no vacuum debt); ``now`` is a parameter, so the
policy is tested across month and year ends with the clock moved. The
``events.retention`` job runs it; ``guildbase db partitions`` lists the result.

Retention of the command log (``COMMAND_LOG_RETENTION_MONTHS``) and of the
permission check log (``PERMISSION_CHECK_RETENTION_MONTHS``) is set here: the
other tables keep their domain's constant.
"""

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from guildbase.controllers.base import Controller
from guildbase.db import partitions
from guildbase.db.validation import integer, mapping, moment, texts
from guildbase.errors import ValidationError
from guildbase.models.events import RETENTION_MONTHS as TRAIL_RETENTION_MONTHS
from guildbase.models.runtime_metrics import RETENTION_MONTHS as METRIC_RETENTION_MONTHS
from guildbase.models.security import SECURITY_RETENTION_MONTHS

__all__ = [
    "COMMAND_LOG_RETENTION_MONTHS",
    "PARTITIONED",
    "PERMISSION_CHECK_RETENTION_MONTHS",
    "PartitionChanges",
    "PartitionController",
    "PartitionRead",
]

COMMAND_LOG_RETENTION_MONTHS = 12
"""Whole months of command-log rows kept; its daily rollup (``command_stat_daily``) outlives them."""
PERMISSION_CHECK_RETENTION_MONTHS = 3
"""Whole months of permission checks kept: an audit aid for recent denials, not a history."""
MAX_MONTHS_AHEAD = 24
MAX_RETENTION_MONTHS = 120

PARTITIONED: dict[str, int] = {
    "command_log": COMMAND_LOG_RETENTION_MONTHS,
    **TRAIL_RETENTION_MONTHS,
    "security_event": SECURITY_RETENTION_MONTHS,
    "permission_check": PERMISSION_CHECK_RETENTION_MONTHS,
    "runtime_metric_sample": METRIC_RETENTION_MONTHS,
}
"""Every time-partitioned table, with the whole months it keeps before the current one."""

_LIST_SQL = """
SELECT parent.relname AS parent, child.relname AS name,
       pg_get_expr(child.relpartbound, child.oid) AS bound,
       child.reltuples::bigint AS estimated_rows, pg_total_relation_size(child.oid) AS bytes
FROM pg_inherits AS i
JOIN pg_class AS child ON child.oid = i.inhrelid
JOIN pg_class AS parent ON parent.oid = i.inhparent
WHERE parent.relname = ANY($1::text[]) AND parent.relnamespace = 'public'::regnamespace
ORDER BY parent.relname, child.relname
"""


class PartitionChanges(BaseModel):
    """What one ``maintain`` did to one table."""

    model_config = ConfigDict(frozen=True)

    created: list[str]
    dropped: list[str]


class PartitionRead(BaseModel):
    """One monthly partition: ``[starts, ends)`` in UTC."""

    model_config = ConfigDict(frozen=True)

    table: str
    name: str
    starts: date | None
    ends: date | None
    bound: str
    estimated_rows: int | None
    """The planner's estimate (``reltuples``); None before the partition was first analysed."""
    bytes: int
    retention_months: int


class PartitionController(Controller):
    """Creates partitions ahead and drops them past retention, for every table of ``PARTITIONED``."""

    async def maintain(
        self,
        *,
        now: datetime | None = None,
        months_ahead: int = 3,
        retention: Mapping[str, int] | None = None,
        tables: Sequence[str] | None = None,
    ) -> dict[str, PartitionChanges]:
        """Create ``now``'s month and ``months_ahead`` more for each table; drop months past its retention.

        ``retention`` overrides ``PARTITIONED`` per table; ``tables`` limits the
        run to some tables. One transaction: DDL is transactional in PostgreSQL.
        """
        current = partitions.month_of(moment("now", now))
        ahead = integer("months_ahead", months_ahead, minimum=0, maximum=MAX_MONTHS_AHEAD)
        keep = dict(PARTITIONED)
        for table, months in mapping("retention", retention).items():
            _known(f"retention.{table}", table)
            keep[table] = integer(f"retention.{table}", months, minimum=1, maximum=MAX_RETENTION_MONTHS)
        named = [] if tables is None else texts("tables", tables, max_length=63, min_items=1)
        chosen = list(PARTITIONED) if tables is None else [_known(f"tables.{i}", t) for i, t in enumerate(named)]
        changes: dict[str, PartitionChanges] = {}
        async with self._fast() as unit:
            for table in chosen:
                created, dropped = await partitions.maintain(
                    unit.connection, table, current, months_ahead=ahead, keep_months=keep[table]
                )
                changes[table] = PartitionChanges(created=created, dropped=dropped)
        return changes

    async def list(self, table: str | None = None) -> list[PartitionRead]:
        """Every partition of every partitioned table (or of ``table``), by table then month."""
        chosen = list(PARTITIONED) if table is None else [_known("table", table)]
        async with self._fast(transaction=False) as unit:
            rows = await unit.connection.fetch(_LIST_SQL, chosen)
        return [_read(dict(row)) for row in rows]


def _known(field: str, table: object) -> str:
    if not isinstance(table, str) or table not in PARTITIONED:
        raise ValidationError.single(field, "table", f"must be one of {', '.join(PARTITIONED)}, got {table!r}")
    return table


def _read(row: dict[str, object]) -> PartitionRead:
    name = str(row["name"])
    parent = str(row["parent"])
    suffix = name.removeprefix(f"{parent}_p")
    starts = date(int(suffix[:4]), int(suffix[4:]), 1) if len(suffix) == 6 and suffix.isdigit() else None  # noqa: PLR2004
    estimate = int(str(row["estimated_rows"]))
    return PartitionRead(
        table=parent,
        name=name,
        starts=starts,
        ends=None if starts is None else partitions.add_months(starts, 1),
        bound=str(row["bound"]),
        estimated_rows=None if estimate < 0 else estimate,
        bytes=int(str(row["bytes"])),
        retention_months=PARTITIONED[parent],
    )
