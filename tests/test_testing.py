"""The test helpers themselves: they decide what every other test runs against."""

import os
from datetime import UTC, datetime, timedelta

import pytest
import redis
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from guildbase import Database, Settings
from guildbase.db.engine import create_async
from guildbase.db.types import make_snowflake
from guildbase.testing import LEASE_REGISTRY_DB, leased_redis_db


def test_concurrent_runs_lease_different_redis_dbs_and_give_them_back(redis_url: str | None) -> None:
    if redis_url is None:
        pytest.skip("leasing needs a Redis server; this run fell back to the in-process stand-in")
    registry = redis.Redis.from_url(f"{redis_url.rsplit('/', 1)[0]}/{LEASE_REGISTRY_DB}")
    try:
        if not os.environ.get("GUILDBASE_TEST_REDIS_URL"):  # a given URL is used as is, without a lease
            assert registry.exists(f"guildbase:test-lease:{redis_url.rsplit('/', 1)[1]}")  # this run holds one
        with leased_redis_db(redis_url) as first, leased_redis_db(redis_url) as second:
            numbers = {redis_url.rsplit("/", 1)[1], first.rsplit("/", 1)[1], second.rsplit("/", 1)[1]}
            assert len(numbers) == 3  # nobody flushes anybody else's keys
            assert first.rsplit("/", 1)[0] == redis_url.rsplit("/", 1)[0]  # same server, another db
        assert not registry.exists(f"guildbase:test-lease:{first.rsplit('/', 1)[1]}")  # given back

        with leased_redis_db(redis_url) as again:
            lease = f"guildbase:test-lease:{again.rsplit('/', 1)[1]}"
            registry.set(lease, "someone-else")  # our lease expired and another run took the db
        assert registry.get(lease) == b"someone-else"  # …so we leave theirs alone
        registry.delete(lease)
    finally:
        registry.close()


async def test_a_bound_database_commits_into_savepoints_that_the_test_rolls_back(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    """What the ``db`` fixture does: units of work commit for the test, and nothing outlives it."""
    assert settings.database_url is not None
    guild = make_snowflake(datetime.now(UTC) - timedelta(days=1), 77)
    engine = create_async(settings.database_url, settings)
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            database = Database(settings).bind(connection, redis_client)
            await database.guilds.join(guild)
            assert await database.guilds.get(guild) is not None  # committed, as far as the test can tell
            async with engine.connect() as other:  # …but another connection never sees it
                assert await _guilds(other, guild) == 0
            await transaction.rollback()
        async with engine.connect() as after:
            assert await _guilds(after, guild) == 0
    finally:
        await engine.dispose()


async def _guilds(connection: AsyncConnection, guild: int) -> int:
    result = await connection.execute(text("SELECT count(*) FROM guild WHERE guild_id = :g"), {"g": guild})
    return int(result.scalar_one())
