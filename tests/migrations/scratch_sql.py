"""Plain SQL on a scratch database, outside the ORM (a migration test reads what the migration left)."""

from typing import Any

import psycopg
from sqlalchemy.engine import URL

from guildbase.testing import libpq


def rows(url: URL, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run ``sql`` in autocommit; its rows, or ``[]`` for a statement that returns none."""
    with psycopg.connect(libpq(url), autocommit=True) as connection:
        cursor = connection.execute(sql, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []
