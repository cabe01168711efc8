"""On one Redis server a batch of invalidations is ONE ``EVAL``; this module runs on that server only.

A Redis Cluster gets the plain commands instead (a script names keys of one
slot only), which ``test_invalidation.py`` proves on both targets. Listed in
``conftest.SINGLE_ONLY``, so nothing here needs skipping on the cluster.
"""

import asyncio

import redis.asyncio as aioredis
from test_invalidation import GUILD, assert_drops_keys

from guildbase.services.cache import CacheService
from guildbase.services.keys import guild_key
from guildbase.services.redis import RedisClient, is_cluster


async def test_the_script_deletes_the_values_sets_fresh_generations_and_publishes_the_keys(
    redis_client: RedisClient,
) -> None:
    assert not is_cluster(redis_client)
    await assert_drops_keys(redis_client, scripted=True)  # the same state and message as the plain commands


async def test_a_batch_of_invalidations_is_one_round_trip_of_one_command(redis_client: RedisClient) -> None:
    cache = CacheService(redis_client)
    assert cache.batcher.scripted
    before = await _commands_called(redis_client)
    await asyncio.gather(*(cache.invalidate(guild_key(GUILD + n, "config")) for n in range(10)))
    called = await _commands_called(redis_client)
    assert cache.batcher.batches == 1
    assert called["eval"] - before.get("eval", 0) == 1  # the ten keys' generations, deletions and message
    assert called.get("publish", 0) - before.get("publish", 0) == 1  # one message, from inside the script


async def _commands_called(client: RedisClient) -> dict[str, int]:
    """Calls per command since the server started (``INFO commandstats``; scripts' own calls count too)."""
    assert isinstance(client, aioredis.Redis)
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
