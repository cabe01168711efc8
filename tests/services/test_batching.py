"""A lone batched command goes out as itself: the same reply, options and errors as in a pipeline."""

import asyncio

import pytest
from redis.exceptions import ResponseError

from guildbase.services.batching import CommandBatcher
from guildbase.services.keys import guild_key
from guildbase.services.redis import RedisClient
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1


async def test_a_lone_command_gets_its_parsed_reply_with_its_options(redis_client: RedisClient) -> None:
    board = guild_key(GUILD, "board")
    await redis_client.zadd(board, {"a": 1, "b": 2})
    batcher = CommandBatcher(redis_client)
    pipelines = 0
    original = redis_client.pipeline

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal pipelines
        pipelines += 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    redis_client.pipeline = counting  # type: ignore[method-assign, assignment]
    try:
        assert await batcher.execute("ZREVRANGE", board, 0, -1, "WITHSCORES", withscores=True) == [
            ("b", 2.0),
            ("a", 1.0),
        ]
        assert await batcher.mget(board + ":none", board + ":none2") == [None, None]
        assert pipelines == 0  # each went out as one command
        both = await asyncio.gather(batcher.execute("ZCARD", board), batcher.execute("ZSCORE", board, "a"))
        assert both == [2, 1.0]
        assert pipelines == 1  # two in one loop turn: one pipeline
    finally:
        del redis_client.pipeline
    assert batcher.batches == 3


async def test_a_lone_commands_error_reaches_its_caller_and_the_batcher_goes_on(redis_client: RedisClient) -> None:
    listed = guild_key(GUILD, "list")
    await redis_client.lpush(listed, "x")
    batcher = CommandBatcher(redis_client)
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await batcher.execute("GET", listed)
    assert await batcher.execute("LLEN", listed) == 1
