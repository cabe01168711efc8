"""Legacy databases built from the LEGACY_SCHEMA.md DDL (both versions), and a clean guildbase target per test."""

import asyncio
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from legacy_rows import build
from sqlalchemy.engine import URL

from guildbase.testing import create_database, drop_database, libpq, truncate_all


@pytest.fixture(scope="session", params=["prisma", "sqlmodel"])
def legacy_url(request: pytest.FixtureRequest, server_url: URL) -> Iterator[str]:
    """A legacy database of one version with awkward rows in every table, for the session; dropped after."""
    url = create_database(server_url, prefix="guildbase_legacy")
    try:
        with psycopg.connect(libpq(url), autocommit=True) as connection:
            build(connection, request.param)
        yield url.render_as_string(hide_password=False)
    finally:
        drop_database(url)


@pytest.fixture
async def target_url(database_url: URL) -> AsyncIterator[str]:
    """The migrated guildbase database, emptied after the test (the importer commits for real)."""
    yield database_url.render_as_string(hide_password=False)
    await asyncio.to_thread(truncate_all, database_url)
