"""Where a user ID still is: every BIGINT, BIGINT[] and JSONB column, found from the PostgreSQL catalog.

The check behind "erase leaves nothing" must not trust the policy it checks:
the columns come from ``pg_attribute`` (every ordinary and partitioned table
of the current schema; partitions are read through their parent), not from
the metadata or a hand-kept list, so a table created by a migration without a
model, or a column the policy forgot, is scanned too. Each table is read once
(one ``count(*) FILTER`` per column). Rows and columns the policy keeps are
reported apart (``kept``), so a caller sees both what erase left on purpose
and anything it should not have left (``remaining``).
"""

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.privacy.policy import ColumnShape, Erase, policy_for
from guildbase.privacy.statements import match

__all__ = ["CATALOG_COLUMNS", "Located", "locate"]

CATALOG_COLUMNS = text("""
SELECT c.relname AS table_name, a.attname AS column_name, t.typname AS type_name
FROM pg_attribute AS a
JOIN pg_class AS c ON c.oid = a.attrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_type AS t ON t.oid = a.atttypid
WHERE n.nspname = current_schema()
  AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
  AND t.typname IN ('int8', '_int8', 'jsonb')
ORDER BY c.relname, a.attnum
""")
"""Every BIGINT, BIGINT[] and JSONB column of every table, from the catalog."""

_SHAPES = {"int8": ColumnShape.BIGINT, "_int8": ColumnShape.ARRAY, "jsonb": ColumnShape.JSONB}


@dataclass(frozen=True, slots=True)
class Located:
    """Where the ID was found: ``{"table.column": rows}``, outside and inside what the policy keeps."""

    remaining: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def locate(session: AsyncSession, user_id: int) -> Located:
    """Count, per column, the rows whose BIGINT, BIGINT[] or JSONB column holds ``user_id``."""
    columns: dict[str, list[tuple[str, ColumnShape]]] = {}
    for table, column, type_name in (await session.execute(CATALOG_COLUMNS)).all():
        columns.setdefault(str(table), []).append((str(column), _SHAPES[str(type_name)]))
    located = Located()
    for table, found in columns.items():
        policy = policy_for(table)
        kept_rows = policy.keep_rows if policy is not None and policy.keep_rows else "false"
        parts = []
        for column, shape in found:
            hit = match(column, shape, ":user_id")
            parts.append(f"count(*) FILTER (WHERE ({hit}) AND NOT ({kept_rows}))")
            parts.append(f"count(*) FILTER (WHERE ({hit}) AND ({kept_rows}))")
        sql = f"SELECT {', '.join(parts)} FROM {_q(table)}"  # noqa: S608 - identifiers from the catalog
        counts = (await session.execute(text(sql), {"user_id": user_id})).one()
        for index, (column, _) in enumerate(found):
            outside, inside = int(counts[2 * index]), int(counts[2 * index + 1])
            declared = policy.column(column) if policy is not None else None
            if declared is not None and declared.erase is Erase.KEEP:
                outside, inside = 0, outside + inside
            name = f"{table}.{column}"
            if outside:
                located.remaining[name] = outside
            if inside:
                located.kept[name] = inside
    return located
