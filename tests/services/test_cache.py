import asyncio
import json
import logging
import subprocess
import sys
import textwrap

import pytest
import redis.asyncio as aioredis

from guildbase import Database, Settings
from guildbase.controllers.core import config_key
from guildbase.services.cache import CacheService
from guildbase.services.keys import guild_key
from guildbase.services.redis import create_redis
from guildbase.testing import statements_on

GUILD = 1_100_000_000_000_000_001


def test_keys_are_namespaced_versioned_and_hash_tagged_by_guild() -> None:
    assert guild_key(GUILD, "config") == f"gb:v1:{{g:{GUILD}}}:config"
    assert guild_key(GUILD, "cases", 42) == f"gb:v1:{{g:{GUILD}}}:cases:42"


async def test_config_read_is_cached_in_redis_and_dropped_on_update(db: Database, redis_client: aioredis.Redis) -> None:
    await db.guilds.join(GUILD)
    assert (await db.guild_config.get(GUILD)).prefix == "$"
    cached = json.loads(await redis_client.get(config_key(GUILD)))
    assert cached["prefix"] == "$"
    assert cached["guild_id"] == str(GUILD)
    await db.guild_config.update(GUILD, prefix="!")
    assert await redis_client.get(config_key(GUILD)) is None
    assert (await db.guild_config.get(GUILD)).prefix == "!"


async def test_feature_map_is_cached_and_invalidated_by_toggles(db: Database) -> None:
    await db.guilds.join(GUILD)
    assert await db.guild_config.is_enabled(GUILD, "tickets") is False
    await db.guild_config.set_feature(GUILD, "tickets", enabled=True)
    assert await db.guild_config.is_enabled(GUILD, "tickets") is True


async def test_concurrent_misses_for_one_guild_cause_one_database_read(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD, name="busy")
    await pooled_db.cache.invalidate(config_key(GUILD))
    async with statements_on(pooled_db.engine) as statements:
        configs = await asyncio.gather(*(pooled_db.guild_config.get(GUILD) for _ in range(100)))
    reads = [statement for statement in statements if "FROM guild_config" in statement]
    assert len(reads) == 1
    assert {config.prefix for config in configs} == {"$"}


async def test_a_slow_reader_never_puts_back_a_value_older_than_a_finished_write(
    redis_client: aioredis.Redis,
) -> None:
    cache = CacheService(redis_client)
    key = guild_key(GUILD, "config")
    loaded = asyncio.Event()
    release = asyncio.Event()

    async def slow_load() -> dict[str, str]:
        loaded.set()
        await release.wait()
        return {"prefix": "old"}

    reader = asyncio.create_task(cache.read_through(key, slow_load, ttl=60))
    await loaded.wait()
    await cache.invalidate(key)  # a writer committed "new" while the reader was loading
    release.set()
    assert await reader == {"prefix": "old"}  # the reader itself still answers
    assert await redis_client.get(key) is None  # …but did not poison Redis


async def test_update_in_one_process_is_seen_by_another_within_50_ms(pooled_db: Database, settings: Settings) -> None:
    await pooled_db.guilds.join(GUILD)
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from guildbase import Database, Settings

        async def main():
            db = await Database(Settings(database_url={settings.database_url!r}, redis_url={settings.redis_url!r},
                                         local_cache_ttl_seconds=60)).connect()
            assert (await db.guild_config.get({GUILD})).prefix == "$"   # now cached locally for 60 s
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            deadline = time.monotonic() + 0.05
            while time.monotonic() < deadline:
                if (await db.guild_config.get({GUILD})).prefix == "!":
                    print("fresh", flush=True)
                    break
                await asyncio.sleep(0.002)
            else:
                print("stale", flush=True)
            await db.close()

        asyncio.run(main())
        """
    )
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert other.stdout is not None
    assert other.stdin is not None
    assert (await asyncio.wait_for(other.stdout.readline(), 30)).strip() == b"ready"
    await pooled_db.guild_config.update(GUILD, prefix="!")
    other.stdin.write(b"go\n")
    await other.stdin.drain()
    verdict = (await asyncio.wait_for(other.stdout.readline(), 30)).strip()
    await other.wait()
    assert verdict == b"fresh"


async def test_config_reads_keep_working_when_redis_is_unreachable(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    dead = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    database = Database(dead)
    await database.connect()
    try:
        await database.guilds.join(GUILD)
        with caplog.at_level(logging.WARNING, logger="guildbase.redis"):
            for prefix in ["!", "?", "!!"]:
                await database.guild_config.update(GUILD, prefix=prefix)
                assert (await database.guild_config.get(GUILD)).prefix == prefix
        warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(warnings) <= 1
    finally:
        await database.guilds.delete(GUILD)
        await database.close()


async def test_in_process_redis_stand_in_serves_the_cache_too() -> None:
    cache = CacheService(create_redis(None))
    loads = 0

    async def load() -> dict[str, int]:
        nonlocal loads
        loads += 1
        return {"n": loads}

    key = guild_key(GUILD, "x")
    assert await cache.read_through(key, load, ttl=60) == {"n": 1}
    cache.local.clear()
    assert await cache.read_through(key, load, ttl=60) == {"n": 1}
    await cache.invalidate(key)
    assert await cache.read_through(key, load, ttl=60) == {"n": 2}
    await cache.client.aclose()
