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


@pytest.fixture(scope="session")
def redis_url(redis_cluster_url: str) -> str:
    """Here the run's Redis is the cluster: ``redis_client``, ``db`` and ``pooled_db`` use it."""
    return redis_cluster_url


@pytest.fixture(scope="session")
def settings(settings: Settings, redis_cluster_url: str) -> Settings:
    """The run's settings with the cluster as Redis (the root fixture is cached with the run's single Redis)."""
    return settings.model_copy(update={"redis_url": redis_cluster_url})
