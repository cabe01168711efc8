"""Making keys stale: the one-``EVAL`` script and the plain commands leave Redis in the same state."""

import asyncio
import json
import re

import pytest
from redis.exceptions import ResponseError

from guildbase.services.batching import _drop_group, _settle
from guildbase.services.cache import CacheService
from guildbase.services.invalidation import GENERATION_TTL_MS, drop_commands, generation_key
from guildbase.services.keys import guild_key
from guildbase.services.redis import RedisClient, is_cluster
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
CHANNEL = "gb:test:invalidations"


def test_one_eval_when_scripted_and_two_commands_a_key_plus_one_publish_when_not() -> None:
    keys = [guild_key(GUILD, "a"), guild_key(GUILD, "b"), guild_key(GUILD, "a")]  # "a" named twice: dropped once
    (scripted,) = drop_commands(keys, CHANNEL, scripted=True, publish="PUBLISH")
    assert scripted[0] == "EVAL"
    assert scripted[2:7] == (4, keys[0], generation_key(keys[0]), keys[1], generation_key(keys[1]))
    plain = drop_commands(keys, CHANNEL, scripted=False, publish="SPUBLISH")
    assert [command[0] for command in plain] == ["SET", "DEL", "SET", "DEL", "SPUBLISH"]
    assert json.loads(plain[-1][2]) == json.loads(scripted[-1]) == keys[:2]


async def test_the_plain_commands_delete_the_values_set_fresh_generations_and_publish_the_keys(
    redis_client: RedisClient,
) -> None:
    """The form a Redis Cluster and the in-process Redis get (one server: ``test_invalidation_script.py``)."""
    await assert_drops_keys(redis_client, scripted=False)


async def assert_drops_keys(redis_client: RedisClient, *, scripted: bool) -> None:
    """Run ``drop_commands`` for two keys: values gone, fresh random generations with their TTL, one message."""
    keys = [guild_key(GUILD, "config"), guild_key(GUILD, "features")]
    for key in keys:
        await redis_client.set(key, "old")
        await redis_client.set(generation_key(key), "seen-before")
    async with redis_client.pubsub() as pubsub:
        if is_cluster(redis_client):
            await pubsub.ssubscribe(CHANNEL)  # type: ignore[attr-defined]
            receive = pubsub.get_sharded_message  # type: ignore[attr-defined]
        else:
            await pubsub.subscribe(CHANNEL)
            receive = pubsub.get_message
        await receive(timeout=1)  # the subscribe confirmation
        publish = "SPUBLISH" if is_cluster(redis_client) else "PUBLISH"
        for command in drop_commands(keys, CHANNEL, scripted=scripted, publish=publish):
            await redis_client.execute_command(*command)
        message = await receive(timeout=1)
    assert message is not None
    assert json.loads(message["data"]) == keys
    generations = []
    for key in keys:
        assert await redis_client.get(key) is None
        generation = await redis_client.get(generation_key(key))
        assert re.fullmatch(r"[0-9a-f]{16}", generation)
        assert GENERATION_TTL_MS - 60_000 < await redis_client.pttl(generation_key(key)) <= GENERATION_TTL_MS
        generations.append(generation)
    assert len(set(generations)) == len(keys)  # each key its own random generation


async def test_a_batch_of_invalidations_is_one_round_trip_on_either_target(
    redis_client: RedisClient,
) -> None:
    cache = CacheService(redis_client)
    assert cache.batcher.scripted is not is_cluster(redis_client)  # one server: one EVAL (the script module)
    keys = [guild_key(GUILD + n, "config") for n in range(10)]
    for key in keys:
        await redis_client.set(key, "old")
    await asyncio.gather(*(cache.invalidate(key) for key in keys))
    assert cache.batcher.batches == 1  # the ten invalidations of one loop turn travel together
    for key in keys:
        assert await redis_client.get(key) is None
        assert await redis_client.get(generation_key(key)) is not None


async def test_an_error_in_any_command_of_the_plain_form_fails_the_invalidation() -> None:
    loop = asyncio.get_running_loop()
    for failing in range(3):
        future: asyncio.Future[object] = loop.create_future()
        queued = _drop_group(drop_commands(["k"], CHANNEL, scripted=False, publish="PUBLISH"), future)
        assert [command[0] for command, _, _ in queued] == ["SET", "DEL", "PUBLISH"]
        for index, (_, _, part) in enumerate(queued):  # replies are settled in order, as _run does
            _settle(part, ResponseError("boom") if index == failing else 1)
        await asyncio.sleep(0)  # done callbacks run on the next loop turn
        with pytest.raises(ResponseError, match="boom"):
            await future
    answered: asyncio.Future[object] = loop.create_future()
    for _, _, part in _drop_group(drop_commands(["k"], CHANNEL, scripted=False, publish="PUBLISH"), answered):
        _settle(part, 3)
    assert await answered == 3  # no error: the publish's reply (how many processes heard it)
