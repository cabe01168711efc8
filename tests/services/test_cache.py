import asyncio
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPubSub
from redis.exceptions import ResponseError
from sqlalchemy import text

from guildbase import Database, Settings
from guildbase.controllers.guild_config import config_key, features_key
from guildbase.db.engine import create_async
from guildbase.errors import ValidationError
from guildbase.services.cache import CacheService, LocalCache
from guildbase.services.invalidation import GENERATION_TTL_MS
from guildbase.services.keys import guild_key
from guildbase.services.redis import RedisClient, create_redis
from guildbase.testing import ids, statements_on

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1


def test_keys_are_namespaced_versioned_and_hash_tagged_by_guild() -> None:
    assert guild_key(GUILD, "config") == f"gb:v1:{{g:{GUILD}}}:config"
    assert guild_key(GUILD, "cases", 42) == f"gb:v1:{{g:{GUILD}}}:cases:42"


async def test_config_read_is_cached_in_redis_and_dropped_on_update(db: Database, redis_client: aioredis.Redis) -> None:
    await db.guilds.join(GUILD)
    assert (await db.guild_config.get(GUILD)).prefix == "$"
    tag, _, payload = (await redis_client.get(config_key(GUILD))).partition("|")
    assert tag == f"{db.cache.epochs.current}."  # this Redis boot's epoch, and no write yet: the empty generation
    assert json.loads(payload)["prefix"] == "$"
    assert json.loads(payload)["guild_id"] == str(GUILD)  # snowflakes travel as strings in JSON
    await db.guild_config.update(GUILD, prefix="!")
    assert await redis_client.get(config_key(GUILD)) is None
    assert (await db.guild_config.get(GUILD)).prefix == "!"


async def test_feature_map_is_cached_and_invalidated_by_toggles(db: Database, redis_client: aioredis.Redis) -> None:
    await db.guilds.join(GUILD)
    assert await db.guild_config.is_enabled(GUILD, "tickets") is False  # loaded from PostgreSQL, now cached
    assert await redis_client.get(features_key(GUILD)) is not None
    async with db.session() as session:  # a change behind the cache's back…
        await session.execute(
            text("INSERT INTO guild_feature (guild_id, feature, is_enabled) VALUES (:g, 'tickets', true)"), {"g": GUILD}
        )
    assert await db.guild_config.is_enabled(GUILD, "tickets") is False  # …is not seen: the local copy answers
    db.cache.local.clear()
    assert await db.guild_config.is_enabled(GUILD, "tickets") is False  # …nor once only Redis holds the map

    await db.guild_config.set_feature(GUILD, "afk", enabled=False)  # any toggle drops the guild's whole map
    assert await redis_client.get(features_key(GUILD)) is None
    assert await db.guild_config.is_enabled(GUILD, "tickets") is True
    assert await db.guild_config.is_enabled(GUILD, "afk") is False


async def test_cached_config_and_features_expire_after_the_configured_ttl(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    custom = settings.model_copy(update={"cache_ttl_seconds": 123.0, "local_cache_ttl_seconds": 7.0})
    assert custom.database_url is not None
    engine = create_async(custom.database_url, custom)
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            db = Database(custom).bind(connection, redis_client)
            try:
                await db.guilds.join(GUILD)
                await db.guild_config.get(GUILD)
                await db.guild_config.features(GUILD)
                for key in (config_key(GUILD), features_key(GUILD)):
                    assert 122_000 < await redis_client.pttl(key) <= 123_000, key
                assert db.cache.local.ttl == 7.0  # the in-process copy lives only seconds

                await db.guild_config.update(GUILD, prefix="!")  # a write leaves a generation behind…
                generation = await redis_client.pttl(f"{config_key(GUILD)}:gen")
                assert GENERATION_TTL_MS - 60_000 < generation <= GENERATION_TTL_MS  # …outliving every cached value
            finally:
                await transaction.rollback()
    finally:
        await engine.dispose()


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
    assert "old" in await redis_client.get(key)  # it stored its value, tagged with the generation it saw…
    assert cache.local.get(key) == (False, None)  # nor did it keep it locally

    other_process = CacheService(redis_client)  # …which no reader will ever serve: it loads afresh
    assert await other_process.read_through(key, fresh_load, ttl=60) == {"prefix": "new"}
    assert await CacheService(redis_client).read_through(key, fail_load, ttl=60) == {"prefix": "new"}


async def fresh_load() -> dict[str, str]:
    return {"prefix": "new"}


async def fail_load() -> dict[str, str]:
    msg = "a fresh value is in Redis: no database read expected"
    raise AssertionError(msg)


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


async def test_concurrent_misses_of_many_keys_travel_in_few_pipelines(redis_client: aioredis.Redis) -> None:
    cache = CacheService(redis_client)
    keys = [guild_key(GUILD + n, "config") for n in range(50)]

    async def load(n: int) -> dict[str, int]:
        return {"n": n}

    async def read(n: int) -> object:
        return await cache.read_through(keys[n], lambda: load(n), ttl=60)

    assert await asyncio.gather(*(read(n) for n in range(50))) == [{"n": n} for n in range(50)]
    # 50 MGETs in one pipeline, then 50 SETs in another: not 100 round trips.
    assert cache.batcher.batches == 2
    cache.local.clear()
    assert await asyncio.gather(*(read(n) for n in range(50))) == [{"n": n} for n in range(50)]
    assert cache.batcher.batches == 3  # all 50 answered by Redis in one pipeline


async def test_a_redis_error_in_one_batched_command_fails_only_its_caller(redis_client: aioredis.Redis) -> None:
    cache = CacheService(redis_client)
    await redis_client.lpush(guild_key(GUILD, "list"), "x")
    wrong_type = cache.batcher.execute("GET", guild_key(GUILD, "list"))
    fine = cache.batcher.execute("SET", guild_key(GUILD, "ok"), "1")
    assert await fine is True
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await wrong_type


async def test_invalidations_in_one_loop_turn_share_one_publish(redis_client: RedisClient) -> None:
    cache = CacheService(redis_client)
    async with redis_client.pubsub() as pubsub:
        receive: Callable[..., Awaitable[dict[str, Any] | None]]
        if isinstance(pubsub, ClusterPubSub):  # a cluster publishes on a shard channel (SPUBLISH → SSUBSCRIBE)
            await pubsub.ssubscribe(cache.channel)
            receive = pubsub.get_sharded_message
        else:
            await pubsub.subscribe(cache.channel)
            receive = pubsub.get_message
        await receive(timeout=1)  # the subscribe confirmation
        await asyncio.gather(*(cache.invalidate(guild_key(GUILD + n, "config")) for n in range(10)))
        message = await receive(timeout=1)
        assert message is not None
        assert sorted(json.loads(message["data"])) == sorted(guild_key(GUILD + n, "config") for n in range(10))
        assert await receive(timeout=0.2) is None


def test_a_mirrored_entry_goes_with_its_key() -> None:
    local = LocalCache(maxsize=2, ttl=60)
    table: dict[object, tuple[float, object]] = {}
    local.set("a", 1)
    local.mirror("a", table, 10)
    assert table[10][1] == 1
    local.drop("a")
    assert table == {}
    local.set("a", 1)
    local.mirror("a", table, 10)
    local.set("a", 2)  # replaced: the mirror of the old value must not survive
    assert table == {}
    local.mirror("a", table, 10)
    local.set("b", 1)
    local.set("c", 1)  # evicts "a"
    assert table == {}
    local.set("b", 1)
    local.mirror("b", table, 20)
    local.clear()
    assert table == {}
    local.mirror("missing", table, 30)  # nothing cached: nothing mirrored
    assert table == {}


async def test_a_config_hit_is_served_from_the_mirror_and_dropped_by_an_update(db: Database) -> None:
    await db.guilds.join(GUILD)
    first = await db.guild_config.get(GUILD)
    assert await db.guild_config.get(GUILD) is first  # the same read model, no reload
    await db.guild_config.update(GUILD, prefix="?")
    assert (await db.guild_config.get(GUILD)).prefix == "?"
    with pytest.raises(ValidationError, match="guild_id"):
        await db.guild_config.get(-5)
    with pytest.raises(ValidationError, match="guild_id"):  # unhashable: the mirror lookup must not raise TypeError
        await db.guild_config.get([GUILD])  # type: ignore[arg-type]


async def test_drain_sends_what_is_queued(redis_client: aioredis.Redis) -> None:
    cache = CacheService(redis_client)
    queued = cache.batcher.execute("SET", guild_key(GUILD, "late"), "1")
    await cache.batcher.drain()
    assert queued.done()
    assert await redis_client.get(guild_key(GUILD, "late")) == "1"


async def test_a_fill_is_kept_locally_unless_its_own_key_was_invalidated_meanwhile(
    redis_client: aioredis.Redis,
) -> None:
    cache = CacheService(redis_client)
    key, other = guild_key(GUILD, "a"), guild_key(GUILD, "b")
    loading, release = asyncio.Event(), asyncio.Event()

    async def slow() -> dict[str, int]:
        loading.set()
        await release.wait()
        return {"v": 1}

    async def fill_while(invalidate: str) -> None:
        loading.clear()
        release.clear()
        reader = asyncio.create_task(cache.read_through(key, slow, ttl=60))
        await loading.wait()
        await cache.invalidate(invalidate)
        release.set()
        assert await reader == {"v": 1}

    await fill_while(other)  # someone else's write: no reason to distrust this load
    assert cache.local.get(key) == (True, {"v": 1})
    await cache.invalidate(key)  # start over: not in Redis, not local
    await fill_while(key)  # this key's write landed during the load: do not keep it
    assert cache.local.get(key) == (False, None)


async def test_invalidations_of_different_redis_dbs_travel_on_different_channels() -> None:
    clients = [aioredis.Redis.from_url(f"redis://127.0.0.1:6379/{n}") for n in (9, 10)]
    assert [CacheService(client).channel for client in clients] == ["gb:invalidate:9", "gb:invalidate:10"]
    for client in clients:
        await client.aclose()
