"""Rows straight from asyncpg (``Record``s, or a ``record_class``), for the read-model tests."""

from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from guildbase.testing import libpq


async def fetch_records(database_url: URL, sql: str, record_class: type[Any] | None = None) -> list[Any]:
    """The rows of ``sql`` on a connection of its own."""
    connection = await asyncpg.connect(libpq(database_url))
    try:
        rows: list[Any] = await connection.fetch(sql, record_class=record_class)
    finally:
        await connection.close()
    return rows
