"""Rows as the JSON of an export: Discord IDs as strings, times as ISO 8601, JSONB as itself.

JavaScript (and so most JSON readers) loses precision above 2**53: every
Discord ID, alone or in an array, is written as a string. Which columns are
IDs comes from the metadata (snowflake columns, and ``BIGINT`` columns named
``…_id`` / ``…_by``), the same rule ``policy.user_id_columns`` uses.
"""

import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table

from guildbase.db.types import NO_GUILD, GuildKeyType, SnowflakeType
from guildbase.privacy.policy import ColumnShape, shape_of

__all__ = ["RowWriter"]

_ID_NAME = re.compile(r".*_(id|by)$")


def _plain(value: Any) -> Any:
    """A value of no special column: times as ISO 8601, durations in seconds, decimals as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    return value


class RowWriter:
    """Turns one table's rows (asyncpg records as mappings) into JSON text."""

    def __init__(self, table: Table) -> None:
        self.ids: set[str] = set()
        self.arrays: set[str] = set()
        self.json: set[str] = set()
        self.no_guild = {column.name for column in table.columns if isinstance(column.type, GuildKeyType)}
        """Columns where 0 means no guild (``GuildKeyType``): exported as null, as the API says ``None``."""
        for column in table.columns:
            shape = shape_of(column)
            if shape is ColumnShape.JSONB:
                self.json.add(column.name)
            elif shape is ColumnShape.ARRAY:
                self.arrays.add(column.name)
            elif shape is ColumnShape.BIGINT and (
                isinstance(column.type, SnowflakeType) or _ID_NAME.match(column.name)
            ):
                self.ids.add(column.name)

    def value(self, name: str, value: Any) -> Any:
        """One column's value as JSON data."""
        if value is None or (value == NO_GUILD and name in self.no_guild):
            return None
        if name in self.ids:
            return str(value)
        if name in self.arrays:
            return [str(item) for item in value]
        if name in self.json:
            return json.loads(value) if isinstance(value, str) else value
        return _plain(value)

    def render(self, row: Mapping[str, Any]) -> str:
        """One row as a JSON object."""
        data = {name: self.value(name, value) for name, value in row.items()}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
