"""Scale-out fixtures: a real ``Database`` on the run's 3-node Redis Cluster."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import URL

from guildbase import Database, Settings
from guildbase.services.redis import create_redis
from guildbase.testing import truncate_all


@pytest.fixture
async def cluster_db(settings: Settings, database_url: URL, redis_cluster_url: str) -> AsyncIterator[Database]:
    """A pooled ``Database`` whose Redis is the cluster (emptied first); every table is emptied afterwards."""
    client = create_redis(redis_cluster_url)
    await client.flushdb()
    await client.aclose()
    database = await Database(settings.model_copy(update={"redis_url": redis_cluster_url})).connect()
    try:
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(truncate_all, database_url)
