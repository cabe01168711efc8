"""Fixtures for the runner: a real pooled Database with fast job settings, emptied afterwards."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.engine import URL

from guildbase import Database, Settings
from guildbase.testing import truncate_all

FAST = {
    "jobs_poll_interval_seconds": 0.2,
    "jobs_lease_seconds": 5.0,
    "jobs_retry_base_seconds": 0.05,
    "jobs_retry_max_seconds": 0.2,
    "jobs_shutdown_timeout_seconds": 2.0,
}

MakeDatabase = Callable[..., Awaitable[Database]]


@pytest.fixture
async def jobs_db(settings: Settings, database_url: URL) -> AsyncIterator[MakeDatabase]:
    """``await jobs_db(**job_settings)``: a connected Database; every table is emptied afterwards."""
    opened: list[Database] = []

    async def make(**overrides: Any) -> Database:
        database = Database(settings.model_copy(update={"pool_size": 10, **FAST, **overrides}))
        opened.append(await database.connect())
        return database

    try:
        yield make
    finally:
        for database in opened:
            await database.close()
        await asyncio.to_thread(truncate_all, database_url)
